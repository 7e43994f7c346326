package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// A finalized period refuses transfers — through Commit, with
// ErrPeriodFinalized and nothing written, and in the database itself, to the
// owner too — while the next period takes them.
func TestFinalizedPeriodRefusesTransfers(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	jan := postedBatch(t, "permian-1", t0, 2, 1) // 2028-01 in Chicago
	if _, err := s.Commit(ctx, jan); err != nil {
		t.Fatal(err)
	}
	if err := s.FinalizePeriod(ctx, "2028-01", "finance"); err != nil {
		t.Fatal(err)
	}
	before := balanceText(t, conn)
	nTransfers, nBatches, nIntervals := count(t, conn, "transfers"), count(t, conn, "batches"), count(t, conn, "intervals")

	late := postedBatch(t, "permian-1", t0.Add(2*15*time.Minute), 1, 2)
	_, err := s.Commit(ctx, late)
	if !errors.Is(err, ErrPeriodFinalized) || !strings.Contains(err.Error(), "2028-01") || !strings.Contains(err.Error(), "finance") {
		t.Fatalf("commit into a finalized period: err = %v, want ErrPeriodFinalized naming 2028-01 and who finalized it", err)
	}
	if after := balanceText(t, conn); after != before {
		t.Errorf("a refused batch moved balances: %s → %s", before, after)
	}
	if count(t, conn, "transfers") != nTransfers || count(t, conn, "batches") != nBatches || count(t, conn, "intervals") != nIntervals {
		t.Errorf("a refused batch wrote rows")
	}
	// A replay of what was booked before the finalization is still a no-op.
	if c, err := s.Commit(ctx, jan); err != nil || c.Inserted != 0 {
		t.Errorf("replay of a booked batch of a finalized period: %+v, %v; want 0 inserted and no error", c, err)
	}

	// The database refuses it without the store.
	_, err = conn.Exec(ctx, `INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision)
		VALUES (gen_random_uuid(), 1, 'plant:energy', 'dc-a:energy', 'MWh', 1, 'delivery', 'permian-1', $1, $2, '2028-01', 1)`, t0.Add(time.Hour), t0.Add(time.Hour+15*time.Minute))
	if err == nil || !strings.Contains(err.Error(), "period_2028_01_is_finalized") {
		t.Errorf("raw insert into a finalized period: err = %v, want the database's refusal naming the period", err)
	}

	// Corrections go to the next open period.
	feb := postedBatch(t, "permian-1", time.Date(2028, 2, 1, 6, 0, 0, 0, time.UTC), 1, 3)
	if _, err := s.Commit(ctx, feb); err != nil {
		t.Fatalf("commit into the next period: %v", err)
	}
	if err := s.FinalizePeriod(ctx, "2028-01", "someone else"); !errors.Is(err, ErrPeriodFinalized) || !strings.Contains(err.Error(), "finance") {
		t.Errorf("finalizing twice: err = %v, want ErrPeriodFinalized naming the first finalizer", err)
	}
	if _, err := conn.Exec(ctx, `UPDATE periods SET finalized_at = NULL, finalized_by = NULL WHERE period = '2028-01'`); err == nil {
		t.Error("the database let a finalized period be reopened")
	}
	for _, bad := range []string{"2028-13", "2028-1", "", "28-01"} {
		if err := s.FinalizePeriod(ctx, bad, "finance"); !errors.Is(err, ErrInvalid) {
			t.Errorf("FinalizePeriod(%q): err = %v, want ErrInvalid", bad, err)
		}
	}
	fin, err := s.FinalizedPeriods(ctx)
	if err != nil || len(fin) != 1 || fin[0].Period != "2028-01" || fin[0].FinalizedBy != "finance" || fin[0].FinalizedAt == nil {
		t.Errorf("FinalizedPeriods = %+v, %v; want 2028-01 by finance", fin, err)
	}
	mustVerify(t, s)
}

// Finalizers and writers racing on one period: exactly one finalizer wins,
// every batch either commits before the finalization or is refused whole,
// and Verify finds nothing recorded in the period after it.
func TestFinalizeRacesWriters(t *testing.T) {
	ctx := testCtx(t)
	s, _ := newStore(t)
	if _, err := s.Commit(ctx, postedBatch(t, "race", t0, 1, 1)); err != nil {
		t.Fatal(err)
	}
	const writers, finalizers, batches = 4, 3, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won, lost, committed, refused int
	var unexpected []error
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				start := t0.Add(time.Duration(1+w*batches+i) * 15 * time.Minute)
				_, err := s.Commit(ctx, postedBatch(t, fmt.Sprint("race-", w), start, 1, int64(i+2)))
				mu.Lock()
				switch {
				case err == nil:
					committed++
				case errors.Is(err, ErrPeriodFinalized):
					refused++
				default:
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		}()
	}
	for f := range finalizers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(f+1) * 80 * time.Millisecond)
			err := s.FinalizePeriod(ctx, "2028-01", fmt.Sprint("finalizer ", f))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrPeriodFinalized):
				lost++
			default:
				unexpected = append(unexpected, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range unexpected {
		t.Error(err)
	}
	if won != 1 || lost != finalizers-1 {
		t.Errorf("%d finalizers won, %d lost; want exactly one winner", won, lost)
	}
	if committed+refused != writers*batches {
		t.Errorf("%d committed + %d refused, want %d", committed, refused, writers*batches)
	}
	t.Logf("%d batches committed before the finalization, %d refused after it", committed, refused)
	mustVerify(t, s)
}

