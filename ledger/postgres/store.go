package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/ledger"
)

// Store is the ledger in a PostgreSQL database whose schema package
// migrations created. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	units   map[ledger.Unit]int32 // the units table: code → scale
	periods sync.Map              // billing periods whose partition exists: string → true
}

// Open connects to the database at url (a postgres:// URL or key=value
// string; pool settings such as pool_max_conns are read from it) and checks
// that its units table declares the scales ledger.Unit.Scale does. It fails
// with a message saying to run `offtake migrate` when the schema is missing.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: database URL: %w", err)
	}
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		// Numeric columns read and write shopspring decimals exactly, never
		// through float64.
		pgxdecimal.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.loadUnits(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// loadUnits reads the units table and checks it against the code.
func (s *Store) loadUnits(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT code, scale FROM units`)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
			return errors.New("ledger/postgres: the database has no ledger schema (no units table): run `offtake migrate` first")
		}
		return fmt.Errorf("ledger/postgres: reading units: %w", err)
	}
	units := map[ledger.Unit]int32{}
	var code string
	var scale int32
	if _, err := pgx.ForEachRow(rows, []any{&code, &scale}, func() error {
		units[ledger.Unit(code)] = scale
		return nil
	}); err != nil {
		return fmt.Errorf("ledger/postgres: reading units: %w", err)
	}
	for _, u := range []ledger.Unit{ledger.MWh, ledger.USD, ledger.TCO2e} {
		got, ok := units[u]
		switch {
		case !ok:
			return fmt.Errorf("ledger/postgres: the units table has no %s: run `offtake migrate`", u)
		case got != u.Scale():
			return fmt.Errorf("ledger/postgres: the units table keeps %s to %d places, the code (ledger.Unit.Scale) to %d: schema and code disagree", u, got, u.Scale())
		}
	}
	s.units = units
	return nil
}

// Close closes the store's connections, waiting for those in use.
func (s *Store) Close() { s.pool.Close() }

// Pool is the store's connection pool, for readers such as settlement and
// positions that query the ledger tables directly. Write through Commit only.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Retry policy of write: serialization failures and deadlocks are transient
// by nature (PostgreSQL aborted one transaction so another could go on), so
// the whole transaction is run again, a bounded number of times, after a
// short randomized pause that lets the winner finish.
const (
	maxAttempts = 6
	baseBackoff = 5 * time.Millisecond
)

// retryable reports whether err is a serialization failure (40001) or a
// deadlock (40P01).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// write runs fn in one transaction and commits it, running it again from the
// start when PostgreSQL aborts it for a serialization failure or a deadlock.
// Every write of the store goes through here, so fn must be safe to run more
// than once: it must not keep state from a failed attempt.
func (s *Store) write(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt == maxAttempts {
			if attempt > 1 {
				return fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return err
		}
		pause := baseBackoff << (attempt - 1)
		pause += rand.N(pause) // jitter, so the aborted transactions do not collide again
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (retrying after: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
