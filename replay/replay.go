package replay

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/offtake/offtake/stream"
	"github.com/shopspring/decimal"
)

// Format names a kind of input file.
type Format string

// The formats a replay reads.
const (
	PJMLMP      Format = "pjm-lmp"      // PJM Data Miner hourly LMPs: datetime_beginning_utc, pnode_name, total_lmp_da or total_lmp_rt
	PJMLoad     Format = "pjm-load"     // PJM Data Miner hourly MW: metered load (mw), or generation by fuel (solar_generation_mw, …)
	ERCOTHourly Format = "ercot-hourly" // hourly values in local time, labelled by the hour's end (HOUR = 2023-11-05 02:00:00)
	EIAGas      Format = "eia-gas"      // EIA daily gas spot prices: Date,Price in $/MMBtu
	ESPI        Format = "espi"         // Green Button / NAESB ESPI XML: IntervalBlock/IntervalReading
	CSV         Format = "csv"          // meter,start,end,value,unit[,quality]
)

// Formats lists the formats, for messages.
var Formats = []Format{PJMLMP, PJMLoad, ERCOTHourly, EIAGas, ESPI, CSV}

// Source is one file to replay and how its columns map onto a site.
type Source struct {
	File   string // the name used in messages (file:line)
	Data   []byte // the file's content
	Format Format
	Site   string // the site whose meters the readings are of (and whose intervals prices must fit)

	// Meter takes the file's one energy series (pjm-load, espi, one column);
	// Meters maps a series name in the file (a CSV meter, an ERCOT column, a
	// PJM load area) to a meter of the site. A CSV without either keeps its
	// meter names.
	Meter  string
	Meters map[string]string
	// Node names the file's one price series (a single pnode, the EIA index:
	// HENRY_HUB by default); Nodes maps a pnode_name or an ERCOT column to a
	// node. Without either, pjm-lmp publishes every pnode under its name.
	Node  string
	Nodes map[string]string

	Market   string          // price market: RT, DA, GAS; default from the file (pjm-lmp: the column's suffix; ercot-hourly RT; eia-gas GAS)
	Column   string          // the value column when the file has several (pjm-lmp: total_lmp_rt; pjm-load: mw)
	Area     string          // pjm-load: only rows of this load_area / area
	Unit     string          // energy unit of the values: MW (average over the row's hour), MWh, kWh, Wh; default per format
	Scale    decimal.Decimal // multiplies energy values (zero: 1), e.g. 0.002 to make a data center of a zone's load shape
	TimeZone string          // ercot-hourly, eia-gas: the zone of the file's local times (default: the site's)

	// RepairMergedHour lets an ERCOT-style file whose fall-back day has the
	// repeated hour merged into one row (24 rows for a 25-hour day) be
	// replayed: that row's value stands for both hours. Only for prices and
	// MW, which are rates; never done without asking.
	RepairMergedHour bool
	SkipEmpty        bool // eia-gas: leave out rows with no price (otherwise they are refused)
	FillDays         bool // eia-gas: days with no row (weekends, holidays) take the latest earlier trading day's price

	From, To contracts.Date // keep only intervals inside [From, To): local dates in the site's zone (zero: no bound)
	Line     int            // line of the source in a mapping file, for messages

	pricesOnly bool // replayed for every site (no site named): not counted for one site's warnings
}

// Plan is a checked replay: the messages in publishing order and what they hold.
type Plan struct {
	Messages []stream.Message // in interval order; at one instant, prices before readings
	Starts   []time.Time      // Starts[i] is the start of Messages[i]'s interval, for pacing
	Summary  Summary
}

// Summary says what a plan holds.
type Summary struct {
	ByTopic       map[string]int
	Readings      int
	Prices        int
	First, Last   time.Time // first interval start, last interval end
	Rounded       int       // energy values rounded to whole Wh
	Notes         []string  // what the conversion did (splits, sums, repairs, skipped rows)
	MissingPrices []string  // price nodes the site needs but the replay has none of (the engine waits for them)
	// Gaps names the site's meters that lack readings: none at all in a
	// replay that has readings of the site, or intervals missing between a
	// meter's first and last reading (the engine waits for them, then
	// estimates them after the grace).
	Gaps []string
}

// item is one converted value before it becomes a message.
type item struct {
	file    string
	line    int
	reading *matching.Reading
	price   *matching.Price
}

func (it item) start() time.Time {
	if it.reading != nil {
		return it.reading.Start
	}
	return it.price.Start
}

