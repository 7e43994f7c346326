// Package migrations holds offtake's database schema as numbered goose SQL
// files (00001_ledger.sql, …), embedded in the binary, and applies them.
//
// Apply is what `offtake migrate`, the demo and the tests call. It is
// idempotent (a second run applies nothing) and safe to run from several
// processes at once: the runs take a PostgreSQL session advisory lock, so one
// applies the pending files and the others find nothing left to do.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// FS is the embedded migration files, for tools that want to list or show
// them.
func FS() fs.FS { return files }

// lockID is the advisory lock migrating runs take. It is offtake's own rather
// than goose's default, so another goose-managed application sharing the
// server cannot block or be blocked by offtake's migrations.
// (The bytes of "offtake\x01".)
const lockID int64 = 0x6f66_6674_616b_6501

// provider opens a database handle on databaseURL and a goose provider over
// the embedded files. The caller closes both through the returned func.
func provider(databaseURL string) (*goose.Provider, func(), error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("migrate: database URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	// Polling every second, for up to 5 minutes: a concurrent migration of
	// this small schema takes well under a second.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return p, func() { _ = p.Close() }, nil
}

// Apply applies the pending migrations to the database at databaseURL and
// returns the names of the files it applied, in order (none when the schema
// is already up to date). It writes one line per applied file to log, such as
// "migrate: applied 00001_ledger.sql", and one "up to date" line when there
// is nothing to do; log may be nil.
func Apply(ctx context.Context, databaseURL string, log io.Writer) (applied []string, err error) {
	if log == nil {
		log = io.Discard
	}
	p, closeAll, err := provider(databaseURL)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	results, err := p.Up(ctx)
	for _, r := range results {
		if r.Error != nil {
			continue
		}
		name := path.Base(r.Source.Path)
		applied = append(applied, name)
		fmt.Fprintf(log, "migrate: applied %s\n", name)
	}
	if err != nil {
		return applied, fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		fmt.Fprintf(log, "migrate: up to date (version %d)\n", v)
	}
	return applied, nil
}

// Status describes each embedded migration file's state in the database at
// databaseURL, one line per file in order: "00001_ledger.sql applied
// 2028-01-01T00:00:00Z" or "00002_x.sql pending".
func Status(ctx context.Context, databaseURL string) ([]string, error) {
	p, closeAll, err := provider(databaseURL)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	sts, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	out := make([]string, 0, len(sts))
	for _, s := range sts {
		line := path.Base(s.Source.Path) + " " + string(s.State)
		if s.State == goose.StateApplied && !s.AppliedAt.IsZero() {
			line += " " + s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, line)
	}
	return out, nil
}
