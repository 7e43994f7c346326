package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/shopspring/decimal"
)

// A small ledger: one interval's delivery and payment, an export, and a
// reversal of the export; 2028-01 finalized afterwards.
func auditLedger(t *testing.T) (url string, delivery, export, reversal string) {
	t.Helper()
	ctx := context.Background()
	url = pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	start := time.Date(2028, 1, 10, 18, 0, 0, 0, time.UTC)
	base := func(leg ledger.Leg, key string) ledger.Transfer {
		return ledger.Transfer{ID: ledger.TransferID("site-a", start, 1, leg, key), Leg: leg, Site: "site-a",
			IntervalStart: start, IntervalEnd: start.Add(15 * time.Minute), Period: "2028-01", Revision: 1,
			Readings: []ledger.ReadingRef{{Meter: "GROSS", Version: 1, Quality: "actual"}, {Meter: "DC", Version: 2, Quality: "estimated"}}}
	}
	d := base(ledger.Delivery, "ppa-1")
	d.Debit, d.Credit, d.Unit, d.Amount = "plant:energy", "dc:energy", ledger.MWh, decimal.RequireFromString("12.5")
	d.Contract, d.ContractVer, d.QuantityMWh = "ppa-1", 3, d.Amount
	p := base(ledger.DeliveryPayment, "ppa-1")
	p.Debit, p.Credit, p.Unit, p.Amount = "dc:settlement", "plant:settlement", ledger.USD, decimal.RequireFromString("725")
	p.Contract, p.ContractVer, p.QuantityMWh, p.Price, p.Band, p.PriceBasis = "ppa-1", 3, d.Amount, decimal.RequireFromString("58"), "peak", "fixed"
	x := base(ledger.Export, "GROSS")
	x.Debit, x.Credit, x.Unit, x.Amount, x.QuantityMWh = "plant:energy", "ercot:energy", ledger.MWh, decimal.RequireFromString("2"), decimal.RequireFromString("2")
	r := base(ledger.Export, "GROSS reversed")
	r.Debit, r.Credit, r.Unit, r.Amount, r.Reverses = x.Credit, x.Debit, x.Unit, x.Amount, x.ID
	if _, err := store.Commit(ctx, ledger.Batch{Source: "test", Transfers: []ledger.Transfer{d, p, x},
		Intervals: []ledger.Interval{{Site: "site-a", Start: start, End: start.Add(15 * time.Minute), Revision: 1, Period: "2028-01",
			GrossMWh: decimal.RequireFromString("15"), NetMWh: decimal.RequireFromString("14.5"), ExportMWh: decimal.RequireFromString("2")}},
		Prices: []ledger.MarketPrice{{Node: "N", Market: "RT", Start: start, End: start.Add(15 * time.Minute), USDPerMWh: decimal.RequireFromString("20")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Commit(ctx, ledger.Batch{Source: "correction", Transfers: []ledger.Transfer{r}}); err != nil {
		t.Fatal(err)
	}
	if err := store.FinalizePeriod(ctx, "2028-01", "finance"); err != nil {
		t.Fatal(err)
	}
	return url, uuidText(d.ID), uuidText(x.ID), uuidText(r.ID)
}

func uuidText(b [16]byte) string {
	const hex = "0123456789abcdef"
	var out []byte
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

func TestLedgerAuditCommands(t *testing.T) {
	url, delivery, export, reversal := auditLedger(t)
	db := map[string]string{"DATABASE_URL": url}

	code, out, stderr := runCLI(t, db, "ledger", "entries", "--period", "2028-01", "--leg", "delivery")
	if code != 0 || !strings.Contains(out, delivery) || strings.Contains(out, export) || !strings.Contains(out, "ppa-1 v3") {
		t.Errorf("entries --leg delivery: exit %d\n%s%s", code, out, stderr)
	}

	code, out, stderr = runCLI(t, db, "ledger", "entries", "--party", "ercot", "-o", "csv")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(recs) != 3 || recs[0][0] != "id" {
		t.Fatalf("entries --party ercot -o csv: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	reverses := map[string]string{recs[1][0]: recs[1][len(recs[1])-1], recs[2][0]: recs[2][len(recs[2])-1]}
	if reverses[reversal] != export || reverses[export] != "" {
		t.Errorf("the reversal's row does not name the export it reverses: %v", recs)
	}

	code, out, _ = runCLI(t, db, "ledger", "entries", "--contract", "ppa-1", "-o", "json")
	var es []postgres.Entry
	if err := json.Unmarshal([]byte(out), &es); code != 0 || err != nil || len(es) != 2 {
		t.Fatalf("entries --contract ppa-1 -o json: exit %d, %v, %d entries\n%s", code, err, len(es), out)
	}
	for _, e := range es {
		if e.Leg == string(ledger.DeliveryPayment) && (e.Band != "peak" || e.PriceBasis != "fixed" || e.USDPerMWh == nil || !e.USDPerMWh.Equal(decimal.NewFromInt(58))) {
			t.Errorf("payment entry lost its audit fields: %+v", e)
		}
		if len(e.Readings) != 2 || e.Readings[1].Quality != "estimated" || e.Readings[1].Version != 2 {
			t.Errorf("entry readings %+v", e.Readings)
		}
	}

	code, out, _ = runCLI(t, db, "ledger", "entries", "--from", "2028-01-11", "-o", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("entries --from after everything: exit %d, %q, want []", code, out)
	}

	code, out, stderr = runCLI(t, db, "ledger", "trace", delivery)
	for _, want := range []string{"ppa-1 version 3", "GROSS v1 actual", "DC v2 estimated", "finalized by finance", "gross 15 MWh", "batch      1 from test"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("trace of the delivery lacks %q: exit %d\n%s%s", want, code, out, stderr)
		}
	}
	code, out, _ = runCLI(t, db, "ledger", "trace", export)
	if code != 0 || !strings.Contains(out, "reversed   by "+reversal) {
		t.Errorf("trace of the reversed export:\n%s", out)
	}
	code, out, _ = runCLI(t, db, "ledger", "trace", "-o", "json", reversal)
	var tr postgres.Trace
	if err := json.Unmarshal([]byte(out), &tr); code != 0 || err != nil || tr.Reverses == nil || tr.Reverses.ID != export || tr.Batch.Source != "correction" {
		t.Errorf("trace -o json of the reversal: exit %d, %v: %s", code, err, out)
	}

	code, out, _ = runCLI(t, db, "ledger", "periods")
	if code != 0 || !strings.Contains(out, "2028-01") || !strings.Contains(out, "finance") {
		t.Errorf("periods: exit %d\n%s", code, out)
	}
	code, out, _ = runCLI(t, db, "ledger", "verify")
	if code != 0 || !strings.Contains(out, "reversals cancel exactly") {
		t.Errorf("verify: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ledger", "trace"}, exitBadInput, "one transfer id"},
		{[]string{"ledger", "trace", "xyz"}, exitBadInput, "not a transfer id"},
		{[]string{"ledger", "trace", "00000000-0000-8000-8000-000000000009"}, exitFailure, "no transfer has id"},
		{[]string{"ledger", "entries", "-o", "xml"}, exitBadInput, "table, csv or json"},
		{[]string{"ledger", "entries", "--from", "yesterday"}, exitBadInput, "--from"},
		{[]string{"ledger", "entries", "--period", "2028-13"}, exitBadInput, "--period"},
		{[]string{"ledger", "entries", "--from", "2028-01-02", "--to", "2028-01-01"}, exitBadInput, "not after"},
	} {
		code, _, stderr := runCLI(t, db, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d saying %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
