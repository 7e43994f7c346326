package matching

import (
	"fmt"
	"sort"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/shopspring/decimal"
)

// Config tunes the engine.
type Config struct {
	// GraceIntervals is how many intervals past an interval's end the site's
	// watermark must be before the interval closes with meters missing.
	GraceIntervals int
	// RetainClosed is how long (in event time, behind the watermark) the engine
	// remembers which intervals it closed, to recognize late readings. Older
	// readings are late by definition.
	RetainClosed time.Duration
	// PriceMarket is the market whose prices value grid legs (default "RT").
	PriceMarket string
	// InterpolateMaxGap is the longest run of missing intervals (of one
	// meter) estimated by linear interpolation between the meter's readings
	// on either side, when the later one has arrived by the close. 0: never.
	InterpolateMaxGap int
	// EstimateRule is how other missing readings are estimated:
	// EstimatePrevious (the default: the meter's latest earlier value) or
	// EstimateZero.
	EstimateRule string
}

// The estimate rules for readings interpolation does not cover.
const (
	EstimatePrevious = "previous"
	EstimateZero     = "zero"
)

// DefaultConfig is what `offtake run` uses unless told otherwise.
func DefaultConfig() Config {
	return Config{GraceIntervals: 4, RetainClosed: 7 * 24 * time.Hour, PriceMarket: "RT", InterpolateMaxGap: 4, EstimateRule: EstimatePrevious}
}

// Outcome says what a reading did to the book.
type Outcome int

// The outcomes of AddReading.
const (
	Accepted  Outcome = iota // stored in an open interval
	Restated                 // replaced an earlier, lower version in an open interval
	Duplicate                // same or lower version of a reading already held: no effect
	Late                     // for an interval closed and no longer held (before the retention window or a restart): no effect
	Corrected                // a higher version (or the actual after an estimate) for a closed interval: re-matched
)

var outcomeNames = [...]string{"accepted", "restated", "duplicate", "late", "corrected"}

func (o Outcome) String() string { return outcomeNames[o] }

// Engine is the matching engine: one interval book per site. It is not safe
// for concurrent use; the stream adapter owns it from one goroutine.
type Engine struct {
	cfg    Config
	sites  map[string]*book
	prices map[string]*nodePrices                        // by node, for cfg.PriceMarket
	gas    map[string]map[contracts.Date]decimal.Decimal // by index, per operating day
	// factors are grid emission factors (kg CO2e/MWh) by node
	factors map[string]*nodePrices
}

// New builds an engine for the sites and contracts of a portfolio.
func New(p *contracts.Portfolio, cfg Config) (*Engine, error) {
	if cfg.PriceMarket == "" {
		cfg.PriceMarket = "RT"
	}
	if cfg.GraceIntervals < 0 {
		return nil, fmt.Errorf("matching: grace of %d intervals is negative", cfg.GraceIntervals)
	}
	if cfg.InterpolateMaxGap < 0 {
		return nil, fmt.Errorf("matching: interpolation gap of %d intervals is negative", cfg.InterpolateMaxGap)
	}
	switch cfg.EstimateRule {
	case "":
		cfg.EstimateRule = EstimatePrevious
	case EstimatePrevious, EstimateZero:
	default:
		return nil, fmt.Errorf("matching: estimate rule %q is not %s or %s", cfg.EstimateRule, EstimatePrevious, EstimateZero)
	}
	e := &Engine{cfg: cfg, sites: map[string]*book{}, prices: map[string]*nodePrices{}, gas: map[string]map[contracts.Date]decimal.Decimal{}, factors: map[string]*nodePrices{}}
	for i := range p.Sites {
		b, err := newBook(p, &p.Sites[i], cfg)
		if err != nil {
			return nil, err
		}
		e.sites[b.site.ID] = b
	}
	return e, nil
}

// Open is the number of intervals held open across all sites.
func (e *Engine) Open() int {
	n := 0
	for _, b := range e.sites {
		n += len(b.open)
	}
	return n
}

// Watermark is the latest interval end seen for a site.
func (e *Engine) Watermark(site string) time.Time {
	if b, ok := e.sites[site]; ok {
		return b.watermark
	}
	return time.Time{}
}

