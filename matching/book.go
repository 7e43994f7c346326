package matching

import (
	"container/heap"
	"fmt"
	"sort"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/shopspring/decimal"
)

// defaultLookback bounds how far back an estimate looks when closed intervals
// are retained without limit.
const defaultLookback = 7 * 24 * time.Hour

// book is one site's interval book.
type book struct {
	site      *contracts.Site
	cfg       Config
	interval  time.Duration
	grace     time.Duration
	meters    map[string]int // meter id → index in site.Meters
	gross     int
	station   int         // -1: none
	loads     []int       // site meter index of each load, in site order
	loadOf    map[int]int // site meter index → load index
	contracts []*contracts.Contract
	capWh     []Wh // per contract: capacity over one interval, 0 = none
	nodes     []string
	open      map[int64]*openInterval
	closed    map[int64]struct{}
	history   map[int64][]Wh // energy per site meter of each retained closed interval, for estimates
	floor     time.Time      // readings before this are late, whatever closed says
	lookback  int            // how many intervals back an estimate looks for the meter's latest value
	queue     startHeap      // starts of open intervals, for closing on the grace
	waiting   []*openInterval

	// The watermark is the latest interval end seen on the slower of the
	// site's reading streams (generation and consumption topics): a stream
	// read ahead of the other must not close intervals whose other meters
	// are simply not read yet.
	streamOf  []int        // site meter index → stream (0 generation, 1 consumption)
	streamEnd [2]time.Time // latest end seen per stream
	hasStream [2]bool
	watermark time.Time
}

type openInterval struct {
	start, end time.Time
	readings   []ReadingRef
	got        []bool
	n          int
	ready      bool // complete or past the grace: closes once priced
}

// startHeap is a min-heap of interval starts (unix seconds).
type startHeap []int64

