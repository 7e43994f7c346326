package files_test

import (
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// The fixture: statements of the term-sheet example (examples/term-sheet.yaml,
// site permian-ridge, America/Chicago) for March 2028, a month with a DST
// day (2,972 fifteen-minute intervals), built by hand so the writers are
// tested on their own, whatever settlement.Build does:
//
//   - ppa-atlas, final PRP-2028-000041: energy by band computed from a whole
//     month of intervals, shortfall damages, a capacity charge, a prior-period
//     correction of February;
//   - vppa-atlas-hedge, final PRP-2028-000042: a virtual PPA whose
//     differences the seller pays: a negative total, a credit note, in the
//     same folder as ppa-atlas;
//   - ppa-borealis, a draft with the decimal trap (18,500 MWh at $14.55 is
//     $269,175.00) and a negative-price line;
//   - ppa-cirrus, a draft with one line of every kind and the buyer's tax.

const fixturePeriod = "2028-03"

func portfolio(t testing.TB) *contracts.Portfolio {
	t.Helper()
	p, err := contracts.LoadFiles(examples.Files, "term-sheet.yaml")
	if err != nil {
		t.Fatalf("load term sheet: %v", err)
	}
	return p
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// base makes an empty statement of contract id for the fixture's period.
func base(t testing.TB, p *contracts.Portfolio, id, invoice string) settlement.Statement {
	t.Helper()
	c, ok := p.Contract(id)
	if !ok {
		t.Fatalf("no contract %s", id)
	}
	site, _ := p.Site(c.Site)
	seller, _ := p.Party(c.Seller)
	buyer, _ := p.Party(c.Buyer)
	period, err := contracts.ParsePeriod(fixturePeriod)
	if err != nil {
		t.Fatal(err)
	}
	issue := contracts.Date{Year: 2028, Month: time.April, Day: 1}
	due := contracts.DateOf(issue.In(site.Location).AddDate(0, 0, c.PaymentTermsDays), site.Location)
	final := invoice != ""
	if !final {
		invoice = settlement.DraftInvoiceID(seller, period, id)
	}
	return settlement.Statement{InvoiceID: invoice, Final: final, Period: period, Contract: c, Site: site,
		Seller: seller, Buyer: buyer, IssueDate: issue, DueDate: due, ContractVersion: 1, Transfers: 2972 * 3}
}

// intervals makes every interval of the month with f giving its energy,
// price and quality; the band is peak on weekdays hours ending 7-22.
func intervals(st *settlement.Statement, f func(i int, local time.Time, peak bool) (mwh, price decimal.Decimal, quality string)) {
	loc := st.Site.Location
	start, end := st.Period.Bounds(loc)
	for i, t := 0, start; t.Before(end); i, t = i+1, t.Add(15*time.Minute) {
		local := t.In(loc)
		he := local.Hour() + 1
		wd := local.Weekday()
		peak := wd != time.Saturday && wd != time.Sunday && he >= 7 && he <= 22
		band := "off_peak"
		if peak {
			band = "peak"
		}
		mwh, price, quality := f(i, local, peak)
		st.Intervals = append(st.Intervals, settlement.IntervalRow{Start: t, End: t.Add(15 * time.Minute), MWh: mwh,
			USDPerMWh: price, AmountUSD: mwh.Mul(price), Band: band, Quality: quality})
	}
	st.Daily = daily(st)
}

// daily sums the intervals by local day, every day present.
func daily(st *settlement.Statement) []settlement.DayTotal {
	loc := st.Site.Location
	start, end := st.Period.Bounds(loc)
	var out []settlement.DayTotal
	index := map[contracts.Date]int{}
	for t := start.In(loc); t.Before(end); t = t.AddDate(0, 0, 1) {
		day := contracts.DateOf(t, loc)
		index[day] = len(out)
		out = append(out, settlement.DayTotal{Date: day, MWh: decimal.Zero, AmountUSD: decimal.Zero})
	}
	for _, r := range st.Intervals {
		i := index[contracts.DateOf(r.Start, loc)]
		out[i].MWh = out[i].MWh.Add(r.MWh)
		out[i].AmountUSD = out[i].AmountUSD.Add(r.AmountUSD)
	}
	return out
}

// line is a priced line: quantity × rate.
func line(kind, desc, band string, qty decimal.Decimal, unit string, rate decimal.Decimal, taxable bool) settlement.Line {
	l := settlement.Line{Kind: kind, Description: desc, Band: band, Quantity: qty, UnitCode: unit, RateUSD: rate,
		ExactUSD: qty.Mul(rate), Taxable: taxable, QuantityMWh: decimal.Zero}
	if unit == settlement.UnitMWh && kind != settlement.LineVirtual && kind != settlement.LineBasis {
		l.QuantityMWh = qty
	}
	return l
}

// lump is a line without a single rate.
func lump(kind, desc, of string, qty decimal.Decimal, exact string, taxable bool) settlement.Line {
	l := settlement.Line{Kind: kind, Description: desc, Of: of, Quantity: qty, UnitCode: settlement.UnitMWh,
		ExactUSD: d(exact), Taxable: taxable, QuantityMWh: decimal.Zero, RateUSD: decimal.Zero}
	if kind == settlement.LinePriorPeriod {
		l.QuantityMWh = qty
	}
	return l
}

// finish rounds the lines by the contract's rule, adds the buyer's tax
// lines on the taxable lines and totals the statement, as settlement does.
func finish(st *settlement.Statement) {
	r := st.Contract.Rounding
	baseUSD := decimal.Zero
	for i := range st.Lines {
		st.Lines[i].AmountUSD = r.Round(st.Lines[i].ExactUSD, 2)
		if st.Lines[i].Taxable {
			baseUSD = baseUSD.Add(st.Lines[i].AmountUSD)
		}
	}
	for _, tx := range st.Buyer.Taxes {
		exact := baseUSD.Mul(tx.Percent).Shift(-2)
		st.Lines = append(st.Lines, settlement.Line{Kind: settlement.LineTax, Quantity: baseUSD, RateUSD: tx.Percent,
			ExactUSD: exact, AmountUSD: r.Round(exact, 2), QuantityMWh: decimal.Zero,
			Description: tx.Name + ", " + tx.Percent.String() + "% of $" + baseUSD.StringFixed(2)})
	}
	st.NetUSD, st.TaxUSD, st.ExactUSD = decimal.Zero, decimal.Zero, decimal.Zero
	for _, l := range st.Lines {
		if l.Kind == settlement.LineTax {
			st.TaxUSD = st.TaxUSD.Add(l.AmountUSD)
		} else {
			st.NetUSD = st.NetUSD.Add(l.AmountUSD)
		}
		st.ExactUSD = st.ExactUSD.Add(l.ExactUSD)
	}
	st.TotalUSD = st.NetUSD.Add(st.TaxUSD)
	st.EnergyMWh = decimal.Zero
	for _, l := range st.Lines {
		if l.Kind == settlement.LineEnergy || l.Kind == settlement.LineNegative {
			st.EnergyMWh = st.EnergyMWh.Add(l.Quantity)
		}
	}
}

func atlas(t testing.TB, p *contracts.Portfolio) settlement.Statement {
	st := base(t, p, "ppa-atlas", "PRP-2028-000041")
	shortMWh := decimal.Zero
	intervals(&st, func(i int, local time.Time, peak bool) (decimal.Decimal, decimal.Decimal, string) {
		mwh, quality := d("50"), "actual"
		if local.Day() == 10 && local.Hour() >= 12 && local.Hour() < 18 { // a forced outage of one unit
			mwh, quality = d("31.25"), "estimated"
			shortMWh = shortMWh.Add(d("18.75"))
		}
		if peak {
			return mwh, d("68.00"), quality
		}
		return mwh, d("47.50"), quality
	})
	sums := map[string]decimal.Decimal{}
	for _, r := range st.Intervals {
		sums[r.Band] = sums[r.Band].Add(r.MWh)
	}
	st.Lines = []settlement.Line{
		line(settlement.LineEnergy, "Energy delivered under ppa-atlas, peak at $68.00/MWh", "peak", sums["peak"], settlement.UnitMWh, d("68.00"), true),
		line(settlement.LineEnergy, "Energy delivered under ppa-atlas, off-peak at $47.50/MWh", "off_peak", sums["off_peak"], settlement.UnitMWh, d("47.50"), true),
		line(settlement.LineShortfall, "Shortfall damages under ppa-atlas: firm energy not delivered, at $15.00/MWh", "", shortMWh, settlement.UnitMWh, d("-15.00"), false),
		line(settlement.LineCapacity, "Capacity charge under ppa-atlas: 200000 kW at $4.25/kW-month for 2028-03", "", d("200000"), settlement.UnitKW, d("4.25"), true),
		lump(settlement.LinePriorPeriod, "Corrections to 2028-02 under ppa-atlas (meter data received after that period was finalized)", "2028-02", d("-12.5"), "-843.75", true),
	}
	finish(&st)
	st.EnergyMWh = sums["peak"].Add(sums["off_peak"])
	return st
}

func hedge(t testing.TB, p *contracts.Portfolio) settlement.Statement {
	st := base(t, p, "vppa-atlas-hedge", "PRP-2028-000042")
	intervals(&st, func(i int, local time.Time, peak bool) (decimal.Decimal, decimal.Decimal, string) {
		mw := []int64{30, 30, 30, 30, 30, 30, 40, 40, 40, 40, 40, 40, 50, 50, 50, 50, 50, 50, 50, 40, 40, 40, 30, 30}[local.Hour()]
		// the hub above the strike most afternoons: the seller pays the difference
		diff := decimal.NewFromInt(int64((i*37)%23) - 15).Div(decimal.NewFromInt(4))
		return decimal.NewFromInt(mw).Div(decimal.NewFromInt(4)), diff, "actual"
	})
	volume, amount := decimal.Zero, decimal.Zero
	for _, r := range st.Intervals {
		volume, amount = volume.Add(r.MWh), amount.Add(r.AmountUSD)
	}
	st.Lines = []settlement.Line{
		lump(settlement.LineVirtual, "Virtual PPA vppa-atlas-hedge: (market − strike) × volume", "", volume, amount.String(), false),
		lump(settlement.LineBasis, "Virtual PPA vppa-atlas-hedge basis: (node − hub) × volume", "", volume, "4321.987", false),
	}
	finish(&st)
	return st
}

func borealis(t testing.TB, p *contracts.Portfolio) settlement.Statement {
	st := base(t, p, "ppa-borealis", "")
	intervals(&st, func(i int, local time.Time, peak bool) (decimal.Decimal, decimal.Decimal, string) {
		if local.Day() == 20 {
			return decimal.Zero, decimal.Zero, "actual" // a planned outage: nothing delivered
		}
		return decimal.NewFromInt(int64(36 + (i*7)%9)).Div(decimal.NewFromInt(8)), d("14.55"), "actual"
	})
	st.Lines = []settlement.Line{
		line(settlement.LineEnergy, "Energy delivered under ppa-borealis at $14.55/MWh", "", d("18500"), settlement.UnitMWh, d("14.55"), true),
		line(settlement.LineNegative, "Energy delivered under ppa-borealis in negative-price intervals, adjusted, at $2.35/MWh", "", d("210.25"), settlement.UnitMWh, d("2.35"), true),
	}
	finish(&st)
	return st
}

func cirrus(t testing.TB, p *contracts.Portfolio) settlement.Statement {
	st := base(t, p, "ppa-cirrus", "")
	intervals(&st, func(i int, local time.Time, peak bool) (decimal.Decimal, decimal.Decimal, string) {
		price := d("20.00") // the floor
		if peak {
			price = decimal.NewFromInt(int64(4000 + (i*131)%3000)).Div(decimal.NewFromInt(100))
		}
		quality := "actual"
		if local.Day() == 3 && local.Hour() < 2 {
			quality = "estimated"
		}
		return decimal.NewFromInt(int64(120 + (i*13)%30)).Div(decimal.NewFromInt(4)), price, quality
	})
	st.Intervals = append(st.Intervals, settlement.IntervalRow{
		Start: time.Date(2028, 2, 14, 18, 0, 0, 0, time.UTC), End: time.Date(2028, 2, 14, 18, 15, 0, 0, time.UTC),
		MWh: d("35.75"), USDPerMWh: d("51.2"), AmountUSD: d("1830.4"), Band: "peak", Quality: "actual", Of: "2028-02"})
	st.Lines = []settlement.Line{
		line(settlement.LineEnergy, "Energy delivered under ppa-cirrus, peak at $51.25/MWh", "peak", d("38250.25"), settlement.UnitMWh, d("51.25"), true),
		line(settlement.LineEnergy, "Energy delivered under ppa-cirrus, off-peak at $36.4475/MWh", "off_peak", d("29800.125"), settlement.UnitMWh, d("36.4475"), true),
		line(settlement.LineNegative, "Energy delivered under ppa-cirrus in negative-price intervals, adjusted, at $8.15/MWh", "", d("412.5"), settlement.UnitMWh, d("8.15"), true),
		line(settlement.LineShortfall, "Shortfall damages under ppa-cirrus: firm energy not delivered, at $12.00/MWh", "", d("120"), settlement.UnitMWh, d("-12.00"), false),
		lump(settlement.LineVirtual, "Virtual PPA ppa-cirrus: (market − strike) × volume", "", d("5000"), "-3125.456", false),
		lump(settlement.LineBasis, "Virtual PPA ppa-cirrus basis: (node − hub) × volume", "", d("5000"), "812.3349", false),
		line(settlement.LineCapacity, "Capacity charge under ppa-cirrus: 150000 kW at $1.10/kW-month for 2028-03", "", d("150000"), settlement.UnitKW, d("1.10"), true),
		line(settlement.LineMinimumTake, "Minimum take under ppa-cirrus: 80% of 90000 MWh expected, 3537.125 MWh short, at $12.00/MWh", "", d("3537.125"), settlement.UnitMWh, d("12.00"), true),
		line(settlement.LineExcess, "Excess above 110% of 90000 MWh expected under ppa-cirrus: 500 MWh repriced from $45.41 to $35.53/MWh", "", d("500"), settlement.UnitMWh, d("-9.8765"), true),
		lump(settlement.LinePriorPeriod, "Corrections to 2028-02 under ppa-cirrus (meter data received after that period was finalized)", "2028-02", d("35.75"), "1830.4", true),
	}
	finish(&st)
	return st
}

// fixture is the month's statements, in contract order as settlement makes them.
func fixture(t testing.TB) []settlement.Statement {
	t.Helper()
	p := portfolio(t)
	return []settlement.Statement{atlas(t, p), borealis(t, p), cirrus(t, p), hedge(t, p)}
}

// empty is a statement with no lines at all (nothing delivered, no charges).
func empty(t testing.TB) settlement.Statement {
	st := base(t, portfolio(t), "ppa-borealis", "")
	finish(&st)
	st.Daily = daily(&st)
	return st
}

// byContract finds one statement of the fixture.
func byContract(t testing.TB, sts []settlement.Statement, id string) *settlement.Statement {
	t.Helper()
	for i := range sts {
		if sts[i].Contract.ID == id {
			return &sts[i]
		}
	}
	t.Fatalf("no statement of %s", id)
	return nil
}
