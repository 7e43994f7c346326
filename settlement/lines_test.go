package settlement_test

import (
	"os"
	"strings"
	"testing"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// termSheet loads examples/term-sheet.yaml: every line kind has a contract there.
func termSheet(t *testing.T) *contracts.Portfolio {
	t.Helper()
	p, err := contracts.LoadFiles(os.DirFS("../examples"), "term-sheet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func total(contract string, leg ledger.Leg, price, qty, amount, payer string, t *testing.T) settlement.LegTotal {
	return settlement.LegTotal{Contract: contract, ContractVersion: 1, Leg: leg, USDPerMWh: dec(t, price), QuantityMWh: dec(t, qty), AmountUSD: dec(t, amount), Payer: payer, Transfers: 1}
}

func only(t *testing.T, sts []settlement.Statement, id string) settlement.Statement {
	t.Helper()
	for _, st := range sts {
		if st.Contract.ID == id {
			return st
		}
	}
	t.Fatalf("no statement for %s", id)
	return settlement.Statement{}
}

func lineOf(t *testing.T, st settlement.Statement, kind string) settlement.Line {
	t.Helper()
	for _, l := range st.Lines {
		if l.Kind == kind {
			return l
		}
	}
	t.Fatalf("%s: no %s line in %+v", st.Contract.ID, kind, st.Lines)
	return settlement.Line{}
}

func checkTotals(t *testing.T, st settlement.Statement) {
	t.Helper()
	net, tax := decimal.Zero, decimal.Zero
	for _, l := range st.Lines {
		if !l.AmountUSD.Equal(st.Contract.Rounding.Round(l.ExactUSD, 2)) {
			t.Errorf("%s line %q: amount %s is not exact %s rounded once", st.Contract.ID, l.Description, l.AmountUSD, l.ExactUSD)
		}
		if l.Kind == settlement.LineTax {
			tax = tax.Add(l.AmountUSD)
		} else {
			net = net.Add(l.AmountUSD)
		}
	}
	if !net.Equal(st.NetUSD) || !tax.Equal(st.TaxUSD) || !st.TotalUSD.Equal(net.Add(tax)) {
		t.Errorf("%s: net %s tax %s total %s, lines give %s + %s", st.Contract.ID, st.NetUSD, st.TaxUSD, st.TotalUSD, net, tax)
	}
}

// Bands, shortfall damages paid by the seller, and the capacity charge.
func TestStatementBandsShortfallCapacity(t *testing.T) {
	p := termSheet(t)
	totals := []settlement.LegTotal{
		total("ppa-atlas", ledger.Delivery, "0", "1000", "0", "", t),
		total("ppa-atlas", ledger.DeliveryPayment, "68", "600", "40800", "atlas", t),
		total("ppa-atlas", ledger.DeliveryPayment, "47.5", "400", "19000", "atlas", t),
		total("ppa-atlas", ledger.ShortfallPayment, "15", "20.5", "307.5", "permian-ridge-power", t),
	}
	totals[1].Band, totals[2].Band = "peak", "off_peak"
	st := only(t, mustBuild(t, p, totals), "ppa-atlas")
	checkTotals(t, st)
	if len(st.Lines) != 4 || st.Lines[0].Band != "peak" || st.Lines[1].Band != "off_peak" || st.Lines[2].Kind != settlement.LineShortfall || st.Lines[3].Kind != settlement.LineCapacity {
		t.Fatalf("lines %+v", st.Lines)
	}
	if sf := st.Lines[2]; !sf.AmountUSD.Equal(dec(t, "-307.5")) || sf.Taxable {
		t.Errorf("shortfall damages %+v: the seller pays, no tax", sf)
	}
	// 200 MW = 200,000 kW at $4.25/kW-month
	if cp := st.Lines[3]; !cp.Quantity.Equal(dec(t, "200000")) || cp.UnitCode != settlement.UnitKW || !cp.AmountUSD.Equal(dec(t, "850000")) {
		t.Errorf("capacity %+v", cp)
	}
	if !st.TotalUSD.Equal(dec(t, "909492.5")) || st.ContractVersion != 1 {
		t.Errorf("total %s version %d", st.TotalUSD, st.ContractVersion)
	}
}

// Minimum take: cirrus expects 90,000 MWh a month and must take 80%.
// Excess: above 110%, energy is repriced at min(market, 0.75 × price).
// Tax: 1.5% of the taxable lines.
func TestStatementMinimumTakeExcessTax(t *testing.T) {
	p := termSheet(t)
	short := []settlement.LegTotal{
		total("ppa-cirrus", ledger.Delivery, "0", "70000", "0", "", t),
		total("ppa-cirrus", ledger.DeliveryPayment, "40", "70000", "2800000", "cirrus", t),
	}
	st := only(t, mustBuild(t, p, short), "ppa-cirrus")
	checkTotals(t, st)
	mt := lineOf(t, st, settlement.LineMinimumTake) // 72,000 − 70,000 = 2,000 MWh × $12
	if !mt.Quantity.Equal(dec(t, "2000")) || !mt.AmountUSD.Equal(dec(t, "24000")) {
		t.Errorf("minimum take %+v", mt)
	}
	tax := lineOf(t, st, settlement.LineTax) // 1.5% of 2,824,000
	if !tax.AmountUSD.Equal(dec(t, "42360")) || !st.TaxUSD.Equal(dec(t, "42360")) || !st.TotalUSD.Equal(dec(t, "2866360")) {
		t.Errorf("tax %+v, total %s", tax, st.TotalUSD)
	}

	over := []settlement.LegTotal{
		total("ppa-cirrus", ledger.Delivery, "0", "100000", "0", "", t),
		total("ppa-cirrus", ledger.DeliveryPayment, "40", "100000", "4000000", "cirrus", t),
	}
	sts, err := settlement.BuildWith(p, period(t, "2028-03"), settlement.Inputs{Totals: over, Market: map[string]decimal.Decimal{"LZ_WEST": dec(t, "28")}})
	if err != nil {
		t.Fatal(err)
	}
	st = only(t, sts, "ppa-cirrus")
	checkTotals(t, st)
	// 100,000 − 99,000 = 1,000 MWh above 110%; min(28, 0.75 × 40 = 30) = 28: −12 × 1,000
	ex := lineOf(t, st, settlement.LineExcess)
	if !ex.Quantity.Equal(dec(t, "1000")) || !ex.RateUSD.Equal(dec(t, "-12")) || !ex.AmountUSD.Equal(dec(t, "-12000")) {
		t.Errorf("excess %+v", ex)
	}
	for _, l := range st.Lines {
		if l.Kind == settlement.LineMinimumTake {
			t.Errorf("a minimum-take line above the minimum: %+v", l)
		}
	}
}

// Indexed prices are one line per band at the average; adjusted negative
// prices their own line; corrections to an earlier period one line naming it;
// a reversal inside the period nets out of its line.
func TestStatementIndexedNegativePriorPeriod(t *testing.T) {
	p := termSheet(t)
	neg := total("ppa-borealis", ledger.DeliveryPayment, "7.5", "10", "75", "borealis", t)
	neg.Adjusted = true
	prior := total("ppa-borealis", ledger.DeliveryPayment, "25", "4", "100", "borealis", t)
	prior.Of = "2028-02"
	priorEnergy := total("ppa-borealis", ledger.Delivery, "0", "4", "0", "", t)
	priorEnergy.Of = "2028-02"
	reversed := total("ppa-borealis", ledger.DeliveryPayment, "25", "-2", "50", "permian-ridge-power", t) // a reversal: the money runs back
	totals := []settlement.LegTotal{
		total("ppa-borealis", ledger.Delivery, "0", "138", "0", "", t),
		total("ppa-borealis", ledger.DeliveryPayment, "25", "50", "1250", "borealis", t),
		total("ppa-borealis", ledger.DeliveryPayment, "26.1", "80", "2088", "borealis", t),
		reversed, neg, prior, priorEnergy,
	}
	st := only(t, mustBuild(t, p, totals), "ppa-borealis")
	checkTotals(t, st)
	if len(st.Lines) != 3 {
		t.Fatalf("lines %+v", st.Lines)
	}
	energy := st.Lines[0]
	// 50 − 2 + 80 = 128 MWh; 1250 − 50 + 2088 = 3288
	if energy.Kind != settlement.LineEnergy || !energy.Quantity.Equal(dec(t, "128")) || !energy.AmountUSD.Equal(dec(t, "3288")) || !energy.RateUSD.IsZero() ||
		!strings.Contains(energy.Description, "average $25.69/MWh") {
		t.Errorf("indexed energy line %+v", energy)
	}
	if n := st.Lines[1]; n.Kind != settlement.LineNegative || !n.AmountUSD.Equal(dec(t, "75")) {
		t.Errorf("negative-price line %+v", n)
	}
	pp := st.Lines[2]
	if pp.Kind != settlement.LinePriorPeriod || pp.Of != "2028-02" || !pp.Quantity.Equal(dec(t, "4")) || !pp.AmountUSD.Equal(dec(t, "100")) ||
		!strings.Contains(pp.Description, "2028-02") {
		t.Errorf("prior-period line %+v", pp)
	}
	if !st.EnergyMWh.Equal(dec(t, "138")) {
		t.Errorf("energy %s: the period's own deliveries only", st.EnergyMWh)
	}
}

func TestStatementVirtual(t *testing.T) {
	p := termSheet(t)
	totals := []settlement.LegTotal{
		total("vppa-atlas-hedge", ledger.CFD, "8", "100", "800", "permian-ridge-power", t),
		total("vppa-atlas-hedge", ledger.CFD, "-3", "50", "150", "atlas", t),
		total("vppa-atlas-hedge", ledger.CFDBasis, "-1.25", "150", "187.5", "atlas", t),
	}
	st := only(t, mustBuild(t, p, totals), "vppa-atlas-hedge")
	checkTotals(t, st)
	// the seller pays 800, the buyer 150 and 187.5
	if v := lineOf(t, st, settlement.LineVirtual); !v.AmountUSD.Equal(dec(t, "-650")) || !v.Quantity.Equal(dec(t, "150")) {
		t.Errorf("cfd %+v", v)
	}
	if b := lineOf(t, st, settlement.LineBasis); !b.AmountUSD.Equal(dec(t, "187.5")) {
		t.Errorf("basis %+v", b)
	}
	if !st.TotalUSD.Equal(dec(t, "-462.5")) || !st.CreditNote() || !st.EnergyMWh.IsZero() {
		t.Errorf("total %s credit note %v", st.TotalUSD, st.CreditNote())
	}
}

func TestDailyTotals(t *testing.T) {
	p := termSheet(t)
	site, _ := p.Site("permian-ridge")
	from, _ := period(t, "2028-03").Bounds(site.Location)
	rows := []settlement.IntervalRow{
		{Start: from, MWh: dec(t, "10"), AmountUSD: dec(t, "500")},
		{Start: from.Add(23 * 3600e9), MWh: dec(t, "10"), AmountUSD: dec(t, "300")},
		{Start: from.Add(24 * 3600e9), MWh: dec(t, "5"), AmountUSD: dec(t, "100")},
		{Start: from, MWh: dec(t, "99"), AmountUSD: dec(t, "99"), Of: "2028-02"},
	}
	sts, err := settlement.BuildWith(p, period(t, "2028-03"), settlement.Inputs{Intervals: map[string][]settlement.IntervalRow{"ppa-atlas": rows}})
	if err != nil {
		t.Fatal(err)
	}
	st := only(t, sts, "ppa-atlas")
	if len(st.Daily) != 31 || st.Daily[0].Date.String() != "2028-03-01" || st.Daily[30].Date.String() != "2028-03-31" {
		t.Fatalf("%d days from %v", len(st.Daily), st.Daily[0].Date)
	}
	if d := st.Daily[0]; !d.MWh.Equal(dec(t, "20")) || !d.AveragePrice().Equal(dec(t, "40")) {
		t.Errorf("day 1 %+v avg %s", d, d.AveragePrice())
	}
	if d := st.Daily[1]; !d.MWh.Equal(dec(t, "5")) {
		t.Errorf("day 2 %+v", d)
	}
	if len(st.Intervals) != 4 {
		t.Errorf("intervals %d", len(st.Intervals))
	}
}

func mustBuild(t *testing.T, p *contracts.Portfolio, totals []settlement.LegTotal) []settlement.Statement {
	t.Helper()
	sts, err := settlement.Build(p, period(t, "2028-03"), totals)
	if err != nil {
		t.Fatal(err)
	}
	return sts
}
