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
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/pressly/goose/v3"
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
	for _, u := range []ledger.Unit{ledger.MWh, ledger.USD, ledger.TCO2e} {
		if s, ok := got[string(u)]; !ok || s != u.Scale() {
			t.Errorf("units table has %s at scale %d (present %v), ledger declares %d", u, s, ok, u.Scale())
		}
	}
	if len(got) != 3 {
		t.Errorf("units table has %v, want exactly MWh, USD and tCO2e", got)
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

// Transfers are append-only: the database refuses to change or delete one,
// through the partitioned table or a partition directly.
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
	bookOne(t, conn)
	for _, stmt := range []string{
		`UPDATE transfers SET amount = 1`,
		`DELETE FROM transfers`,
		`TRUNCATE transfers`,
		`UPDATE transfers_2028_01 SET amount = 1`,
		`DELETE FROM transfers_2028_01`,
		`TRUNCATE transfers_2028_01`,
	} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "never changed or deleted") {
			t.Errorf("%s: err = %v, want refusal", stmt, err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM transfers WHERE amount = 2.5`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the transfer after the refusals: %d rows (%v), want 1 unchanged", n, err)
	}
}

// bookOne books one transfer by hand, in period 2028-01, as the owner.
func bookOne(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := ctxFor(t)
	for _, stmt := range []string{
		`SELECT ledger_ensure_period('2028-01')`,
		`INSERT INTO accounts (id, party, kind, unit) VALUES ('plant:energy', 'plant', 'energy', 'MWh'), ('dc:energy', 'dc', 'energy', 'MWh')`,
		`INSERT INTO batches (id, source) VALUES (1, 'test')`,
		`INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision)
		 VALUES ('00000000-0000-8000-8000-000000000001', 1, 'plant:energy', 'dc:energy', 'MWh', 2.5, 'delivery', 's',
		         '2028-01-01T06:00:00Z', '2028-01-01T06:15:00Z', '2028-01', 1)`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// The roles exist once per server whatever the number of databases migrated
// (concurrently, as the tests of several packages do), and each database
// grants them: the reader reads and cannot write, the writer books and cannot
// change a transfer, settlement reads and finalizes periods.
func TestRoles(t *testing.T) {
	ctx := ctxFor(t)
	urls := make([]string, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(urls))
	for i := range urls {
		urls[i] = pgserver.NewTestDatabase(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = migrations.Apply(ctx, urls[i], nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	bookOne(t, conn)

	as := func(role string, stmt string) error {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+role); err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, stmt)
		return err
	}
	denied := func(err error) bool { return err != nil && strings.Contains(err.Error(), "permission denied") }
	insert := `INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision)
		VALUES ('00000000-0000-8000-8000-000000000002', 1, 'plant:energy', 'dc:energy', 'MWh', 1, 'delivery', 's',
		        '2028-01-01T06:15:00Z', '2028-01-01T06:30:00Z', '2028-01', 1)`
	for _, stmt := range []string{
		insert,
		`UPDATE accounts SET balance = 1`,
		`INSERT INTO batches (source) VALUES ('reader')`,
		`UPDATE consumer_offsets SET next_offset = 0`,
		`DELETE FROM prices`,
		`UPDATE periods SET finalized_at = now(), finalized_by = 'reader'`,
		`SELECT ledger_ensure_period('2028-02')`,
	} {
		if err := as("offtake_reader", stmt); !denied(err) {
			t.Errorf("offtake_reader: %s: err = %v, want permission denied", stmt, err)
		}
	}
	for _, stmt := range []string{`SELECT count(*) FROM transfers`, `SELECT * FROM accounts`, `SELECT * FROM periods`, `SELECT * FROM consumer_offset_history`} {
		for _, role := range []string{"offtake_reader", "offtake_settlement", "offtake_writer"} {
			if err := as(role, stmt); err != nil {
				t.Errorf("%s: %s: %v", role, stmt, err)
			}
		}
	}
	if err := as("offtake_writer", insert); err != nil {
		t.Errorf("offtake_writer: insert a transfer: %v", err)
	}
	if err := as("offtake_writer", `SELECT ledger_ensure_period('2028-02')`); err != nil {
		t.Errorf("offtake_writer: a new period: %v", err)
	}
	for _, stmt := range []string{`UPDATE transfers SET amount = 1`, `DELETE FROM transfers`, `TRUNCATE transfers`,
		`UPDATE periods SET finalized_at = now(), finalized_by = 'engine'`, `DELETE FROM consumer_offset_history`} {
		if err := as("offtake_writer", stmt); !denied(err) {
			t.Errorf("offtake_writer: %s: err = %v, want permission denied", stmt, err)
		}
	}
	if err := as("offtake_settlement", `UPDATE periods SET finalized_at = now(), finalized_by = 'finance' WHERE period = '2028-01'`); !denied(err) {
		t.Errorf("offtake_settlement: update periods by hand: err = %v, want permission denied", err)
	}
	if err := as("offtake_settlement", `SELECT ledger_finalize_period('2028-01', 'finance')`); err != nil {
		t.Errorf("offtake_settlement: finalize: %v", err)
	}
	if err := as("offtake_writer", `SELECT ledger_finalize_period('2028-01', 'engine')`); !denied(err) {
		t.Errorf("offtake_writer: finalize: err = %v, want permission denied", err)
	}
	if err := as("offtake_settlement", insert); !denied(err) {
		t.Errorf("offtake_settlement: insert a transfer: err = %v, want permission denied", err)
	}
	var roles int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname IN ('offtake_writer', 'offtake_reader', 'offtake_settlement') AND NOT rolcanlogin`).Scan(&roles); err != nil || roles != 3 {
		t.Errorf("%d NOLOGIN offtake roles (%v), want 3", roles, err)
	}
}

