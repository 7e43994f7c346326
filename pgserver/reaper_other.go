//go:build !unix

package pgserver

import "os/exec"

// startReaper is not available on this system: a private cluster whose
// process ends without calling Stop keeps running until stopped by hand.
func startReaper(dir string, temp bool, stopArgv []string) *exec.Cmd { return nil }
