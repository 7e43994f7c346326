package pgsource_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/pgsource"
	"github.com/offtake/offtake/simulate"
	"github.com/shopspring/decimal"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

// booked is a ledger holding simulated days of the example site, allocated
// by the engine and posted as the stream would.
func booked(t *testing.T, months ...contracts.Period) (*postgres.Store, *contracts.Portfolio) {
	t.Helper()
	ctx := context.Background()
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatal(err)
	}
	site := &p.Sites[0]
	for _, month := range months {
		e, err := matching.New(p, matching.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		m := simulate.Site(site, month, simulate.Options{Seed: 3, Days: 2, Portfolio: p})
		var b ledger.Batch
		b.Source = "test"
		for _, pr := range m.Prices {
			res, err := e.AddPrice(pr)
			if err != nil {
				t.Fatal(err)
			}
			post(&b, res, site)
		}
		for _, r := range m.Readings {
			_, res, err := e.AddReading(r)
			if err != nil {
				t.Fatal(err)
			}
			post(&b, res, site)
		}
		if _, err := store.Commit(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return store, p
}

func post(b *ledger.Batch, res []matching.Result, site *contracts.Site) {
	for i := range res {
		ts, iv := ledger.Post(&res[i], site.Location)
		b.Transfers = append(b.Transfers, ts...)
		b.Intervals = append(b.Intervals, iv)
	}
}

func TestFinalizeNumbersOnceAndReproduces(t *testing.T) {
	ctx := context.Background()
	mar, apr := contracts.Period{Year: 2028, Month: time.March}, contracts.Period{Year: 2028, Month: time.April}
	store, p := booked(t, mar, apr)

	preview, err := settlement.Settle(ctx, p, mar, pgsource.New(store.Pool(), p), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range preview {
		if st.Final || st.InvoiceID != settlement.DraftInvoiceID(st.Seller, mar, st.Contract.ID) {
			t.Fatalf("preview %s final=%v", st.InvoiceID, st.Final)
		}
	}

	// Two runs at once: exactly one numbers the period.
	var wg sync.WaitGroup
	runs := make([]pgsource.Run, 2)
	stss := make([][]settlement.Statement, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i], stss[i], errs[i] = pgsource.Finalize(ctx, store.Pool(), p, mar, "finance", nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if runs[0].Reused == runs[1].Reused {
		t.Fatalf("both runs reused=%v: exactly one must number the period", runs[0].Reused)
	}
	want := []string{"MRP-2028-000001", "MRP-2028-000002", "MRP-2028-000003"} // ppa-cedar, ppa-helios, ppa-northwind
	for r := range 2 {
		if len(stss[r]) != 3 {
			t.Fatalf("run %d: %d statements", r, len(stss[r]))
		}
		for i, st := range stss[r] {
			if !st.Final || st.InvoiceID != want[i] {
				t.Errorf("run %d: %s is %s, want %s", r, st.Contract.ID, st.InvoiceID, want[i])
			}
			if !st.TotalUSD.Equal(preview[i].TotalUSD) {
				t.Errorf("run %d: %s total %s, preview said %s", r, st.Contract.ID, st.TotalUSD, preview[i].TotalUSD)
			}
		}
	}

	// The ledger refuses transfers dated in the finalized period.
	var b ledger.Batch
	b.Source = "late"
	res := matching.Result{Site: "coyote-flats", Start: time.Date(2028, 3, 1, 6, 0, 0, 0, time.UTC), End: time.Date(2028, 3, 1, 6, 15, 0, 0, time.UTC),
		Revision: 9, Seller: "mesa-ridge", Grid: "ercot", Gross: 1000, Net: 1000,
		Export: matching.GridFlow{Party: "mesa-ridge", Meter: "CFEC-GROSS", Energy: 1000}}
	post(&b, []matching.Result{res}, &p.Sites[0])
	if _, err := store.Commit(ctx, b); !errors.Is(err, postgres.ErrPeriodFinalized) {
		t.Fatalf("a transfer dated in the finalized period: err = %v", err)
	}

	// A preview now shows the issued numbers; April continues the sequence.
	again, err := settlement.Settle(ctx, p, mar, pgsource.New(store.Pool(), p), nil)
	if err != nil {
		t.Fatal(err)
	}
	numbers, err := pgsource.New(store.Pool(), p).InvoiceNumbers(ctx, mar)
	if err != nil || len(numbers) != 3 {
		t.Fatalf("numbers %v, %v", numbers, err)
	}
	if again = settlement.Number(again, numbers); again[2].InvoiceID != want[2] || !again[2].Final {
		t.Fatalf("preview after finalize: %s", again[2].InvoiceID)
	}
	run, april, err := pgsource.Finalize(ctx, store.Pool(), p, apr, "finance", nil)
	if err != nil || run.Reused || run.Invoices != 3 {
		t.Fatalf("april: %+v, %v", run, err)
	}
	if april[0].InvoiceID != "MRP-2028-000004" || april[2].InvoiceID != "MRP-2028-000006" {
		t.Fatalf("april numbers %s … %s, want MRP-2028-000004 … 000006", april[0].InvoiceID, april[2].InvoiceID)
	}
}

func TestFinalizedOutsideSettlement(t *testing.T) {
	ctx := context.Background()
	mar := contracts.Period{Year: 2028, Month: time.March}
	store, p := booked(t, mar)
	if err := store.FinalizePeriod(ctx, mar.String(), "ops"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pgsource.Finalize(ctx, store.Pool(), p, mar, "finance", nil); !errors.Is(err, pgsource.ErrFinalizedOutside) {
		t.Fatalf("err = %v, want ErrFinalizedOutside", err)
	}
}

// The example site books emissions: each statement carries the tCO2e of the
// energy it bills and the buyer's hourly annex, which adds up to it.
func TestStatementEmissions(t *testing.T) {
	ctx := context.Background()
	mar := contracts.Period{Year: 2028, Month: time.March}
	store, p := booked(t, mar)
	sts, err := settlement.Settle(ctx, p, mar, pgsource.New(store.Pool(), p), nil)
	if err != nil {
		t.Fatal(err)
	}
	intensity := p.Sites[0].Emissions.PlantKgPerMWh() // 6.9 × 53.06 = 366.114 kg/MWh
	for _, st := range sts {
		if st.EmissionsT.Sign() <= 0 || len(st.EmissionsAnnex) != 48 {
			t.Fatalf("%s: %s tCO2e, %d annex hours", st.Contract.ID, st.EmissionsT, len(st.EmissionsAnnex))
		}
		// Attribution shares the plant's (gross) emissions over net output, so
		// a delivered MWh carries a little more than gross intensity.
		if d := st.EmissionsKgPerMWh.Sub(intensity); d.IsNegative() || d.GreaterThan(intensity.Div(decimal.NewFromInt(10))) {
			t.Errorf("%s: %s kg/MWh, plant %s", st.Contract.ID, st.EmissionsKgPerMWh, intensity)
		}
		sum := decimal.Zero
		for _, h := range st.EmissionsAnnex {
			sum = sum.Add(h.DeliveredT)
		}
		if !sum.Equal(st.EmissionsT) { // one contract per buyer at this site
			t.Errorf("%s: annex %s t, statement %s t", st.Contract.ID, sum, st.EmissionsT)
		}
	}
}

// A correction to a finalized period is booked in the next open period: it
// appears there as a prior-period line naming the period it corrects, and
// the finalized period's statements do not change.
func TestCorrectionAfterFinalizeIsPriorPeriod(t *testing.T) {
	ctx := context.Background()
	mar, apr := contracts.Period{Year: 2028, Month: time.March}, contracts.Period{Year: 2028, Month: time.April}
	store, p := booked(t, mar)
	site := &p.Sites[0]
	_, before, err := pgsource.Finalize(ctx, store.Pool(), p, mar, "finance", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Re-run the first interval of March with a higher northwind reading, as
	// the engine does for a restated meter reading.
	e, err := matching.New(p, matching.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m := simulate.Site(site, mar, simulate.Options{Seed: 3, Days: 2, Portfolio: p}) // as booked()
	for _, pr := range m.Prices {
		if _, err := e.AddPrice(pr); err != nil {
			t.Fatal(err)
		}
	}
	var first *matching.Result
	for _, r := range m.Readings {
		_, res, err := e.AddReading(r)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil && len(res) > 0 {
			first = &res[0]
		}
	}
	var restated matching.Reading
	for _, r := range m.Readings {
		if r.Meter == "DC-NORTHWIND" && r.Start.Equal(first.Start) {
			restated = r
		}
	}
	restated.Version, restated.Energy = 2, restated.Energy+25_000 // +25 kWh
	out, res, err := e.AddReading(restated)
	if err != nil || out != matching.Corrected || len(res) != 1 {
		t.Fatalf("restatement: %s %d %v", out, len(res), err)
	}
	ts, iv := ledger.PostIn(&res[0], site.Location, apr.String())
	if _, err := store.Commit(ctx, ledger.Batch{Source: "correction", Transfers: ts, Intervals: []ledger.Interval{iv}}); err != nil {
		t.Fatal(err)
	}
	again, err := settlement.Settle(ctx, p, mar, pgsource.New(store.Pool(), p), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range before {
		if !again[i].TotalUSD.Equal(before[i].TotalUSD) {
			t.Errorf("%s: March total changed after finalize: %s → %s", before[i].Contract.ID, before[i].TotalUSD, again[i].TotalUSD)
		}
	}
	april, err := settlement.Settle(ctx, p, apr, pgsource.New(store.Pool(), p), nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range april {
		for _, l := range st.Lines {
			if l.Kind != settlement.LinePriorPeriod {
				continue
			}
			found = true
			// 25 kWh more to northwind at $58 (the plant had output to spare)
			if st.Contract.ID != "ppa-northwind" || l.Of != "2028-03" || !l.Quantity.Equal(decimal.RequireFromString("0.025")) || !l.AmountUSD.Equal(decimal.RequireFromString("1.45")) {
				t.Errorf("%s: prior-period line %+v", st.Contract.ID, l)
			}
		}
	}
	if !found {
		t.Fatalf("no prior-period line in April: %+v", april)
	}
}