// A database migrated to 00001 with a booked batch upgrades in place: the
// journal moves into its partitions whole, each period gets its row, the
// stored offsets seed their history, and the moved rows are as immutable as
// new ones.
func TestUpgradeKeepsTheJournal(t *testing.T) {
	ctx := ctxFor(t)
	url := pgserver.NewTestDatabase(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS(), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		`INSERT INTO accounts (id, party, kind, unit) VALUES ('plant:energy', 'plant', 'energy', 'MWh'), ('dc:energy', 'dc', 'energy', 'MWh')`,
		`INSERT INTO batches (id, source, transfers) VALUES (1, 'engine', 2)`,
		`INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision, readings)
		 VALUES ('00000000-0000-8000-8000-000000000001', 1, 'plant:energy', 'dc:energy', 'MWh', 2.5, 'delivery', 's', '2028-01-31T23:45:00Z', '2028-02-01T00:00:00Z', '2028-01', 1, '[{"meter": "M", "version": 1, "quality": "actual"}]'),
		        ('00000000-0000-8000-8000-000000000002', 1, 'plant:energy', 'dc:energy', 'MWh', 1.25, 'delivery', 's', '2028-02-01T06:00:00Z', '2028-02-01T06:15:00Z', '2028-02', 1, NULL)`,
		`UPDATE accounts SET balance = CASE id WHEN 'dc:energy' THEN 3.75 ELSE -3.75 END`,
		`INSERT INTO consumer_offsets (consumer, topic, partition, next_offset, batch_id) VALUES ('engine', 'offtake.generation', 0, 42, 1)`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	applied, err := migrations.Apply(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 || applied[0] != "00002_ledger_locks.sql" {
		t.Fatalf("applied %v, want 00002_ledger_locks.sql first", applied)
	}
	var jan, feb, periods, history int
	var readings string
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM transfers_2028_01), (SELECT count(*) FROM transfers_2028_02),
		(SELECT count(*) FROM periods WHERE finalized_at IS NULL), (SELECT count(*) FROM consumer_offset_history WHERE next_offset = 42),
		(SELECT readings::text FROM transfers WHERE amount = 2.5)`).Scan(&jan, &feb, &periods, &history, &readings); err != nil {
		t.Fatal(err)
	}
	if jan != 1 || feb != 1 || periods != 2 || history != 1 || !strings.Contains(readings, `"meter": "M"`) {
		t.Errorf("after the upgrade: %d rows in 2028-01, %d in 2028-02, %d open periods, %d offsets in history, readings %s; want 1, 1, 2, 1 and the readings kept",
			jan, feb, periods, history, readings)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM transfers WHERE amount = 2.5`); err == nil {
		t.Error("a moved transfer could be deleted")
	}
	if _, err := conn.Exec(ctx, `SELECT ledger_finalize_period('2028-01', 'finance')`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision)
		VALUES ('00000000-0000-8000-8000-000000000003', 1, 'plant:energy', 'dc:energy', 'MWh', 1, 'delivery', 's', '2028-01-31T23:30:00Z', '2028-01-31T23:45:00Z', '2028-01', 1)`); err == nil ||
		!strings.Contains(err.Error(), "period_2028_01_is_finalized") {
		t.Errorf("insert into the finalized, upgraded period: err = %v, want the finalized period's refusal", err)
	}
}
