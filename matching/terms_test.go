package matching_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// hourlySite is a one-hour-interval site in America/Chicago with two
// generation units, station service and two data centers; contracts are
// appended by each test.
const hourlySite = `
parties:
  - {id: gen, name: Gen Co, role: seller}
  - {id: dc1, name: DC One, role: buyer}
  - {id: dc2, name: DC Two, role: buyer}
  - {id: iso, name: ISO, role: grid}
calendars:
  - id: peak-5x16
    holidays: nerc
    bands:
      - {name: peak, days: weekdays, hours_ending: 7-22}
      - {name: off_peak, days: all, hours_ending: 1-24}
sites:
  - id: s
    name: Site
    market: ERCOT
    time_zone: America/Chicago
    interval_minutes: 60
    owner: gen
    capacity_mw: 1000
    generator_node: GEN
    load_node: LOAD
    meters:
      - {id: G1, kind: generation_gross}
      - {id: G2, kind: generation_gross%s}
      - {id: AUX, kind: station_service}
      - {id: L1, kind: load, party: dc1}
      - {id: L2, kind: load, party: dc2}
contracts:
`

func portfolio(t *testing.T, g2 string, contractsYAML string) *contracts.Portfolio {
	t.Helper()
	p, err := contracts.Load("test.yaml", []byte(fmt.Sprintf(hourlySite, g2)+contractsYAML))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hour i of 2028-03-01 in Chicago (a Wednesday; CST, UTC−6).
func hour(i int) time.Time { return time.Date(2028, 3, 1, 6+i, 0, 0, 0, time.UTC) }

type run struct {
	t       *testing.T
	e       *matching.Engine
	results []matching.Result
}

func newRun(t *testing.T, p *contracts.Portfolio) *run {
	t.Helper()
	e, err := matching.New(p, matching.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &run{t: t, e: e}
}

// prices files one hourly price per node for hours [0, n).
func (r *run) prices(n int, usd map[string]string) {
	r.t.Helper()
	for i := range n {
		r.priceAt(i, usd)
	}
}

// priceAt files one price per node for hour i.
func (r *run) priceAt(i int, usd map[string]string) {
	r.t.Helper()
	{
		for node, p := range usd {
			res, err := r.e.AddPrice(matching.Price{Node: node, Market: "RT", Start: hour(i), End: hour(i + 1), USDPerMWh: decimal.RequireFromString(p), Unit: matching.UnitMWh})
			if err != nil {
				r.t.Fatal(err)
			}
			r.results = append(r.results, res...)
		}
	}
}

// hour files one hour's readings in MWh: G1, G2, AUX, L1, L2.
func (r *run) hour(i int, mwh ...string) {
	r.t.Helper()
	for m, id := range []string{"G1", "G2", "AUX", "L1", "L2"} {
		e, err := matching.FromMWh(decimal.RequireFromString(mwh[m]))
		if err != nil {
			r.t.Fatal(err)
		}
		_, res, err := r.e.AddReading(matching.Reading{Site: "s", Meter: id, Start: hour(i), End: hour(i + 1), Energy: e, Quality: matching.Actual, Version: 1})
		if err != nil {
			r.t.Fatal(err)
		}
		r.results = append(r.results, res...)
	}
}

func (r *run) result(i int) matching.Result {
	r.t.Helper()
	for _, res := range r.results {
		if res.Start.Equal(hour(i)) {
			return res
		}
	}
	r.t.Fatalf("hour %d not allocated", i)
	return matching.Result{}
}

func mwh(s string) matching.Wh {
	w, err := matching.FromMWh(decimal.RequireFromString(s))
	if err != nil {
		panic(err)
	}
	return w
}

const followL1 = `
  - id: c1
    seller: gen
    buyer: dc1
    site: s
    meter: L1
    priority: 1
    start: 2028-01-01
    end: 2029-01-01
    volume: {shape: load_following}
    price: {kind: fixed, usd_per_mwh: 50}
`

// Known answers (issue 3), hourly matching: load [5,5,5,5] MWh against
// generation [20,0,20,0] is matched [5,0,5,0], 50% of the load; load
// [10,10] against two plants, [6,0] and [0,8], is matched 14 of 20, 70%.
// These are the worked examples of hourly (24/7) matching: what counts is
// what the plant produced in the same hour, not over the month.
func TestHourlyMatchingKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		name         string
		g1, g2, load []string
		matched      []string
		share        string
	}{
		{"one plant", []string{"20", "0", "20", "0"}, []string{"0", "0", "0", "0"}, []string{"5", "5", "5", "5"}, []string{"5", "0", "5", "0"}, "0.5"},
		{"two plants", []string{"6", "0"}, []string{"0", "8"}, []string{"10", "10"}, []string{"6", "8"}, "0.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t, portfolio(t, "", followL1))
			r.prices(len(tc.load), map[string]string{"GEN": "30", "LOAD": "40"})
			for i := range tc.load {
				r.hour(i, tc.g1[i], tc.g2[i], "0", tc.load[i], "0")
			}
			var matched, load matching.Wh
			for i := range tc.load {
				res := r.result(i)
				if got := res.Deliveries[0].Energy; got != mwh(tc.matched[i]) {
					t.Errorf("hour %d matched %s MWh, want %s", i, got.MWh(), tc.matched[i])
				}
				matched += res.Deliveries[0].Energy
				load += res.Loads[0].Energy
			}
			if share := matched.MWh().Div(load.MWh()); !share.Equal(decimal.RequireFromString(tc.share)) {
				t.Errorf("matched share %s, want %s", share, tc.share)
			}
		})
	}
}

