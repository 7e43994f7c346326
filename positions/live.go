package positions

import (
	"sync"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/matching"
)

// Live is a period's positions kept current from the engine's results as
// they are booked, without a database round trip: each result is posted
// (ledger.Post, the same transfers the ledger stores) and added to the
// inputs the ledger gave at the start, and Build runs on the sum. Only the
// fuel cost is an estimate between reloads (the latest gas index price, not
// the operating day's); Reset with fresh ledger inputs makes it exact again.
// It is safe for concurrent use.
type Live struct {
	mu     sync.Mutex
	p      *contracts.Portfolio
	period contracts.Period
	in     Inputs
	legs   map[legKey]int  // index in in.Legs
	sites  map[string]int  // index in in.Sites
	hours  map[hourKey]int // index in in.Hours
}

type legKey struct {
	site, contract string
	leg            ledger.Leg
	unit           ledger.Unit
	from, to       string
	prior          bool
}

type hourKey struct {
	site, party string
	hour        int64
}

// NewLive starts from the ledger's inputs of period.
func NewLive(p *contracts.Portfolio, period contracts.Period, in Inputs) *Live {
	l := &Live{p: p}
	l.Reset(period, in)
	return l
}

// Reset replaces the inputs with fresh ones read from the ledger.
func (l *Live) Reset(period contracts.Period, in Inputs) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.period, l.in = period, in
	l.legs, l.sites, l.hours = map[legKey]int{}, map[string]int{}, map[hourKey]int{}
	l.in.Legs = append([]LegSum(nil), in.Legs...)
	l.in.Sites = append([]SiteSum(nil), in.Sites...)
	l.in.Hours = append([]HourSum(nil), in.Hours...)
	for i, s := range l.in.Legs {
		l.legs[legKey{s.Site, s.Contract, s.Leg, s.Unit, s.From, s.To, s.Prior}] = i
	}
	for i, s := range l.in.Sites {
		l.sites[s.Site] = i
	}
	for i, h := range l.in.Hours {
		l.hours[hourKey{h.Site, h.Party, h.Hour.Unix()}] = i
	}
}

// Period is the period Live keeps.
func (l *Live) Period() contracts.Period {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.period
}

// Add files booked results. It returns false, adding nothing, when a
// result is booked in another period than Live's (the caller then reloads
// from the ledger).
func (l *Live) Add(results []matching.Result) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range results {
		site, ok := l.p.Site(results[i].Site)
		if !ok || contracts.PeriodOf(results[i].Start, site.Location) != l.period {
			return false
		}
	}
	for i := range results {
		r := &results[i]
		site, _ := l.p.Site(r.Site)
		transfers, _ := ledger.Post(r, site.Location)
		for _, t := range transfers {
			l.transfer(site, t)
		}
		l.interval(site, r)
	}
	return true
}

// Report builds the positions from what Live holds.
func (l *Live) Report() *Report {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Build(l.p, l.period, l.in)
}

func (l *Live) transfer(site *contracts.Site, t ledger.Transfer) {
	if t.Unit != ledger.MWh && t.Unit != ledger.USD && t.Unit != ledger.TCO2e {
		return
	}
	from, to := party(t.Debit), party(t.Credit)
	qty, amount := t.QuantityMWh, t.Amount
	if t.Reverses != [16]byte{} { // summed in the direction of what it reverses, negated
		from, to, qty, amount = to, from, qty.Neg(), amount.Neg()
	}
	k := legKey{t.Site, t.Contract, t.Leg, t.Unit, from, to, false}
	i, ok := l.legs[k]
	if !ok {
		l.in.Legs = append(l.in.Legs, LegSum{Site: k.site, Contract: k.contract, Leg: k.leg, Unit: k.unit, From: from, To: to})
		i = len(l.in.Legs) - 1
		l.legs[k] = i
	}
	s := &l.in.Legs[i]
	s.QuantityMWh, s.Amount = s.QuantityMWh.Add(qty), s.Amount.Add(amount)
	if t.Unit == ledger.MWh && (t.Leg == ledger.Delivery || t.Leg == ledger.Import) {
		hk := hourKey{t.Site, to, t.IntervalStart.Truncate(3600e9).Unix()}
		j, ok := l.hours[hk]
		if !ok {
			l.in.Hours = append(l.in.Hours, HourSum{Site: t.Site, Party: to, Hour: t.IntervalStart.UTC().Truncate(3600e9)})
			j = len(l.in.Hours) - 1
			l.hours[hk] = j
		}
		h := &l.in.Hours[j]
		if t.Leg == ledger.Delivery {
			h.DeliveredMWh = h.DeliveredMWh.Add(amount)
		} else {
			h.ImportedMWh = h.ImportedMWh.Add(amount)
		}
	}
}

// interval adds a result's plant figures; a revision replaces the one it
// reverses.
func (l *Live) interval(site *contracts.Site, r *matching.Result) {
	i, ok := l.sites[site.ID]
	if !ok {
		l.in.Sites = append(l.in.Sites, SiteSum{Site: site.ID})
		i = len(l.in.Sites) - 1
		l.sites[site.ID] = i
	}
	s := &l.in.Sites[i]
	gross, net := r.Gross.MWh(), r.Net.MWh()
	if r.Reverses != nil {
		gross, net = gross.Sub(r.Reverses.Gross.MWh()), net.Sub(r.Reverses.Net.MWh())
	} else {
		s.Intervals++
	}
	s.GrossMWh, s.NetMWh = s.GrossMWh.Add(gross), s.NetMWh.Add(net)
	if r.End.After(s.AsOf) {
		s.AsOf = r.End.UTC()
	}
	index := l.in.FuelIndex
	if index == "" {
		index = DefaultFuelIndex
	}
	if g, ok := l.in.Gas[index]; ok {
		s.FuelGrossMWh = s.FuelGrossMWh.Add(gross)
		s.FuelGrossUSD = s.FuelGrossUSD.Add(gross.Mul(g))
	}
}

func party(account string) string {
	for i := len(account) - 1; i >= 0; i-- {
		if account[i] == ':' {
			return account[:i]
		}
	}
	return account
}
