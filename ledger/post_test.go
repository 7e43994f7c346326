package ledger_test

import (
	"testing"
	"time"

	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var start = time.Date(2028, 3, 1, 18, 0, 0, 0, time.UTC)

func result() *matching.Result {
	return &matching.Result{
		Site: "s", Start: start, End: start.Add(time.Hour), Revision: 1, Seller: "gen", Grid: "iso",
		Readings: []matching.ReadingRef{{Meter: "G", Energy: 0, Quality: matching.Actual, Version: 1}},
	}
}

func byLeg(ts []ledger.Transfer, leg ledger.Leg) []ledger.Transfer {
	var out []ledger.Transfer
	for _, t := range ts {
		if t.Leg == leg {
			out = append(out, t)
		}
	}
	return out
}

// Known answer (issue 3), a virtual PPA with a strike of $44.00/MWh: at a
// market price of $36.00 the buyer pays $8.00/MWh; at $54.00 the buyer
// receives $10.00/MWh. (The usual virtual PPA: the seller pays a positive
// market − strike, so the buyer is hedged at the strike.)
func TestVirtualPPAKnownAnswer(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	for _, tc := range []struct {
		market, amount, payer, payee string
	}{
		{"36.00", "8", "dc:settlement", "gen:settlement"},
		{"54.00", "10", "gen:settlement", "dc:settlement"},
	} {
		r := result()
		r.CFDs = []matching.CFD{{
			Contract: "vppa", ContractVersion: 1, Seller: "gen", Buyer: "dc", Volume: 1 * matching.WhPerMWh,
			Strike: d("44.00"), PriceBasis: "fixed", Market: matching.PriceRef{Node: "HUB", Market: "RT", Start: start, USDPerMWh: d(tc.market)},
			PositivePaidBy: "gen",
		}}
		ts, _ := ledger.Post(r, loc)
		cfd := byLeg(ts, ledger.CFD)
		if len(cfd) != 1 {
			t.Fatalf("market %s: %d cfd transfers", tc.market, len(cfd))
		}
		c := cfd[0]
		if !c.Amount.Equal(d(tc.amount)) || c.Debit != tc.payer || c.Credit != tc.payee || c.Unit != ledger.USD ||
			!c.QuantityMWh.Equal(d("1")) || c.PriceNode != "HUB" || c.ContractVer != 1 || c.PriceBasis == "" {
			t.Errorf("market %s: %+v, want %s from %s to %s", tc.market, c, tc.amount, tc.payer, tc.payee)
		}
		if !c.QuantityMWh.Mul(c.Price).Abs().Equal(c.Amount) {
			t.Errorf("amount %s is not quantity %s × price %s", c.Amount, c.QuantityMWh, c.Price)
		}
	}
}

func TestVirtualBasisAndBuyerPays(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	r := result()
	node := matching.PriceRef{Node: "GEN", Market: "RT", Start: start, USDPerMWh: d("33.5")}
	r.CFDs = []matching.CFD{{
		Contract: "vppa", ContractVersion: 2, Seller: "gen", Buyer: "dc", Volume: 2 * matching.WhPerMWh,
		Strike: d("44"), Market: matching.PriceRef{Node: "HUB", USDPerMWh: d("50")}, Node: &node, PositivePaidBy: "dc",
	}}
	ts, _ := ledger.Post(r, loc)
	cfd, basis := byLeg(ts, ledger.CFD), byLeg(ts, ledger.CFDBasis)
	// (50 − 44) × 2 = 12, positive, paid by the buyer here.
	if len(cfd) != 1 || !cfd[0].Amount.Equal(d("12")) || cfd[0].Debit != "dc:settlement" {
		t.Errorf("cfd %+v", cfd)
	}
	// (33.5 − 50) × 2 = −33: negative, so the other way.
	if len(basis) != 1 || !basis[0].Amount.Equal(d("33")) || basis[0].Debit != "gen:settlement" || basis[0].PriceNode != "GEN" {
		t.Errorf("basis %+v", basis)
	}
}

func TestShortfallLegs(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	r := result()
	r.Gross, r.Net = 30*matching.WhPerMWh, 30*matching.WhPerMWh
	r.Deliveries = []matching.Delivery{{
		Contract: "block", ContractVersion: 1, Seller: "gen", Buyer: "dc", Meter: "L", Energy: 30 * matching.WhPerMWh,
		USDPerMWh: d("50"), Band: "peak", PriceBasis: "tou peak", Volume: 50 * matching.WhPerMWh,
		Shortfall: 20 * matching.WhPerMWh, ShortfallUSDPerMWh: d("15"),
	}}
	ts, iv := ledger.Post(r, loc)
	pay := byLeg(ts, ledger.DeliveryPayment)
	if len(pay) != 1 || !pay[0].Amount.Equal(d("1500")) || pay[0].Band != "peak" || pay[0].PriceBasis != "tou peak" {
		t.Errorf("delivery payment %+v", pay)
	}
	sf := byLeg(ts, ledger.Shortfall)
	if len(sf) != 1 || !sf[0].Amount.Equal(d("20")) || sf[0].Debit != "gen:shortfall" || sf[0].Credit != "dc:shortfall" || sf[0].Unit != ledger.MWh {
		t.Errorf("shortfall %+v", sf)
	}
	sp := byLeg(ts, ledger.ShortfallPayment)
	if len(sp) != 1 || !sp[0].Amount.Equal(d("300")) || sp[0].Debit != "gen:settlement" || sp[0].Credit != "dc:settlement" {
		t.Errorf("shortfall payment %+v", sp)
	}
	if iv.Period != "2028-03" || !iv.NetMWh.Equal(d("30")) {
		t.Errorf("interval %+v", iv)
	}
	seen := map[[16]byte]bool{}
	for _, t0 := range ts {
		if seen[t0.ID] {
			t.Errorf("two transfers share id %x", t0.ID)
		}
		seen[t0.ID] = true
	}
}

// A re-matched interval reverses every transfer of the revision before and
// books its own: the net of both revisions is the corrected allocation.
func TestPostReversesTheRevisionBefore(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	rev1 := result()
	rev1.Gross, rev1.Net = 10*matching.WhPerMWh, 10*matching.WhPerMWh
	rev1.Deliveries = []matching.Delivery{{Contract: "c", ContractVersion: 1, Seller: "gen", Buyer: "dc", Energy: 10 * matching.WhPerMWh, USDPerMWh: d("50")}}
	rev2 := result()
	rev2.Revision, rev2.Reverses = 2, rev1
	rev2.Gross, rev2.Net = 12*matching.WhPerMWh, 12*matching.WhPerMWh
	rev2.Deliveries = []matching.Delivery{{Contract: "c", ContractVersion: 1, Seller: "gen", Buyer: "dc", Energy: 12 * matching.WhPerMWh, USDPerMWh: d("50")}}
	first, _ := ledger.Post(rev1, loc)
	second, iv := ledger.Post(rev2, loc)
	if len(second) != 2*len(first) || iv.Revision != 2 {
		t.Fatalf("%d transfers for revision 2 (revision 1 had %d)", len(second), len(first))
	}
	balance := map[string]decimal.Decimal{}
	ids := map[[16]byte]bool{}
	for _, tr := range append(first, second...) {
		if ids[tr.ID] {
			t.Fatalf("id %x twice", tr.ID)
		}
		ids[tr.ID] = true
		balance[tr.Debit+" "+string(tr.Unit)] = balance[tr.Debit+" "+string(tr.Unit)].Sub(tr.Amount)
		balance[tr.Credit+" "+string(tr.Unit)] = balance[tr.Credit+" "+string(tr.Unit)].Add(tr.Amount)
	}
	for i, orig := range first {
		rv := second[i]
		if rv.Reverses != orig.ID || rv.Debit != orig.Credit || rv.Credit != orig.Debit || !rv.Amount.Equal(orig.Amount) || rv.Unit != orig.Unit || rv.Revision != 2 || rv.Leg != orig.Leg {
			t.Errorf("reversal %+v of %+v", rv, orig)
		}
	}
	if !balance["dc:energy MWh"].Equal(d("12")) || !balance["dc:settlement USD"].Equal(d("-600")) {
		t.Errorf("net of both revisions: %v", balance)
	}
	// Into a later period: both the reversal and the rebook.
	adj, _ := ledger.PostIn(rev2, loc, "2028-04")
	for _, tr := range adj {
		if tr.Period != "2028-04" || !tr.IntervalStart.Equal(start) {
			t.Errorf("prior-period adjustment %+v", tr)
		}
	}
}

func TestEmissionsLegs(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	r := result()
	r.Emissions = &matching.Emissions{
		PlantGrams: 1000,
		Attributed: []matching.Emission{
			{Party: "dc", Kind: matching.EmissionDelivery, Contract: "c", Energy: 2 * matching.WhPerMWh, Grams: 600},
			{Party: "iso", Kind: matching.EmissionExport, Energy: matching.WhPerMWh, Grams: 400},
		},
		Imports: []matching.Emission{{Party: "dc", Kind: matching.EmissionImport, Energy: matching.WhPerMWh, Grams: 380000}},
	}
	ts, _ := ledger.Post(r, loc)
	em, im := byLeg(ts, ledger.EmissionsLeg), byLeg(ts, ledger.ImportEmissions)
	if len(em) != 2 || em[0].Debit != "gen:emissions" || em[0].Credit != "dc:emissions" || em[0].Unit != ledger.TCO2e ||
		!em[0].Amount.Equal(d("0.0006")) || em[0].Contract != "c" || em[0].PriceBasis != "0.3 kg/MWh" {
		t.Errorf("emissions %+v", em)
	}
	if len(im) != 1 || im[0].Debit != "iso:emissions" || !im[0].Amount.Equal(d("0.38")) || im[0].PriceBasis != "380 kg/MWh" {
		t.Errorf("import emissions %+v", im)
	}
}
