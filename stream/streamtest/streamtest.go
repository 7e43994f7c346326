// Package streamtest builds inputs for stream tests and benchmarks: a
// portfolio of many sites shaped like the example (a plant, station service
// and three data centers under three load-following PPAs), and the Kafka
// messages of a simulated period for them.
package streamtest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/messages"
	"github.com/offtake/offtake/simulate"
	"github.com/offtake/offtake/stream"
)

const parties = `parties:
  - {id: mesa-ridge, name: Mesa Ridge Power LLC, role: seller, invoice_prefix: MRP}
  - {id: northwind, name: Northwind Compute Inc., role: buyer}
  - {id: helios, name: Helios AI Campus LLC, role: buyer}
  - {id: cedar, name: Cedar Labs Corp., role: buyer}
  - {id: ercot, name: ERCOT (grid), role: grid}
`

const site = `  - id: %[1]s
    name: Test site %[1]s
    market: ERCOT
    time_zone: America/Chicago
    interval_minutes: 15
    owner: mesa-ridge
    grid: ercot
    capacity_mw: 1200
    generator_node: CFEC_CC1_RN
    load_node: LZ_WEST
    meters:
      - {id: CFEC-GROSS, kind: generation_gross}
      - {id: CFEC-AUX, kind: station_service}
      - {id: DC-NORTHWIND, kind: load, party: northwind}
      - {id: DC-HELIOS, kind: load, party: helios}
      - {id: DC-CEDAR, kind: load, party: cedar}
`

const contract = `  - id: ppa-%[2]s-%[1]s
    kind: physical
    seller: mesa-ridge
    buyer: %[2]s
    site: %[1]s
    meter: %[3]s
    priority: %[4]d
    start: 2028-01-01
    end: 2038-01-01
    volume: {shape: load_following, capacity_mw: %[5]d}
    price: {kind: fixed, usd_per_mwh: %[6]s}
`

// SiteID is the id of the i-th site of a Portfolio.
func SiteID(i int) string { return fmt.Sprintf("site-%03d", i) }

// MetersPerSite is how many meters each site of a Portfolio has.
const MetersPerSite = 5

// PortfolioYAML is a contract file with n sites (SiteID(0) …), each a plant
// with station service and three data centers under three load-following
// PPAs at priorities 1, 2 and 2. Every site prices at the same two nodes.
func PortfolioYAML(n int) []byte {
	var b strings.Builder
	b.WriteString(parties)
	b.WriteString("sites:\n")
	for i := range n {
		fmt.Fprintf(&b, site, SiteID(i))
	}
	b.WriteString("contracts:\n")
	for i := range n {
		id := SiteID(i)
		fmt.Fprintf(&b, contract, id, "northwind", "DC-NORTHWIND", 1, 450, "58.00")
		fmt.Fprintf(&b, contract, id, "helios", "DC-HELIOS", 2, 400, "61.25")
		fmt.Fprintf(&b, contract, id, "cedar", "DC-CEDAR", 2, 300, "64.80")
	}
	return []byte(b.String())
}

// Portfolio loads PortfolioYAML(n).
func Portfolio(n int) (*contracts.Portfolio, error) {
	return contracts.Load("streamtest.yaml", PortfolioYAML(n))
}

// Input is a simulated period for every site of a portfolio, as Kafka
// messages.
type Input struct {
	Prices   []stream.Message // the two nodes' prices, once (every site shares them)
	Readings []stream.Message // in interval order; within an interval, site by site
}

// All is the prices, then the readings.
func (in Input) All() []stream.Message {
	return append(append([]stream.Message{}, in.Prices...), in.Readings...)
}

// Simulate simulates the period for every site of p, each with its own seed
// (seed + its index) so sites differ; prices come from the first site's
// simulation.
func Simulate(p *contracts.Portfolio, period contracts.Period, seed int64, days int, t stream.Topics) Input {
	var in Input
	perSite := make([][]stream.Message, len(p.Sites))
	for i := range p.Sites {
		s := &p.Sites[i]
		m := simulate.Site(s, period, simulate.Options{Seed: seed + int64(i), Days: days})
		if i == 0 {
			for _, pr := range m.Prices {
				in.Prices = append(in.Prices, stream.Message{Topic: t.Prices, Key: []byte(pr.Node), Value: messages.EncodePrice(pr)})
			}
		}
		for _, r := range m.Readings {
			meter, _ := s.Meter(r.Meter)
			topic := t.Consumption
			if meter.Kind.Generation() {
				topic = t.Generation
			}
			perSite[i] = append(perSite[i], stream.Message{Topic: topic, Key: []byte(s.ID), Value: messages.EncodeReading(r)})
		}
	}
	// Interleave the sites interval by interval, as meters report in real time.
	for j := 0; len(perSite) > 0 && j < len(perSite[0]); j += MetersPerSite {
		for _, rs := range perSite {
			in.Readings = append(in.Readings, rs[j:min(j+MetersPerSite, len(rs))]...)
		}
	}
	return in
}

// Disorder returns readings (as Simulate orders them, for a portfolio of
// sites sites) the way a real feed delivers them: shuffled within windows
// of windowIntervals intervals, so no reading moves further than that from
// its place (keep it below the engine's grace, or intervals close with
// estimates), and about one in dupEvery sent again up to three windows
// later (a duplicate, or a late copy of a reading of an interval already
// closed). Deterministic for a seed.
func Disorder(readings []stream.Message, sites, windowIntervals, dupEvery int, seed int64) []stream.Message {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xd150))
	window := max(1, sites*MetersPerSite*windowIntervals)
	out := append([]stream.Message(nil), readings...)
	for i := 0; i < len(out); i += window {
		w := out[i:min(i+window, len(out))]
		rng.Shuffle(len(w), func(a, b int) { w[a], w[b] = w[b], w[a] })
	}
	if dupEvery <= 0 {
		return out
	}
	var withDups []stream.Message
	later := map[int][]stream.Message{}
	for i, m := range out {
		withDups = append(withDups, m)
		withDups = append(withDups, later[i]...)
		delete(later, i)
		if rng.IntN(dupEvery) == 0 {
			at := i + 1 + rng.IntN(3*window)
			later[at] = append(later[at], m)
		}
	}
	for i := len(out); len(later) > 0; i++ {
		withDups = append(withDups, later[i]...)
		delete(later, i)
	}
	return withDups
}