// A reversal cancels exactly one booked transfer: accounts swapped, same unit
// and amount. The database refuses any other, and trace links both ways.
func TestReversals(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	a := xfer("s", 1, "plant:energy", "dc-a:energy", ledger.MWh, dec("1.5"))
	if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{a}}); err != nil {
		t.Fatal(err)
	}
	reversal := func(n int, f func(*ledger.Transfer)) ledger.Transfer {
		r := xfer("s", n, a.Credit, a.Debit, a.Unit, a.Amount)
		r.Reverses = a.ID
		if f != nil {
			f(&r)
		}
		return r
	}
	before := balanceText(t, conn)
	for name, bad := range map[string]ledger.Transfer{
		"other amount":     reversal(2, func(r *ledger.Transfer) { r.Amount = dec("1.4") }),
		"same direction":   reversal(3, func(r *ledger.Transfer) { r.Debit, r.Credit = a.Debit, a.Credit }),
		"other account":    reversal(4, func(r *ledger.Transfer) { r.Credit = "dc-b:energy" }),
		"nothing reversed": reversal(5, func(r *ledger.Transfer) { r.Reverses = ledger.TransferID("s", t0, 9, ledger.Delivery, "none") }),
	} {
		_, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{bad}})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "revers") {
			t.Errorf("%s: err = %v, want ErrInvalid about the reversal", name, err)
		}
	}
	if after := balanceText(t, conn); after != before {
		t.Errorf("refused reversals moved balances: %s → %s", before, after)
	}
	r := reversal(6, nil)
	if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{r}}); err != nil {
		t.Fatal(err)
	}
	checkBalances(t, s, map[string]decimal.Decimal{"plant:energy": dec("0"), "dc-a:energy": dec("0")}, false)
	if _, err := s.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{reversal(7, nil)}}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("a second reversal: err = %v, want ErrInvalid (reversed more than once)", err)
	}
	mustVerify(t, s)

	tr, err := s.Trace(ctx, uuidString(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.ReversedBy) != 1 || tr.ReversedBy[0].ID != uuidString(r.ID) {
		t.Errorf("trace of the original: reversed by %+v, want %s", tr.ReversedBy, uuidString(r.ID))
	}
	tr, err = s.Trace(ctx, uuidString(r.ID))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Reverses == nil || tr.Reverses.ID != uuidString(a.ID) || tr.Transfer.Reverses != uuidString(a.ID) {
		t.Errorf("trace of the reversal: reverses %+v, want %s", tr.Reverses, uuidString(a.ID))
	}
}

// Verify names what the database's own rules would have refused, when
// someone got past them (here: a superuser with triggers off).
func TestVerifyFindsBypassedRules(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	b := postedBatch(t, "permian-1", t0, 1, 10)
	if _, err := s.Commit(ctx, b); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, s)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`SET LOCAL session_replication_role = replica`, // no triggers
		// A reversal that does not cancel, recorded (says its clock) after
		// the finalization below.
		`INSERT INTO transfers (id, batch_id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision, reverses, recorded_at)
		 SELECT gen_random_uuid(), batch_id, debit_account, credit_account, unit, amount + 1, leg, site, interval_start, interval_end, period, revision, id, now() + interval '1 day'
		   FROM transfers WHERE leg = 'delivery' AND contract_id = 'ppa-a'`,
		`UPDATE consumer_offsets SET next_offset = 3`,
		`INSERT INTO consumer_offset_history (consumer, topic, partition, next_offset) VALUES ('engine', 'generation', 0, 3)`,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.FinalizePeriod(ctx, "2028-01", "finance"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]string{}
	for _, c := range r.Checks {
		if !c.OK {
			failed[c.Name] = c.Detail
		}
	}
	for name, want := range map[string]string{
		"finalized periods stay closed": "after period 2028-01 was finalized by finance",
		"reversals cancel exactly":      "does not cancel it",
		"offsets never move backwards":  "moved back from 10 to 3",
		"batches match their transfers": "records 12 transfers, 13 name it",
	} {
		if !strings.Contains(failed[name], want) {
			t.Errorf("check %q: %q, want a violation saying %q", name, failed[name], want)
		}
	}
	t.Logf("\n%s", r)
}

