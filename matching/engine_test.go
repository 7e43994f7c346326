package matching

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

const quarter = 15 * time.Minute

// t0 is local midnight of 2028-01-10 in Chicago (CST, UTC−6).
var t0 = time.Date(2028, 1, 10, 6, 0, 0, 0, time.UTC)

// testEngine wraps an Engine and checks every Result it returns.
type testEngine struct {
	*Engine
	t       *testing.T
	results []Result
}

func newTestEngine(t *testing.T, cfg Config) *testEngine {
	t.Helper()
	e, err := New(CoyoteFlats(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testEngine{Engine: e, t: t}
}

func (te *testEngine) book() *book { return te.sites[testSite] }

// add files a reading that must be valid and returns the outcome and results.
func (te *testEngine) add(r Reading) (Outcome, []Result) {
	te.t.Helper()
	out, res, err := te.AddReading(r)
	if err != nil {
		te.t.Fatalf("AddReading(%s %s): %v", r.Meter, r.Start.Format(time.RFC3339), err)
	}
	te.check(res)
	return out, res
}

func (te *testEngine) addPrice(p Price) []Result {
	te.t.Helper()
	res, err := te.AddPrice(p)
	if err != nil {
		te.t.Fatalf("AddPrice(%s %s): %v", p.Node, p.Start.Format(time.RFC3339), err)
	}
	te.check(res)
	return res
}

// check asserts conservation and shape on results, independently of the
// engine's own assertion, and keeps them.
func (te *testEngine) check(res []Result) {
	te.t.Helper()
	for i := range res {
		r := &res[i]
		checkResult(te.t, r)
		if i > 0 && !res[i-1].Start.Before(r.Start) {
			te.t.Errorf("results out of start order: %s then %s", res[i-1].Start, r.Start)
		}
	}
	te.results = append(te.results, res...)
}

func checkResult(t *testing.T, r *Result) {
	t.Helper()
	at := r.Start.Format(time.RFC3339)
	if r.End.Sub(r.Start) != quarter || r.Site != testSite || r.Revision < 1 {
		t.Errorf("%s: result %s [%s, %s) revision %d", at, r.Site, r.Start, r.End, r.Revision)
	}
	if (r.Revision == 1) != (r.Reverses == nil) || (r.Reverses != nil && (r.Reverses.Revision != r.Revision-1 || !r.Reverses.Start.Equal(r.Start))) {
		t.Errorf("%s: revision %d reverses %+v", at, r.Revision, r.Reverses)
	}
	if e := r.Emissions; e != nil {
		var sum int64
		for _, a := range e.Attributed {
			sum += a.Grams
		}
		if sum != e.PlantGrams || e.PlantGrams < 0 {
			t.Errorf("%s: %d g attributed of %d g emitted", at, sum, e.PlantGrams)
		}
	}
	if r.Net != r.Gross-r.Station {
		t.Errorf("%s: net %d != gross %d − station %d", at, r.Net, r.Gross, r.Station)
	}
	if r.Delivered()+r.Export.Energy-r.PlantImport.Energy != r.Net {
		t.Errorf("%s: delivered %d + export %d − plant import %d != net %d", at, r.Delivered(), r.Export.Energy, r.PlantImport.Energy, r.Net)
	}
	if r.Export.Energy < 0 || r.PlantImport.Energy < 0 {
		t.Errorf("%s: export %d, plant import %d", at, r.Export.Energy, r.PlantImport.Energy)
	}
	if len(r.Readings) != 5 || len(r.Loads) != 3 || len(r.Imports) != 3 {
		t.Fatalf("%s: %d readings, %d loads, %d imports", at, len(r.Readings), len(r.Loads), len(r.Imports))
	}
	for i, load := range r.Loads {
		var delivered Wh
		for _, d := range r.Deliveries {
			if d.Energy < 0 {
				t.Errorf("%s: %s delivered %d", at, d.Contract, d.Energy)
			}
			if d.Meter == load.Meter {
				delivered += d.Energy
			}
		}
		if imp := r.Imports[i]; imp.Meter != load.Meter || imp.Energy < 0 || load.Energy != delivered+imp.Energy {
			t.Errorf("%s: load %s %d != delivered %d + import %s %d", at, load.Meter, load.Energy, delivered, imp.Meter, imp.Energy)
		}
	}
	if r.Gross != r.Readings[0].Energy || r.Station != r.Readings[1].Energy {
		t.Errorf("%s: gross %d, station %d, readings %+v", at, r.Gross, r.Station, r.Readings)
	}
}

func reading(meter string, start time.Time, energy Wh) Reading {
	return Reading{Site: testSite, Meter: meter, Start: start, End: start.Add(quarter), Energy: energy, Quality: Actual, Version: 1}
}

// interval returns the five readings of one interval: gross, station and the
// three loads, in MWh.
func interval(start time.Time, gross, station, northwind, helios, cedar Wh) []Reading {
	return []Reading{
		reading(testGross, start, gross*mwh),
		reading(testStation, start, station*mwh),
		reading(testNorthwind, start, northwind*mwh),
		reading(testHelios, start, helios*mwh),
		reading(testCedar, start, cedar*mwh),
	}
}

// usual is a normal interval: 290 MWh net, 100 + 80 + 60 MWh of load.
func usual(start time.Time) []Reading { return interval(start, 300, 10, 100, 80, 60) }

func price(node string, start time.Time, length time.Duration, usd string) Price {
	return Price{Node: node, Market: "RT", Start: start, End: start.Add(length), USDPerMWh: decimal.RequireFromString(usd)}
}

// addHourlyPrices prices both nodes for every hour of [from, to).
func (te *testEngine) addHourlyPrices(from, to time.Time) {
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		te.addPrice(price(testGenNode, h, time.Hour, "30.5"))
		te.addPrice(price(testLoadNode, h, time.Hour, "41.25"))
	}
}

func (te *testEngine) addAll(rs []Reading) []Result {
	te.t.Helper()
	var out []Result
	for _, r := range rs {
		_, res := te.add(r)
		out = append(out, res...)
	}
	return out
}

func TestEngineClosesWhenComplete(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addPrice(price(testGenNode, t0, quarter, "30.5"))
	te.addPrice(price(testLoadNode, t0, quarter, "41.25"))
	rs := interval(t0, 300, 10, 120, 110, 90)
	for _, r := range rs[:4] {
		if out, res := te.add(r); out != Accepted || len(res) != 0 {
			t.Fatalf("%s: %s with %d results before the interval is complete", r.Meter, out, len(res))
		}
	}
	if te.Open() != 1 {
		t.Fatalf("Open() = %d, want 1", te.Open())
	}
	out, res := te.add(rs[4])
	if out != Accepted || len(res) != 1 {
		t.Fatalf("last reading: %s with %d results, want accepted with 1", out, len(res))
	}
	if te.Open() != 0 {
		t.Errorf("Open() = %d after the close, want 0", te.Open())
	}
	r := res[0]
	if !r.Start.Equal(t0) || !r.End.Equal(t0.Add(quarter)) || r.Seller != "mesa-ridge" || r.Grid != "ercot" {
		t.Errorf("result header %+v", r)
	}
	// 290 MWh net: northwind takes its cap of 112.5; cedar (75) and helios
	// (100) are capped too and fit in the 177.5 left; 2.5 MWh is exported.
	type delivery struct {
		contract string
		energy   Wh
	}
	var got []delivery
	for _, d := range r.Deliveries {
		got = append(got, delivery{d.Contract, d.Energy})
	}
	want := []delivery{{"ppa-northwind", 112_500_000}, {"ppa-cedar", 75 * mwh}, {"ppa-helios", 100 * mwh}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deliveries %v, want %v", got, want)
	}
	if d := r.Deliveries[1]; d.Buyer != "cedar" || d.Seller != "mesa-ridge" || d.Meter != testCedar || d.ContractVersion != 1 || !d.USDPerMWh.Equal(decimal.RequireFromString("64.80")) {
		t.Errorf("cedar delivery %+v", d)
	}
	if r.Export.Energy != 2_500_000 || r.Export.Party != "mesa-ridge" || r.Export.Meter != testGross ||
		r.Export.Price.Node != testGenNode || !r.Export.Price.USDPerMWh.Equal(decimal.RequireFromString("30.5")) || r.Export.Price.CarriedFrom {
		t.Errorf("export %+v", r.Export)
	}
	if r.PlantImport.Energy != 0 {
		t.Errorf("plant import %+v", r.PlantImport)
	}
	wantImports := []Wh{7_500_000, 10 * mwh, 15 * mwh}
	for i, imp := range r.Imports {
		if imp.Energy != wantImports[i] || imp.Price.Node != testLoadNode || !imp.Price.USDPerMWh.Equal(decimal.RequireFromString("41.25")) {
			t.Errorf("import %d %+v, want %d Wh at %s", i, imp, wantImports[i], testLoadNode)
		}
	}
	if r.Imports[0].Party != "northwind" || r.Imports[2].Meter != testCedar {
		t.Errorf("imports %+v", r.Imports)
	}
	if r.Estimated() {
		t.Error("all readings were actual, result says estimated")
	}
}

func TestEngineWaitsForPrice(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addPrice(price(testGenNode, t0, quarter, "30.5"))
	if res := te.addAll(usual(t0)); len(res) != 0 {
		t.Fatalf("closed %d intervals without the load node's price", len(res))
	}
	if te.Open() != 1 {
		t.Fatalf("Open() = %d, want 1", te.Open())
	}
	// A price of another market does not count.
	if res := te.addPrice(Price{Node: testLoadNode, Market: "DA", Start: t0, End: t0.Add(time.Hour), USDPerMWh: decimal.NewFromInt(40)}); len(res) != 0 {
		t.Fatalf("a day-ahead price closed %d intervals", len(res))
	}
	res := te.addPrice(price(testLoadNode, t0, quarter, "41.25"))
	if len(res) != 1 || !res[0].Start.Equal(t0) {
		t.Fatalf("AddPrice returned %d results, want the interval at %s", len(res), t0)
	}
	if !res[0].Imports[0].Price.USDPerMWh.Equal(decimal.RequireFromString("41.25")) {
		t.Errorf("import price %+v", res[0].Imports[0].Price)
	}
	if te.Open() != 0 {
		t.Errorf("Open() = %d, want 0", te.Open())
	}
}

func TestEngineHourlyPriceCoversFourIntervals(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addPrice(price(testGenNode, t0, time.Hour, "30.5"))
	te.addPrice(price(testLoadNode, t0, time.Hour, "41.25"))
	for i := 0; i < 4; i++ {
		start := t0.Add(time.Duration(i) * quarter)
		res := te.addAll(usual(start))
		if len(res) != 1 || !res[0].Start.Equal(start) {
			t.Fatalf("interval %d: %d results", i, len(res))
		}
		if p := res[0].Export.Price; !p.Start.Equal(t0) || p.CarriedFrom || p.Market != "RT" {
			t.Errorf("interval %d: export priced by %+v, want the hourly price at %s", i, p, t0)
		}
	}
	// The fifth interval is in the next hour: no price yet.
	if res := te.addAll(usual(t0.Add(time.Hour))); len(res) != 0 {
		t.Errorf("interval of the next hour closed without its price")
	}
}

func TestEngineClosesAfterGrace(t *testing.T) {
	cfg := DefaultConfig()    // grace: 4 intervals
	cfg.InterpolateMaxGap = 0 // carried forward (interpolation has its own test)
	te := newTestEngine(t, cfg)
	te.addHourlyPrices(t0.Add(-time.Hour), t0.Add(3*time.Hour))
	if res := te.addAll(interval(t0.Add(-quarter), 300, 10, 100, 77, 60)); len(res) != 1 {
		t.Fatalf("previous interval: %d results", len(res))
	}
	rs := interval(t0, 300, 10, 100, 80, 60)
	te.addAll(append(rs[:3:3], rs[4])) // helios is missing
	// The interval waits while the watermark is within end + grace...
	for i := 1; i <= 3; i++ {
		if res := te.addAll(usual(t0.Add(time.Duration(i) * quarter))); len(res) != 1 {
			t.Fatalf("interval +%d: %d results, want only itself", i, len(res))
		}
		if te.Open() != 1 {
			t.Fatalf("interval +%d: Open() = %d, want 1", i, te.Open())
		}
	}
	// ... and closes when a reading brings it to end + grace: the interval
	// starting at t0+1h ends at t0+75m = (t0+15m) + 4 × 15m.
	// The watermark is that of the slower stream: the generation meters alone
	// reaching it close nothing, a load reading too closes the interval.
	next := usual(t0.Add(time.Hour))
	if _, res := te.add(next[0]); len(res) != 0 {
		t.Fatalf("generation stream alone past the grace closed %d intervals", len(res))
	}
	_, res := te.add(next[2])
	if len(res) != 1 || !res[0].Start.Equal(t0) {
		t.Fatalf("watermark at end + grace: %d results, want the interval at %s", len(res), t0)
	}
	r := res[0]
	if got := r.Readings[3]; got != (ReadingRef{Meter: testHelios, Energy: 77 * mwh, Quality: Estimated, Version: 0}) {
		t.Errorf("missing helios reading estimated as %+v, want 77 MWh carried forward, estimated, version 0", got)
	}
	if got := r.Loads[1]; got.Energy != 77*mwh || got.Quality != Estimated {
		t.Errorf("load of helios %+v", got)
	}
	if !r.Estimated() {
		t.Error("Estimated() = false with an estimated reading")
	}
	if r.Readings[0].Quality != Actual || r.Readings[0].Version != 1 {
		t.Errorf("gross reading %+v", r.Readings[0])
	}
	// The actual reading arrives after the close: the estimate is corrected,
	// the interval re-matched as revision 2, which names revision 1.
	out, res := te.add(reading(testHelios, t0, 80*mwh))
	if out != Corrected || len(res) != 1 || res[0].Revision != 2 || res[0].Reverses == nil || res[0].Reverses.Revision != 1 {
		t.Fatalf("actual after the estimate: %s with %+v, want corrected, revision 2", out, res)
	}
	if got := res[0].Readings[3]; got.Quality != Actual || got.Energy != 80*mwh || got.Version != 1 {
		t.Errorf("corrected reading %+v", got)
	}
	if res[0].Estimated() {
		t.Error("revision 2 still counts as estimated")
	}
	// The same actual again is a duplicate.
	if out, res := te.add(reading(testHelios, t0, 80*mwh)); out != Duplicate || len(res) != 0 {
		t.Errorf("the actual twice: %s with %d results, want duplicate", out, len(res))
	}
}

func TestEngineEstimatesZeroForAMeterThatNeverReported(t *testing.T) {
	te := newTestEngine(t, Config{GraceIntervals: 1, RetainClosed: 24 * time.Hour})
	te.addHourlyPrices(t0, t0.Add(time.Hour))
	rs := usual(t0)
	te.addAll(rs[:4])                            // cedar never reports
	res := te.addAll(usual(t0.Add(quarter))[:3]) // both streams move past the grace
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	if got := res[0].Readings[4]; got != (ReadingRef{Meter: testCedar, Quality: Estimated}) {
		t.Errorf("cedar estimated as %+v, want 0 Wh estimated", got)
	}
}

func TestEngineDuplicateAndRestated(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addHourlyPrices(t0, t0.Add(time.Hour))
	rs := usual(t0)
	te.addAll(rs[:4])
	if out, res := te.add(rs[0]); out != Duplicate || len(res) != 0 {
		t.Errorf("same reading again: %s, want duplicate", out)
	}
	dup := rs[3]
	dup.Energy = 1 // same version, other value: still a duplicate, no effect
	if out, _ := te.add(dup); out != Duplicate {
		t.Errorf("same version, other value: %s, want duplicate", out)
	}
	v2 := rs[0]
	v2.Energy, v2.Version, v2.Quality = 280*mwh, 2, Substituted
	if out, res := te.add(v2); out != Restated || len(res) != 0 {
		t.Errorf("version 2: %s with %d results, want restated", out, len(res))
	}
	if out, _ := te.add(rs[0]); out != Duplicate {
		t.Errorf("version 1 after version 2: %s, want duplicate", out)
	}
	if te.Open() != 1 {
		t.Errorf("Open() = %d, want 1", te.Open())
	}
	_, res := te.add(rs[4])
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	r := res[0]
	if r.Gross != 280*mwh || r.Readings[0] != (ReadingRef{Meter: testGross, Energy: 280 * mwh, Quality: Substituted, Version: 2}) {
		t.Errorf("gross %d, reading %+v: want the restated version 2", r.Gross, r.Readings[0])
	}
	if r.Readings[3].Energy != 80*mwh {
		t.Errorf("helios %d: the same-version duplicate changed it", r.Readings[3].Energy)
	}
	// Once the interval is closed, the same version is a duplicate and a
	// higher one a correction: re-matched as the next revision.
	if out, res := te.add(v2); out != Duplicate || len(res) != 0 {
		t.Errorf("same version for a closed interval: %s, want duplicate", out)
	}
	v3 := v2
	v3.Version, v3.Energy = 3, 300*mwh
	out, res := te.add(v3)
	if out != Corrected || len(res) != 1 || res[0].Revision != 2 || res[0].Gross != 300*mwh || res[0].Reverses.Gross != 280*mwh {
		t.Fatalf("restatement of a closed interval: %s %+v, want corrected", out, res)
	}
	te.check(res)
	if out, _ := te.add(v2); out != Duplicate {
		t.Errorf("a lower version after the correction: %s, want duplicate", out)
	}
	v4 := v3
	v4.Version, v4.Energy = 4, 290*mwh
	if out, res := te.add(v4); out != Corrected || res[0].Revision != 3 || res[0].Reverses.Revision != 2 || res[0].Reverses.Gross != 300*mwh {
		t.Errorf("second correction: %s %+v", out, res)
	}
	// Not held (closed before a restart, or before the retention window):
	// a reading for it is late.
	te.MarkClosed(testSite, t0.Add(-quarter))
	if out, _ := te.add(reading(testGross, t0.Add(-quarter), 5*mwh)); out != Late {
		t.Errorf("reading for an interval closed before a restart: %s, want late", out)
	}
}

func TestEngineMarkClosed(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addHourlyPrices(t0, t0.Add(time.Hour))
	rs := usual(t0)
	te.addAll(rs[:2])
	te.MarkClosed(testSite, t0) // found in the ledger: drops the open book too
	if te.Open() != 0 {
		t.Errorf("Open() = %d after MarkClosed, want 0", te.Open())
	}
	for _, r := range rs {
		if out, res := te.add(r); out != Late || len(res) != 0 {
			t.Errorf("%s after MarkClosed: %s, want late", r.Meter, out)
		}
	}
	te.MarkClosed("nowhere", t0) // an unknown site is ignored
	if res := te.addAll(usual(t0.Add(quarter))); len(res) != 1 {
		t.Errorf("next interval: %d results, want 1", len(res))
	}
}

func TestEngineRefusesBadReadings(t *testing.T) {
	ok := reading(testHelios, t0, 80*mwh)
	tests := []struct {
		name   string
		change func(r *Reading)
		want   string
	}{
		{"unknown site", func(r *Reading) { r.Site = "coyote-hills" }, `unknown site "coyote-hills"`},
		{"unknown meter", func(r *Reading) { r.Meter = "DC-OTHER" }, `unknown meter "DC-OTHER"`},
		{"misaligned start", func(r *Reading) { r.Start = t0.Add(7 * time.Minute); r.End = r.Start.Add(quarter) }, "not aligned"},
		{"too long", func(r *Reading) { r.End = t0.Add(30 * time.Minute) }, "30m0s long"},
		{"too short", func(r *Reading) { r.End = t0.Add(5 * time.Minute) }, "5m0s long"},
		{"end before start", func(r *Reading) { r.End = t0.Add(-quarter) }, "not after start"},
		{"negative load", func(r *Reading) { r.Energy = -1 }, "negative"},
		{"negative station service", func(r *Reading) { r.Meter = testStation; r.Energy = -5 }, "negative"},
		{"absurd energy", func(r *Reading) { r.Meter = testGross; r.Energy = maxWh + 1 }, "beyond"},
		{"absurd negative gross", func(r *Reading) { r.Meter = testGross; r.Energy = -maxWh - 1 }, "beyond"},
		{"bad quality", func(r *Reading) { r.Quality = "maybe" }, "quality"},
		{"version 0", func(r *Reading) { r.Version = 0 }, "version 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := newTestEngine(t, DefaultConfig())
			te.addHourlyPrices(t0, t0.Add(time.Hour))
			r := ok
			tt.change(&r)
			_, res, err := te.AddReading(r)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if len(res) != 0 || te.Open() != 0 || !te.Watermark(testSite).IsZero() {
				t.Errorf("a refused reading changed the book: %d results, %d open, watermark %s", len(res), te.Open(), te.Watermark(testSite))
			}
		})
	}
	t.Run("negative gross is allowed", func(t *testing.T) {
		te := newTestEngine(t, DefaultConfig())
		te.addHourlyPrices(t0, t0.Add(time.Hour))
		res := te.addAll(interval(t0, 0, 10, 100, 80, 60)[1:])
		res = append(res, te.addAll([]Reading{reading(testGross, t0, -2*mwh)})...)
		if len(res) != 1 || res[0].PlantImport.Energy != 12*mwh || res[0].Imports[1].Energy != 80*mwh {
			t.Fatalf("results %+v", res)
		}
	})
}

