package positions

import (
	"fmt"
	"sort"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// Inputs are the ledger totals a Report is built from (see pgsource).
type Inputs struct {
	Legs  []LegSum  // the period's transfers, summed
	Sites []SiteSum // the period's intervals, per site
	Hours []HourSum // load and plant supply per site, party and hour
	// Forward is the forward curve the rest of the period is marked
	// against; Gas the latest gas index prices ($/MMBtu), by index, for
	// quoting gas-indexed contracts forward.
	Forward Curve
	Gas     map[string]decimal.Decimal
	// FuelIndex is the gas index the plants burn (default HENRY_HUB).
	FuelIndex string
}

// LegSum is the transfers of one site, contract, leg and direction in the
// period. A reversal counts against what it reverses: it is summed with
// From and To as the original had them and a negative quantity and amount.
type LegSum struct {
	Site        string
	Contract    string // "" for grid legs
	Leg         ledger.Leg
	Unit        ledger.Unit
	From, To    string // party ids: the amount leaves From's account for To's
	Prior       bool   // the intervals belong to an earlier billing period (a prior-period correction)
	QuantityMWh decimal.Decimal
	Amount      decimal.Decimal
}

// SiteSum is a site's intervals in the period, each at its latest revision.
type SiteSum struct {
	Site      string
	Intervals int
	AsOf      time.Time // the latest interval end
	GrossMWh  decimal.Decimal
	NetMWh    decimal.Decimal
	// FuelGrossMWh is the gross output an index price covered and
	// FuelGrossUSD Σ its gross MWh × $/MMBtu (× the heat rate = fuel $).
	FuelGrossMWh decimal.Decimal
	FuelGrossUSD decimal.Decimal
}

// HourSum is one party's load and the plant's supply to it in one hour.
type HourSum struct {
	Site         string
	Party        string
	Hour         time.Time
	DeliveredMWh decimal.Decimal
	ImportedMWh  decimal.Decimal
}

// DefaultFuelIndex is the gas index fuel is costed at unless told otherwise.
const DefaultFuelIndex = "HENRY_HUB"

var hundred = decimal.NewFromInt(100)

// Build computes the positions of period for the portfolio p from in.
func Build(p *contracts.Portfolio, period contracts.Period, in Inputs) *Report {
	if in.FuelIndex == "" {
		in.FuelIndex = DefaultFuelIndex
	}
	r := &Report{Period: period.String(), Sites: []Site{}, Contracts: []Contract{}}
	sums := map[string]SiteSum{}
	for _, s := range in.Sites {
		sums[s.Site] = s
	}
	for i := range p.Sites {
		site := &p.Sites[i]
		sum, booked := sums[site.ID]
		s := siteTotals(p, site, period, sum, booked, in)
		for _, c := range p.ContractsAt(site.ID) {
			if !inForce(c, site, period) && !hasLegs(in.Legs, c.ID) {
				continue
			}
			cp := contractPosition(p, c, site, period, s.AsOf, in)
			if cp.MTM != nil {
				s.MTMUSD = s.MTMUSD.Add(cp.MTM.ValueUSD)
			}
			r.Contracts = append(r.Contracts, cp)
		}
		r.Sites = append(r.Sites, s)
	}
	return r
}

func hasLegs(legs []LegSum, contract string) bool {
	for _, l := range legs {
		if l.Contract == contract {
			return true
		}
	}
	return false
}

// inForce reports whether the contract covers any day of the period.
func inForce(c *contracts.Contract, site *contracts.Site, period contracts.Period) bool {
	from, to := period.Bounds(site.Location)
	first, last := contracts.DateOf(from, site.Location), contracts.DateOf(to.Add(-time.Nanosecond), site.Location)
	return !last.Before(c.Start) && first.Before(c.End)
}

// intervalsIn counts the site's intervals in the period (DST days included).
func intervalsIn(site *contracts.Site, period contracts.Period) int {
	from, to := period.Bounds(site.Location)
	return int(to.Sub(from) / site.Interval())
}

func siteTotals(p *contracts.Portfolio, site *contracts.Site, period contracts.Period, sum SiteSum, booked bool, in Inputs) Site {
	s := Site{
		ID: site.ID, Name: site.Name, Market: site.Market, TimeZone: site.TimeZone, Owner: site.Owner,
		IntervalsInPeriod: intervalsIn(site, period), Loads: []Load{},
	}
	if booked {
		asOf := sum.AsOf.UTC()
		s.AsOf = &asOf
		s.IntervalsBooked = sum.Intervals
		s.GrossMWh, s.NetMWh = sum.GrossMWh, sum.NetMWh
		from, _ := period.Bounds(site.Location)
		elapsed := int(asOf.Sub(from) / site.Interval())
		s.ElapsedPercent = percent(decimal.NewFromInt(int64(elapsed)), decimal.NewFromInt(int64(s.IntervalsInPeriod)))
		hours := decimal.NewFromInt(int64(sum.Intervals * site.IntervalMinutes)).Div(decimal.NewFromInt(60))
		s.CapacityFactorPercent = percent(sum.NetMWh, site.CapacityMW.Mul(hours))
	}
	loads := map[string]*Load{}
	var order []string
	load := func(party string) *Load {
		if l, ok := loads[party]; ok {
			return l
		}
		name := party
		if pt, ok := p.Party(party); ok {
			name = pt.Name
		}
		loads[party] = &Load{Party: party, Name: name}
		order = append(order, party)
		return loads[party]
	}
	for _, m := range site.MetersOfKind(contracts.MeterLoad) {
		load(m.Party)
	}
	for _, l := range in.Legs {
		if l.Site != site.ID || l.Prior {
			continue
		}
		switch l.Leg {
		case ledger.Delivery:
			s.SoldPPAMWh = s.SoldPPAMWh.Add(signed(l.From == site.Owner, l.QuantityMWh))
			ld := load(l.To)
			ld.FromPlantMWh = ld.FromPlantMWh.Add(l.QuantityMWh)
		case ledger.DeliveryPayment:
			s.PPARevenueUSD = s.PPARevenueUSD.Add(signed(l.To == site.Owner, l.Amount))
		case ledger.Export:
			s.ExportMWh = s.ExportMWh.Add(l.QuantityMWh)
		case ledger.ExportPayment:
			s.ExportUSD = s.ExportUSD.Add(signed(l.To == site.Owner, l.Amount))
		case ledger.PlantImport:
			s.PlantImportMWh = s.PlantImportMWh.Add(l.QuantityMWh)
		case ledger.PlantImportPayment:
			s.PlantImportUSD = s.PlantImportUSD.Add(signed(l.From == site.Owner, l.Amount))
		case ledger.EmissionsLeg:
			s.EmissionsT = s.EmissionsT.Add(l.Amount)
			if l.To != site.Grid {
				ld := load(l.To)
				ld.EmissionsT = ld.EmissionsT.Add(l.Amount)
			}
		case ledger.ImportEmissions:
			ld := load(l.To)
			ld.ImportEmissionsT = ld.ImportEmissionsT.Add(l.Amount)
		case ledger.Import:
			ld := load(l.To)
			ld.ImportedMWh = ld.ImportedMWh.Add(l.QuantityMWh)
		case ledger.ImportPayment:
			// the load pays; at a negative price the grid pays the load
			if l.From == site.Grid {
				load(l.To).ImportUSD = load(l.To).ImportUSD.Sub(l.Amount)
			} else {
				load(l.From).ImportUSD = load(l.From).ImportUSD.Add(l.Amount)
			}
		}
	}
	if s.ExportMWh.Sign() > 0 {
		avg := s.ExportUSD.DivRound(s.ExportMWh, 6)
		s.ExportUSDPerMWh = &avg
	}
	s.fuel(site, sum, in.FuelIndex)
	hours := map[string][]HourSum{}
	for _, h := range in.Hours {
		if h.Site == site.ID {
			hours[h.Party] = append(hours[h.Party], h)
		}
	}
	for _, party := range order {
		l := loads[party]
		l.LoadMWh = l.FromPlantMWh.Add(l.ImportedMWh)
		l.PlantSharePercent = percent(l.FromPlantMWh, l.LoadMWh)
		if t := l.EmissionsT.Add(l.ImportEmissionsT); !t.IsZero() && l.LoadMWh.Sign() > 0 {
			l.EmissionsKgPerMWh = ptr(t.Shift(3).DivRound(l.LoadMWh, 3))
		}
		l.hourly(hours[party])
		s.Loads = append(s.Loads, *l)
	}
	return s
}

// fuel costs the site's gross output at its heat rate and the gas index.
func (s *Site) fuel(site *contracts.Site, sum SiteSum, index string) {
	s.FuelIndex = index
	s.FuelUnpricedMWh = sum.GrossMWh.Sub(sum.FuelGrossMWh)
	if site.Emissions == nil || site.Emissions.HeatRate.Sign() <= 0 {
		return
	}
	hr := site.Emissions.HeatRate
	s.HeatRate = &hr
	if sum.FuelGrossMWh.Sign() <= 0 {
		return
	}
	mmbtu := sum.FuelGrossMWh.Mul(hr)
	usd := sum.FuelGrossUSD.Mul(hr)
	avg := usd.DivRound(mmbtu, 6)
	s.FuelMMBtu, s.FuelUSD, s.FuelUSDPerMMBtu = &mmbtu, &usd, &avg
	margin := s.PPARevenueUSD.Add(s.ExportUSD).Sub(s.PlantImportUSD).Sub(usd)
	s.SparkSpreadUSD = &margin
	if s.NetMWh.Sign() > 0 {
		per := margin.DivRound(s.NetMWh, 6)
		s.SparkSpreadUSDPerMWh = &per
	}
}

// hourly sets the hourly-matched figures from the party's hours.
func (l *Load) hourly(hours []HourSum) {
	byHour := map[int64]*HourSum{}
	for _, h := range hours {
		k := h.Hour.Unix()
		if byHour[k] == nil {
			byHour[k] = &HourSum{Hour: h.Hour}
		}
		b := byHour[k]
		b.DeliveredMWh = b.DeliveredMWh.Add(h.DeliveredMWh)
		b.ImportedMWh = b.ImportedMWh.Add(h.ImportedMWh)
	}
	matched, total := decimal.Zero, decimal.Zero
	for _, h := range byHour {
		load := h.DeliveredMWh.Add(h.ImportedMWh)
		if load.Sign() <= 0 {
			continue
		}
		l.Hours++
		m := decimal.Min(load, decimal.Max(h.DeliveredMWh, decimal.Zero))
		if m.Equal(load) {
			l.HoursFullyMatched++
		}
		matched, total = matched.Add(m), total.Add(load)
	}
	l.HourlyMatchedPercent = percent(matched, total)
}

func signed(positive bool, d decimal.Decimal) decimal.Decimal {
	if positive {
		return d
	}
	return d.Neg()
}

// percent is 100 × a / b to 2 places (half-up); 0 when b is 0.
func percent(a, b decimal.Decimal) decimal.Decimal {
	if b.Sign() == 0 {
		return decimal.Zero
	}
	return a.Mul(hundred).DivRound(b, 2)
}

func contractPosition(p *contracts.Portfolio, c *contracts.Contract, site *contracts.Site, period contracts.Period, asOf *time.Time, in Inputs) Contract {
	from, to := period.Bounds(site.Location)
	firstDay := contracts.DateOf(from, site.Location)
	if firstDay.Before(c.Start) {
		firstDay = c.Start
	}
	t := c.TermsOn(firstDay)
	cp := Contract{
		ID: c.ID, Kind: string(c.Kind), Site: c.Site, Seller: c.Seller, Buyer: c.Buyer, BuyerName: c.Buyer,
		Version: t.Version, Volume: t.VolumeText(), Price: t.PriceText(),
	}
	if b, ok := p.Party(c.Buyer); ok {
		cp.BuyerName = b.Name
	}
	for _, l := range in.Legs {
		if l.Contract != c.ID {
			continue
		}
		byBuyer := signed(l.From == c.Buyer, l.Amount) // money the buyer pays (+) or receives (−)
		switch {
		case l.Prior && l.Unit == ledger.USD:
			cp.PriorPeriodUSD = cp.PriorPeriodUSD.Add(byBuyer)
		case l.Prior:
		case l.Leg == ledger.Delivery:
			cp.DeliveredMWh = cp.DeliveredMWh.Add(l.QuantityMWh)
		case l.Leg == ledger.DeliveryPayment:
			cp.AmountUSD = cp.AmountUSD.Add(byBuyer)
		case l.Leg == ledger.CFD:
			cp.DeliveredMWh = cp.DeliveredMWh.Add(l.QuantityMWh)
			cp.AmountUSD = cp.AmountUSD.Add(byBuyer)
		case l.Leg == ledger.CFDBasis:
			cp.AmountUSD = cp.AmountUSD.Add(byBuyer)
		case l.Leg == ledger.EmissionsLeg:
			cp.EmissionsT = cp.EmissionsT.Add(l.Amount)
		case l.Leg == ledger.Shortfall:
			cp.ShortfallMWh = cp.ShortfallMWh.Add(l.QuantityMWh)
		case l.Leg == ledger.ShortfallPayment:
			cp.ShortfallUSD = cp.ShortfallUSD.Add(signed(l.From == c.Seller, l.Amount))
		}
	}
	if !cp.EmissionsT.IsZero() && cp.DeliveredMWh.Sign() > 0 {
		cp.EmissionsKgPerMWh = ptr(cp.EmissionsT.Shift(3).DivRound(cp.DeliveredMWh, 3))
	}
	if cp.DeliveredMWh.Sign() != 0 {
		avg := cp.AmountUSD.DivRound(cp.DeliveredMWh, 6)
		cp.AvgUSDPerMWh = &avg
	}
	cut := from
	if asOf != nil {
		cut = *asOf
	}
	v := contractedVolume(c, site, period, from, to, cut)
	if !v.known {
		return cp
	}
	cp.ContractedMWh, cp.ContractedToDateMWh = ptr(v.month), ptr(v.toDate)
	cp.PaceMWh = ptr(cp.DeliveredMWh.Sub(v.toDate))
	if m := t.Monthly; m.MinimumTakePercent.Sign() > 0 {
		minimum := v.month.Mul(m.MinimumTakePercent).Div(hundred).Round(6)
		toDate := v.toDate.Mul(m.MinimumTakePercent).Div(hundred).Round(6)
		cp.MinimumTakeMWh, cp.MinimumTakeToDateMWh = &minimum, &toDate
		cp.MinimumTakePaceMWh = ptr(cp.DeliveredMWh.Sub(toDate))
	}
	cp.MTM = markToMarket(c, site, v.rest, in)
	return cp
}

func ptr(d decimal.Decimal) *decimal.Decimal { return &d }

// volume is a contract's contracted energy over a period, split at a cut.
type volume struct {
	known         bool
	month, toDate decimal.Decimal
	rest          []slotVolume // the intervals after the cut, with their volume
}

type slotVolume struct {
	slot contracts.Slot
	mwh  decimal.Decimal
}

// contractedVolume sums the contract's firm block interval by interval, or
// spreads its expected_mwh evenly over the period's intervals in its term.
func contractedVolume(c *contracts.Contract, site *contracts.Site, period contracts.Period, from, to, cut time.Time) volume {
	var v volume
	step := site.Interval()
	first := c.TermsOn(contracts.DateOf(from, site.Location))
	expected := first.Monthly.ExpectedMWh
	n := intervalsIn(site, period)
	for t := from; t.Before(to); t = t.Add(step) {
		s := contracts.SlotOf(t, t.Add(step), site.Location, c.Calendar)
		if s.Date.Before(c.Start) || !s.Date.Before(c.End) {
			continue
		}
		var mwh decimal.Decimal
		if expected.Sign() > 0 {
			mwh = expected.Div(decimal.NewFromInt(int64(n)))
		} else {
			mw, ok := c.TermsOn(s.Date).BlockMW(s, c.Calendar)
			if !ok {
				continue
			}
			mwh = decimal.New(contracts.WhOf(mw, site.IntervalMinutes), -6)
		}
		v.known = true
		v.month = v.month.Add(mwh)
		if t.Before(cut) {
			v.toDate = v.toDate.Add(mwh)
		} else if mwh.Sign() > 0 {
			v.rest = append(v.rest, slotVolume{s, mwh})
		}
	}
	if expected.Sign() > 0 { // an even spread: keep the month exactly the terms' figure
		v.month = expected
		v.toDate = v.toDate.Round(6)
		for i := range v.rest {
			v.rest[i].mwh = v.rest[i].mwh.Round(9)
		}
	}
	return v
}

// markToMarket values the remaining volume: (contract − forward) × MWh per
// interval, from the seller's side.
func markToMarket(c *contracts.Contract, site *contracts.Site, rest []slotVolume, in Inputs) *MTM {
	if len(rest) == 0 {
		return nil
	}
	node := site.GeneratorNode
	if c.Kind == contracts.KindVirtual {
		node = c.TermsOn(rest[0].slot.Date).Virtual.Hub
	}
	m := &MTM{Node: node}
	contractUSD, forwardUSD := decimal.Zero, decimal.Zero
	for _, sv := range rest {
		m.RemainingMWh = m.RemainingMWh.Add(sv.mwh)
		fwd, ok := in.Forward.At(node, sv.slot.Start)
		if !ok {
			continue
		}
		t := c.TermsOn(sv.slot.Date)
		q, ok := c.Quote(t, site, sv.slot, forwardMarket{in: in, at: sv.slot.Start})
		if !ok || q.Skip {
			continue
		}
		m.PricedMWh = m.PricedMWh.Add(sv.mwh)
		contractUSD = contractUSD.Add(q.USDPerMWh.Mul(sv.mwh))
		forwardUSD = forwardUSD.Add(fwd.Mul(sv.mwh))
	}
	m.RemainingMWh = m.RemainingMWh.Round(6)
	m.PricedMWh = m.PricedMWh.Round(6)
	if m.PricedMWh.Sign() > 0 {
		cpm, fpm := contractUSD.DivRound(m.PricedMWh, 6), forwardUSD.DivRound(m.PricedMWh, 6)
		m.ContractUSDPerMWh, m.ForwardUSDPerMWh = &cpm, &fpm
	}
	value := contractUSD.Sub(forwardUSD)
	if c.Kind == contracts.KindVirtual && c.TermsOn(rest[0].slot.Date).Virtual.PositivePaidBy == contracts.RoleBuyer {
		value = value.Neg() // the buyer pays a market above the strike: the seller is long the market
	}
	m.ValueUSD = value.Round(6)
	return m
}

// forwardMarket quotes contract terms forward: node prices from the curve,
// gas at the latest index price known.
type forwardMarket struct {
	in Inputs
	at time.Time
}

func (f forwardMarket) NodePrice(node string) (decimal.Decimal, bool) {
	return f.in.Forward.At(node, f.at)
}

func (f forwardMarket) GasPrice(index string, _ contracts.Date) (decimal.Decimal, bool) {
	g, ok := f.in.Gas[index]
	return g, ok
}

// Curve is a forward price curve: $/MWh per node over intervals of any
// length (a month, a day, an hour); where several cover an instant, the
// shortest wins.
type Curve struct {
	byNode map[string][]curveLevel // per node, levels by interval length, shortest first
}

// curveLevel holds a node's points of one interval length, by start.
type curveLevel struct {
	length time.Duration
	points []CurvePoint
}

// CurvePoint is one forward price.
type CurvePoint struct {
	Node      string
	Start     time.Time
	End       time.Time
	USDPerMWh decimal.Decimal
}

// NewCurve builds a curve from points, refusing an empty or inverted
// interval. Of two points of one node with the same start and length, the
// later in points wins.
func NewCurve(points []CurvePoint) (Curve, error) {
	c := Curve{byNode: map[string][]curveLevel{}}
	for _, p := range points {
		if !p.End.After(p.Start) {
			return c, fmt.Errorf("forward price at %s: end %s is not after start %s", p.Node, p.End.Format(time.RFC3339), p.Start.Format(time.RFC3339))
		}
		levels := c.byNode[p.Node]
		length := p.End.Sub(p.Start)
		i := sort.Search(len(levels), func(i int) bool { return levels[i].length >= length })
		if i == len(levels) || levels[i].length != length {
			levels = append(levels, curveLevel{})
			copy(levels[i+1:], levels[i:])
			levels[i] = curveLevel{length: length}
		}
		levels[i].points = append(levels[i].points, p)
		c.byNode[p.Node] = levels
	}
	for _, levels := range c.byNode {
		for i := range levels {
			ps := levels[i].points
			sort.SliceStable(ps, func(a, b int) bool { return ps[a].Start.Before(ps[b].Start) })
			// keep the last of equal starts
			out := ps[:0]
			for j, p := range ps {
				if j+1 < len(ps) && ps[j+1].Start.Equal(p.Start) {
					continue
				}
				out = append(out, p)
			}
			levels[i].points = out
		}
	}
	return c, nil
}

// Merge is c with the points of o added; o's win where both give a price
// for the same interval.
func (c Curve) Merge(o Curve) Curve {
	var all []CurvePoint
	for _, src := range []Curve{c, o} {
		for _, levels := range src.byNode {
			for _, l := range levels {
				all = append(all, l.points...)
			}
		}
	}
	m, _ := NewCurve(all)
	return m
}

// Len is the number of points of the curve.
func (c Curve) Len() int {
	n := 0
	for _, levels := range c.byNode {
		for _, l := range levels {
			n += len(l.points)
		}
	}
	return n
}

// At is the forward price at node for the instant t: the shortest interval
// that covers it.
func (c Curve) At(node string, t time.Time) (decimal.Decimal, bool) {
	for _, l := range c.byNode[node] {
		ps := l.points
		// the last point starting at or before t; points of one length do
		// not overlap unless the file says so, and then the later start wins
		i := sort.Search(len(ps), func(i int) bool { return ps[i].Start.After(t) }) - 1
		if i >= 0 && t.Before(ps[i].End) {
			return ps[i].USDPerMWh, true
		}
	}
	return decimal.Zero, false
}