func (h startHeap) Len() int           { return len(h) }
func (h startHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h startHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *startHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *startHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newBook(p *contracts.Portfolio, s *contracts.Site, cfg Config) (*book, error) {
	b := &book{
		site: s, cfg: cfg, interval: s.Interval(),
		meters: map[string]int{}, station: -1, gross: -1, loadOf: map[int]int{},
		open: map[int64]*openInterval{}, closed: map[int64]struct{}{}, history: map[int64][]Wh{},
	}
	if b.interval <= 0 {
		return nil, fmt.Errorf("matching: site %s has an interval of %d minutes", s.ID, s.IntervalMinutes)
	}
	b.grace = time.Duration(cfg.GraceIntervals) * b.interval
	b.lookback = int(defaultLookback / b.interval)
	if cfg.RetainClosed > 0 {
		b.lookback = int(cfg.RetainClosed / b.interval)
	}
	nodes := map[string]bool{s.GeneratorNode: true}
	b.streamOf = make([]int, len(s.Meters))
	for i, m := range s.Meters {
		b.meters[m.ID] = i
		if !m.Kind.Generation() {
			b.streamOf[i] = 1
		}
		b.hasStream[b.streamOf[i]] = true
		switch m.Kind {
		case contracts.MeterGross:
			b.gross = i
		case contracts.MeterStationService:
			b.station = i
		case contracts.MeterLoad:
			b.loadOf[i] = len(b.loads)
			b.loads = append(b.loads, i)
			nodes[s.NodeOf(&s.Meters[i])] = true
		}
	}
	if b.gross < 0 {
		return nil, fmt.Errorf("matching: site %s has no generation_gross meter", s.ID)
	}
	for n := range nodes {
		b.nodes = append(b.nodes, n)
	}
	sort.Strings(b.nodes)
	b.contracts = p.ContractsAt(s.ID)
	hours := decimal.NewFromInt(int64(s.IntervalMinutes)).Div(decimal.NewFromInt(60))
	for _, c := range b.contracts {
		if _, ok := b.meters[c.Meter]; !ok {
			return nil, fmt.Errorf("matching: contract %s names meter %s, not at site %s", c.ID, c.Meter, s.ID)
		}
		// capacity MW × hours, floored to whole Wh: a cap never rounds up.
		b.capWh = append(b.capWh, Wh(c.Volume.CapacityMW.Mul(hours).Shift(6).Floor().IntPart()))
	}
	return b, nil
}

func (b *book) usesNode(node string) bool {
	for _, n := range b.nodes {
		if n == node {
			return true
		}
	}
	return false
}

// check validates a reading against the site and returns its meter index.
func (b *book) check(r Reading) (int, error) {
	m, ok := b.meters[r.Meter]
	if !ok {
		return 0, fmt.Errorf("unknown meter %q at site %s", r.Meter, r.Site)
	}
	if msg := b.site.CheckInterval(r.Start, r.End); msg != "" {
		return 0, fmt.Errorf("%s", msg)
	}
	if !r.Quality.Valid() {
		return 0, fmt.Errorf("quality %q is not actual, estimated or substituted", r.Quality)
	}
	if r.Version < 1 {
		return 0, fmt.Errorf("version %d is not 1 or more", r.Version)
	}
	if r.Energy < 0 && m != b.gross {
		return 0, fmt.Errorf("energy %s MWh is negative for %s meter %s", r.Energy.MWh(), b.site.Meters[m].Kind, r.Meter)
	}
	if r.Energy > maxWh || r.Energy < -maxWh {
		return 0, fmt.Errorf("energy %s MWh is beyond any plausible interval", r.Energy.MWh())
	}
	return m, nil
}

func (b *book) isClosed(start time.Time) bool {
	if start.Before(b.floor) {
		return true
	}
	_, ok := b.closed[start.Unix()]
	return ok
}

// add files a valid reading and returns the interval it went to (nil when
// the reading had no effect).
func (b *book) add(m int, r Reading) (Outcome, *openInterval) {
	if b.isClosed(r.Start) {
		return Late, nil
	}
	key := r.Start.Unix()
	iv := b.open[key]
	if iv == nil {
		iv = &openInterval{start: r.Start, end: r.End, readings: make([]ReadingRef, len(b.site.Meters)), got: make([]bool, len(b.site.Meters))}
		b.open[key] = iv
		heap.Push(&b.queue, key)
	}
	ref := ReadingRef{Meter: r.Meter, Energy: r.Energy, Quality: r.Quality, Version: r.Version}
	out := Accepted
	if iv.got[m] {
		if r.Version <= iv.readings[m].Version {
			return Duplicate, nil
		}
		out = Restated
	} else {
		iv.got[m] = true
		iv.n++
	}
	iv.readings[m] = ref
	b.advance(b.streamOf[m], r.End)
	return out, iv
}

// advance moves a stream's latest end and the site's watermark with it.
func (b *book) advance(stream int, end time.Time) {
	if !end.After(b.streamEnd[stream]) {
		return
	}
	b.streamEnd[stream] = end
	wm := b.streamEnd[stream]
	for s, has := range b.hasStream {
		if has && b.streamEnd[s].Before(wm) {
			wm = b.streamEnd[s]
		}
	}
	b.watermark = wm
}

// closeReady closes, in start order, what may have become ready: the touched
// interval if it is complete, every interval the watermark has passed by the
// grace, and the intervals that were ready but waiting for a price. Its cost
// is bounded by what closes, not by how many intervals are open.
//
// Intervals waiting for a price are retried only when retry is set (a price
// arrived, or the watermark moved so a price may now be carried forward).
func (b *book) closeReady(e *Engine, touched *openInterval, retry bool) []Result {
	var ready []*openInterval
	if retry {
		ready, b.waiting = b.waiting, nil
	}
	if touched != nil && !touched.ready && touched.n == len(b.site.Meters) {
		touched.ready = true
		ready = append(ready, touched)
	}
	for len(b.queue) > 0 {
		iv, open := b.open[b.queue[0]]
		if open && !b.pastGrace(iv) {
			break
		}
		heap.Pop(&b.queue)
		if open && !iv.ready {
			iv.ready = true
			ready = append(ready, iv)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].start.Before(ready[j].start) })
	var out []Result
	for _, iv := range ready {
		res, ok := b.allocate(e, iv)
		if !ok {
			b.waiting = append(b.waiting, iv) // closes when its price arrives
			continue
		}
		key := iv.start.Unix()
		delete(b.open, key)
		b.closed[key] = struct{}{}
		energy := make([]Wh, len(iv.readings))
		for m, r := range iv.readings {
			energy[m] = r.Energy
		}
		b.history[key] = energy
		out = append(out, res)
	}
	b.prune()
	return out
}

func (b *book) pastGrace(iv *openInterval) bool {
	return !b.watermark.Before(iv.end.Add(b.grace))
}