func TestEngineRefusesBadPrice(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	if _, err := te.AddPrice(Price{Node: testGenNode, Market: "RT", Start: t0, End: t0}); err == nil {
		t.Error("a price with end = start was accepted")
	}
}

func TestNewRefusesBadConfigAndSites(t *testing.T) {
	if _, err := New(CoyoteFlats(), Config{GraceIntervals: -1}); err == nil {
		t.Error("negative grace accepted")
	}
	p := CoyoteFlats()
	p.Sites[0].Meters = p.Sites[0].Meters[1:]
	if _, err := New(p, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "generation_gross") {
		t.Errorf("site without gross meter: %v", err)
	}
	p = CoyoteFlats()
	p.Sites[0].IntervalMinutes = 0
	if _, err := New(p, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "interval of 0 minutes") {
		t.Errorf("site without an interval: %v", err)
	}
	p = CoyoteFlats()
	p.Contracts[0].Meter = "DC-NOWHERE"
	if _, err := New(p, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "DC-NOWHERE") {
		t.Errorf("contract on an unknown meter: %v", err)
	}
}

// A missing price past the grace is carried from the node's latest earlier
// price, even when later prices have already arrived.
func TestEngineCarriesPriceAfterGrace(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addHourlyPrices(t0, t0.Add(time.Hour))
	te.addHourlyPrices(t0.Add(2*time.Hour), t0.Add(4*time.Hour)) // the second hour's prices never come
	var results []Result
	for i := 0; i < 16; i++ {
		res := te.addAll(usual(t0.Add(time.Duration(i) * quarter)))
		results = append(results, res...)
		for _, r := range res {
			// An interval of the second hour closes only when the watermark
			// reaches its end + grace: interval idx ends at (idx+1) × 15m, so
			// the readings of interval idx + 4 close it.
			if idx := int(r.Start.Sub(t0) / quarter); idx >= 4 && idx < 8 && idx+4 != i {
				t.Errorf("interval %d closed by the readings of interval %d, want %d", idx, i, idx+4)
			}
		}
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Start.Before(results[j].Start) })
	if len(results) != 16 {
		t.Fatalf("%d intervals closed, want 16", len(results))
	}
	for _, r := range results {
		inGap := !r.Start.Before(t0.Add(time.Hour)) && r.Start.Before(t0.Add(2*time.Hour))
		p := r.Export.Price
		if inGap != p.CarriedFrom {
			t.Errorf("%s: price %+v, carried %v, want %v", r.Start, p, p.CarriedFrom, inGap)
		}
		if inGap && !p.Start.Equal(t0) {
			t.Errorf("%s: carried the price of %s, want the one of %s", r.Start, p.Start, t0)
		}
	}
	if te.Open() != 0 {
		t.Errorf("Open() = %d, want 0", te.Open())
	}
}

