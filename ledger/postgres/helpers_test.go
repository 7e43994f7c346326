package postgres

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/shopspring/decimal"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newStore opens a store on a fresh, migrated database and returns it with
// the database's URL.
func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	ctx := testCtx(t)
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, url
}

// rawConn is a plain connection for the SQL a test runs behind the store's
// back.
func rawConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx := testCtx(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

var t0 = time.Date(2028, 1, 1, 6, 0, 0, 0, time.UTC)

func chicago(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// xfer is a valid hand-made transfer; n makes its id.
func xfer(site string, n int, debit, credit string, unit ledger.Unit, amount decimal.Decimal) ledger.Transfer {
	leg := ledger.Delivery
	if unit == ledger.USD {
		leg = ledger.DeliveryPayment
	}
	start := t0.Add(time.Duration(n%96) * 15 * time.Minute)
	return ledger.Transfer{
		ID:    ledger.TransferID(site, start, 1, leg, fmt.Sprint(n)),
		Debit: debit, Credit: credit, Unit: unit, Amount: amount, Leg: leg,
		Site: site, IntervalStart: start, IntervalEnd: start.Add(15 * time.Minute), Period: "2028-01", Revision: 1,
		Contract: "c1", ContractVer: 1, QuantityMWh: amount,
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// sums is the balance each account should have after the transfers:
// credits minus debits.
func sums(ts []ledger.Transfer) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	for _, t := range ts {
		out[t.Credit] = out[t.Credit].Add(t.Amount)
		out[t.Debit] = out[t.Debit].Sub(t.Amount)
	}
	return out
}

// balanceMap reads the store's balances.
func balanceMap(t testing.TB, s *Store) map[string]decimal.Decimal {
	t.Helper()
	bs, err := s.Balances(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]decimal.Decimal{}
	for _, b := range bs {
		out[b.Account] = b.Balance
	}
	return out
}

// checkBalances fails the test unless the store's balances of the accounts
// in want (and of no account outside it, when exact) equal want.
func checkBalances(t testing.TB, s *Store, want map[string]decimal.Decimal, exact bool) {
	t.Helper()
	got := balanceMap(t, s)
	for id, w := range want {
		if g, ok := got[id]; !ok || !g.Equal(w) {
			t.Errorf("balance of %s = %s (exists %v), want %s", id, g, ok, w)
		}
	}
	if exact {
		for id, g := range got {
			if _, ok := want[id]; !ok && !g.IsZero() {
				t.Errorf("unexpected balance of %s: %s", id, g)
			}
		}
	}
}

// mustVerify fails the test unless Verify passes.
func mustVerify(t testing.TB, s *Store) Report {
	t.Helper()
	r, err := s.Verify(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Errorf("Verify found %d violations:\n%s", r.Violations, r)
	}
	return r
}

// balanceText is every account's balance as PostgreSQL prints it.
func balanceText(t testing.TB, conn *pgx.Conn) string {
	t.Helper()
	rows, err := conn.Query(testCtx(t), `SELECT id || ' ' || balance::text FROM accounts ORDER BY id COLLATE "C"`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(lines)
}

func count(t testing.TB, conn *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(testCtx(t), `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// result is one interval's allocation at a site with a plant, three data
// centers under contracts and the grid: deliveries of 40, 30 and 20 MWh out
// of 95 MWh net, 5 MWh exported, and imports to two loads — one at a
// negative price — and no plant import.
func result(site string, start time.Time, revision int) *matching.Result {
	const mwh = matching.WhPerMWh
	node := func(name string, price string) matching.PriceRef {
		return matching.PriceRef{Node: name, Market: "RT", Start: start, USDPerMWh: dec(price)}
	}
	return &matching.Result{
		Site: site, Start: start, End: start.Add(15 * time.Minute), Revision: revision,
		Seller: "plant", Grid: "ercot",
		Gross: 100 * mwh, Station: 5 * mwh, Net: 95 * mwh,
		Deliveries: []matching.Delivery{
			{Contract: "ppa-a", ContractVersion: 2, Seller: "plant", Buyer: "dc-a", Meter: "DCA", Energy: 40 * mwh, USDPerMWh: dec("45.50")},
			{Contract: "ppa-b", ContractVersion: 1, Seller: "plant", Buyer: "dc-b", Meter: "DCB", Energy: 30 * mwh, USDPerMWh: dec("38.25")},
			{Contract: "ppa-c", ContractVersion: 1, Seller: "plant", Buyer: "dc-c", Meter: "DCC", Energy: 20*mwh + 123_456, USDPerMWh: dec("41.125")},
		},
		Export:      matching.GridFlow{Party: "plant", Meter: "GT1-GROSS", Energy: 5*mwh - 123_456, Price: node("HB_WEST", "23.45")},
		PlantImport: matching.GridFlow{Party: "plant", Meter: "GT1-GROSS", Energy: 0, Price: node("HB_WEST", "23.45")},
		Imports: []matching.GridFlow{
			{Party: "dc-a", Meter: "DCA", Energy: 5 * mwh, Price: node("LZ_WEST", "-12.34")},
			{Party: "dc-b", Meter: "DCB", Energy: 2*mwh + 500_000, Price: matching.PriceRef{Node: "LZ_WEST", Market: "RT", Start: start.Add(-15 * time.Minute), USDPerMWh: dec("18.000001"), CarriedFrom: true}},
		},
		Readings: []matching.ReadingRef{
			{Meter: "GT1-GROSS", Energy: 100 * mwh, Quality: matching.Actual, Version: 1},
			{Meter: "DCA", Energy: 45 * mwh, Quality: matching.Actual, Version: 1},
			{Meter: "DCB", Energy: 32*mwh + 500_000, Quality: matching.Estimated, Version: 0},
			{Meter: "DCC", Energy: 20*mwh + 123_456, Quality: matching.Actual, Version: 2},
		},
	}
}

// postedBatch posts n consecutive intervals of a site from start into one
// batch, with their prices and an offset.
func postedBatch(t testing.TB, site string, start time.Time, n int, offset int64) ledger.Batch {
	t.Helper()
	loc := chicago(t)
	b := ledger.Batch{Source: "test"}
	for i := range n {
		at := start.Add(time.Duration(i) * 15 * time.Minute)
		ts, iv := ledger.Post(result(site, at, 1), loc)
		b.Transfers = append(b.Transfers, ts...)
		b.Intervals = append(b.Intervals, iv)
		b.Prices = append(b.Prices,
			ledger.MarketPrice{Node: "HB_WEST", Market: "RT", Start: at, End: at.Add(15 * time.Minute), USDPerMWh: dec("23.45")},
			ledger.MarketPrice{Node: "LZ_WEST", Market: "RT", Start: at, End: at.Add(15 * time.Minute), USDPerMWh: dec("-12.34")})
	}
	b.Offsets = []ledger.Offset{{Consumer: "engine", Topic: "generation", Partition: 0, Next: offset}}
	return b
}
