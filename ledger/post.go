package ledger

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// Post turns one interval's allocation into transfers and its interval
// record. Zero amounts book nothing. loc is the site's market time zone (for
// the billing period). Post asserts that the energy legs balance the interval.
//
// A re-matched interval (r.Reverses set) books first the reversal of every
// transfer the revision before booked — same unit and amount, accounts
// swapped, naming the transfer it cancels — then its own transfers: the
// ledger ends as if only the corrected data had been booked, plus the
// reversal pairs.
func Post(r *matching.Result, loc *time.Location) ([]Transfer, Interval) {
	return PostIn(r, loc, "")
}

// PostIn is Post with the transfers dated in billing period bookIn instead
// of the interval's own: a correction to an interval of a finalized period
// lands, whole (reversal and rebook), in the next open period as a prior-
// period adjustment; its interval start still names the period it corrects.
// An empty bookIn is the interval's own period.
func PostIn(r *matching.Result, loc *time.Location, bookIn string) ([]Transfer, Interval) {
	out, iv := post(r, loc, bookIn)
	if r.Reverses == nil {
		return out, iv
	}
	prev, _ := post(r.Reverses, loc, bookIn)
	all := make([]Transfer, 0, len(prev)+len(out))
	for _, t := range prev {
		x := t
		x.ID = TransferID(r.Site, r.Start, r.Revision, t.Leg, "reverses "+hex.EncodeToString(t.ID[:]))
		x.Debit, x.Credit = t.Credit, t.Debit
		x.Revision = r.Revision
		x.Reverses = t.ID
		all = append(all, x)
	}
	return append(all, out...), iv
}

// post books one revision's own transfers.
func post(r *matching.Result, loc *time.Location, bookIn string) ([]Transfer, Interval) {
	period := contracts.PeriodOf(r.Start, loc).String()
	if bookIn != "" {
		period = bookIn
	}
	refs := make([]ReadingRef, len(r.Readings))
	for i, rr := range r.Readings {
		refs[i] = ReadingRef{Meter: rr.Meter, Version: rr.Version, Quality: string(rr.Quality)}
	}
	p := poster{r: r, period: period, refs: refs}
	for _, d := range r.Deliveries {
		p.energy(Delivery, d.Contract, d.Seller, d.Buyer, d.Energy, d.Contract, d.ContractVersion)
		p.terms(d.Band, d.PriceBasis, func() {
			p.payment(DeliveryPayment, d.Contract, d.Buyer, d.Seller, d.Energy, matching.PriceRef{USDPerMWh: d.USDPerMWh}, d.Contract, d.ContractVersion)
		})
		if d.Shortfall > 0 {
			p.memo(Shortfall, d.Contract, d.Seller, d.Buyer, d.Shortfall, d.Contract, d.ContractVersion)
			p.terms(d.Band, "shortfall damages", func() {
				p.payment(ShortfallPayment, d.Contract, d.Seller, d.Buyer, d.Shortfall, matching.PriceRef{USDPerMWh: d.ShortfallUSDPerMWh}, d.Contract, d.ContractVersion)
			})
		}
	}
	for _, c := range r.CFDs {
		p.cfd(c)
	}
	p.grid(Export, ExportPayment, r.Export, r.Seller, r.Grid)
	p.grid(PlantImport, PlantImportPayment, r.PlantImport, r.Grid, r.Seller)
	var imported matching.Wh
	for _, im := range r.Imports {
		p.grid(Import, ImportPayment, im, r.Grid, im.Party)
		imported += im.Energy
	}
	if e := r.Emissions; e != nil {
		for _, a := range e.Attributed {
			if a.Party != r.Seller {
				p.emitted(EmissionsLeg, a, r.Seller)
			}
		}
		for _, a := range e.Imports {
			p.emitted(ImportEmissions, a, r.Grid)
		}
	}
	p.assertBalanced()
	return p.out, Interval{
		Site: r.Site, Start: r.Start, End: r.End, Revision: r.Revision, Period: period,
		GrossMWh: r.Gross.MWh(), NetMWh: r.Net.MWh(), ExportMWh: r.Export.Energy.MWh(),
		ImportMWh: (imported + r.PlantImport.Energy).MWh(), Estimated: r.Estimated(),
	}
}

type poster struct {
	r      *matching.Result
	period string
	refs   []ReadingRef
	out    []Transfer
}

func (p *poster) base(leg Leg, key string) Transfer {
	return Transfer{
		ID: TransferID(p.r.Site, p.r.Start, p.r.Revision, leg, key), Leg: leg,
		Site: p.r.Site, IntervalStart: p.r.Start, IntervalEnd: p.r.End, Period: p.period,
		Revision: p.r.Revision, Readings: p.refs,
	}
}

// energy books energy moving from one party to another.
func (p *poster) energy(leg Leg, key, from, to string, e matching.Wh, contract string, version int) {
	if e == 0 {
		return
	}
	t := p.base(leg, key)
	t.Debit, t.Credit, t.Unit, t.Amount = AccountID(from, Energy), AccountID(to, Energy), MWh, e.MWh()
	t.Contract, t.ContractVer, t.QuantityMWh = contract, version, e.MWh()
	p.out = append(p.out, t)
}

