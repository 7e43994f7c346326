package pgserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned (and can be matched with errors.Is) when no
// PostgreSQL server can be found or started. Its message is the one sentence
// to show the user.
var ErrNotFound = errors.New("no PostgreSQL found: set DATABASE_URL=postgres://user@host:5432/db, " +
	"start a server on 127.0.0.1:5432, or install PostgreSQL (apt-get install postgresql) " +
	"so offtake can start a private one")

// Server is a reachable PostgreSQL server. AdminURL connects to a maintenance
// database (postgres) with rights to CREATE DATABASE.
type Server struct {
	// AdminURL is a postgres:// URL for a role allowed to create databases.
	// It may contain a password: pass it through Redact before showing it.
	AdminURL string
	// Source says where the server came from: "DATABASE_URL",
	// "local 127.0.0.1:5432" or "private cluster in DIR".
	Source string

	stop     func() error
	stopOnce sync.Once
	stopErr  error
}

// Options tunes Find. The zero value is ready to use.
type Options struct {
	// DataDir is where to keep a private cluster. "" means a temporary
	// folder that Stop removes. A non-empty DataDir is kept by Stop and an
	// existing cluster in it is reused on the next run.
	DataDir string
	// Port is the port of a private cluster; 0 picks a free port.
	Port int
	// Log receives progress lines ("postgres: ..."); it may be nil.
	Log io.Writer
}

func (o Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "postgres: "+format+"\n", args...)
	}
}

// finder holds what Find looks at, so tests can replace it.
type finder struct {
	getenv    func(string) string
	localHost string
	localPort int
	findBin   func() (pgBin, error) // initdb and pg_ctl for a private cluster
}

func defaultFinder() finder {
	return finder{getenv: os.Getenv, localHost: "127.0.0.1", localPort: 5432, findBin: findPostgresBin}
}

// Find returns a PostgreSQL server: the one in DATABASE_URL when it is set;
// else the local server at 127.0.0.1:5432 if it answers; else a private
// cluster it starts with initdb and pg_ctl (in opts.DataDir, or a temporary
// folder when that is ""). Call Stop on the result when done. When no server
// can be found or started because PostgreSQL is not installed, the error is
// ErrNotFound.
func Find(ctx context.Context, opts Options) (*Server, error) {
	return defaultFinder().find(ctx, opts)
}

func (f finder) find(ctx context.Context, opts Options) (*Server, error) {
	if dbURL := f.getenv("DATABASE_URL"); dbURL != "" {
		if _, err := parsePostgresURL(dbURL); err != nil {
			return nil, fmt.Errorf("DATABASE_URL must be a postgres:// URL (postgres://user:password@host:5432/db): %w", err)
		}
		opts.logf("using DATABASE_URL (%s)", Redact(dbURL))
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := ping(cctx, dbURL); err != nil {
			return nil, fmt.Errorf("the PostgreSQL server in DATABASE_URL (%s) does not answer: %w", Redact(dbURL), err)
		}
		return &Server{AdminURL: dbURL, Source: "DATABASE_URL"}, nil
	}

	addr := net.JoinHostPort(f.localHost, strconv.Itoa(f.localPort))
	u, refused := f.probeLocal(ctx, opts)
	if u != "" {
		opts.logf("using local server at %s", addr)
		return &Server{AdminURL: u, Source: "local " + addr}, nil
	}

	bin, err := f.findBin()
	if err != nil {
		if errors.Is(err, ErrNotFound) && len(refused) > 0 {
			return nil, fmt.Errorf("%w; the server on %s answers but does not let %s create databases (put a user it accepts in DATABASE_URL)",
				ErrNotFound, addr, strings.Join(refused, " or "))
		}
		return nil, err
	}
	return startPrivate(ctx, bin, opts)
}

// probeLocal tries the local server with the users postgres, $USER and root
// and returns the URL of the first that may create databases, or "" and the
// users the server turned away.
func (f finder) probeLocal(ctx context.Context, opts Options) (dbURL string, refused []string) {
	addr := net.JoinHostPort(f.localHost, strconv.Itoa(f.localPort))
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", nil
	}
	c.Close()
	for _, user := range []string{"postgres", f.getenv("USER"), "root"} {
		if user == "" || slices.Contains(refused, user) {
			continue
		}
		u := fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", user, addr)
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := canCreateDatabases(cctx, u)
		cancel()
		if err == nil && ok {
			return u, nil
		}
		refused = append(refused, user)
		if err != nil {
			opts.logf("local server at %s refused user %s: %v", addr, user, err)
		} else {
			opts.logf("local server at %s: user %s may not create databases", addr, user)
		}
	}
	return "", refused
}

func connect(ctx context.Context, rawURL string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, err // pgx redacts the password in this error
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	return pgx.ConnectConfig(ctx, cfg)
}

func ping(ctx context.Context, rawURL string) error {
	conn, err := connect(ctx, rawURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

func canCreateDatabases(ctx context.Context, rawURL string) (bool, error) {
	conn, err := connect(ctx, rawURL)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var ok bool
	err = conn.QueryRow(ctx, `SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user`).Scan(&ok)
	return ok, err
}

// Stop stops the private cluster Find started (and removes its temporary
// folder); for other servers it does nothing. It is safe to call more than
// once and on a nil Server.
func (s *Server) Stop() error {
	if s == nil || s.stop == nil {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

var dbNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func checkName(name string) error {
	if !dbNameRE.MatchString(name) || len(name) > 63 {
		return fmt.Errorf("pgserver: invalid database name %q: it must match ^[a-z_][a-z0-9_]*$ and have at most 63 characters", name)
	}
	return nil
}

// CreateDatabase creates database name on s (dropping it first, with its
// connections, if drop is true) and returns its URL. The new database is
// copied from template0, so it is empty. name must match ^[a-z_][a-z0-9_]*$.
func (s *Server) CreateDatabase(ctx context.Context, name string, drop bool) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	dbURL, err := URLWithDatabase(s.AdminURL, name)
	if err != nil {
		return "", err
	}
	conn, err := connect(ctx, s.AdminURL)
	if err != nil {
		return "", fmt.Errorf("pgserver: connect to %s: %w", Redact(s.AdminURL), err)
	}
	defer conn.Close(context.Background())
	if drop {
		if err := dropDatabase(ctx, conn, name); err != nil {
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("pgserver: create database %s: %w", name, err)
	}
	return dbURL, nil
}

// EnsureDatabase creates database name on s if it does not exist yet and
// returns its URL; an existing database is left as it is.
func (s *Server) EnsureDatabase(ctx context.Context, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	dbURL, err := URLWithDatabase(s.AdminURL, name)
	if err != nil {
		return "", err
	}
	conn, err := connect(ctx, s.AdminURL)
	if err != nil {
		return "", fmt.Errorf("pgserver: connect to %s: %w", Redact(s.AdminURL), err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("pgserver: look up database %s: %w", name, err)
	}
	if exists {
		return dbURL, nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0")
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database: created meanwhile
		return "", fmt.Errorf("pgserver: create database %s: %w", name, err)
	}
	return dbURL, nil
}

// DropDatabase drops name if it exists, closing its connections first.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	conn, err := connect(ctx, s.AdminURL)
	if err != nil {
		return fmt.Errorf("pgserver: connect to %s: %w", Redact(s.AdminURL), err)
	}
	defer conn.Close(context.Background())
	return dropDatabase(ctx, conn, name)
}

func dropDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: server older than 13
		_, err = conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident)
		}
	}
	if err != nil {
		return fmt.Errorf("pgserver: drop database %s: %w", name, err)
	}
	return nil
}
