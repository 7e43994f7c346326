package contracts

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// PriceDecimals is the most decimal places a contract price has once it is
// computed (escalated, indexed to gas, linked to the market). Energy has 6
// places (1 Wh), so energy × price stays exact at 12 places, the ledger's
// USD scale. Computed prices are rounded half-up to it: a named rounding
// point, documented in the README.
const PriceDecimals = 6

// Market is what the terms of an interval need from the market: prices at
// nodes over the interval and gas index prices for an operating day.
type Market interface {
	// NodePrice is the market price of node over the interval being priced.
	NodePrice(node string) (decimal.Decimal, bool)
	// GasPrice is the index's price ($/MMBtu) for the operating day d.
	GasPrice(index string, d Date) (decimal.Decimal, bool)
}

// Quote is a contract's price for one interval.
type Quote struct {
	USDPerMWh decimal.Decimal // the price (the strike, for a virtual contract)
	Band      string          // the time-of-use band of the interval, when the contract has a calendar
	Basis     string          // how the price was formed, for the audit trail
	// Skip is set when the negative-price rule is no_settlement and the
	// reference price is below zero: the contract takes and pays nothing.
	Skip bool
}

// Quote prices interval s under terms t of contract c at site. ok is false
// when a market or gas price the terms need is not known (the caller waits).
func (c *Contract) Quote(t *Terms, site *Site, s Slot, m Market) (q Quote, ok bool) {
	p := &t.Price
	if c.Calendar != nil {
		q.Band = c.Calendar.BandOf(s.Day, s.HourEnding)
	}
	switch p.Kind {
	case PriceFixed:
		q.USDPerMWh, q.Basis = p.escalate(p.USDPerMWh, s.Date, "fixed")
	case PriceTOU:
		rate, has := p.Rates[q.Band]
		if !has {
			return q, false // the loader makes every band priced; a hand-built contract may not be
		}
		q.USDPerMWh, q.Basis = p.escalate(rate, s.Date, "tou "+q.Band)
	case PriceGasIndexed:
		gas, has := m.GasPrice(p.Gas.Index, s.Date)
		if !has {
			return q, false
		}
		q.USDPerMWh, q.Basis = c.memo.get(t.Version, gas, func() (decimal.Decimal, string) {
			return gas.Mul(p.Gas.HeatRate).Add(p.Gas.VOMPerMWh).Round(PriceDecimals),
				fmt.Sprintf("gas %s %s × %s + %s", p.Gas.Index, gas, p.Gas.HeatRate, p.Gas.VOMPerMWh)
		})
	case PriceMarketLinked:
		node := p.Market.Node
		if node == "" {
			node = site.GeneratorNode
		}
		mkt, has := m.NodePrice(node)
		if !has {
			return q, false
		}
		q.USDPerMWh, q.Basis = c.memo.get(t.Version, mkt, func() (decimal.Decimal, string) {
			v := mkt.Mul(p.Market.Factor).Add(p.Market.Adder)
			var b strings.Builder
			fmt.Fprintf(&b, "market %s %s × %s + %s", node, mkt, p.Market.Factor, p.Market.Adder)
			if p.Market.Floor != nil && v.LessThan(*p.Market.Floor) {
				v = *p.Market.Floor
				fmt.Fprintf(&b, ", floor %s", v)
			}
			if p.Market.Cap != nil && v.GreaterThan(*p.Market.Cap) {
				v = *p.Market.Cap
				fmt.Fprintf(&b, ", cap %s", v)
			}
			return v.Round(PriceDecimals), b.String()
		})
	default:
		return q, false
	}
	if p.Negative == NegativeAdjusted || p.Negative == NegativeNoSettlement {
		ref, has := m.NodePrice(c.ReferenceNode(t, site))
		if !has {
			return q, false
		}
		if ref.Sign() < 0 {
			if p.Negative == NegativeNoSettlement {
				q.Skip = true
				q.Basis += fmt.Sprintf("; market %s below zero: no settlement", ref)
			} else {
				q.USDPerMWh = q.USDPerMWh.Add(ref)
				q.Basis += fmt.Sprintf("; market %s below zero: adjusted by it", ref)
			}
		}
	}
	return q, true
}

// quoteMemo remembers a contract's last indexed price: the gas price is the
// same all day and an hourly market price covers four 15-minute intervals,
// so most intervals ask again for the price just computed.
type quoteMemo struct {
	mu      sync.Mutex
	version int
	input   decimal.Decimal
	price   decimal.Decimal
	basis   string
	set     bool
}

// get returns the price computed from input under terms version, computing
// it when it is not the one remembered. A nil memo computes every time.
func (m *quoteMemo) get(version int, input decimal.Decimal, compute func() (decimal.Decimal, string)) (decimal.Decimal, string) {
	if m == nil {
		return compute()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.set || m.version != version || !m.input.Equal(input) || m.input.Exponent() != input.Exponent() {
		m.price, m.basis = compute()
		m.version, m.input, m.set = version, input, true
	}
	return m.price, m.basis
}

// Prepare readies the contract for fast, concurrent quoting. The loader
// calls it; a Contract built by hand works without it, only slower.
func (c *Contract) Prepare() { c.memo = &quoteMemo{} }

// ReferenceNode is the node whose market price the negative-price rule and a
// virtual contract read: the hub of a virtual contract, the node of a
// market-linked price, else the site's generator node.
func (c *Contract) ReferenceNode(t *Terms, site *Site) string {
	switch {
	case c.Kind == KindVirtual:
		return t.Virtual.Hub
	case t.Price.Kind == PriceMarketLinked && t.Price.Market.Node != "":
		return t.Price.Market.Node
	}
	return site.GeneratorNode
}

// Nodes lists the market price nodes any version of the contract reads.
func (c *Contract) Nodes(site *Site) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, t := range c.Versions() {
		if t.Price.Kind == PriceMarketLinked {
			n := t.Price.Market.Node
			if n == "" {
				n = site.GeneratorNode
			}
			add(n)
		}
		if t.Price.Negative == NegativeAdjusted || t.Price.Negative == NegativeNoSettlement {
			add(c.ReferenceNode(t, site))
		}
		if c.Kind == KindVirtual {
			add(t.Virtual.Hub)
			if t.Virtual.Basis {
				add(site.GeneratorNode)
			}
		}
	}
	return out
}