// asRole is url connecting as role: the session runs SET ROLE at start, as
// a login role that is a member of it would be.
func asRole(t *testing.T, url, role string) string {
	t.Helper()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "options=-c%20role%3D" + role
}

// Each role does its job through the store and nothing more: the writer
// books (new periods, replays through the temporary table, offsets), the
// settlement role finalizes, the reader reads and cannot write.
func TestStoreUnderRoles(t *testing.T) {
	ctx := testCtx(t)
	_, url := newStore(t)
	open := func(role string) *Store {
		s, err := Open(ctx, asRole(t, url, role))
		if err != nil {
			t.Fatalf("open as %s: %v", role, err)
		}
		t.Cleanup(s.Close)
		var current string
		if err := s.pool.QueryRow(ctx, `SELECT current_user`).Scan(&current); err != nil || current != role {
			t.Fatalf("connected as %q (%v), want %s", current, err, role)
		}
		return s
	}
	writer, settlement, reader := open("offtake_writer"), open("offtake_settlement"), open("offtake_reader")

	b := postedBatch(t, "permian-1", t0, 2, 5)
	if _, err := writer.Commit(ctx, b); err != nil {
		t.Fatalf("writer: commit: %v", err)
	}
	if c, err := writer.Commit(ctx, b); err != nil || c.Inserted != 0 {
		t.Fatalf("writer: replay: %+v, %v", c, err)
	}
	if _, err := reader.Commit(ctx, postedBatch(t, "permian-1", t0.Add(time.Hour), 1, 6)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("reader: commit: err = %v, want permission denied", err)
	}
	if err := reader.FinalizePeriod(ctx, "2028-01", "reader"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("reader: finalize: err = %v, want permission denied", err)
	}
	if err := writer.FinalizePeriod(ctx, "2028-01", "engine"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("writer: finalize: err = %v, want permission denied", err)
	}
	if _, err := settlement.Commit(ctx, postedBatch(t, "permian-1", t0.Add(time.Hour), 1, 6)); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("settlement: commit: err = %v, want permission denied", err)
	}
	if err := settlement.FinalizePeriod(ctx, "2028-01", "finance"); err != nil {
		t.Errorf("settlement: finalize: %v", err)
	}
	if _, err := writer.Commit(ctx, postedBatch(t, "permian-1", t0.Add(time.Hour), 1, 6)); !errors.Is(err, ErrPeriodFinalized) {
		t.Errorf("writer: commit into the finalized period: err = %v, want ErrPeriodFinalized", err)
	}
	for _, s := range []*Store{reader, settlement, writer} {
		mustVerify(t, s)
		if _, err := s.Entries(ctx, EntryFilter{Limit: 5}); err != nil {
			t.Error(err)
		}
	}
	if _, err := reader.pool.Exec(ctx, `UPDATE accounts SET balance = 0`); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("reader: update balances: err = %v, want permission denied", err)
	}
}

// A batch whose interval records or prices are partly stored already falls
// back from the fast path without losing anything: new transfers are booked,
// a restated price replaces the stored one, a repeated one changes nothing.
func TestCommitFallsBackForStoredIntervalsAndPrices(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	first := postedBatch(t, "permian-1", t0, 2, 1)
	if _, err := s.Commit(ctx, first); err != nil {
		t.Fatal(err)
	}
	// New transfers, one interval record already stored, and the prices of
	// the first batch again with one restated.
	next := postedBatch(t, "permian-1", t0.Add(2*15*time.Minute), 1, 2)
	next.Intervals = append(next.Intervals, first.Intervals[0])
	restated := first.Prices[0]
	restated.USDPerMWh = dec("99.5")
	next.Prices = append(next.Prices, first.Prices[1], restated)
	c, err := s.Commit(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if c.Inserted != len(next.Transfers) {
		t.Errorf("%+v, want all %d new transfers booked", c, len(next.Transfers))
	}
	if n := count(t, conn, "intervals"); n != 3 {
		t.Errorf("%d interval records, want 3", n)
	}
	var price string
	if err := conn.QueryRow(ctx, `SELECT usd_per_mwh::text FROM prices WHERE node = $1 AND market = $2 AND interval_start = $3`,
		restated.Node, restated.Market, restated.Start).Scan(&price); err != nil || price != "99.5" {
		t.Errorf("restated price stored as %q (%v), want 99.5", price, err)
	}
	if n := count(t, conn, "prices"); n != 6 {
		t.Errorf("%d prices, want 6", n)
	}
	checkBalances(t, s, sums(append(first.Transfers, next.Transfers...)), true)
	mustVerify(t, s)
}
