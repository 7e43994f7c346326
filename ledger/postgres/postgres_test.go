package postgres

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/shopspring/decimal"
)

func TestMigrationsApplyOnceAndDeclareUnitScales(t *testing.T) {
	ctx := testCtx(t)
	url := pgserver.NewTestDatabase(t)
	first, err := migrations.Apply(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) == 0 {
		t.Fatal("first Apply applied nothing")
	}
	var log strings.Builder
	second, err := migrations.Apply(ctx, url, &log)
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != 0 || strings.Contains(log.String(), "applied") {
		t.Errorf("second Apply applied %v (log %q), want nothing", second, log.String())
	}

	conn := rawConn(t, url)
	for _, u := range []ledger.Unit{ledger.MWh, ledger.USD} {
		var scale int32
		if err := conn.QueryRow(ctx, `SELECT scale FROM units WHERE code = $1`, string(u)).Scan(&scale); err != nil {
			t.Fatalf("unit %s: %v", u, err)
		}
		if scale != u.Scale() {
			t.Errorf("units table keeps %s to %d places, ledger.Unit.Scale says %d", u, scale, u.Scale())
		}
	}

	// Open checks the same and refuses a database that disagrees.
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := conn.Exec(ctx, `UPDATE units SET scale = 5 WHERE code = 'MWh'`); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(ctx, url); err == nil || !strings.Contains(err.Error(), "disagree") {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open on a units table that disagrees with the code: err = %v", err)
	}
}

func TestOpenUnmigratedDatabase(t *testing.T) {
	url := pgserver.NewTestDatabase(t)
	s, err := Open(testCtx(t), url)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a database without the schema")
	}
	if !strings.Contains(err.Error(), "offtake migrate") {
		t.Errorf("error %q does not say to run offtake migrate", err)
	}
}

