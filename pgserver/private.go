package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pgBin locates the PostgreSQL programs used for a private cluster.
type pgBin struct {
	initdb, pgCtl string
}

// binGlobs are searched, highest version first, when initdb is not on PATH.
var binGlobs = []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"}

// findPostgresBin finds initdb and pg_ctl on PATH, else in the highest
// version of /usr/lib/postgresql/*/bin (Debian, Ubuntu) or /usr/pgsql-*/bin
// (Red Hat). It returns ErrNotFound when there are none.
func findPostgresBin() (pgBin, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		if pgCtl, err := exec.LookPath("pg_ctl"); err == nil {
			return pgBin{initdb: initdb, pgCtl: pgCtl}, nil
		}
		// pg_ctl usually sits next to the real initdb.
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			if pgCtl := filepath.Join(filepath.Dir(real), "pg_ctl"); isExecutable(pgCtl) {
				return pgBin{initdb: initdb, pgCtl: pgCtl}, nil
			}
		}
	}
	var dirs []string
	for _, g := range binGlobs {
		m, _ := filepath.Glob(g)
		dirs = append(dirs, m...)
	}
	sort.SliceStable(dirs, func(i, j int) bool { return versionLess(dirs[j], dirs[i]) })
	for _, d := range dirs {
		initdb, pgCtl := filepath.Join(d, "initdb"), filepath.Join(d, "pg_ctl")
		if isExecutable(initdb) && isExecutable(pgCtl) {
			return pgBin{initdb: initdb, pgCtl: pgCtl}, nil
		}
	}
	return pgBin{}, ErrNotFound
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// versionLess compares the version numbers in two paths such as
// /usr/lib/postgresql/9.6/bin and /usr/lib/postgresql/15/bin numerically.
func versionLess(a, b string) bool {
	va, vb := pathVersion(a), pathVersion(b)
	for i := 0; i < len(va) && i < len(vb); i++ {
		if va[i] != vb[i] {
			return va[i] < vb[i]
		}
	}
	if len(va) != len(vb) {
		return len(va) < len(vb)
	}
	return a < b
}

func pathVersion(p string) []int {
	var v []int
	for _, f := range strings.FieldsFunc(p, func(r rune) bool { return r < '0' || r > '9' }) {
		n, _ := strconv.Atoi(f)
		v = append(v, n)
	}
	return v
}

// runner runs PostgreSQL programs, as the postgres OS user when this process
// is root (initdb and pg_ctl refuse to run as root).
type runner struct {
	asPostgres bool
	uid, gid   int
	runuser    string // path of runuser; "" means use su
}

func newRunner() (runner, error) {
	if os.Geteuid() != 0 {
		return runner{}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return runner{}, errors.New("pgserver: offtake runs as root and PostgreSQL's initdb refuses to run as root, " +
			`but there is no "postgres" OS user to run it as: create one (useradd --system --create-home postgres), ` +
			"run offtake as another user, or set DATABASE_URL=postgres://user@host:5432/db")
	}
	r := runner{asPostgres: true}
	if r.uid, err = strconv.Atoi(u.Uid); err != nil {
		return runner{}, fmt.Errorf("pgserver: postgres user has non-numeric uid %q", u.Uid)
	}
	if r.gid, err = strconv.Atoi(u.Gid); err != nil {
		return runner{}, fmt.Errorf("pgserver: postgres user has non-numeric gid %q", u.Gid)
	}
	if p, err := exec.LookPath("runuser"); err == nil {
		r.runuser = p
	} else if _, err := exec.LookPath("su"); err != nil {
		return runner{}, errors.New(`pgserver: offtake runs as root and needs runuser or su to run initdb as the "postgres" user, but neither is installed`)
	}
	return r, nil
}

// argv returns the command line running name with args as the right user.
func (r runner) argv(name string, args ...string) []string {
	if !r.asPostgres {
		return append([]string{name}, args...)
	}
	if r.runuser != "" {
		return append([]string{r.runuser, "-u", "postgres", "--", name}, args...)
	}
	return []string{"su", "postgres", "-s", "/bin/sh", "-c", "exec " + shellQuote(append([]string{name}, args...)...)}
}

