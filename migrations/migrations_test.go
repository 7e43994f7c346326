package migrations_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestApplyTwice(t *testing.T) {
	ctx := ctxFor(t)
	url := pgserver.NewTestDatabase(t)

	var log bytes.Buffer
	applied, err := migrations.Apply(ctx, url, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "00001_ledger.sql" {
		t.Fatalf("first Apply applied %v, want 00001_ledger.sql first", applied)
	}
	if !strings.Contains(log.String(), "migrate: applied 00001_ledger.sql\n") {
		t.Errorf("log lacks the applied line:\n%s", log.String())
	}

	log.Reset()
	again, err := migrations.Apply(ctx, url, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second Apply applied %v, want nothing", again)
	}
	if !strings.Contains(log.String(), "up to date") {
		t.Errorf("second Apply's log %q does not say it is up to date", log.String())
	}

	status, err := migrations.Status(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range status {
		if !strings.Contains(line, " applied ") {
			t.Errorf("status line %q: want applied", line)
		}
	}
	if len(status) != len(applied) {
		t.Errorf("status has %d lines, %d files were applied", len(status), len(applied))
	}
}

// The units table and ledger.Unit.Scale declare the same scales.
func TestUnitScales(t *testing.T) {
	ctx := ctxFor(t)
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT code, scale FROM units ORDER BY code`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int32{}
	for rows.Next() {
		var code string
		var scale int32
		if err := rows.Scan(&code, &scale); err != nil {
			t.Fatal(err)
		}
		got[code] = scale
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []ledger.Unit{ledger.MWh, ledger.USD} {
		if s, ok := got[string(u)]; !ok || s != u.Scale() {
			t.Errorf("units table has %s at scale %d (present %v), ledger declares %d", u, s, ok, u.Scale())
		}
	}
	if len(got) != 2 {
		t.Errorf("units table has %v, want exactly MWh and USD", got)
	}
}

// Several processes migrating one fresh database at once: exactly one applies
// each file, none fails.
func TestApplyConcurrently(t *testing.T) {
	ctx := ctxFor(t)
	url := pgserver.NewTestDatabase(t)
	const n = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		applied []string
		errs    []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := migrations.Apply(ctx, url, nil)
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, a...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	slices.Sort(applied)
	if len(slices.Compact(slices.Clone(applied))) != len(applied) {
		t.Errorf("a file was applied twice: %v", applied)
	}
	if !slices.Contains(applied, "00001_ledger.sql") {
		t.Errorf("00001_ledger.sql was not applied: %v", applied)
	}
}

// Transfers are append-only: the database refuses to change or delete one.
func TestTransfersAreImmutable(t *testing.T) {
	ctx := ctxFor(t)
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`UPDATE transfers SET amount = 1`,
		`DELETE FROM transfers`,
		`TRUNCATE transfers`,
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "never changed or deleted") {
			t.Errorf("%s: err = %v, want refusal", stmt, err)
		}
	}
}