// feedDay feeds every interval of the local day d in Chicago and returns the
// number of results.
func feedDay(t *testing.T, d contracts.Date) (int, int) {
	loc, _ := time.LoadLocation("America/Chicago")
	te := newTestEngine(t, DefaultConfig())
	from, to := d.In(loc).UTC(), contracts.Date{Year: d.Year, Month: d.Month, Day: d.Day + 1}.In(loc).UTC()
	te.addHourlyPrices(from, to)
	want := 0
	for s := from; s.Before(to); s = s.Add(quarter) {
		te.addAll(usual(s))
		want++
	}
	seen := map[time.Time]bool{}
	for _, r := range te.results {
		if seen[r.Start] || r.Start.Before(from) || !r.Start.Before(to) || contracts.DateOf(r.Start, loc) != d {
			t.Errorf("%s: result outside the day or twice", r.Start)
		}
		seen[r.Start] = true
	}
	if te.Open() != 0 {
		t.Errorf("%s: %d intervals left open", d, te.Open())
	}
	return len(te.results), want
}

func TestEngineDSTDays(t *testing.T) {
	for _, tt := range []struct {
		day  contracts.Date
		want int
	}{
		{contracts.Date{Year: 2028, Month: time.March, Day: 12}, 92},    // spring forward: 23 hours
		{contracts.Date{Year: 2028, Month: time.November, Day: 5}, 100}, // fall back: 25 hours
		{contracts.Date{Year: 2028, Month: time.July, Day: 4}, 96},
	} {
		got, fed := feedDay(t, tt.day)
		if got != tt.want || fed != tt.want {
			t.Errorf("%s: %d intervals closed of %d fed, want %d", tt.day, got, fed, tt.want)
		}
	}
}