// Known answer (issue 3): 18,500 MWh × $14.55/MWh is $269,175.00 exactly;
// binary floating point gives 269174.99999999994.
func TestDecimalTrap(t *testing.T) {
	got := matching.Money(18_500*matching.WhPerMWh, decimal.RequireFromString("14.55"))
	if !got.Equal(decimal.RequireFromString("269175")) {
		t.Fatalf("18,500 MWh × $14.55 = %s", got)
	}
	if f := 18500 * 14.55; fmt.Sprint(f) != "269174.99999999994" {
		t.Logf("float64 gives %v here (the trap this test guards against)", f)
	}
}

func TestBaseloadShortfallAndPeakBlock(t *testing.T) {
	r := newRun(t, portfolio(t, "", `
  - id: block
    seller: gen
    buyer: dc1
    site: s
    meter: L1
    priority: 1
    start: 2028-01-01
    end: 2029-01-01
    calendar: peak-5x16
    volume: {shape: baseload, mw: 50, during: peak, shortfall_usd_per_mwh: 15}
    price: {kind: fixed, usd_per_mwh: 50}
  - id: follow
    seller: gen
    buyer: dc2
    site: s
    meter: L2
    priority: 2
    start: 2028-01-01
    end: 2029-01-01
    volume: {shape: load_following, capacity_mw: 20}
    price: {kind: fixed, usd_per_mwh: 55}
`))
	r.prices(14, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(5, "100", "0", "0", "80", "30")  // hour ending 6: off-peak, the block calls for nothing
	r.hour(12, "30", "0", "0", "80", "30")  // hour ending 13, peak: 30 MWh for a 50 MWh block
	r.hour(13, "100", "0", "0", "40", "30") // the buyer takes only 40 of its block: no seller shortfall
	off, short, low := r.result(5), r.result(12), r.result(13)
	if d := off.Deliveries[0]; d.Energy != 0 || d.Shortfall != 0 || d.Band != "off_peak" || off.Deliveries[1].Energy != mwh("20") {
		t.Errorf("off-peak: %+v", off.Deliveries)
	}
	if d := short.Deliveries[0]; d.Energy != mwh("30") || d.Shortfall != mwh("20") || d.Volume != mwh("50") || !d.ShortfallUSDPerMWh.Equal(decimal.NewFromInt(15)) || d.Band != "peak" {
		t.Errorf("short peak hour: %+v", d)
	}
	if short.Deliveries[1].Energy != 0 || short.Imports[1].Energy != mwh("30") || short.Imports[0].Energy != mwh("50") {
		t.Errorf("nothing left for priority 2: %+v / %+v", short.Deliveries[1], short.Imports)
	}
	if d := low.Deliveries[0]; d.Energy != mwh("40") || d.Shortfall != 0 || low.Export.Energy != mwh("40") {
		t.Errorf("buyer below its block: %+v, export %s", d, low.Export.Energy.MWh())
	}
}

func TestAsGeneratedPhysicalCappedByLoad(t *testing.T) {
	r := newRun(t, portfolio(t, "", `
  - id: share
    seller: gen
    buyer: dc1
    site: s
    meter: L1
    priority: 1
    start: 2028-01-01
    end: 2029-01-01
    volume: {shape: as_generated, percent: 25}
    price: {kind: fixed, usd_per_mwh: 50}
`))
	r.prices(2, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(0, "110", "0", "10", "80", "5") // 25% of net 100 = 25
	r.hour(1, "210", "0", "10", "30", "5") // 25% of 200 = 50, but the load is 30
	if d := r.result(0).Deliveries[0]; d.Energy != mwh("25") || d.Volume != mwh("25") {
		t.Errorf("hour 0: %+v", d)
	}
	if d, res := r.result(1).Deliveries[0], r.result(1); d.Energy != mwh("30") || res.Export.Energy != mwh("170") {
		t.Errorf("hour 1: %+v, export %s", d, res.Export.Energy.MWh())
	}
}

func TestLossFactorsReferToThePOI(t *testing.T) {
	r := newRun(t, portfolio(t, ", loss_factor: 0.01", followL1))
	r.prices(1, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(0, "100", "50", "2", "60", "10") // G2 delivers 49.5 at the POI
	res := r.result(0)
	if res.Gross != mwh("149.5") || res.Net != mwh("147.5") {
		t.Fatalf("gross %s net %s", res.Gross.MWh(), res.Net.MWh())
	}
	if res.Deliveries[0].Energy != mwh("60") || res.Export.Energy != mwh("87.5") {
		t.Fatalf("delivered %s export %s", res.Deliveries[0].Energy.MWh(), res.Export.Energy.MWh())
	}
	// The readings behind the result stay as metered.
	if res.Readings[1].Energy != mwh("50") {
		t.Fatalf("G2 reading %s, want the metered 50", res.Readings[1].Energy.MWh())
	}
}

func TestAmendmentVersionRecorded(t *testing.T) {
	r := newRun(t, portfolio(t, "", strings.Replace(followL1, "    price: {kind: fixed, usd_per_mwh: 50}\n", `    price: {kind: fixed, usd_per_mwh: 50}
    amendments:
      - version: 2
        effective: 2028-03-02
        price: {kind: fixed, usd_per_mwh: 52.5}
`, 1)))
	r.prices(30, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(23, "100", "0", "0", "10", "0") // 23:00 local on March 1st: version 1
	r.hour(24, "100", "0", "0", "10", "0") // midnight local, March 2nd: version 2
	r.hour(29, "100", "0", "0", "10", "0")
	v1, v2 := r.result(23).Deliveries[0], r.result(24).Deliveries[0]
	if v1.ContractVersion != 1 || !v1.USDPerMWh.Equal(decimal.NewFromInt(50)) {
		t.Errorf("before the amendment: %+v", v1)
	}
	if v2.ContractVersion != 2 || !v2.USDPerMWh.Equal(decimal.RequireFromString("52.5")) {
		t.Errorf("from the amendment: %+v", v2)
	}
}

func TestNegativePriceNoSettlementImports(t *testing.T) {
	r := newRun(t, portfolio(t, "", strings.Replace(followL1, "usd_per_mwh: 50}", "usd_per_mwh: 50, negative_prices: no_settlement}", 1)))
	r.priceAt(0, map[string]string{"GEN": "-5", "LOAD": "40"})
	r.priceAt(1, map[string]string{"GEN": "5", "LOAD": "40"})
	r.hour(0, "100", "0", "0", "10", "0")
	r.hour(1, "100", "0", "0", "10", "0")
	if d, res := r.result(0).Deliveries[0], r.result(0); d.Energy != 0 || res.Imports[0].Energy != mwh("10") || !strings.Contains(d.PriceBasis, "no settlement") {
		t.Errorf("negative hour: %+v, import %s", d, res.Imports[0].Energy.MWh())
	}
	if d := r.result(1).Deliveries[0]; d.Energy != mwh("10") {
		t.Errorf("positive hour: %+v", d)
	}
}

func TestGasIndexedWaitsForTheOperatingDaysGasPrice(t *testing.T) {
	r := newRun(t, portfolio(t, "", strings.Replace(followL1, "price: {kind: fixed, usd_per_mwh: 50}", "price: {kind: gas_indexed, gas: {index: HENRY_HUB, heat_rate: 7.2, vom_usd_per_mwh: 3.5}}", 1)))
	r.prices(1, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(0, "100", "0", "0", "10", "0")
	if len(r.results) != 0 {
		t.Fatalf("allocated without the gas price: %+v", r.results)
	}
	// The gas day of March 1st, as local midnight to midnight.
	res, err := r.e.AddPrice(matching.Price{Node: "HENRY_HUB", Market: "GAS", Start: hour(0), End: hour(24), USDPerMWh: decimal.RequireFromString("3.12"), Unit: matching.UnitMMBtu})
	if err != nil || len(res) != 1 {
		t.Fatalf("gas price closed %d intervals, err %v", len(res), err)
	}
	if d := res[0].Deliveries[0]; !d.USDPerMWh.Equal(decimal.RequireFromString("25.964")) || !strings.Contains(d.PriceBasis, "HENRY_HUB 3.12 × 7.2 + 3.5") {
		t.Fatalf("3.12 × 7.2 + 3.5: %+v", d)
	}
}

func TestVirtualContractMovesNoEnergy(t *testing.T) {
	r := newRun(t, portfolio(t, "", followL1+`
  - id: v
    kind: virtual
    seller: gen
    buyer: dc2
    site: s
    start: 2028-01-01
    end: 2029-01-01
    volume: {shape: baseload, mw: 10}
    price: {kind: fixed, usd_per_mwh: 44}
    virtual: {hub: HUB, positive_paid_by: seller, basis: true}
`))
	r.prices(1, map[string]string{"GEN": "35", "LOAD": "40", "HUB": "36"})
	r.hour(0, "100", "0", "0", "10", "20")
	res := r.result(0)
	if len(res.Deliveries) != 1 || len(res.CFDs) != 1 || res.Export.Energy != mwh("90") || res.Imports[1].Energy != mwh("20") {
		t.Fatalf("virtual contract moved energy: %+v", res)
	}
	c := res.CFDs[0]
	if c.Volume != mwh("10") || !c.Strike.Equal(decimal.NewFromInt(44)) || c.Market.Node != "HUB" || c.Node == nil || c.Node.Node != "GEN" || c.PositivePaidBy != "gen" {
		t.Fatalf("cfd %+v", c)
	}
}

// Emissions (issue 8): gross output × heat rate × 53.06 kg/MMBtu, attributed
// in proportion to the energy delivered and exported, conserved to the gram;
// imports carry the grid's factor.
func TestEmissionsAttributedAndConserved(t *testing.T) {
	p := portfolio(t, "", followL1+`
  - id: c2
    seller: gen
    buyer: dc2
    site: s
    meter: L2
    priority: 1
    start: 2028-01-01
    end: 2029-01-01
    volume: {shape: load_following, capacity_mw: 30}
    price: {kind: fixed, usd_per_mwh: 50}
`)
	p.Sites[0].Emissions = &contracts.Emissions{HeatRate: decimal.RequireFromString("7"), FuelKgPerMMBtu: contracts.DefaultGasKgPerMMBtu, GridKgPerMWh: decimal.NewFromInt(400)}
	r := newRun(t, p)
	r.prices(3, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(0, "100", "0", "0", "40", "50")    // 100 MWh: 7 × 53.06 = 371.42 kg/MWh → 37,142 kg; 40 + 30 delivered, 30 exported; dc2 imports 20
	r.hour(1, "0.000007", "0", "0", "0", "0") // 7 Wh: 2.59994 g → 3 g, to the grid
	r.hour(2, "10", "0", "10", "0", "0")      // station service only
	e := r.result(0).Emissions
	if e == nil || e.PlantGrams != 37_142_000 {
		t.Fatalf("plant emissions %+v, want 37,142,000 g", e)
	}
	want := map[string]int64{"dc1": 14_856_800, "dc2": 11_142_600, "iso": 11_142_600} // 40, 30, 30 of 100
	var sum int64
	for _, a := range e.Attributed {
		if a.Grams != want[a.Party] {
			t.Errorf("%s (%s): %d g, want %d", a.Party, a.Kind, a.Grams, want[a.Party])
		}
		sum += a.Grams
	}
	if sum != e.PlantGrams || len(e.Imports) != 1 || e.Imports[0].Party != "dc2" || e.Imports[0].Grams != 8_000_000 { // 20 MWh × 400 kg
		t.Errorf("attributed %d of %d g; imports %+v", sum, e.PlantGrams, e.Imports)
	}
	if e := r.result(1).Emissions; e.PlantGrams != 3 || len(e.Attributed) != 1 || e.Attributed[0].Party != "iso" || e.Attributed[0].Grams != 3 {
		t.Errorf("7 Wh: %+v", e)
	}
	if e := r.result(2).Emissions; e.PlantGrams != 3_714_200 || e.Attributed[0].Kind != matching.EmissionPlant || e.Attributed[0].Party != "gen" {
		t.Errorf("station service only: %+v", e)
	}
}

// A site may price imports' emissions from a feed of grid emission factors:
// the interval waits for its factor as for a price.
func TestGridEmissionFactorFeed(t *testing.T) {
	p := portfolio(t, "", followL1)
	p.Sites[0].Emissions = &contracts.Emissions{HeatRate: decimal.RequireFromString("7"), FuelKgPerMMBtu: contracts.DefaultGasKgPerMMBtu, GridFactorNode: "GRID_CO2"}
	r := newRun(t, p)
	r.prices(1, map[string]string{"GEN": "30", "LOAD": "40"})
	r.hour(0, "10", "0", "0", "30", "0")
	if len(r.results) != 0 {
		t.Fatal("allocated without the grid's emission factor")
	}
	res, err := r.e.AddPrice(matching.Price{Node: "GRID_CO2", Market: "RT", Start: hour(0), End: hour(1), USDPerMWh: decimal.RequireFromString("412.5"), Unit: matching.UnitKgCO2e})
	if err != nil || len(res) != 1 {
		t.Fatalf("factor closed %d intervals, %v", len(res), err)
	}
	if im := res[0].Emissions.Imports; len(im) != 1 || im[0].Grams != 8_250_000 { // 20 MWh × 412.5 kg
		t.Fatalf("imports %+v", im)
	}
}