// GasIndexes lists the gas indexes any version of the contract reads.
func (c *Contract) GasIndexes() []string {
	var out []string
	for _, t := range c.Versions() {
		if t.Price.Kind == PriceGasIndexed && !slices.Contains(out, t.Price.Gas.Index) {
			out = append(out, t.Price.Gas.Index)
		}
	}
	return out
}

// escalate applies the escalator (if any) to a base price on date d.
func (p *Price) escalate(base decimal.Decimal, d Date, basis string) (decimal.Decimal, string) {
	e := p.Escalator
	if e == nil {
		return base, basis
	}
	n := e.Exponent(d)
	k := memoKey{basis, n}
	if v, ok := e.memo.Load(k); ok {
		m := v.(memoValue)
		return m.price, m.basis
	}
	m := memoValue{base, basis + ", year 1 unescalated"}
	if n > 0 {
		m = memoValue{e.Apply(base, n), fmt.Sprintf("%s %s escalated %s%% × %d", basis, base, e.Percent, n)}
	}
	e.memo.Store(k, m)
	return m.price, m.basis
}

// memoKey and memoValue remember an escalated price: the same few prices
// (one per band) and exponents (one per year) come back every interval.
type memoKey struct {
	basis string // names the base price: "fixed", "tou peak"
	n     int
}

type memoValue struct {
	price decimal.Decimal
	basis string
}

// Exponent is how many times the price is escalated on date d: the
// anniversaries passed (Anniversary, then each year after), plus one when
// the first contract year is escalated too.
func (e *Escalator) Exponent(d Date) int {
	n := 0
	if a := e.Anniversary; !d.Before(a) {
		k := d.Year - a.Year // whole years from the first anniversary to d
		if d.Month < a.Month || (d.Month == a.Month && d.Day < a.Day) {
			k--
		}
		n = k + 1
	}
	if e.FirstYearEscalated {
		n++
	}
	return n
}

// Apply is base × (1 + Percent/100)^n, computed exactly and then rounded
// half-up to Decimals places.
func (e *Escalator) Apply(base decimal.Decimal, n int) decimal.Decimal {
	f := decimal.NewFromInt(1).Add(e.Percent.Shift(-2))
	v := base
	for range n {
		v = v.Mul(f)
	}
	return v.Round(e.Decimals)
}

// BlockMW is the MW a baseload or shaped volume calls for in slot s (zero
// outside its band). ok is false for the other shapes.
func (t *Terms) BlockMW(s Slot, cal *Calendar) (decimal.Decimal, bool) {
	v := &t.Volume
	if v.Shape != ShapeBaseload && v.Shape != ShapeShaped {
		return decimal.Zero, false
	}
	if v.During != "" && cal.BandOf(s.Day, s.HourEnding) != v.During {
		return decimal.Zero, true
	}
	if v.Shape == ShapeBaseload {
		return v.MW, true
	}
	m := s.Local.Month()
	for i := range v.Profile {
		if v.Profile[i].Months[m] {
			return v.Profile[i].MW[s.HourEnding-1], true
		}
	}
	return decimal.Zero, true
}

// WhOf is the energy of mw over minutes, in whole Wh, rounded down: a
// volume never rounds up.
func WhOf(mw decimal.Decimal, minutes int) int64 {
	return mw.Mul(decimal.NewFromInt(int64(minutes))).Shift(6).Div(decimal.NewFromInt(60)).Floor().IntPart()
}

// AsGeneratedWh is the contract's share of net output netWh (none when the
// plant is a net consumer), rounded down to whole Wh.
func (t *Terms) AsGeneratedWh(netWh int64) int64 {
	if netWh <= 0 {
		return 0
	}
	return decimal.NewFromInt(netWh).Mul(t.Volume.Percent).Shift(-2).Floor().IntPart()
}

// ContractedMWh is the firm energy the contract calls for over a billing
// period at site: the sum over the period's intervals of a baseload or
// shaped volume (under the terms in force each day), or the ExpectedMWh of
// the terms in force on the period's first day. ok is false when neither
// gives a figure (a load-following or as-generated contract without
// expected_mwh).
func (c *Contract) ContractedMWh(p Period, site *Site) (decimal.Decimal, bool) {
	from, to := p.Bounds(site.Location)
	first := c.TermsOn(DateOf(from, site.Location))
	if first.Monthly.ExpectedMWh.Sign() > 0 {
		return first.Monthly.ExpectedMWh, true
	}
	step := site.Interval()
	var wh int64
	any := false
	for t := from; t.Before(to); t = t.Add(step) {
		s := SlotOf(t, t.Add(step), site.Location, c.Calendar)
		if s.Date.Before(c.Start) || !s.Date.Before(c.End) {
			continue
		}
		mw, ok := c.TermsOn(s.Date).BlockMW(s, c.Calendar)
		if !ok {
			continue
		}
		any = true
		wh += WhOf(mw, int(step/time.Minute))
	}
	return decimal.New(wh, -6), any
}
