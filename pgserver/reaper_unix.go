//go:build unix

package pgserver

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// startReaper starts a detached shell that stops the cluster and removes its
// temporary folder when this process ends without calling Stop (a panic, a
// test timeout, a signal). Stop kills it first. It returns nil if it could
// not be started; the cluster then lives on until stopped by hand.
func startReaper(dir string, temp bool, stopArgv []string) *exec.Cmd {
	t := "0"
	if temp {
		t = "1"
	}
	args := append([]string{"-c", reaperScript, "offtake-pg-reaper", strconv.Itoa(os.Getpid()), dir, t}, stopArgv...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil
	}
	return cmd
}