// A contract whose term ends on the fall-back day covers its intervals by
// local date: the last one starts at 23:45 CST on 11-04, i.e. 05:45 UTC on 11-05.
func TestEngineContractTermInLocalTime(t *testing.T) {
	p := CoyoteFlats()
	p.Contracts[0].End = contracts.Date{Year: 2028, Month: time.November, Day: 5} // ppa-helios
	e, err := New(p, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	te := &testEngine{Engine: e, t: t}
	last := time.Date(2028, 11, 5, 4, 45, 0, 0, time.UTC) // 23:45 CDT on 11-04 (UTC−5)
	te.addHourlyPrices(last.Truncate(time.Hour), last.Add(2*time.Hour))
	before := te.addAll(usual(last))
	after := te.addAll(usual(last.Add(quarter)))
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("%d and %d results", len(before), len(after))
	}
	if len(before[0].Deliveries) != 3 || len(after[0].Deliveries) != 2 {
		t.Errorf("%d deliveries on the last day, %d after: want 3 and 2", len(before[0].Deliveries), len(after[0].Deliveries))
	}
	for _, d := range after[0].Deliveries {
		if d.Contract == "ppa-helios" {
			t.Errorf("ppa-helios delivered after its term")
		}
	}
	if after[0].Imports[1].Energy != 80*mwh {
		t.Errorf("helios without a contract imports %d, want all 80 MWh", after[0].Imports[1].Energy)
	}
}

