package matching

import (
	"container/heap"
	"fmt"
	"math/bits"
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
	gross     []int          // the generation_gross meters (one per unit)
	station   []int          // the station_service meters
	isGross   []bool         // per site meter
	loss      []int64        // per site meter: millionths its readings count for at the POI (1e6: no losses)
	loads     []int          // site meter index of each load, in site order
	loadOf    map[int]int    // site meter index → load index
	contracts []*contracts.Contract
	terms     []contractTerms // per contract
	nodes     []string        // price nodes an interval needs, sorted
	market    marketView      // reused by allocate
	act       []active        // reused by allocate
	open      map[int64]*openInterval
	closed    map[int64]struct{}
	history   map[int64]*closedInterval // each retained closed interval: for estimates and corrections
	floor     time.Time                 // readings before this are late, whatever closed says
	lookback  int                       // how many intervals back an estimate looks for the meter's latest value
	queue     startHeap                 // starts of open intervals, for closing on the grace
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

// active is a contract in force in the interval being allocated.
type active struct {
	i     int // index into book.contracts
	c     *contracts.Contract
	t     *contracts.Terms
	q     contracts.Quote
	claim int // index into the claims; -1 for a virtual contract
	slot  contracts.Slot
}

// contractTerms is what the book keeps of a contract to allocate fast.
type contractTerms struct {
	load  int  // index into the loads; -1 when the contract names no meter
	capWh []Wh // per version: a load-following cap over one interval; NoCap when none
}

// closedInterval is what the book keeps of an interval it allocated, while
// it is within the retention window: the readings it used and the result,
// so that a correction can re-match it and reverse what was booked.
type closedInterval struct {
	readings []ReadingRef
	result   *Result
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
		meters: map[string]int{}, loadOf: map[int]int{},
		open: map[int64]*openInterval{}, closed: map[int64]struct{}{}, history: map[int64]*closedInterval{},
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
	b.isGross = make([]bool, len(s.Meters))
	b.loss = make([]int64, len(s.Meters))
	for i, m := range s.Meters {
		b.meters[m.ID] = i
		if !m.Kind.Generation() {
			b.streamOf[i] = 1
		}
		b.hasStream[b.streamOf[i]] = true
		lf := m.LossFactor.Shift(6).IntPart() // millionths (the loader allows 6 places)
		b.loss[i] = WhPerMWh + lf             // loads and station service draw more at the POI
		switch m.Kind {
		case contracts.MeterGross:
			b.gross = append(b.gross, i)
			b.isGross[i] = true
			b.loss[i] = WhPerMWh - lf // generation delivers less at the POI
		case contracts.MeterStationService:
			b.station = append(b.station, i)
		case contracts.MeterLoad:
			b.loadOf[i] = len(b.loads)
			b.loads = append(b.loads, i)
			nodes[s.NodeOf(&s.Meters[i])] = true
		}
	}
	if len(b.gross) == 0 {
		return nil, fmt.Errorf("matching: site %s has no generation_gross meter", s.ID)
	}
	b.contracts = p.ContractsAt(s.ID)
	for _, c := range b.contracts {
		ct := contractTerms{load: -1}
		if c.Meter != "" {
			m, ok := b.meters[c.Meter]
			if !ok {
				return nil, fmt.Errorf("matching: contract %s names meter %s, not at site %s", c.ID, c.Meter, s.ID)
			}
			l, isLoad := b.loadOf[m]
			if !isLoad {
				return nil, fmt.Errorf("matching: contract %s names meter %s, not a load meter", c.ID, c.Meter)
			}
			ct.load = l
		} else if c.Kind == contracts.KindPhysical {
			return nil, fmt.Errorf("matching: physical contract %s names no meter", c.ID)
		}
		for _, t := range c.Versions() {
			capWh := NoCap
			if t.Volume.Shape == contracts.ShapeLoadFollowing && t.Volume.CapacityMW.Sign() > 0 {
				capWh = Wh(contracts.WhOf(t.Volume.CapacityMW, s.IntervalMinutes))
			}
			ct.capWh = append(ct.capWh, capWh)
		}
		b.terms = append(b.terms, ct)
		for _, n := range c.Nodes(s) {
			nodes[n] = true
		}
	}
	for n := range nodes {
		b.nodes = append(b.nodes, n)
	}
	sort.Strings(b.nodes)
	b.market = marketView{prices: make(map[string]PriceRef, len(b.nodes))}
	return b, nil
}

func (b *book) usesGas(index string) bool {
	for _, c := range b.contracts {
		for _, g := range c.GasIndexes() {
			if g == index {
				return true
			}
		}
	}
	return false
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
	if r.Energy < 0 && !b.isGross[m] {
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
		h := b.history[r.Start.Unix()]
		switch {
		case h == nil:
			return Late, nil // closed before the retention window or before a restart
		case r.Version <= h.readings[m].Version:
			return Duplicate, nil
		}
		return Corrected, nil // the caller re-matches it
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
		b.history[key] = &closedInterval{readings: iv.readings, result: &res}
		out = append(out, res)
	}
	b.prune()
	return out
}

// rematch allocates a closed interval again with reading r (meter m) in
// place of the one it used. The result is the next revision and names the
// one it replaces, whose transfers the ledger reverses. false when a price
// the interval needs is no longer held (the reading is then late).
func (b *book) rematch(e *Engine, m int, r Reading) (Result, bool) {
	key := r.Start.Unix()
	h := b.history[key]
	iv := &openInterval{start: h.result.Start, end: h.result.End, readings: append([]ReadingRef(nil), h.readings...), got: make([]bool, len(h.readings))}
	for i := range iv.got {
		iv.got[i] = true
	}
	iv.n = len(iv.got)
	iv.readings[m] = ReadingRef{Meter: r.Meter, Energy: r.Energy, Quality: r.Quality, Version: r.Version}
	res, ok := b.allocate(e, iv)
	if !ok {
		return Result{}, false
	}
	res.Revision = h.result.Revision + 1
	res.Reverses = h.result
	b.history[key] = &closedInterval{readings: iv.readings, result: &res}
	return res, true
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
	mv := &b.market
	mv.e, mv.loc = e, b.site.Location
	clear(mv.prices)
	for _, n := range b.nodes {
		p, ok := e.price(n, iv.start, iv.end, carry)
		if !ok {
			return Result{}, false
		}
		mv.prices[n] = p
	}
	gridFactor := decimal.Zero
	if em := b.site.Emissions; em != nil {
		gridFactor = em.GridKgPerMWh
		if em.GridFactorNode != "" {
			f, ok := e.factor(em.GridFactorNode, iv.start, iv.end, carry)
			if !ok {
				return Result{}, false
			}
			gridFactor = f
		}
	}
	slot := contracts.SlotOf(iv.start, iv.end, b.site.Location, nil)
	act := b.act[:0]
	for i, c := range b.contracts {
		if slot.Date.Before(c.Start) || !slot.Date.Before(c.End) {
			continue
		}
		t := c.TermsOn(slot.Date)
		cs := slot.For(c.Calendar) // the day type by the contract's own holidays
		q, ok := c.Quote(t, b.site, cs, mv)
		if !ok {
			return Result{}, false
		}
		act = append(act, active{i: i, c: c, t: t, q: q, slot: cs})
	}
	b.fillMissing(iv)

	var gross, station Wh
	for _, m := range b.gross {
		gross += b.atPOI(m, iv.readings[m].Energy)
	}
	for _, m := range b.station {
		station += b.atPOI(m, iv.readings[m].Energy)
	}
	net := gross - station
	loads := make([]Wh, len(b.loads))
	for i, m := range b.loads {
		loads[i] = b.atPOI(m, iv.readings[m].Energy)
	}
	b.act = act // keep the buffer for the next interval
	claims := make([]Claim, 0, len(act))
	for k := range act {
		a := &act[k]
		a.claim = -1
		if a.c.Kind != contracts.KindPhysical {
			continue
		}
		want := Wh(0)
		if !a.q.Skip {
			want = b.volume(a.c, a.t, b.terms[a.i], a.slot, net, loads)
		}
		a.claim = len(claims)
		claims = append(claims, Claim{Priority: a.c.Priority, Load: b.terms[a.i].load, CapWh: want})
	}
	al := Allocate(gross, station, loads, claims)
	res := Result{
		Site: b.site.ID, Start: iv.start, End: iv.end, Revision: 1,
		Seller: b.site.Owner, Grid: b.site.Grid,
		Gross: gross, Station: station, Net: net,
		Readings: iv.readings,
	}
	res.Deliveries = make([]Delivery, 0, len(claims))
	for _, a := range act {
		version := a.t.Version
		if a.claim >= 0 {
			cl := claims[a.claim]
			d := Delivery{
				Contract: a.c.ID, ContractVersion: version, Seller: a.c.Seller, Buyer: a.c.Buyer,
				Meter: a.c.Meter, Energy: al.Delivered[a.claim], USDPerMWh: a.q.USDPerMWh,
				Band: a.q.Band, PriceBasis: a.q.Basis, Volume: cl.CapWh,
			}
			if a.t.Volume.Firm && cl.CapWh > 0 {
				d.Shortfall = max(min(cl.CapWh, loads[cl.Load])-d.Energy, 0)
				d.ShortfallUSDPerMWh = a.t.Volume.ShortfallUSDPerMWh
			}
			res.Deliveries = append(res.Deliveries, d)
			continue
		}
		if a.q.Skip {
			continue
		}
		vol := b.volume(a.c, a.t, b.terms[a.i], a.slot, net, loads)
		if vol == NoCap { // an uncapped load-following virtual contract follows the whole load
			vol = loads[b.terms[a.i].load]
		}
		payer := a.c.Seller
		if a.t.Virtual.PositivePaidBy == contracts.RoleBuyer {
			payer = a.c.Buyer
		}
		cfd := CFD{
			Contract: a.c.ID, ContractVersion: version, Seller: a.c.Seller, Buyer: a.c.Buyer,
			Volume: vol, Strike: a.q.USDPerMWh, Band: a.q.Band, PriceBasis: a.q.Basis,
			Market: mv.prices[a.t.Virtual.Hub], PositivePaidBy: payer,
		}
		if a.t.Virtual.Basis {
			node := mv.prices[b.site.GeneratorNode]
			cfd.Node = &node
		}
		res.CFDs = append(res.CFDs, cfd)
	}
	grossMeter := b.site.Meters[b.gross[0]].ID
	genPrice := mv.prices[b.site.GeneratorNode]
	res.Export = GridFlow{Party: b.site.Owner, Meter: grossMeter, Energy: al.Export, Price: genPrice}
	res.PlantImport = GridFlow{Party: b.site.Owner, Meter: grossMeter, Energy: al.PlantImport, Price: genPrice}
	for i, m := range b.loads {
		meter := &b.site.Meters[m]
		ref := iv.readings[m]
		ref.Energy = loads[i] // referred to the POI: load = Σ delivered + import holds on these
		res.Loads = append(res.Loads, ref)
		res.Imports = append(res.Imports, GridFlow{Party: meter.Party, Meter: meter.ID, Energy: al.Imports[i], Price: mv.prices[b.site.NodeOf(meter)]})
	}
	if b.site.Emissions != nil {
		res.Emissions = b.emissions(&res, gridFactor)
	}
	return res, true
}

// emissions attributes an interval's plant emissions to whoever took its
// energy (deliveries, then the export), in whole grams by the same
// largest-remainder rule as energy, and prices imports at the grid's factor.
func (b *book) emissions(r *Result, gridKgPerMWh decimal.Decimal) *Emissions {
	f := b.site.Emissions
	out := &Emissions{}
	if r.Gross > 0 {
		// kg/MWh × Wh = g/1000: kg per MWh is g per kWh, so grams = Wh × kg/MWh / 1000
		out.PlantGrams = decimal.NewFromInt(int64(r.Gross)).Mul(f.PlantKgPerMWh()).Shift(-3).Round(0).IntPart()
	}
	var parts []Emission
	for _, d := range r.Deliveries {
		if d.Energy > 0 {
			parts = append(parts, Emission{Party: d.Buyer, Kind: EmissionDelivery, Contract: d.Contract, Version: d.ContractVersion, Energy: d.Energy})
		}
	}
	if r.Export.Energy > 0 {
		parts = append(parts, Emission{Party: r.Grid, Kind: EmissionExport, Energy: r.Export.Energy})
	}
	if len(parts) == 0 {
		if out.PlantGrams > 0 { // the plant ran for its own station service only
			out.Attributed = []Emission{{Party: r.Seller, Kind: EmissionPlant, Grams: out.PlantGrams}}
		}
	} else {
		weights := make([]int64, len(parts))
		for i, p := range parts {
			weights[i] = int64(p.Energy)
		}
		for i, g := range splitProRata(out.PlantGrams, weights) {
			parts[i].Grams = g
		}
		out.Attributed = parts
	}
	for _, im := range r.Imports {
		if im.Energy > 0 {
			g := decimal.NewFromInt(int64(im.Energy)).Mul(gridKgPerMWh).Shift(-3).Round(0).IntPart()
			out.Imports = append(out.Imports, Emission{Party: im.Party, Kind: EmissionImport, Energy: im.Energy, Grams: g})
		}
	}
	var sum int64
	for _, a := range out.Attributed {
		sum += a.Grams
	}
	if sum != out.PlantGrams {
		panic(fmt.Sprintf("matching: emissions not conserved at %s: plant %d g, attributed %d g", r.Start, out.PlantGrams, sum))
	}
	return out
}

// splitProRata splits total in proportion to weights (all > 0), in whole
// units: floors first, then one unit each to the largest remainders, ties to
// the earlier weight.
func splitProRata(total int64, weights []int64) []int64 {
	var sum int64
	for _, w := range weights {
		sum += w
	}
	out := make([]int64, len(weights))
	rems := make([]uint64, len(weights))
	var given int64
	for i, w := range weights {
		hi, lo := bits.Mul64(uint64(total), uint64(w))
		q, r := bits.Div64(hi, lo, uint64(sum)) // total·w/sum < total: no overflow
		out[i], rems[i] = int64(q), r
		given += int64(q)
	}
	for left := total - given; left > 0; left-- {
		best := 0
		for i := range rems {
			if rems[i] > rems[best] {
				best = i
			}
		}
		out[best]++
		rems[best] = 0
	}
	return out
}

// volume is what a contract calls for in one interval, in Wh: NoCap for a
// load-following contract without a capacity.
func (b *book) volume(c *contracts.Contract, t *contracts.Terms, ct contractTerms, slot contracts.Slot, net Wh, loads []Wh) Wh {
	switch t.Volume.Shape {
	case contracts.ShapeLoadFollowing:
		capWh := ct.capWh[t.Version-1]
		if c.Kind == contracts.KindVirtual && ct.load >= 0 && (capWh == NoCap || loads[ct.load] < capWh) {
			return loads[ct.load]
		}
		return capWh
	case contracts.ShapeAsGenerated:
		return Wh(t.AsGeneratedWh(int64(net)))
	default:
		mw, _ := t.BlockMW(slot, c.Calendar)
		return Wh(contracts.WhOf(mw, b.site.IntervalMinutes))
	}
}

// atPOI refers a meter's reading to the point of interconnection by the
// meter's loss factor, rounded half away from zero to whole Wh.
func (b *book) atPOI(m int, e Wh) Wh {
	f := b.loss[m]
	if f == WhPerMWh {
		return e
	}
	x := int64(e) * f
	if x >= 0 {
		return Wh((x + WhPerMWh/2) / WhPerMWh)
	}
	return -Wh((-x + WhPerMWh/2) / WhPerMWh)
}

// marketView answers a contract's questions about the market for one
// interval: the node prices allocate fetched, and gas index prices.
type marketView struct {
	e      *Engine
	loc    *time.Location
	prices map[string]PriceRef
}

func (m *marketView) NodePrice(node string) (decimal.Decimal, bool) {
	p, ok := m.prices[node]
	return p.USDPerMWh, ok
}

func (m *marketView) GasPrice(index string, d contracts.Date) (decimal.Decimal, bool) {
	return m.e.gasPrice(index, d)
}

// fillMissing estimates readings that did not arrive by the grace, marked
// estimated, version 0; the actual reading, when it comes, is a correction.
// A gap of at most cfg.InterpolateMaxGap intervals between two values of the
// meter (readings, or estimates already made) is filled by linear
// interpolation, rounded half away from zero to whole Wh; otherwise the
// rule: the meter's latest earlier value (zero if it has none within the
// lookback), or zero.
//
// Values are looked up by interval start, not taken from the reading that
// arrived last: the estimate must not depend on arrival order, only on
// which of the meter's later readings are in by the close.
func (b *book) fillMissing(iv *openInterval) {
	for m, got := range iv.got {
		if got {
			continue
		}
		e, _, _ := b.previous(m, iv.start, false)
		if b.cfg.EstimateRule == EstimateZero {
			e = 0
		}
		// Interpolation runs between readings, never from an estimate: a
		// longer gap is not made short by estimating its first intervals.
		if prev, back, ok := b.previous(m, iv.start, true); ok && back <= b.cfg.InterpolateMaxGap {
			if next, ahead, ok := b.next(m, iv.start, b.cfg.InterpolateMaxGap+1-back); ok {
				e = interpolate(prev, next, back, back+ahead)
			}
		}
		iv.readings[m] = ReadingRef{Meter: b.site.Meters[m].ID, Energy: e, Quality: Estimated, Version: 0}
	}
}

// interpolate is the value k steps of n from a to b, rounded half away from
// zero (the values are bounded far below overflow).
func interpolate(a, b Wh, k, n int) Wh {
	num := int64(b-a) * int64(k)
	q := num / int64(n)
	if r := num % int64(n); 2*abs64(r) >= int64(n) {
		if num < 0 {
			q--
		} else {
			q++
		}
	}
	return a + Wh(q)
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// previous is meter m's energy in the latest interval before start that the
// book knows of — closed (its reading or estimate) or still open with the
// meter's reading — and how many intervals back it is; found is false (and
// the energy zero) if there is none within the lookback.
//
// With readingsOnly, estimates are skipped: the latest value read from the
// meter.
func (b *book) previous(m int, start time.Time, readingsOnly bool) (e Wh, steps int, found bool) {
	t := start
	for i := 1; i <= b.lookback; i++ {
		t = t.Add(-b.interval)
		if t.Before(b.floor) {
			break
		}
		key := t.Unix()
		if readingsOnly && i > b.cfg.InterpolateMaxGap {
			break // too far back to interpolate from
		}
		if h, ok := b.history[key]; ok && (!readingsOnly || h.readings[m].Version > 0) {
			return h.readings[m].Energy, i, true
		}
		if iv, ok := b.open[key]; ok && iv.got[m] {
			return iv.readings[m].Energy, i, true
		}
	}
	return 0, 0, false
}

// next is meter m's reading in the earliest interval after start (open, or
// closed because it was complete), at
// most limit intervals ahead and not past the watermark, and how many
// intervals ahead it is. Up to the watermark, both reading streams have
// been read (each partition in order), so what is found there does not
// depend on how the two streams' reads interleave.
func (b *book) next(m int, start time.Time, limit int) (e Wh, steps int, found bool) {
	t := start
	for i := 1; i <= limit; i++ {
		t = t.Add(b.interval)
		if t.Add(b.interval).After(b.watermark) {
			break
		}
		if iv, ok := b.open[t.Unix()]; ok && iv.got[m] {
			return iv.readings[m].Energy, i, true
		}
		if h, ok := b.history[t.Unix()]; ok && h.readings[m].Version > 0 { // a later interval closed complete
			return h.readings[m].Energy, i, true
		}
	}
	return 0, 0, false
}