// MarkClosed tells the engine that an interval is already allocated (found in
// the ledger after a restart): readings for it are then Late, not a new book.
func (e *Engine) MarkClosed(site string, start time.Time) {
	if b, ok := e.sites[site]; ok {
		delete(b.open, start.Unix())
		if !start.Before(b.floor) { // older ones are late anyway: remembering them would only grow the map
			b.closed[start.Unix()] = struct{}{}
		}
	}
}

// AddReading files a reading and returns the intervals that closed because of
// it, in site then start order. An error means the reading itself is wrong (an
// unknown site or meter, a misaligned interval, a negative load); it changes
// nothing and the caller dead-letters the message.
func (e *Engine) AddReading(r Reading) (Outcome, []Result, error) {
	b, ok := e.sites[r.Site]
	if !ok {
		return 0, nil, fmt.Errorf("unknown site %q", r.Site)
	}
	m, err := b.check(r)
	if err != nil {
		return 0, nil, err
	}
	wm := b.watermark
	out, iv := b.add(m, r)
	switch out {
	case Late, Duplicate:
		return out, nil, nil
	case Corrected:
		res, ok := b.rematch(e, m, r)
		if !ok {
			return Late, nil, nil
		}
		return Corrected, []Result{res}, nil
	}
	return out, b.closeReady(e, iv, !b.watermark.Equal(wm)), nil
}

// AddPrice files a market price and returns the intervals it lets close.
// Prices of other markets than the configured one are ignored (nil, nil).
func (e *Engine) AddPrice(p Price) ([]Result, error) {
	if !p.End.After(p.Start) {
		return nil, fmt.Errorf("price interval end %s is not after start %s", p.End.Format(time.RFC3339), p.Start.Format(time.RFC3339))
	}
	if p.Unit == UnitMMBtu {
		return e.addGasPrice(p), nil
	}
	if p.Unit == UnitKgCO2e {
		return e.addFactor(p), nil
	}
	if p.Market != e.cfg.PriceMarket {
		return nil, nil
	}
	np := e.prices[p.Node]
	if np == nil {
		np = &nodePrices{byStart: map[int64]Price{}}
		e.prices[p.Node] = np
	}
	np.add(p)
	var out []Result
	for _, id := range e.siteIDs() {
		b := e.sites[id]
		if b.usesNode(p.Node) {
			out = append(out, b.closeReady(e, nil, true)...)
		}
	}
	return out, nil
}

// addGasPrice files a gas index price for the operating day holding the
// middle of its interval, and closes what was waiting for it.
func (e *Engine) addGasPrice(p Price) []Result {
	mid := p.Start.Add(p.End.Sub(p.Start) / 2).UTC()
	days := e.gas[p.Node]
	if days == nil {
		days = map[contracts.Date]decimal.Decimal{}
		e.gas[p.Node] = days
	}
	days[contracts.Date{Year: mid.Year(), Month: mid.Month(), Day: mid.Day()}] = p.USDPerMWh
	var out []Result
	for _, id := range e.siteIDs() {
		b := e.sites[id]
		if b.usesGas(p.Node) {
			out = append(out, b.closeReady(e, nil, true)...)
		}
	}
	return out
}

// addFactor files a grid emission factor and closes what was waiting for it.
func (e *Engine) addFactor(p Price) []Result {
	np := e.factors[p.Node]
	if np == nil {
		np = &nodePrices{byStart: map[int64]Price{}}
		e.factors[p.Node] = np
	}
	np.add(p)
	var out []Result
	for _, id := range e.siteIDs() {
		b := e.sites[id]
		if b.site.Emissions != nil && b.site.Emissions.GridFactorNode == p.Node {
			out = append(out, b.closeReady(e, nil, true)...)
		}
	}
	return out
}

// factor is the grid emission factor of node over [start, end), carried
// forward across a gap like a price.
func (e *Engine) factor(node string, start, end time.Time, carry bool) (decimal.Decimal, bool) {
	p, ok := lookup(e.factors, node, start, end, carry)
	return p.USDPerMWh, ok
}