// prune forgets closed intervals older than the retention window.
func (b *book) prune() {
	if b.cfg.RetainClosed <= 0 {
		return
	}
	floor := b.watermark.Add(-b.cfg.RetainClosed)
	if !floor.After(b.floor) {
		return
	}
	from := b.floor
	b.floor = floor
	// The floor moves an interval at a time: forget the intervals it passed
	// rather than scanning the whole window on every close. A first floor, a
	// jump of the watermark, or keys off the interval grid (MarkClosed takes
	// any instant) fall back to a scan, which bounds the maps either way.
	steps := int(floor.Sub(from) / b.interval)
	if from.IsZero() || steps > len(b.closed)+len(b.history) || len(b.closed) > b.lookback+1 {
		for k := range b.closed {
			if time.Unix(k, 0).Before(floor) {
				delete(b.closed, k)
			}
		}
		for k := range b.history {
			if time.Unix(k, 0).Before(floor) {
				delete(b.history, k)
			}
		}
		return
	}
	for t := from.Truncate(b.interval); t.Before(floor); t = t.Add(b.interval) {
		delete(b.closed, t.Unix())
		delete(b.history, t.Unix())
	}
}

// allocate turns a ready interval into a Result; false when a price it needs
// has not arrived yet.
func (b *book) allocate(e *Engine, iv *openInterval) (Result, bool) {
	carry := b.pastGrace(iv)
	prices := make(map[string]PriceRef, len(b.nodes))
	for _, n := range b.nodes {
		p, ok := e.price(n, iv.start, iv.end, carry)
		if !ok {
			return Result{}, false
		}
		prices[n] = p
	}
	b.fillMissing(iv)
	loads := make([]Wh, len(b.loads))
	for i, m := range b.loads {
		loads[i] = iv.readings[m].Energy
	}
	var active []*contracts.Contract
	var claims []Claim
	for i, c := range b.contracts {
		if c.ActiveAt(iv.start, b.site.Location) {
			active = append(active, c)
			claims = append(claims, Claim{Priority: c.Priority, Load: b.loadOf[b.meters[c.Meter]], CapWh: b.capWh[i]})
		}
	}
	var station Wh
	if b.station >= 0 {
		station = iv.readings[b.station].Energy
	}
	gross := iv.readings[b.gross].Energy
	a := Allocate(gross, station, loads, claims)
	res := Result{
		Site: b.site.ID, Start: iv.start, End: iv.end, Revision: 1,
		Seller: b.site.Owner, Grid: b.site.Grid,
		Gross: gross, Station: station, Net: gross - station,
		Readings: iv.readings,
	}
	for i, c := range active {
		res.Deliveries = append(res.Deliveries, Delivery{
			Contract: c.ID, ContractVersion: c.Version, Seller: c.Seller, Buyer: c.Buyer,
			Meter: c.Meter, Energy: a.Delivered[i], USDPerMWh: c.Price.USDPerMWh,
		})
	}
	grossMeter := b.site.Meters[b.gross].ID
	genPrice := prices[b.site.GeneratorNode]
	res.Export = GridFlow{Party: b.site.Owner, Meter: grossMeter, Energy: a.Export, Price: genPrice}
	res.PlantImport = GridFlow{Party: b.site.Owner, Meter: grossMeter, Energy: a.PlantImport, Price: genPrice}
	for i, m := range b.loads {
		meter := &b.site.Meters[m]
		res.Loads = append(res.Loads, iv.readings[m])
		res.Imports = append(res.Imports, GridFlow{Party: meter.Party, Meter: meter.ID, Energy: a.Imports[i], Price: prices[b.site.NodeOf(meter)]})
	}
	return res, true
}

// fillMissing estimates readings that did not arrive by the grace: the
// meter's value in the latest earlier interval carried forward (zero if it
// has none within the lookback), marked estimated, version 0. A later actual
// reading is a correction.
//
// The value is looked up by interval start, not taken from the reading that
// arrived last: readings of later intervals arrive before an interval closes
// on the grace, and the estimate must not depend on their order.
func (b *book) fillMissing(iv *openInterval) {
	for m, got := range iv.got {
		if got {
			continue
		}
		iv.readings[m] = ReadingRef{Meter: b.site.Meters[m].ID, Energy: b.previous(m, iv.start), Quality: Estimated, Version: 0}
	}
}

// previous is meter m's energy in the latest interval before start that the
// book knows of: closed (its reading or estimate) or still open with the
// meter's reading; zero if there is none within the lookback.
func (b *book) previous(m int, start time.Time) Wh {
	t := start
	for range b.lookback {
		t = t.Add(-b.interval)
		if t.Before(b.floor) {
			break
		}
		key := t.Unix()
		if h, ok := b.history[key]; ok {
			return h[m]
		}
		if iv, ok := b.open[key]; ok && iv.got[m] {
			return iv.readings[m].Energy
		}
	}
	return 0
}