func (it item) end() time.Time {
	if it.reading != nil {
		return it.reading.End
	}
	return it.price.End
}

func (it item) key() string {
	if it.reading != nil {
		return "meter " + it.reading.Meter
	}
	return "node " + it.price.Node + " " + it.price.Market
}

// Build parses, maps and checks every source whole and returns the messages
// to publish, or every mistake found (an offtake.Errors).
func Build(p *contracts.Portfolio, t stream.Topics, sources []Source) (*Plan, error) {
	var all []item
	var errs offtake.Errors
	sum := Summary{ByTopic: map[string]int{}}
	sites := map[string]*contracts.Site{}
	for i := range sources {
		src := &sources[i]
		site, serr := siteOf(p, src)
		if serr != nil {
			errs = append(errs, serr)
			continue
		}
		if !src.pricesOnly {
			sites[site.ID] = site
		}
		items, notes, rounded, err := convert(site, src)
		if err != nil {
			errs = append(errs, asErrors(err)...)
			continue
		}
		sum.Notes = append(sum.Notes, notes...)
		sum.Rounded += rounded
		all = append(all, items...)
	}
	if len(errs) == 0 {
		errs = append(errs, overlaps(all)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if len(all) == 0 {
		return nil, &offtake.Error{Place: placeOf(sources), Msg: "nothing to replay: no rows in the files (or none inside --from/--to)"}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if !a.start().Equal(b.start()) {
			return a.start().Before(b.start())
		}
		return a.price != nil && b.price == nil // prices first: the engine can price an interval as soon as it is complete
	})
	plan := &Plan{Summary: sum}
	for _, it := range all {
		var m stream.Message
		if it.price != nil {
			m = stream.Message{Topic: t.Prices, Key: []byte(it.price.Node), Value: messages.EncodePrice(*it.price)}
			plan.Summary.Prices++
		} else {
			site := sites[it.reading.Site]
			meter, _ := site.Meter(it.reading.Meter)
			topic := t.Consumption
			if meter.Kind.Generation() {
				topic = t.Generation
			}
			m = stream.Message{Topic: topic, Key: []byte(site.ID), Value: messages.EncodeReading(*it.reading)}
			plan.Summary.Readings++
		}
		plan.Messages = append(plan.Messages, m)
		plan.Starts = append(plan.Starts, it.start())
		plan.Summary.ByTopic[m.Topic]++
		if plan.Summary.First.IsZero() || it.start().Before(plan.Summary.First) {
			plan.Summary.First = it.start()
		}
		if it.end().After(plan.Summary.Last) {
			plan.Summary.Last = it.end()
		}
	}
	plan.Summary.MissingPrices = missingPrices(p, sites, all)
	plan.Summary.Gaps = gaps(sites, all)
	return plan, nil
}

// gaps lists, per site with readings in the replay, the meters with none
// and the meters with intervals missing inside their own span.
func gaps(sites map[string]*contracts.Site, items []item) []string {
	type span struct {
		n           int
		first, last time.Time
	}
	by := map[string]map[string]*span{}
	for _, it := range items {
		r := it.reading
		if r == nil {
			continue
		}
		if by[r.Site] == nil {
			by[r.Site] = map[string]*span{}
		}
		sp := by[r.Site][r.Meter]
		if sp == nil {
			sp = &span{first: r.Start, last: r.End}
			by[r.Site][r.Meter] = sp
		}
		sp.n++
		if r.Start.Before(sp.first) {
			sp.first = r.Start
		}
		if r.End.After(sp.last) {
			sp.last = r.End
		}
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		s := sites[id]
		for _, m := range s.Meters {
			sp := by[id][m.ID]
			switch {
			case sp == nil:
				out = append(out, fmt.Sprintf("site %s: meter %s has no readings in this replay", id, m.ID))
			case int(sp.last.Sub(sp.first)/s.Interval()) != sp.n:
				out = append(out, fmt.Sprintf("site %s: meter %s has %d readings from %s to %s, where the site has %d intervals", id, m.ID, sp.n, utc(sp.first), utc(sp.last), int(sp.last.Sub(sp.first)/s.Interval())))
			}
		}
	}
	return out
}

func placeOf(sources []Source) string {
	names := make([]string, len(sources))
	for i, s := range sources {
		names[i] = s.File
	}
	return strings.Join(names, ", ")
}

func asErrors(err error) offtake.Errors {
	switch e := err.(type) {
	case offtake.Errors:
		return e
	case *offtake.Error:
		return offtake.Errors{e}
	}
	return offtake.Errors{{Msg: err.Error()}}
}

// siteOf finds the source's site: the one named, or the only one.
func siteOf(p *contracts.Portfolio, src *Source) (*contracts.Site, *offtake.Error) {
	if src.Site == "" {
		if len(p.Sites) == 1 {
			return &p.Sites[0], nil
		}
		if s := pricesForAll(p, src); s != nil {
			return s, nil
		}
		return nil, &offtake.Error{Place: src.File, Field: "site", Msg: fmt.Sprintf("the contract files have %d sites; say which one the file is for", len(p.Sites)), Hint: "--site ID or site: in the mapping file"}
	}
	s, ok := p.Site(src.Site)
	if !ok {
		ids := make([]string, len(p.Sites))
		for i := range p.Sites {
			ids[i] = p.Sites[i].ID
		}
		return nil, &offtake.Error{Place: src.File, Field: "site", Msg: fmt.Sprintf("%q is not a site of the contract files", src.Site), Hint: "one of " + strings.Join(ids, ", ")}
	}
	return s, nil
}

// pricesForAll picks, for a file of prices only replayed without a site, the
// site to check it against when that check holds for every site: the one
// with the longest interval (a price covering whole intervals of it covers
// whole intervals of every shorter one, as 5, 15, 30 and 60 minutes divide an
// hour), provided the sites share one time zone or the file's zone is given
// (gas days and ERCOT's local hours depend on it). Nil when a site must be named.
func pricesForAll(p *contracts.Portfolio, src *Source) *contracts.Site {
	switch {
	case src.Meter != "" || len(src.Meters) > 0:
		return nil
	case src.Format != PJMLMP && src.Format != EIAGas && src.Format != ERCOTHourly:
		return nil
	}
	longest := &p.Sites[0]
	for i := range p.Sites {
		s := &p.Sites[i]
		if s.TimeZone != longest.TimeZone && src.Format != PJMLMP && src.TimeZone == "" {
			return nil
		}
		if 60%s.IntervalMinutes != 0 {
			return nil
		}
		if s.IntervalMinutes > longest.IntervalMinutes {
			longest = s
		}
	}
	src.pricesOnly = true
	return longest
}

// overlaps refuses two values for the same meter or node and time.
func overlaps(items []item) offtake.Errors {
	by := map[string][]item{}
	for _, it := range items {
		k := it.key()
		if it.reading != nil {
			k = it.reading.Site + " " + k
		}
		by[k] = append(by[k], it)
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs offtake.Errors
	for _, k := range keys {
		xs := by[k]
		sort.SliceStable(xs, func(i, j int) bool { return xs[i].start().Before(xs[j].start()) })
		for i := 1; i < len(xs); i++ {
			if xs[i].start().Before(xs[i-1].end()) {
				errs = append(errs, &offtake.Error{
					Place: fmt.Sprintf("%s:%d", xs[i].file, xs[i].line),
					Msg: fmt.Sprintf("%s: [%s, %s) overlaps [%s, %s) from %s:%d", k,
						utc(xs[i].start()), utc(xs[i].end()), utc(xs[i-1].start()), utc(xs[i-1].end()), xs[i-1].file, xs[i-1].line),
					Hint: "each interval of a meter or node once: remove the duplicate row or file",
				})
				if len(errs) >= 20 {
					return errs
				}
			}
		}
	}
	return errs
}

// missingPrices lists the nodes (and gas indexes) the sites' engines will
// wait for but the replay has no price of.
func missingPrices(p *contracts.Portfolio, sites map[string]*contracts.Site, items []item) []string {
	have := map[string]bool{}
	for _, it := range items {
		if it.price != nil {
			have[it.price.Node] = true
		}
	}
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if n != "" && !have[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	ids := make([]string, 0, len(sites))
	for id := range sites {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := sites[id]
		add(s.GeneratorNode)
		for _, m := range s.MetersOfKind(contracts.MeterLoad) {
			add(s.NodeOf(m))
		}
		for _, c := range p.ContractsAt(s.ID) {
			for _, n := range c.Nodes(s) {
				add(n)
			}
			for _, g := range c.GasIndexes() {
				add(g)
			}
		}
	}
	return out
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02T15:04Z") }

// Split returns the plan's price messages and reading messages, each in
// interval order, for a caller that publishes all prices first (the demo).
func (p *Plan) Split(t stream.Topics) (prices, readings []stream.Message) {
	for _, m := range p.Messages {
		if m.Topic == t.Prices {
			prices = append(prices, m)
		} else {
			readings = append(readings, m)
		}
	}
	return prices, readings
}