func TestEngineMemoryBounded(t *testing.T) {
	cfg := DefaultConfig()
	te := newTestEngine(t, cfg)
	te.results = nil
	b := te.book()
	retained := int(cfg.RetainClosed/quarter) + 1
	maxOpen, maxClosed := 0, 0
	for day := 0; day < 10; day++ {
		from := t0.Add(time.Duration(day) * 24 * time.Hour)
		te.addHourlyPrices(from, from.Add(24*time.Hour))
		for s := from; s.Before(from.Add(24 * time.Hour)); s = s.Add(quarter) {
			rs := usual(s)
			if s.Minute() == 30 {
				rs = rs[:4] // a meter misses every hour: intervals wait for the grace
			}
			te.addAll(rs)
			maxOpen = max(maxOpen, te.Open())
			maxClosed = max(maxClosed, len(b.closed))
		}
		te.PruneBefore(te.Watermark(testSite).Add(-24 * time.Hour))
		te.results = te.results[:0]
	}
	if maxOpen > cfg.GraceIntervals+1 {
		t.Errorf("up to %d intervals open, want at most %d", maxOpen, cfg.GraceIntervals+1)
	}
	if maxClosed > retained {
		t.Errorf("up to %d closed intervals remembered, want at most %d (the retention)", maxClosed, retained)
	}
	if maxClosed < retained-8 {
		t.Errorf("only %d closed intervals remembered, want about %d", maxClosed, retained)
	}
	if n := len(te.prices[testGenNode].byStart); n > 2*24 {
		t.Errorf("%d prices held after PruneBefore", n)
	}
	// An interval marked closed behind the retention is not remembered.
	n := len(b.closed)
	te.MarkClosed(testSite, t0)
	if len(b.closed) != n {
		t.Errorf("MarkClosed of an interval behind the retention grew the closed map")
	}
	// A reading older than the retention is late.
	if out, _ := te.add(reading(testGross, t0, mwh)); out != Late {
		t.Errorf("reading 10 days old: %s, want late", out)
	}
}

