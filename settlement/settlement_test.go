package settlement_test

import (
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// portfolio loads a fresh copy of the example portfolio, so a test may change it.
func portfolio(t *testing.T) *contracts.Portfolio {
	t.Helper()
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	return p
}

func dec(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

func period(t *testing.T, s string) contracts.Period {
	t.Helper()
	p, err := contracts.ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// priced is one price of a contract's energy in a period.
type priced struct {
	mwh, price string
	amount     string // "" = mwh × price exactly
}

// legs makes the delivery and payment leg totals of one contract.
func legs(t *testing.T, contract string, ps ...priced) []settlement.LegTotal {
	t.Helper()
	var out []settlement.LegTotal
	delivered := decimal.Zero
	for _, p := range ps {
		q, r := dec(t, p.mwh), dec(t, p.price)
		amt := q.Mul(r)
		if p.amount != "" {
			amt = dec(t, p.amount)
		}
		delivered = delivered.Add(q)
		out = append(out, settlement.LegTotal{Contract: contract, ContractVersion: 1, Leg: ledger.DeliveryPayment,
			USDPerMWh: r, QuantityMWh: q, AmountUSD: amt, Transfers: 10})
	}
	return append(out, settlement.LegTotal{Contract: contract, ContractVersion: 1, Leg: ledger.Delivery,
		QuantityMWh: delivered, Transfers: 10 * len(ps)})
}

func find(sts []settlement.Statement, contract string) *settlement.Statement {
	for i := range sts {
		if sts[i].Contract.ID == contract {
			return &sts[i]
		}
	}
	return nil
}

func TestBuildAmounts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rounding contracts.Rounding // "" = as in the contract file (half_up)
		totals   func(t *testing.T) []settlement.LegTotal
		lines    []string // rounded line amounts, in line order
		total    string
		exact    string
		energy   string
	}{
		{
			// The decimal trap named in the issue: binary floating point gives
			// 269174.99999999994 (see TestDecimalTrapFloat: float64 drifts once
			// amounts are accumulated), which truncation would bill as
			// 269174.99. In decimal it is exactly 269175.00.
			name: "decimal trap 18500 MWh at 14.55",
			totals: func(t *testing.T) []settlement.LegTotal {
				return []settlement.LegTotal{
					{Contract: "ppa-northwind", ContractVersion: 1, Leg: ledger.Delivery, QuantityMWh: dec(t, "18500"), Transfers: 2976},
					{Contract: "ppa-northwind", ContractVersion: 1, Leg: ledger.DeliveryPayment, QuantityMWh: dec(t, "18500"),
						USDPerMWh: dec(t, "14.55"), AmountUSD: dec(t, "269175"), Transfers: 2976},
				}
			},
			lines: []string{"269175.00"}, total: "269175.00", exact: "269175", energy: "18500",
		},
		{
			// 100.1 × 58.05 = 5810.805 exactly: half_up rounds the half cent up.
			name: "half up at the cent",
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-northwind", priced{"100.1", "58.05", ""})
			},
			lines: []string{"5810.81"}, total: "5810.81", exact: "5810.805", energy: "100.1",
		},
		{
			// the same half cent under banker's rounding goes to the even cent
			name:     "half even at the cent, even below",
			rounding: contracts.RoundHalfEven,
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-northwind", priced{"100.1", "58.05", ""})
			},
			lines: []string{"5810.80"}, total: "5810.80", exact: "5810.805", energy: "100.1",
		},
		{
			// 100.1 × 58.15 = 5820.815: the even cent is above
			name:     "half even at the cent, even above",
			rounding: contracts.RoundHalfEven,
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-northwind", priced{"100.1", "58.15", ""})
			},
			lines: []string{"5820.82"}, total: "5820.82", exact: "5820.815", energy: "100.1",
		},
		{
			// 100.1 × 58.04 = 5809.804 and 100.1 × 61.24 = 6130.124: each rounds
			// down to 5809.80 and 6130.12, total 11939.92. Rounding the exact sum
			// 11939.928 would give 11939.93; the total must be the sum of the
			// rounded lines.
			name: "total is the sum of rounded lines",
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-northwind", priced{"100.1", "61.24", ""}, priced{"100.1", "58.04", ""})
			},
			lines: []string{"5809.80", "6130.12"}, total: "11939.92", exact: "11939.928", energy: "200.2",
		},
		{
			name: "just under a half cent rounds down under half_up",
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-northwind", priced{"0.000001", "4999.999999", ""})
			},
			lines: []string{"0.00"}, total: "0.00", exact: "0.004999999999", energy: "0.000001",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := portfolio(t)
			if tc.rounding != "" {
				c, _ := p.Contract("ppa-northwind")
				cp := *c
				cp.Rounding = tc.rounding
				p.Contracts = append([]contracts.Contract(nil), p.Contracts...)
				for i := range p.Contracts {
					if p.Contracts[i].ID == cp.ID {
						p.Contracts[i] = cp
					}
				}
			}
			sts, err := settlement.Build(p, period(t, "2028-03"), tc.totals(t))
			if err != nil {
				t.Fatal(err)
			}
			st := find(sts, "ppa-northwind")
			if st == nil {
				t.Fatalf("no ppa-northwind statement in %d", len(sts))
			}
			if len(st.Lines) != len(tc.lines) {
				t.Fatalf("%d lines, want %d: %+v", len(st.Lines), len(tc.lines), st.Lines)
			}
			sum := decimal.Zero
			for i, l := range st.Lines {
				if got := l.AmountUSD.StringFixed(2); got != tc.lines[i] {
					t.Errorf("line %d amount = %s, want %s", i+1, got, tc.lines[i])
				}
				if !l.AmountUSD.Equal(dec(t, tc.lines[i])) {
					t.Errorf("line %d amount = %s is not exactly %s", i+1, l.AmountUSD, tc.lines[i])
				}
				if !l.ExactUSD.Equal(l.QuantityMWh.Mul(l.RateUSD)) {
					t.Errorf("line %d exact %s ≠ %s × %s", i+1, l.ExactUSD, l.QuantityMWh, l.RateUSD)
				}
				if l.Kind != "energy" || !strings.Contains(l.Description, "ppa-northwind") {
					t.Errorf("line %d = %+v", i+1, l)
				}
				if i > 0 && !st.Lines[i-1].RateUSD.LessThan(l.RateUSD) {
					t.Errorf("lines are not in price order: %s then %s", st.Lines[i-1].RateUSD, l.RateUSD)
				}
				sum = sum.Add(l.AmountUSD)
			}
			if got := st.TotalUSD.StringFixed(2); got != tc.total || !st.TotalUSD.Equal(dec(t, tc.total)) {
				t.Errorf("total = %s, want %s", st.TotalUSD, tc.total)
			}
			if !st.TotalUSD.Equal(sum) {
				t.Errorf("total %s ≠ Σ rounded lines %s", st.TotalUSD, sum)
			}
			if !st.ExactUSD.Equal(dec(t, tc.exact)) {
				t.Errorf("exact = %s, want %s", st.ExactUSD, tc.exact)
			}
			if !st.EnergyMWh.Equal(dec(t, tc.energy)) {
				t.Errorf("energy = %s, want %s", st.EnergyMWh, tc.energy)
			}
		})
	}
}

