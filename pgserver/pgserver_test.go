package pgserver

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// testWriter sends progress lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func mustConnect(t *testing.T, ctx context.Context, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect %s: %v", Redact(dbURL), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func databaseExists(t *testing.T, ctx context.Context, srv *Server, name string) bool {
	t.Helper()
	conn, err := pgx.Connect(ctx, srv.AdminURL)
	if err != nil {
		t.Fatalf("connect admin: %v", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	return exists
}

func findServer(t *testing.T) *Server {
	t.Helper()
	srv, err := Find(testContext(t), Options{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func TestFind(t *testing.T) {
	srv := findServer(t)
	t.Logf("source %q, admin URL %s", srv.Source, Redact(srv.AdminURL))
	if srv.Source == "" || srv.AdminURL == "" {
		t.Fatalf("incomplete server: %+v", srv)
	}
	if err := ping(testContext(t), srv.AdminURL); err != nil {
		t.Fatal(err)
	}
}

func TestCreateDatabase(t *testing.T) {
	ctx := testContext(t)
	srv := findServer(t)
	name := testDatabaseName("pgserver_create", strconv.FormatInt(time.Now().UnixNano()%1e8, 16))
	t.Cleanup(func() { srv.DropDatabase(context.Background(), name) })

	dbURL, err := srv.CreateDatabase(ctx, name, false)
	if err != nil {
		t.Fatal(err)
	}
	conn := mustConnect(t, ctx, dbURL)
	var got string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&got); err != nil || got != name {
		t.Fatalf("current_database() = %q, %v; want %q", got, err, name)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}

	if _, err := srv.CreateDatabase(ctx, name, false); err == nil {
		t.Fatal("creating an existing database without drop succeeded")
	}
	// EnsureDatabase keeps the existing database and its table.
	if u, err := srv.EnsureDatabase(ctx, name); err != nil || u != dbURL {
		t.Fatalf("EnsureDatabase = %q, %v; want %q", u, err, dbURL)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatalf("table lost by EnsureDatabase: %v", err)
	}

	// drop=true replaces it, even with a connection open.
	if _, err := srv.CreateDatabase(ctx, name, true); err != nil {
		t.Fatal(err)
	}
	conn2 := mustConnect(t, ctx, dbURL)
	var exists bool
	if err := conn2.QueryRow(ctx, `SELECT to_regclass('t') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("table t after drop+create: exists=%v err=%v", exists, err)
	}
	conn2.Close(ctx)

	if err := srv.DropDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	if databaseExists(t, ctx, srv, name) {
		t.Fatal("database still exists after drop")
	}
	// EnsureDatabase creates a missing one.
	if _, err := srv.EnsureDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	if !databaseExists(t, ctx, srv, name) {
		t.Fatal("EnsureDatabase did not create the database")
	}
}

func TestInvalidDatabaseName(t *testing.T) {
	// No server is contacted: the name is refused first.
	srv := &Server{AdminURL: "postgres://nobody@127.0.0.1:1/postgres"}
	for _, name := range []string{"", "Foo", "1abc", "a-b", "a b", `x"; DROP DATABASE postgres; --`, "é", strings.Repeat("a", 64)} {
		if _, err := srv.CreateDatabase(context.Background(), name, true); err == nil || !strings.Contains(err.Error(), "invalid database name") {
			t.Errorf("CreateDatabase(%q) error = %v; want invalid database name", name, err)
		}
		if _, err := srv.EnsureDatabase(context.Background(), name); err == nil || !strings.Contains(err.Error(), "invalid database name") {
			t.Errorf("EnsureDatabase(%q) error = %v; want invalid database name", name, err)
		}
	}
}

func TestURLWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, db, want string }{
		{"postgres://u@h:5432/postgres?sslmode=disable", "x", "postgres://u@h:5432/x?sslmode=disable"},
		{"postgres://u:p%40ss@h/db", "other_db", "postgres://u:p%40ss@h/other_db"},
		{"postgresql://h", "x", "postgresql://h/x"},
		{"postgres://h/", "x", "postgres://h/x"},
		{"postgres://h/a?dbname=b&sslmode=require", "x", "postgres://h/x?sslmode=require"},
		{"postgres://[::1]:5433/a", "x", "postgres://[::1]:5433/x"},
	} {
		got, err := URLWithDatabase(tc.in, tc.db)
		if err != nil || got != tc.want {
			t.Errorf("URLWithDatabase(%q, %q) = %q, %v; want %q", tc.in, tc.db, got, err, tc.want)
		}
	}
	for _, in := range []string{"host=h dbname=a password=secret", "mysql://u:secret@h/db", "postgres://u:secret@h:port/db", ""} {
		_, err := URLWithDatabase(in, "x")
		if err == nil {
			t.Errorf("URLWithDatabase(%q) succeeded", in)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("URLWithDatabase(%q) error leaks the password: %v", in, err)
		}
	}
	if _, err := URLWithDatabase("postgres://h/a", ""); err == nil {
		t.Error("empty database name accepted")
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=secret&user=u", "postgres://h/db?password=xxxxx&user=u"},
		{"host=h user=u password=secret dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password='se cret' dbname=d", "host=h password=xxxxx dbname=d"},
		{"postgres://u:secret@h:port/db", "postgres://u:xxxxx@h:port/db"},
		{"", ""},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func closedPort(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNotFound(t *testing.T) {
	f := finder{
		getenv:    func(string) string { return "" },
		localHost: "127.0.0.1",
		localPort: closedPort(t),
		findBin:   func() (pgBin, error) { return pgBin{}, ErrNotFound },
	}
	_, err := f.find(testContext(t), Options{Log: testWriter{t}})
	if !errors.Is(err, ErrNotFound) || err.Error() != ErrNotFound.Error() {
		t.Fatalf("err = %v; want ErrNotFound", err)
	}
	if strings.Count(err.Error(), ". ") != 0 || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("message is not one sentence naming DATABASE_URL: %q", err)
	}
}

func TestDatabaseURLUnreachable(t *testing.T) {
	dbURL := "postgres://u:secret@127.0.0.1:" + strconv.Itoa(closedPort(t)) + "/db"
	f := finder{getenv: func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}}
	_, err := f.find(testContext(t), Options{})
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v; want a DATABASE_URL error without the password", err)
	}
	t.Log(err)

	f.getenv = func(string) string { return "host=h password=secret" }
	if _, err = f.find(testContext(t), Options{}); err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("keyword/value DATABASE_URL: err = %v", err)
	}
}