func TestCommitPostedIntervals(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)

	b := postedBatch(t, "permian-1", t0, 3, 42)
	// 3 deliveries + payments, export + payment, 2 imports + payments (one
	// at a negative price), no plant import: 12 transfers an interval.
	if got := len(b.Transfers); got != 36 {
		t.Fatalf("posted %d transfers, want 36", got)
	}
	c, err := s.Commit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Inserted != 36 || c.Duplicates != 0 || c.BatchID == 0 {
		t.Errorf("first commit: %+v, want 36 inserted, 0 duplicates", c)
	}
	checkBalances(t, s, sums(b.Transfers), true)
	r := mustVerify(t, s)
	if len(r.Units) != 2 || r.Units[0].Unit != "MWh" || r.Units[0].Transfers != 18 {
		t.Errorf("unit totals %+v, want MWh with 18 transfers first", r.Units)
	}

	// Hand-computed, exact: dc-a pays 40 × 45.50 for its deliveries and is
	// paid 5 × 12.34 for importing at −12.34 $/MWh, each interval.
	want := map[string]decimal.Decimal{
		"dc-a:settlement": dec("-1758.3").Mul(decimal.NewFromInt(3)),
		"dc-a:energy":     dec("45").Mul(decimal.NewFromInt(3)),
		"plant:energy":    dec("-95").Mul(decimal.NewFromInt(3)),
		"dc-c:energy":     dec("20.123456").Mul(decimal.NewFromInt(3)),
	}
	checkBalances(t, s, want, false)
	var payer, payee, amount string
	if err := conn.QueryRow(ctx, `SELECT debit_account, credit_account, amount::text FROM transfers
		WHERE leg = 'import_payment' AND credit_account = 'dc-a:settlement' LIMIT 1`).Scan(&payer, &payee, &amount); err != nil {
		t.Fatalf("the negative-price import payment to dc-a: %v", err)
	}
	if payer != "ercot:settlement" || amount != "61.700000000000" {
		t.Errorf("negative-price import: %s pays %s %s, want ercot:settlement pays 61.700000000000", payer, payee, amount)
	}

	// The trail of a payment leg: price, its origin, readings.
	var node, market string
	var carried bool
	var readings string
	if err := conn.QueryRow(ctx, `SELECT price_node, price_market, price_carried, readings::text FROM transfers
		WHERE leg = 'import_payment' AND debit_account = 'dc-b:settlement' LIMIT 1`).Scan(&node, &market, &carried, &readings); err != nil {
		t.Fatal(err)
	}
	if node != "LZ_WEST" || market != "RT" || !carried || !strings.Contains(readings, `"quality": "estimated"`) {
		t.Errorf("trail: node %s market %s carried %v readings %s", node, market, carried, readings)
	}

	before := balanceText(t, conn)
	batches := count(t, conn, "transfers")
	again, err := s.Commit(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if again.Inserted != 0 || again.Duplicates != 36 || again.BatchID == c.BatchID {
		t.Errorf("replay: %+v, want 0 inserted, 36 duplicates, a new batch id", again)
	}
	if after := balanceText(t, conn); after != before {
		t.Errorf("replay changed balances:\nbefore %s\nafter  %s", before, after)
	}
	if n := count(t, conn, "transfers"); n != batches {
		t.Errorf("replay: %d transfers, was %d", n, batches)
	}
	mustVerify(t, s)

	// What a restarted engine reads back.
	booked, err := s.BookedIntervals(ctx, "permian-1", t0.Add(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(booked) != 2 || !booked[0].Equal(t0.Add(15*time.Minute)) || booked[0].Location() != time.UTC {
		t.Errorf("booked intervals since the second: %v", booked)
	}
	prices, err := s.Prices(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(prices) != 6 || prices[1].Node != "LZ_WEST" || !prices[1].USDPerMWh.Equal(dec("-12.34")) {
		t.Errorf("prices: %+v", prices)
	}
	offsets, err := s.Offsets(ctx, "engine")
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets[TopicPartition{"generation", 0}]; got != 42 || len(offsets) != 1 {
		t.Errorf("offsets %v, want generation/0 at 42", offsets)
	}
}

func TestDatabaseRefusesTransferBetweenUnits(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	if _, err := s.Commit(ctx, postedBatch(t, "permian-1", t0, 1, 1)); err != nil {
		t.Fatal(err)
	}
	conn := rawConn(t, url)
	var batch int64
	if err := conn.QueryRow(ctx, `INSERT INTO batches (source) VALUES ('raw') RETURNING id`).Scan(&batch); err != nil {
		t.Fatal(err)
	}
	_, err := conn.Exec(ctx, `INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg,
		site, interval_start, interval_end, period, revision)
		VALUES (gen_random_uuid(), $1, 'dc-a:energy', 'plant:energy', 'USD', 10, 'delivery_payment',
		'permian-1', $2, $3, '2028-01', 1)`, batch, t0, t0.Add(15*time.Minute))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != "transfers_accounts_hold_unit" {
		t.Fatalf("USD transfer between energy accounts: err = %v, want a check violation of transfers_accounts_hold_unit", err)
	}
}

func TestCommitRefusesInvalidBatchWritingNothing(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	good := xfer("s", 1, "plant:energy", "dc-a:energy", ledger.MWh, dec("1.5"))
	if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{good}}); err != nil {
		t.Fatal(err)
	}
	before := balanceText(t, conn)
	nBatches, nTransfers := count(t, conn, "batches"), count(t, conn, "transfers")

	with := func(f func(*ledger.Transfer)) ledger.Transfer {
		t := xfer("s", 2, "plant:energy", "dc-a:energy", ledger.MWh, dec("2"))
		f(&t)
		return t
	}
	cases := map[string]ledger.Transfer{
		"zero amount":        with(func(t *ledger.Transfer) { t.Amount = decimal.Zero }),
		"negative amount":    with(func(t *ledger.Transfer) { t.Amount = dec("-1") }),
		"finer than 1 Wh":    with(func(t *ledger.Transfer) { t.Amount = dec("1.0000001") }),
		"same account":       with(func(t *ledger.Transfer) { t.Credit = t.Debit }),
		"USD between energy": with(func(t *ledger.Transfer) { t.Unit = ledger.USD }),
		"MWh into money":     with(func(t *ledger.Transfer) { t.Credit = "dc-a:settlement" }),
		"unknown kind":       with(func(t *ledger.Transfer) { t.Credit = "dc-a:carbon" }),
		"no kind":            with(func(t *ledger.Transfer) { t.Credit = "dc-a" }),
		"unknown unit":       with(func(t *ledger.Transfer) { t.Unit = "tCO2e" }),
		"no id":              with(func(t *ledger.Transfer) { t.ID = [16]byte{} }),
		"empty interval":     with(func(t *ledger.Transfer) { t.IntervalEnd = t.IntervalStart }),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			// A valid new transfer beside the bad one is not written either.
			other := xfer("s", 3, "dc-b:energy", "dc-a:energy", ledger.MWh, dec("7"))
			_, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{other, bad},
				Offsets: []ledger.Offset{{Consumer: "engine", Topic: "t", Partition: 0, Next: 99}}})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			t.Log(err)
		})
	}
	if n := count(t, conn, "batches"); n != nBatches {
		t.Errorf("%d batches after refused commits, want %d", n, nBatches)
	}
	if n := count(t, conn, "transfers"); n != nTransfers {
		t.Errorf("%d transfers after refused commits, want %d", n, nTransfers)
	}
	if n := count(t, conn, "consumer_offsets"); n != 0 {
		t.Errorf("%d offsets after refused commits, want 0", n)
	}
	if after := balanceText(t, conn); after != before {
		t.Errorf("refused commits changed balances: %s → %s", before, after)
	}
}