// dayWithGaps is one day of readings where some readings never arrive and
// some are restated, in interval order. A restatement of a complete interval
// may come after the interval closed (then it is late, a correction) and so
// would depend on the order; restatements here are of incomplete intervals,
// which wait for the grace.
func dayWithGaps(from time.Time) [][]Reading {
	rng := rand.New(rand.NewPCG(1, 2))
	var out [][]Reading
	for i := 0; i < 96; i++ {
		s := from.Add(time.Duration(i) * quarter)
		rs := interval(s, 280+Wh(rng.IntN(40)), 8+Wh(rng.IntN(5)), 90+Wh(rng.IntN(30)), 70+Wh(rng.IntN(40)), 50+Wh(rng.IntN(30)))
		for j := range rs {
			rs[j].Energy += Wh(rng.IntN(WhPerMWh)) // not whole MWh: pro rata remainders
		}
		switch {
		case i%7 == 3:
			rs = append(rs[:1], rs[2:]...) // station service missing
			v2 := rs[1]                    // and northwind restated while the interval waits
			v2.Version, v2.Energy = 2, v2.Energy+12345
			rs = append(rs, v2)
		case i%11 == 5:
			rs = rs[:2] // all loads missing
		}
		out = append(out, rs)
	}
	return out
}

// Feeding the same readings in different orders, each reading arriving
// before the watermark passes its interval's end + grace, gives the same
// results.
func TestEngineDeterministicAcrossOrders(t *testing.T) {
	cfg := DefaultConfig()
	// The shuffles below only keep a reading within the grace of its
	// interval, looser than a partition (which keeps each stream in order):
	// only the next interval's readings are sure to be in when an interval
	// closes on the grace, so interpolation may look one interval ahead.
	cfg.InterpolateMaxGap = 1
	days := dayWithGaps(t0)
	run := func(seed uint64) []Result {
		te := newTestEngine(t, cfg)
		te.addHourlyPrices(t0, t0.Add(25*time.Hour))
		type keyed struct {
			key float64
			r   Reading
		}
		var all []keyed
		rng := rand.New(rand.NewPCG(seed, 7))
		for i, rs := range days {
			for _, r := range rs {
				// Within the grace: a reading of interval i arrives before
				// any of interval i + grace.
				k := float64(i)
				if seed != 0 {
					k += rng.Float64() * float64(cfg.GraceIntervals-1)
				}
				all = append(all, keyed{k, r})
			}
		}
		// A restatement must come after the version it restates.
		sort.SliceStable(all, func(i, j int) bool { return all[i].key < all[j].key })
		for i := range all {
			for j := i + 1; j < len(all); j++ {
				a, b := all[i].r, all[j].r
				if a.Meter == b.Meter && a.Start.Equal(b.Start) && a.Version > b.Version {
					all[i], all[j] = all[j], all[i]
				}
			}
		}
		for _, k := range all {
			te.add(k.r)
		}
		// Close the tail of the day.
		te.addAll(usual(t0.Add(24*time.Hour + time.Hour)))
		var res []Result
		for _, r := range te.results {
			if r.Start.Before(t0.Add(24 * time.Hour)) {
				res = append(res, r)
			}
		}
		sort.Slice(res, func(i, j int) bool { return res[i].Start.Before(res[j].Start) })
		return res
	}
	want := run(0)
	if len(want) != 96 {
		t.Fatalf("%d intervals closed in order, want 96", len(want))
	}
	estimated := 0
	for _, r := range want {
		if r.Estimated() {
			estimated++
		}
	}
	if estimated == 0 {
		t.Fatal("no estimated interval: the test does not exercise estimates")
	}
	for seed := uint64(1); seed <= 20; seed++ {
		got := run(seed)
		if !reflect.DeepEqual(got, want) {
			for i := range min(len(got), len(want)) {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("order %d: interval %s differs:\n got %+v\nwant %+v", seed, want[i].Start, got[i], want[i])
				}
			}
			t.Fatalf("order %d: %d results, want %d", seed, len(got), len(want))
		}
	}
}