// payment books the money for energy e moving from payer to payee at price;
// a negative price (market prices can be) turns the money around.
func (p *poster) payment(leg Leg, key, payer, payee string, e matching.Wh, price matching.PriceRef, contract string, version int) {
	amount := matching.Money(e, price.USDPerMWh)
	if amount.IsZero() {
		return
	}
	if amount.IsNegative() {
		payer, payee, amount = payee, payer, amount.Neg()
	}
	t := p.base(leg, key)
	t.Debit, t.Credit, t.Unit, t.Amount = AccountID(payer, Settlement), AccountID(payee, Settlement), USD, amount
	t.Contract, t.ContractVer, t.QuantityMWh, t.Price = contract, version, e.MWh(), price.USDPerMWh
	t.PriceNode, t.PriceMarket, t.PriceStart, t.PriceCarried = price.Node, price.Market, price.Start, price.CarriedFrom
	p.out = append(p.out, t)
}

// terms sets the band and price basis of the transfers book adds.
func (p *poster) terms(band, basis string, book func()) {
	n := len(p.out)
	book()
	for i := n; i < len(p.out); i++ {
		p.out[i].Band, p.out[i].PriceBasis = band, basis
	}
}

// memo books a shortfall: energy owed, not moved, on the parties' shortfall
// accounts.
func (p *poster) memo(leg Leg, key, from, to string, e matching.Wh, contract string, version int) {
	t := p.base(leg, key)
	t.Debit, t.Credit, t.Unit, t.Amount = AccountID(from, ShortfallMemo), AccountID(to, ShortfallMemo), MWh, e.MWh()
	t.Contract, t.ContractVer, t.QuantityMWh = contract, version, e.MWh()
	p.out = append(p.out, t)
}

// cfd books a virtual contract's difference (market − strike) × volume and,
// when the contract applies it, the basis (node − hub) × volume. A positive
// amount is paid by the contract's PositivePaidBy party to the other; the
// transfer's price is the signed difference.
func (p *poster) cfd(c matching.CFD) {
	payer, payee := c.PositivePaidBy, c.Buyer
	if payer == c.Buyer {
		payee = c.Seller
	}
	diff := c.Market
	diff.USDPerMWh = c.Market.USDPerMWh.Sub(c.Strike)
	basis := fmt.Sprintf("%s; hub %s %s − strike %s", c.PriceBasis, c.Market.Node, c.Market.USDPerMWh, c.Strike)
	p.terms(c.Band, basis, func() { p.payment(CFD, c.Contract, payer, payee, c.Volume, diff, c.Contract, c.ContractVersion) })
	if c.Node != nil {
		b := *c.Node
		b.USDPerMWh = c.Node.USDPerMWh.Sub(c.Market.USDPerMWh)
		basis := fmt.Sprintf("basis: node %s %s − hub %s %s", c.Node.Node, c.Node.USDPerMWh, c.Market.Node, c.Market.USDPerMWh)
		p.terms(c.Band, basis, func() { p.payment(CFDBasis, c.Contract, payer, payee, c.Volume, b, c.Contract, c.ContractVersion) })
	}
}

// emitted books emissions attributed to a party, from the party they come
// from (the plant's owner, or the grid for imports), in tCO2e (grams exact).
func (p *poster) emitted(leg Leg, a matching.Emission, from string) {
	if a.Grams == 0 {
		return
	}
	key := a.Party + " " + a.Kind + " " + a.Contract
	t := p.base(leg, key)
	t.Debit, t.Credit, t.Unit, t.Amount = AccountID(from, Emissions), AccountID(a.Party, Emissions), TCO2e, decimal.New(a.Grams, -6)
	t.Contract, t.ContractVer, t.QuantityMWh = a.Contract, a.Version, a.Energy.MWh()
	if !a.Energy.MWh().IsZero() {
		t.PriceBasis = decimal.New(a.Grams, -3).DivRound(a.Energy.MWh(), 3).String() + " kg/MWh"
	}
	p.out = append(p.out, t)
}

// grid books a grid flow's energy from → to and its money back.
func (p *poster) grid(energyLeg, moneyLeg Leg, f matching.GridFlow, from, to string) {
	p.energy(energyLeg, f.Meter, from, to, f.Energy, "", 0)
	p.payment(moneyLeg, f.Meter, to, from, f.Energy, f.Price, "", 0)
}

// assertBalanced checks the interval's energy legs against its allocation:
// what the seller gave away net equals the plant's net output.
func (p *poster) assertBalanced() {
	seller := AccountID(p.r.Seller, Energy)
	net := decimal.Zero
	for _, t := range p.out {
		if t.Unit != MWh || t.Leg == Shortfall {
			continue
		}
		if t.Debit == seller {
			net = net.Add(t.Amount)
		}
		if t.Credit == seller {
			net = net.Sub(t.Amount)
		}
	}
	if !net.Equal(p.r.Net.MWh()) {
		panic(fmt.Sprintf("ledger: interval %s %s books %s MWh out of the plant, net output is %s", p.r.Site, p.r.Start.Format(time.RFC3339), net, p.r.Net.MWh()))
	}
}