// run runs name with args in dir and returns its combined output.
func (r runner) run(ctx context.Context, dir string, name string, args ...string) (string, error) {
	argv := r.argv(name, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

func (r runner) chown(path string) error {
	if !r.asPostgres {
		return nil
	}
	return os.Chown(path, r.uid, r.gid)
}

func shellQuote(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func privateURL(port int) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
}

// startPrivate starts a private cluster with the programs in bin, in
// opts.DataDir or a new temporary folder. An existing cluster in
// opts.DataDir is reused; if it is already running, it is used as it is and
// Stop leaves it running.
func startPrivate(ctx context.Context, bin pgBin, opts Options) (srv *Server, err error) {
	r, err := newRunner()
	if err != nil {
		return nil, err
	}

	dir, temp := opts.DataDir, opts.DataDir == ""
	if temp {
		if dir, err = os.MkdirTemp("", "offtake-pg-"); err != nil {
			return nil, fmt.Errorf("pgserver: create a folder for a private cluster: %w", err)
		}
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	} else {
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, fmt.Errorf("pgserver: data directory %s: %w", opts.DataDir, err)
		}
		// 0755 so that the postgres user can reach the folder when this
		// process is root; the data directory itself is made 0700 below.
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("pgserver: create data directory: %w", err)
		}
	}
	source := "private cluster in " + dir
	hint := ""
	if r.asPostgres {
		hint = ` (offtake runs as root, so the cluster runs as the "postgres" OS user, which must be able to reach ` + dir + ")"
	}
	logFile := filepath.Join(dir, "postgres.log")

	if _, statErr := os.Stat(filepath.Join(dir, "PG_VERSION")); statErr != nil {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("pgserver: read data directory: %w", err)
		}
		if len(entries) > 0 {
			return nil, fmt.Errorf("pgserver: data directory %s is not empty and holds no PostgreSQL cluster: empty it or choose another one", dir)
		}
		if err := r.chown(dir); err != nil {
			return nil, fmt.Errorf("pgserver: give the data directory to the postgres user: %w", err)
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("pgserver: data directory: %w", err)
		}
		opts.logf("initializing a private cluster in %s with %s", dir, bin.initdb)
		out, err := r.run(ctx, dir, bin.initdb, "-D", dir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
		if err != nil {
			return nil, fmt.Errorf("pgserver: initdb in %s failed%s: %v\n%s", dir, hint, err, out)
		}
	} else if _, err := r.run(ctx, dir, bin.pgCtl, "-D", dir, "status"); err == nil {
		// Already running (e.g. left by a crashed run): use it as it is.
		port, perr := pidFilePort(dir)
		if perr != nil {
			return nil, perr
		}
		opts.logf("using the private cluster already running in %s (port %d)", dir, port)
		u := privateURL(port)
		if err := ping(ctx, u); err != nil {
			return nil, fmt.Errorf("pgserver: the private cluster running in %s does not answer on port %d: %w", dir, port, err)
		}
		return &Server{AdminURL: u, Source: source}, nil
	}

	// The socket lives in the data directory unless that path is too long
	// for a Unix socket; then only TCP is used.
	sockDir := dir
	if len(dir)+len("/.s.PGSQL.65535.lock") > 107 {
		sockDir = ""
	}
	port := opts.Port
	for attempt := 1; ; attempt++ {
		if opts.Port == 0 {
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("pgserver: pick a free port: %w", err)
			}
		}
		if temp {
			opts.logf("starting a private cluster in %s (port %d)", dir, port)
		} else {
			opts.logf("starting the private cluster in %s (port %d)", dir, port)
		}
		serverOpts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
			port, shellQuote(sockDir))
		out, err := r.run(ctx, dir, bin.pgCtl, "-D", dir, "-l", logFile, "-w", "-t", "60", "-o", serverOpts, "start")
		if err == nil {
			break
		}
		tail := logTail(logFile, 15)
		if opts.Port == 0 && attempt < 3 && strings.Contains(tail, "already in use") {
			continue // lost a race for the port: try another one
		}
		return nil, fmt.Errorf("pgserver: starting a private PostgreSQL cluster in %s on port %d failed%s: %v\n%s\nlast lines of %s:\n%s",
			dir, port, hint, err, out, logFile, tail)
	}

	stopServer := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := r.run(sctx, dir, bin.pgCtl, "-D", dir, "-m", "fast", "-w", "stop"); err != nil {
			return fmt.Errorf("pgserver: stop the private cluster in %s: %v\n%s", dir, err, out)
		}
		return nil
	}
	u := privateURL(port)
	if err := ping(ctx, u); err != nil {
		stopServer()
		return nil, fmt.Errorf("pgserver: the private cluster started in %s does not answer: %w", dir, err)
	}

	reaper := startReaper(dir, temp, r.argv(bin.pgCtl, "-D", dir, "-m", "fast", "-w", "stop"))
	return &Server{AdminURL: u, Source: source, stop: func() error {
		if reaper != nil {
			reaper.Process.Kill()
			reaper.Wait()
		}
		opts.logf("stopping the private cluster in %s", dir)
		err := stopServer()
		if temp {
			if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
				err = fmt.Errorf("pgserver: remove %s: %w", dir, rerr)
			}
		}
		return err
	}}, nil
}

// pidFilePort reads the port of a running cluster from its postmaster.pid.
func pidFilePort(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err == nil {
		if lines := strings.Split(string(b), "\n"); len(lines) > 3 {
			if port, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil {
				return port, nil
			}
		}
	}
	return 0, fmt.Errorf("pgserver: a cluster runs in %s but its port cannot be read from postmaster.pid", dir)
}

// reaperScript waits for process $1 to end, then runs the stop command
// ($4...) and, if $3 is 1, removes folder $2.
const reaperScript = `pid=$1 dir=$2 temp=$3; shift 3
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
if [ "$temp" = 1 ]; then rm -rf "$dir"; fi`