// gasPrice is an index's price for operating day d.
func (e *Engine) gasPrice(index string, d contracts.Date) (decimal.Decimal, bool) {
	p, ok := e.gas[index][d]
	return p, ok
}

func (e *Engine) siteIDs() []string {
	ids := make([]string, 0, len(e.sites))
	for id := range e.sites {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// price finds the price of node over [start, end); with carry set, the node's
// latest earlier price stands in when none covers the interval.
func (e *Engine) price(node string, start, end time.Time, carry bool) (PriceRef, bool) {
	return lookup(e.prices, node, start, end, carry)
}

// lookup finds node's value over [start, end) in a series of prices (or
// factors); with carry set, the node's latest earlier value stands in across
// a gap.
func lookup(series map[string]*nodePrices, node string, start, end time.Time, carry bool) (PriceRef, bool) {
	np := series[node]
	if np == nil {
		return PriceRef{}, false
	}
	if p, ok := np.covering(start, end); ok {
		return PriceRef{Node: node, Market: p.Market, Start: p.Start, USDPerMWh: p.USDPerMWh}, true
	}
	// Carry forward only across a gap: when the node already has prices past
	// this interval. A node whose prices have not reached the interval yet is
	// late, not missing, and the interval waits for its price.
	if !carry || np.latestEnd.Before(end) {
		return PriceRef{}, false
	}
	if p, ok := np.before(start); ok {
		return PriceRef{Node: node, Market: p.Market, Start: p.Start, USDPerMWh: p.USDPerMWh, CarriedFrom: true}, true
	}
	return PriceRef{}, false
}

// nodePrices holds one node's prices, keyed by start; prices of several
// lengths (hourly, 15-minute) can mix.
type nodePrices struct {
	byStart   map[int64]Price
	lengths   []time.Duration
	latestEnd time.Time // the latest end of any price seen
}

func (np *nodePrices) add(p Price) {
	np.byStart[p.Start.Unix()] = p
	if p.End.After(np.latestEnd) {
		np.latestEnd = p.End
	}
	d := p.End.Sub(p.Start)
	found := false
	for _, l := range np.lengths {
		found = found || l == d
	}
	if !found {
		np.lengths = append(np.lengths, d)
	}
}

// before is the node's latest price that starts at or before t. It is looked
// up by start among the prices held, not taken from the price that arrived
// last: prices of later intervals may already be in, and a gap in the prices
// must neither stall the book nor depend on arrival order.
func (np *nodePrices) before(t time.Time) (Price, bool) {
	var best Price
	found := false
	for _, p := range np.byStart {
		if !p.Start.After(t) && (!found || p.Start.After(best.Start)) {
			best, found = p, true
		}
	}
	return best, found
}

func (np *nodePrices) covering(start, end time.Time) (Price, bool) {
	if p, ok := np.byStart[start.Unix()]; ok && !p.End.Before(end) {
		return p, true
	}
	for _, l := range np.lengths {
		if p, ok := np.byStart[start.Truncate(l).Unix()]; ok && !p.Start.After(start) && !p.End.Before(end) {
			return p, true
		}
	}
	return Price{}, false
}

// prune forgets prices that ended before t.
func (np *nodePrices) prune(t time.Time) {
	for k, p := range np.byStart {
		if p.End.Before(t) {
			delete(np.byStart, k)
		}
	}
}

// PruneBefore forgets prices that ended before t (the stream adapter calls it
// as watermarks move, so memory is bounded by open intervals, not history).
func (e *Engine) PruneBefore(t time.Time) {
	for _, np := range e.prices {
		np.prune(t)
	}
	for _, np := range e.factors {
		np.prune(t)
	}
	cut := t.AddDate(0, 0, -2) // a gas day may be read in any zone: keep a margin
	floor := contracts.Date{Year: cut.Year(), Month: cut.Month(), Day: cut.Day()}
	for _, days := range e.gas {
		for d := range days {
			if d.Before(floor) {
				delete(days, d)
			}
		}
	}
}

// Money is energy × price, exact.
func Money(energy Wh, usdPerMWh decimal.Decimal) decimal.Decimal {
	return energy.MWh().Mul(usdPerMWh)
}