// Any stream of readings and prices, valid or not, in any order: the engine
// never panics, every result conserves energy, every interval closes at most
// once, and nothing stays open once the watermark is far past it.
func TestEngineRandomStream(t *testing.T) {
	meters := []string{testGross, testStation, testNorthwind, testHelios, testCedar, "DC-UNKNOWN"}
	rapid.Check(t, func(rt *rapid.T) {
		te := newTestEngine(t, Config{
			GraceIntervals: rapid.IntRange(0, 6).Draw(rt, "grace"),
			RetainClosed:   time.Duration(rapid.IntRange(0, 40).Draw(rt, "retain")) * quarter,
		})
		n := rapid.IntRange(0, 300).Draw(rt, "events")
		for i := 0; i < n; i++ {
			at := t0.Add(time.Duration(rapid.IntRange(0, 40).Draw(rt, "interval")) * quarter)
			if rapid.IntRange(0, 9).Draw(rt, "kind") == 0 {
				node := rapid.SampledFrom([]string{testGenNode, testLoadNode, "ELSEWHERE"}).Draw(rt, "node")
				length := rapid.SampledFrom([]time.Duration{quarter, time.Hour}).Draw(rt, "length")
				te.addPrice(price(node, at.Truncate(length), length, "25"))
				continue
			}
			r := Reading{
				Site: testSite, Meter: rapid.SampledFrom(meters).Draw(rt, "meter"),
				Start: at, End: at.Add(quarter),
				Energy:  Wh(rapid.Int64Range(-5, 400).Draw(rt, "MWh")) * mwh / 4,
				Quality: Actual, Version: rapid.IntRange(0, 3).Draw(rt, "version"),
			}
			_, res, err := te.AddReading(r)
			if err != nil {
				continue
			}
			te.check(res)
		}
		revision := map[time.Time]int{}
		for _, r := range te.results {
			if r.Revision != revision[r.Start]+1 {
				rt.Fatalf("interval %s: revision %d after %d", r.Start, r.Revision, revision[r.Start])
			}
			revision[r.Start] = r.Revision
		}
		// Far past everything, with prices: every interval closes.
		end := t0.Add(41*quarter + time.Duration(te.cfg.GraceIntervals)*quarter)
		te.addHourlyPrices(t0, end.Add(time.Hour))
		te.addAll(usual(end))
		if te.Open() > 1 {
			rt.Fatalf("%d intervals open with the watermark past them all", te.Open())
		}
	})
}