func TestDatabaseURLUsedAsIs(t *testing.T) {
	local := findServer(t)
	f := finder{getenv: func(k string) string {
		if k == "DATABASE_URL" {
			return local.AdminURL
		}
		return ""
	}}
	srv, err := f.find(testContext(t), Options{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Source != "DATABASE_URL" || srv.AdminURL != local.AdminURL {
		t.Fatalf("got %+v", srv)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
}

func requireBinaries(t *testing.T) pgBin {
	t.Helper()
	bin, err := findPostgresBin()
	if err != nil {
		t.Fatalf("private cluster test needs initdb and pg_ctl: %v", err)
	}
	return bin
}

func portAnswers(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func urlPort(t *testing.T, dbURL string) int {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return int(cfg.Port)
}

func TestPrivateCluster(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	bin := requireBinaries(t)
	t.Logf("initdb %s, pg_ctl %s", bin.initdb, bin.pgCtl)
	srv, err := startPrivate(ctx, bin, Options{Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Stop()
		}
	})
	dir := strings.TrimPrefix(srv.Source, "private cluster in ")
	if dir == srv.Source || !filepath.IsAbs(dir) {
		t.Fatalf("Source = %q", srv.Source)
	}
	dbURL, err := srv.CreateDatabase(ctx, "offtake_private_test", false)
	if err != nil {
		t.Fatal(err)
	}
	conn := mustConnect(t, ctx, dbURL)
	var fsync string
	if err := conn.QueryRow(ctx, `SHOW fsync`).Scan(&fsync); err != nil || fsync != "off" {
		t.Fatalf("fsync = %q, %v; want off", fsync, err)
	}
	conn.Close(ctx)

	port := urlPort(t, srv.AdminURL)
	stopped = true
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary folder %s still there after Stop: %v", dir, err)
	}
	if portAnswers(port) {
		t.Fatalf("port %d still answers after Stop", port)
	}
}

func TestPrivateClusterDataDir(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	bin := requireBinaries(t)
	// Not t.TempDir: when running as root, the postgres user must be able
	// to reach the folder, and t.TempDir's parent is private to root.
	parent, err := os.MkdirTemp("", "offtake-pgserver-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := Options{DataDir: filepath.Join(parent, "data"), Port: closedPort(t), Log: testWriter{t}}

	first, err := startPrivate(ctx, bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Stop() })
	if want := privateURL(opts.Port); first.AdminURL != want {
		t.Fatalf("AdminURL = %q; want %q", first.AdminURL, want)
	}
	if _, err := first.EnsureDatabase(ctx, "kept"); err != nil {
		t.Fatal(err)
	}

	// A second start while it runs reuses it, and its Stop leaves it running.
	second, err := startPrivate(ctx, bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.AdminURL != first.AdminURL {
		t.Fatalf("second AdminURL = %q; want %q", second.AdminURL, first.AdminURL)
	}
	if err := second.Stop(); err != nil {
		t.Fatal(err)
	}
	if !portAnswers(opts.Port) {
		t.Fatal("Stop of a reused cluster stopped it")
	}

	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(opts.DataDir, "PG_VERSION")); err != nil {
		t.Fatalf("DataDir not kept by Stop: %v", err)
	}

	// Restart on a new free port: the database is still there.
	opts.Port = 0
	third, err := startPrivate(ctx, bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { third.Stop() })
	if !databaseExists(t, ctx, third, "kept") {
		t.Fatal("database lost across restarts")
	}
	if err := third.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestPrivateClusterNotEmptyDir(t *testing.T) {
	bin := requireBinaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := startPrivate(testContext(t), bin, Options{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("err = %v; want a not-empty error", err)
	}
}

func TestNewTestDatabase(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		dbURL := NewTestDatabase(t)
		ctx := testContext(t)
		conn := mustConnect(t, ctx, dbURL)
		if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "offtake_test_pgserver_") || len(name) != len("offtake_test_pgserver_")+8 {
			t.Fatalf("database name %q", name)
		}
		var tables int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
			t.Fatalf("fresh database has %d tables (%v)", tables, err)
		}
		if other := NewTestDatabase(t); other == dbURL {
			t.Fatal("two calls returned the same database")
		}
	})
	srv, err := sharedTestServer()
	if err != nil {
		t.Fatal(err)
	}
	if databaseExists(t, testContext(t), srv, name) {
		t.Fatalf("database %s not dropped after its test passed", name)
	}
}

func TestTestDatabaseName(t *testing.T) {
	for _, tc := range []struct{ pkg, want string }{
		{"ledger", "offtake_test_ledger_0123abcd"},
		{"Ledger-Test.v2", "offtake_test_ledger_test_v2_0123abcd"},
		{"", "offtake_test_pkg_0123abcd"},
		{strings.Repeat("p", 80), "offtake_test_" + strings.Repeat("p", 41) + "_0123abcd"},
	} {
		got := testDatabaseName(tc.pkg, "0123abcd")
		if got != tc.want || checkName(got) != nil {
			t.Errorf("testDatabaseName(%q) = %q (%v); want %q", tc.pkg, got, checkName(got), tc.want)
		}
	}
}

func TestVersionOrder(t *testing.T) {
	if !versionLess("/usr/lib/postgresql/9.6/bin", "/usr/lib/postgresql/15/bin") ||
		!versionLess("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin") ||
		versionLess("/usr/lib/postgresql/10/bin", "/usr/lib/postgresql/9.6/bin") {
		t.Fatal("versions not ordered numerically")
	}
}

var _ io.Writer = testWriter{}