func TestCommitRefusesConflictingTransfer(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	a := xfer("s", 1, "plant:energy", "dc-a:energy", ledger.MWh, dec("1.5"))
	if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{a}}); err != nil {
		t.Fatal(err)
	}
	before := balanceText(t, conn)
	nBatches := count(t, conn, "batches")

	changed := a
	changed.Amount = dec("1.6")
	fresh := xfer("s", 2, "plant:energy", "dc-a:energy", ledger.MWh, dec("3"))
	_, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{fresh, changed}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "1.600000") {
		t.Fatalf("err = %v, want ErrConflict naming the amounts", err)
	}
	// Within one batch too.
	_, err = s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{fresh, fresh, changed, a}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if after := balanceText(t, conn); after != before {
		t.Errorf("refused commits changed balances: %s → %s", before, after)
	}
	if n := count(t, conn, "batches"); n != nBatches {
		t.Errorf("%d batches after refused commits, want %d", n, nBatches)
	}
	// The same transfer repeated in a batch is a duplicate, not a conflict.
	c, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{fresh, fresh, a}})
	if err != nil || c.Inserted != 1 || c.Duplicates != 2 {
		t.Errorf("repeats: %+v, %v; want 1 inserted, 2 duplicates", c, err)
	}
}

func TestOffsetsNeverMoveBackwards(t *testing.T) {
	ctx := testCtx(t)
	s, _ := newStore(t)
	tp := TopicPartition{"consumption", 3}
	commit := func(next int64) {
		t.Helper()
		if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Offsets: []ledger.Offset{
			{Consumer: "engine", Topic: tp.Topic, Partition: tp.Partition, Next: next},
			{Consumer: "other", Topic: tp.Topic, Partition: tp.Partition, Next: 7},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	get := func() int64 {
		t.Helper()
		offs, err := s.Offsets(ctx, "engine")
		if err != nil {
			t.Fatal(err)
		}
		return offs[tp]
	}
	commit(100)
	if got := get(); got != 100 {
		t.Fatalf("offset %d after committing 100", got)
	}
	commit(50)
	if got := get(); got != 100 {
		t.Errorf("offset %d after committing 50 over 100, want 100", got)
	}
	commit(101)
	if got := get(); got != 101 {
		t.Errorf("offset %d after committing 101, want 101", got)
	}
	// The greatest of a batch's offsets for one partition wins.
	if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Offsets: []ledger.Offset{
		{Consumer: "engine", Topic: tp.Topic, Partition: tp.Partition, Next: 150},
		{Consumer: "engine", Topic: tp.Topic, Partition: tp.Partition, Next: 120},
	}}); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != 150 {
		t.Errorf("offset %d after a batch with 150 and 120, want 150", got)
	}
}

func TestVerifyDetectsTamperedBalance(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	if _, err := s.Commit(ctx, postedBatch(t, "permian-1", t0, 2, 1)); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s)
	conn := rawConn(t, url)
	if _, err := conn.Exec(ctx, `UPDATE accounts SET balance = balance + 1 WHERE id = 'dc-b:settlement'`); err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || r.Violations == 0 {
		t.Fatalf("Verify passed a tampered balance:\n%s", r)
	}
	var found bool
	for _, c := range r.Checks {
		if c.Name == "balances match transfers" {
			found = !c.OK && strings.Contains(c.Detail, "dc-b:settlement") && strings.Contains(c.Detail, "off by 1")
		}
	}
	if !found {
		t.Errorf("the report does not name dc-b:settlement off by 1:\n%s", r)
	}
	t.Logf("\n%s", r)
}