// One topic's partition can be read far ahead of the other's: the site's
// watermark is the slower stream's, so nothing closes on the grace before
// the lagging stream's readings arrive, and nothing is estimated.
func TestEngineStreamReadAheadClosesNothingEarly(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addHourlyPrices(t0, t0.Add(6*time.Hour))
	var gen, load []Reading
	for i := 0; i < 20; i++ {
		rs := usual(t0.Add(time.Duration(i) * quarter))
		gen, load = append(gen, rs[:2]...), append(load, rs[2:]...)
	}
	if res := te.addAll(load); len(res) != 0 {
		t.Fatalf("consumption stream alone closed %d intervals", len(res))
	}
	res := te.addAll(gen)
	if len(res) != 20 {
		t.Fatalf("%d intervals closed, want 20", len(res))
	}
	for _, r := range res {
		if r.Estimated() {
			t.Fatalf("interval %s closed with an estimate", r.Start)
		}
	}
}

// The price topic can lag the readings: an interval past the grace waits for
// its price rather than carrying an earlier one forward, as long as the
// node's prices have not moved past it.
func TestEngineWaitsForLaggingPrices(t *testing.T) {
	te := newTestEngine(t, DefaultConfig())
	te.addHourlyPrices(t0.Add(-time.Hour), t0)
	var all []Reading
	for i := 0; i < 8; i++ {
		all = append(all, usual(t0.Add(time.Duration(i)*quarter))...)
	}
	if res := te.addAll(all); len(res) != 0 {
		t.Fatalf("%d intervals closed without their prices", len(res))
	}
	var res []Result
	for h := 0; h < 2; h++ {
		from := t0.Add(time.Duration(h) * time.Hour)
		for _, node := range []string{testGenNode, testLoadNode} {
			res = append(res, te.addPrice(Price{Node: node, Market: "RT", Start: from, End: from.Add(time.Hour), USDPerMWh: decimal.NewFromInt(int64(40 + h))})...)
		}
	}
	if len(res) != 8 {
		t.Fatalf("%d intervals closed once prices arrived, want 8", len(res))
	}
	for _, r := range res {
		if r.Export.Price.CarriedFrom || r.Imports[0].Price.CarriedFrom {
			t.Fatalf("interval %s used a carried price", r.Start)
		}
	}
}

// A run of missing readings no longer than InterpolateMaxGap is filled by
// linear interpolation between the meter's values on either side; a longer
// one by the estimate rule. Readings arrive in interval order, as from a
// partition.
func TestEngineInterpolatesShortGaps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		missing []int // intervals where helios does not report
		want    map[int]Wh
	}{
		{"two missing, gap 4", Config{GraceIntervals: 4, InterpolateMaxGap: 4}, []int{1, 2}, map[int]Wh{1: 120 * mwh, 2: 140 * mwh}},
		{"one missing", Config{GraceIntervals: 4, InterpolateMaxGap: 4}, []int{4}, map[int]Wh{4: 205 * mwh}},
		{"two missing, gap 1: previous", Config{GraceIntervals: 4, InterpolateMaxGap: 1}, []int{1, 2}, map[int]Wh{1: 100 * mwh, 2: 100 * mwh}},
		{"two missing, gap 1: zero", Config{GraceIntervals: 4, InterpolateMaxGap: 1, EstimateRule: EstimateZero}, []int{1, 2}, map[int]Wh{1: 0, 2: 0}},
		{"never interpolate", Config{GraceIntervals: 4}, []int{1}, map[int]Wh{1: 100 * mwh}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEngine(t, tc.cfg)
			te.addHourlyPrices(t0, t0.Add(4*time.Hour))
			helios := map[int]Wh{0: 100 * mwh, 3: 160 * mwh, 5: 250 * mwh}
			for i := 0; i < 12; i++ {
				h, ok := helios[i]
				if !ok {
					h = 240 * mwh
				}
				rs := interval(t0.Add(time.Duration(i)*quarter), 300, 10, 20, 0, 20)
				rs[3].Energy = h
				for _, m := range tc.missing {
					if m == i {
						rs = append(rs[:3], rs[4:]...)
					}
				}
				te.addAll(rs)
			}
			got := map[int]ReadingRef{}
			for _, r := range te.results {
				got[int(r.Start.Sub(t0)/quarter)] = r.Readings[3]
			}
			for i, want := range tc.want {
				if g := got[i]; g.Energy != want || g.Quality != Estimated || g.Version != 0 {
					t.Errorf("interval %d: helios estimated %+v, want %d Wh", i, g, want)
				}
			}
		})
	}
}

func TestInterpolate(t *testing.T) {
	for _, tc := range []struct {
		a, b Wh
		k, n int
		want Wh
	}{
		{100, 160, 1, 3, 120}, {100, 160, 2, 3, 140}, {0, 5, 1, 2, 3}, {0, -5, 1, 2, -3}, {10, 0, 1, 3, 7}, {7, 7, 1, 4, 7},
	} {
		if got := interpolate(tc.a, tc.b, tc.k, tc.n); got != tc.want {
			t.Errorf("interpolate(%d, %d, %d/%d) = %d, want %d", tc.a, tc.b, tc.k, tc.n, got, tc.want)
		}
	}
}