// TestDecimalTrapFloat documents why the engine is decimal. The issue quotes
// 269174.99999999994 for 18500 × 14.55 in binary floating point; a single
// float64 product happens to round back to 269175, but the amount drifts as
// soon as it is accumulated the way a ledger does (18500 one-MWh transfers at
// $14.55 sum to 269174.99999990803 in float64), while decimal stays exact.
func TestDecimalTrapFloat(t *testing.T) {
	var f float64
	d := decimal.Zero
	price := decimal.RequireFromString("14.55")
	for range 18500 {
		f += 14.55
		d = d.Add(price)
	}
	if f == 269175 {
		t.Errorf("float64 sum = %v; expected the float drift this test documents", f)
	}
	if !d.Equal(decimal.NewFromInt(269175)) || d.StringFixed(2) != "269175.00" {
		t.Errorf("decimal sum = %s, want 269175.00", d)
	}
	if got := decimal.RequireFromString("18500").Mul(price); got.String() != "269175" {
		t.Errorf("decimal 18500 × 14.55 = %s", got)
	}
}

func TestBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		totals func(t *testing.T) []settlement.LegTotal
		want   []string // substrings of the error
	}{
		{
			name: "amount is not quantity × price",
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-helios", priced{"18500", "14.55", "269174.99"})
			},
			want: []string{"ppa-helios", "2028-03", "269174.99", "269175"},
		},
		{
			name: "amount off by a pico-dollar",
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-cedar", priced{"1.000001", "64.80", "64.800064800001"})
			},
			want: []string{"ppa-cedar"},
		},
		{
			name: "delivered ≠ priced",
			totals: func(t *testing.T) []settlement.LegTotal {
				ls := legs(t, "ppa-northwind", priced{"100", "58.00", ""})
				ls[len(ls)-1].QuantityMWh = dec(t, "100.000001")
				return ls
			},
			want: []string{"ppa-northwind", "100.000001", "delivered", "priced"},
		},
		{
			name: "energy delivered without payment",
			totals: func(t *testing.T) []settlement.LegTotal {
				return []settlement.LegTotal{{Contract: "ppa-northwind", ContractVersion: 1, Leg: ledger.Delivery, QuantityMWh: dec(t, "5"), Transfers: 1}}
			},
			want: []string{"ppa-northwind", "delivered"},
		},
		{
			name: "payment without delivery",
			totals: func(t *testing.T) []settlement.LegTotal {
				return legs(t, "ppa-northwind", priced{"5", "58", ""})[:1]
			},
			want: []string{"ppa-northwind", "priced"},
		},
		{
			name: "unknown contract",
			totals: func(t *testing.T) []settlement.LegTotal {
				return append(legs(t, "ppa-northwind", priced{"5", "58", ""}), legs(t, "ppa-ghost", priced{"1", "50", ""})...)
			},
			want: []string{"ppa-ghost", "2028-03"},
		},
		{
			name: "grid leg on a contract",
			totals: func(t *testing.T) []settlement.LegTotal {
				return []settlement.LegTotal{{Contract: "ppa-northwind", Leg: ledger.Export, QuantityMWh: dec(t, "1")}}
			},
			want: []string{"ppa-northwind", "export"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts, err := settlement.Build(portfolio(t), period(t, "2028-03"), tc.totals(t))
			if err == nil {
				t.Fatalf("no error; got %d statements", len(sts))
			}
			if sts != nil {
				t.Errorf("statements returned with the error: %d", len(sts))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestBuildWhichContracts(t *testing.T) {
	for _, tc := range []struct {
		period string
		totals func(t *testing.T) []settlement.LegTotal
		want   []string // contract ids, in order
	}{
		{"2027-12", nil, nil},
		{"2028-01", nil, []string{"ppa-cedar", "ppa-helios", "ppa-northwind"}},
		{"2028-03", nil, []string{"ppa-cedar", "ppa-helios", "ppa-northwind"}},
		{"2028-03", func(t *testing.T) []settlement.LegTotal {
			return legs(t, "ppa-northwind", priced{"10", "58", ""})
		}, []string{"ppa-cedar", "ppa-helios", "ppa-northwind"}},
		{"2032-12", nil, []string{"ppa-cedar", "ppa-helios", "ppa-northwind"}},
		{"2033-01", nil, []string{"ppa-helios", "ppa-northwind"}},
		{"2033-02", nil, []string{"ppa-helios", "ppa-northwind"}},
		// a late correction booked against an ended contract still bills it
		{"2033-02", func(t *testing.T) []settlement.LegTotal {
			return legs(t, "ppa-cedar", priced{"1", "64.80", ""})
		}, []string{"ppa-cedar", "ppa-helios", "ppa-northwind"}},
		{"2037-12", nil, []string{"ppa-helios", "ppa-northwind"}},
		{"2038-01", nil, []string{"ppa-northwind"}},
		{"2042-12", nil, []string{"ppa-northwind"}},
		{"2043-01", nil, nil},
	} {
		name := tc.period
		if tc.totals != nil {
			name += " with transfers"
		}
		t.Run(name, func(t *testing.T) {
			var totals []settlement.LegTotal
			if tc.totals != nil {
				totals = tc.totals(t)
			}
			sts, err := settlement.Build(portfolio(t), period(t, tc.period), totals)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range sts {
				got = append(got, st.Contract.ID)
				if len(totals) == 0 || st.Contract.ID != totals[0].Contract {
					if len(st.Lines) != 0 || !st.TotalUSD.IsZero() || !st.EnergyMWh.IsZero() || !st.ExactUSD.IsZero() || st.Transfers != 0 {
						t.Errorf("%s: statement without transfers is not zero: %+v", st.Contract.ID, st)
					}
					if st.TotalUSD.StringFixed(2) != "0.00" || st.EnergyMWh.StringFixed(6) != "0.000000" {
						t.Errorf("%s: zero total prints as %s / %s", st.Contract.ID, st.TotalUSD.StringFixed(2), st.EnergyMWh.StringFixed(6))
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("statements for %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBuildStatementHeader(t *testing.T) {
	for _, tc := range []struct {
		period, contract string
		invoice          string
		issue, due       string
	}{
		{"2028-03", "ppa-cedar", "MRP-DRAFT-202803-ppa-cedar", "2028-04-01", "2028-05-16"}, // 45 days
		{"2028-03", "ppa-northwind", "MRP-DRAFT-202803-ppa-northwind", "2028-04-01", "2028-05-01"},
		{"2028-02", "ppa-helios", "MRP-DRAFT-202802-ppa-helios", "2028-03-01", "2028-03-31"}, // leap year
		{"2028-11", "ppa-cedar", "MRP-DRAFT-202811-ppa-cedar", "2028-12-01", "2029-01-15"},   // DST ends in November
		{"2028-12", "ppa-northwind", "MRP-DRAFT-202812-ppa-northwind", "2029-01-01", "2029-01-31"},
	} {
		t.Run(tc.period+" "+tc.contract, func(t *testing.T) {
			p := portfolio(t)
			sts, err := settlement.Build(p, period(t, tc.period), legs(t, tc.contract, priced{"1", "50", ""}))
			if err != nil {
				t.Fatal(err)
			}
			st := find(sts, tc.contract)
			if st == nil {
				t.Fatal("no statement")
			}
			if st.InvoiceID != tc.invoice {
				t.Errorf("invoice = %s, want %s", st.InvoiceID, tc.invoice)
			}
			if st.IssueDate.String() != tc.issue || st.DueDate.String() != tc.due {
				t.Errorf("issue %s due %s, want %s due %s", st.IssueDate, st.DueDate, tc.issue, tc.due)
			}
			c, _ := p.Contract(tc.contract)
			if st.Period.String() != tc.period || st.Seller.ID != "mesa-ridge" || st.Buyer.ID != c.Buyer ||
				st.Site.ID != "coyote-flats" || st.ContractVersion != c.Version || st.Transfers != 20 {
				t.Errorf("header = period %s seller %s buyer %s site %s version %d transfers %d",
					st.Period, st.Seller.ID, st.Buyer.ID, st.Site.ID, st.ContractVersion, st.Transfers)
			}
			loc := st.Site.Location
			if days := int(st.DueDate.In(loc).Sub(st.IssueDate.In(loc)).Round(24*time.Hour) / (24 * time.Hour)); days != c.PaymentTermsDays {
				t.Errorf("due - issue = %d days, want %d", days, c.PaymentTermsDays)
			}
		})
	}
}

func TestBuildDoesNotDependOnInputOrder(t *testing.T) {
	p := portfolio(t)
	a := append(legs(t, "ppa-northwind", priced{"10.5", "61.2575", ""}, priced{"3", "58", ""}), legs(t, "ppa-cedar", priced{"7", "64.8", ""})...)
	b := make([]settlement.LegTotal, len(a))
	for i := range a {
		b[len(a)-1-i] = a[i]
	}
	keep := append([]settlement.LegTotal(nil), a...)
	sa, err := settlement.Build(p, period(t, "2028-03"), a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := settlement.Build(p, period(t, "2028-03"), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(sa) != len(sb) {
		t.Fatalf("%d vs %d statements", len(sa), len(sb))
	}
	for i := range sa {
		if sa[i].InvoiceID != sb[i].InvoiceID || !sa[i].TotalUSD.Equal(sb[i].TotalUSD) || len(sa[i].Lines) != len(sb[i].Lines) {
			t.Fatalf("statement %d differs: %+v vs %+v", i, sa[i], sb[i])
		}
		for j := range sa[i].Lines {
			if !sa[i].Lines[j].RateUSD.Equal(sb[i].Lines[j].RateUSD) {
				t.Errorf("%s line %d: rate %s vs %s", sa[i].InvoiceID, j+1, sa[i].Lines[j].RateUSD, sb[i].Lines[j].RateUSD)
			}
		}
	}
	for i := range a {
		if a[i].Contract != keep[i].Contract || a[i].Leg != keep[i].Leg || !a[i].USDPerMWh.Equal(keep[i].USDPerMWh) {
			t.Errorf("Build reordered its input at %d", i)
		}
	}
}

func TestSummarizeGrid(t *testing.T) {
	d := func(s string) decimal.Decimal { return dec(t, s) }
	totals := []settlement.GridTotal{
		{Party: "northwind", Leg: ledger.Import, QuantityMWh: d("12.5"), Transfers: 3},
		{Party: "northwind", Leg: ledger.ImportPayment, AmountUSD: d("-500.25"), Transfers: 3}, // paid
		{Party: "mesa-ridge", Leg: ledger.Export, QuantityMWh: d("1000.000001"), Transfers: 5},
		{Party: "mesa-ridge", Leg: ledger.ExportPayment, AmountUSD: d("40000.00004"), Transfers: 5}, // received
		{Party: "mesa-ridge", Leg: ledger.PlantImport, QuantityMWh: d("2"), Transfers: 1},
		{Party: "mesa-ridge", Leg: ledger.PlantImportPayment, AmountUSD: d("-80"), Transfers: 1}, // paid
		{Party: "cedar", Leg: ledger.Import, QuantityMWh: d("1"), Transfers: 1},
		{Party: "cedar", Leg: ledger.ImportPayment, AmountUSD: d("15"), Transfers: 1}, // received: a negative price
		{Party: "helios", Leg: ledger.Import, QuantityMWh: d("3"), Transfers: 1},
		{Party: "helios", Leg: ledger.Import, QuantityMWh: d("4"), Transfers: 1},
		{Party: "helios", Leg: ledger.ImportPayment, AmountUSD: d("-30"), Transfers: 1},
		{Party: "helios", Leg: ledger.ImportPayment, AmountUSD: d("-40.5"), Transfers: 1},
	}
	type want struct{ party, exportMWh, exportUSD, importMWh, importUSD string }
	wants := []want{
		{"cedar", "0", "0", "1", "-15"},
		{"helios", "0", "0", "7", "70.5"},
		{"mesa-ridge", "1000.000001", "40000.00004", "2", "80"},
		{"northwind", "0", "0", "12.5", "500.25"},
	}
	got := settlement.SummarizeGrid(totals)
	if len(got) != len(wants) {
		t.Fatalf("%d summaries, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Party != w.party {
			t.Errorf("summary %d is %s, want %s (party order)", i, g.Party, w.party)
			continue
		}
		for _, f := range []struct {
			name string
			got  decimal.Decimal
			want string
		}{{"ExportMWh", g.ExportMWh, w.exportMWh}, {"ExportUSD", g.ExportUSD, w.exportUSD},
			{"ImportMWh", g.ImportMWh, w.importMWh}, {"ImportUSD", g.ImportUSD, w.importUSD}} {
			if !f.got.Equal(d(f.want)) {
				t.Errorf("%s %s = %s, want %s", g.Party, f.name, f.got, f.want)
			}
		}
	}
	if got := settlement.SummarizeGrid(nil); len(got) != 0 {
		t.Errorf("SummarizeGrid(nil) = %+v", got)
	}
}