// Batches sharing accounts committed at once queue on the account locks: no
// deadlock surfaces and no update is lost.
func TestConcurrentCommits(t *testing.T) {
	ctx := testCtx(t)
	s, _ := newStore(t)
	accounts := map[ledger.Unit][]string{
		ledger.MWh: {"plant:energy", "dc-a:energy", "dc-b:energy", "dc-c:energy", "ercot:energy"},
		ledger.USD: {"plant:settlement", "dc-a:settlement", "dc-b:settlement", "dc-c:settlement", "ercot:settlement"},
	}
	const workers, batches, size = 8, 12, 40
	all := make([][]ledger.Transfer, workers)
	for w := range workers {
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		for i := range batches * size {
			unit := ledger.MWh
			if rng.IntN(2) == 0 {
				unit = ledger.USD
			}
			accs := accounts[unit]
			d := rng.IntN(len(accs))
			c := (d + 1 + rng.IntN(len(accs)-1)) % len(accs)
			amount := decimal.New(rng.Int64N(1e9)+1, -int32(rng.IntN(int(unit.Scale())+1)))
			all[w] = append(all[w], xfer(fmt.Sprintf("w%d", w), i, accs[d], accs[c], unit, amount))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				b := ledger.Batch{Source: fmt.Sprint("worker ", w), Transfers: all[w][i*size : (i+1)*size],
					Offsets: []ledger.Offset{{Consumer: "engine", Topic: "generation", Partition: w % 3, Next: int64(i)}}}
				if _, err := s.Commit(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var every []ledger.Transfer
	for _, ts := range all {
		every = append(every, ts...)
	}
	checkBalances(t, s, sums(every), true)
	mustVerify(t, s)
	var deadlocks int64
	if err := s.pool.QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&deadlocks); err == nil {
		t.Logf("deadlocks the server detected (and Commit retried; statistics may lag): %d", deadlocks)
	}
}

// The same batch committed by several goroutines at once (two engine
// instances around a rebalance): its transfers are booked once.
func TestConcurrentReplays(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	b := postedBatch(t, "permian-1", t0, 8, 10)
	const n = 6
	var wg sync.WaitGroup
	results := make([]Committed, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.Commit(ctx, b)
		}()
	}
	wg.Wait()
	inserted := 0
	for i := range n {
		if errs[i] != nil {
			t.Error(errs[i])
		}
		inserted += results[i].Inserted
	}
	if inserted != len(b.Transfers) {
		t.Errorf("%d concurrent commits of one batch inserted %d transfers, want %d once", n, inserted, len(b.Transfers))
	}
	if got := count(t, rawConn(t, url), "transfers"); got != len(b.Transfers) {
		t.Errorf("%d transfers booked, want %d", got, len(b.Transfers))
	}
	checkBalances(t, s, sums(b.Transfers), true)
	mustVerify(t, s)
}

// write runs a transaction again when PostgreSQL aborts it for a
// serialization failure or a deadlock, a bounded number of times, and not
// for other errors.
func TestWriteRetriesTransientFailures(t *testing.T) {
	ctx := testCtx(t)
	s, _ := newStore(t)
	raise := func(tx pgx.Tx, code string) error {
		_, err := tx.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '%s'; END $$`, code))
		return err
	}

	attempts := 0
	err := s.write(ctx, func(tx pgx.Tx) error {
		attempts++
		switch attempts {
		case 1:
			return raise(tx, "40P01")
		case 2:
			return raise(tx, "40001")
		}
		_, err := tx.Exec(ctx, `INSERT INTO batches (source) VALUES ('retried')`)
		return err
	})
	if err != nil || attempts != 3 {
		t.Errorf("deadlock, serialization failure, success: err %v after %d attempts, want success after 3", err, attempts)
	}

	attempts = 0
	err = s.write(ctx, func(tx pgx.Tx) error { attempts++; return raise(tx, "40P01") })
	if err == nil || attempts != maxAttempts || !strings.Contains(err.Error(), fmt.Sprintf("after %d attempts", maxAttempts)) {
		t.Errorf("endless deadlocks: err %v after %d attempts, want failure after %d", err, attempts, maxAttempts)
	}

	attempts = 0
	err = s.write(ctx, func(tx pgx.Tx) error { attempts++; return raise(tx, "23505") })
	if err == nil || attempts != 1 {
		t.Errorf("unique violation: err %v after %d attempts, want failure after 1", err, attempts)
	}
}
