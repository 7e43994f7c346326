package pgserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The server shared by the tests of this process.
var (
	testOnce   sync.Once
	testServer *Server
	testErr    error
)

func sharedTestServer() (*Server, error) {
	testOnce.Do(func() {
		var log bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		testServer, testErr = Find(ctx, Options{Log: &log})
		if testErr != nil && !errors.Is(testErr, ErrNotFound) && log.Len() > 0 {
			testErr = fmt.Errorf("%w\n%s", testErr, strings.TrimSpace(log.String()))
		}
	})
	if testServer == nil && testErr == nil {
		return nil, errors.New("pgserver: NewTestDatabase called after Main finished the tests")
	}
	return testServer, testErr
}

// NewTestDatabase returns the URL of a fresh, empty database for the calling
// test. The server is found once per process (see Find); a private cluster
// started for it is stopped by Main, or else when the process ends. The
// database is named "offtake_test_<pkg>_<8 random hex digits>" and dropped
// when the test ends, unless the test failed: then its URL is logged and it
// is kept for inspection. If no server can be found, the test fails with
// the message of the error (ErrNotFound says how to provide one); it never
// skips.
func NewTestDatabase(t testing.TB) string {
	t.Helper()
	srv, err := sharedTestServer()
	if err != nil {
		t.Fatal(err.Error())
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("pgserver: random database name: %v", err)
	}
	name := testDatabaseName(testPackageName(), hex.EncodeToString(rnd[:]))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dbURL, err := srv.CreateDatabase(ctx, name, false)
	if err != nil {
		t.Fatalf("pgserver: %s (server: %s): %v", name, srv.Source, err)
	}
	t.Logf("pgserver: fresh database %s (server: %s)", name, srv.Source)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgserver: test failed; keeping database %s for inspection: %s", name, Redact(dbURL))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.DropDatabase(ctx, name); err != nil {
			t.Errorf("pgserver: %v", err)
		}
	})
	return dbURL
}

// testPackageName guesses the name of the package under test from the test
// binary ("ledger.test") or, failing that, the working directory, which
// "go test" sets to the package's folder.
func testPackageName() string {
	if base := filepath.Base(os.Args[0]); strings.HasSuffix(base, ".test") {
		return strings.TrimSuffix(base, ".test")
	}
	if wd, err := os.Getwd(); err == nil {
		return filepath.Base(wd)
	}
	return "pkg"
}

// testDatabaseName builds a valid database name of at most 63 characters.
func testDatabaseName(pkg, suffix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(pkg) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	p := b.String()
	if p == "" {
		p = "pkg"
	}
	const prefix = "offtake_test_"
	if max := 63 - len(prefix) - 1 - len(suffix); len(p) > max {
		p = p[:max]
	}
	return fmt.Sprintf("%s%s_%s", prefix, p, suffix)
}

// Main runs the tests (m.Run) and then stops a private cluster that
// NewTestDatabase started, returning m.Run's exit code. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }
func Main(m interface{ Run() int }) int {
	code := m.Run()
	testOnce.Do(func() {})                    // no test asked for a server: never start one now
	if err := testServer.Stop(); err != nil { // nil-safe, no-op unless private
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}
