package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
	_ "time/tzdata" // the site's market time zone, for billing periods

	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/migrations"
	"github.com/shopspring/decimal"
)

func init() { register("ledger", measureLedger) }

// ledgerBatchIntervals is how many intervals one ledger batch books: what
// the engine gathers between two commits when it is catching up (stream's
// default FlushIntervals).
const ledgerBatchIntervals = 2000

// ledgerReadingsPerInterval is the meters of the benchmark's site: gross
// generation, station service and three data-center loads.
const ledgerReadingsPerInterval = 5

// measureLedger times offtake's ledger writer (Commit: checks, account
// locks, partitions created on demand, the database's own rules, balances,
// intervals, prices and offsets in one transaction a batch) against raw COPY
// of the very same transfer rows into a table with no key, constraint, index
// or trigger. Both run on the same database, batch by batch, back to back,
// alternating which goes first, so both see the same machine. The ratio is
// the median of the batches' ratios: on a machine shared with other work, a
// burst of load hits one batch pair, not the verdict; the ratio of the whole
// run's totals is reported beside it.
func measureLedger(ctx context.Context, env Env) (Result, error) {
	if _, err := migrations.Apply(ctx, env.DatabaseURL, nil); err != nil {
		return Result{}, err
	}
	store, err := postgres.Open(ctx, env.DatabaseURL)
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	const rawTable = "bench_raw_transfers"
	if err := store.CreateRawTable(ctx, rawTable); err != nil {
		return Result{}, err
	}

	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		return Result{}, err
	}
	intervals := max(env.Readings/ledgerReadingsPerInterval, ledgerBatchIntervals)
	batches := (intervals + ledgerBatchIntervals - 1) / ledgerBatchIntervals
	gen := newLedgerSite(loc)
	var commitTime, rawTime time.Duration
	var pairs []float64 // per batch: raw time ÷ Commit time, measured back to back
	var transfers, intervalRows int
	for i := range batches {
		b := gen.batch(i, min(ledgerBatchIntervals, intervals-i*ledgerBatchIntervals))
		commit := func() error {
			start := time.Now()
			c, err := store.Commit(ctx, b)
			commitTime += time.Since(start)
			if err == nil && c.Inserted != len(b.Transfers) {
				err = fmt.Errorf("batch %d: %d of %d transfers inserted", i, c.Inserted, len(b.Transfers))
			}
			return err
		}
		raw := func() error {
			start := time.Now()
			err := store.RawCopy(ctx, rawTable, b.Transfers)
			rawTime += time.Since(start)
			return err
		}
		first, second := commit, raw
		if i%2 == 1 {
			first, second = raw, commit
		}
		c0, r0 := commitTime, rawTime
		if err := first(); err != nil {
			return Result{}, err
		}
		if err := second(); err != nil {
			return Result{}, err
		}
		pairs = append(pairs, (rawTime-r0).Seconds()/(commitTime-c0).Seconds())
		transfers += len(b.Transfers)
		intervalRows += len(b.Intervals)
		if env.Progress != nil && (i+1)%50 == 0 {
			fmt.Fprintf(env.Progress, "bench ledger: %d of %d batches\n", i+1, batches)
		}
	}
	readings := intervals * ledgerReadingsPerInterval
	commitRate := float64(transfers) / commitTime.Seconds()
	rawRate := float64(transfers) / rawTime.Seconds()
	note := fmt.Sprintf("%d transfers in %d batches of %d intervals", transfers, batches, ledgerBatchIntervals)
	return Result{
		Figures: []Figure{
			{Name: "offtake Commit", Value: commitRate, Unit: "transfers/s", Note: note},
			{Name: "raw COPY, same rows", Value: rawRate, Unit: "transfers/s", Note: "plain table: no key, constraint, index or trigger"},
			{Name: "ledger rows per reading", Value: float64(transfers) / float64(readings), Unit: "transfers/reading",
				Note: fmt.Sprintf("%d readings (%d meters × %d intervals)", readings, ledgerReadingsPerInterval, intervals)},
			{Name: "all rows per reading", Value: float64(transfers+intervalRows) / float64(readings), Unit: "rows/reading",
				Note: "transfers and interval records"},
			{Name: "Commit ÷ raw COPY, whole run", Value: commitRate / rawRate, Unit: "×",
				Note: "total times: more exposed to other load on the machine than the median below"},
		},
		Ratios: []Ratio{{Name: "Commit ÷ raw COPY (median of batches)", Value: median(pairs), Target: 0.6, Met: median(pairs) >= 0.6}},
	}, nil
}

// ledgerSite generates the allocations of a site like the example one: a
// 1,200 MW plant, three data centers under load-following contracts at
// priorities 1, 2 and 2, the grid behind them; mostly exporting, with
// outages where the loads import, and some negative prices. Deterministic.
type ledgerSite struct {
	loc *time.Location
	rng *rand.Rand
}

func newLedgerSite(loc *time.Location) *ledgerSite {
	return &ledgerSite{loc: loc, rng: rand.New(rand.NewPCG(1, 2))}
}

var ledgerT0 = time.Date(2028, 1, 1, 6, 0, 0, 0, time.UTC)

// batch posts n consecutive intervals, the i-th batch's, into one batch.
func (g *ledgerSite) batch(i, n int) ledger.Batch {
	b := ledger.Batch{Source: "bench"}
	for k := range n {
		start := ledgerT0.Add(time.Duration(i*ledgerBatchIntervals+k) * 15 * time.Minute)
		r, prices := g.interval(start)
		ts, iv := ledger.Post(r, g.loc)
		b.Transfers = append(b.Transfers, ts...)
		b.Intervals = append(b.Intervals, iv)
		b.Prices = append(b.Prices, prices...)
	}
	b.Offsets = []ledger.Offset{{Consumer: "bench", Topic: "offtake.generation", Partition: 0, Next: int64((i + 1) * n * ledgerReadingsPerInterval)}}
	return b
}

// mwh draws an energy around meanMWh, ± spread (a fraction), in whole Wh.
func (g *ledgerSite) mwh(meanMWh, spread float64) matching.Wh {
	v := meanMWh * (1 + spread*(2*g.rng.Float64()-1))
	return matching.Wh(v * matching.WhPerMWh)
}

func (g *ledgerSite) price(low, high int64) decimal.Decimal {
	cents := low*100 + g.rng.Int64N((high-low)*100)
	return decimal.New(cents, -2)
}

// interval allocates one interval: contract 1 first, then 2 and 3 pro rata,
// the rest exported; loads not covered import.
func (g *ledgerSite) interval(start time.Time) (*matching.Result, []ledger.MarketPrice) {
	gross := g.mwh(290, 0.05)
	if g.rng.IntN(20) == 0 { // an outage: one turbine of three
		gross = gross * 2 / 3
	}
	station := g.mwh(9, 0.1)
	net := gross - station
	loads := []matching.Wh{g.mwh(100, 0.1), g.mwh(87.5, 0.1), g.mwh(65, 0.1)}
	genPrice := g.price(-5, 95)
	loadPrice := genPrice.Add(decimal.New(175, -2))
	end := start.Add(15 * time.Minute)
	ref := func(node string, p decimal.Decimal) matching.PriceRef {
		return matching.PriceRef{Node: node, Market: "RT", Start: start, USDPerMWh: p}
	}
	buyers := []string{"northwind", "helios", "cedar"}
	meters := []string{"DC-NORTHWIND", "DC-HELIOS", "DC-CEDAR"}
	rates := []decimal.Decimal{decimal.RequireFromString("58.00"), decimal.RequireFromString("61.25"), decimal.RequireFromString("64.80")}

	delivered := make([]matching.Wh, 3)
	left := net
	delivered[0] = min(loads[0], left)
	left -= delivered[0]
	if ask := loads[1] + loads[2]; ask <= left {
		delivered[1], delivered[2] = loads[1], loads[2]
	} else {
		delivered[1] = left * loads[1] / ask
		delivered[2] = left - delivered[1]
	}
	left -= delivered[1] + delivered[2]

	r := &matching.Result{
		Site: "coyote-flats", Start: start, End: end, Revision: 1, Seller: "mesa-ridge", Grid: "ercot",
		Gross: gross, Station: station, Net: net,
		Export:      matching.GridFlow{Party: "mesa-ridge", Meter: "CFEC-GROSS", Energy: left, Price: ref("CFEC_CC1_RN", genPrice)},
		PlantImport: matching.GridFlow{Party: "mesa-ridge", Meter: "CFEC-GROSS", Price: ref("CFEC_CC1_RN", genPrice)},
		Readings: []matching.ReadingRef{
			{Meter: "CFEC-GROSS", Energy: gross, Quality: matching.Actual, Version: 1},
			{Meter: "CFEC-AUX", Energy: station, Quality: matching.Actual, Version: 1},
		},
	}
	for c := range 3 {
		r.Readings = append(r.Readings, matching.ReadingRef{Meter: meters[c], Energy: loads[c], Quality: matching.Actual, Version: 1})
		if delivered[c] > 0 {
			r.Deliveries = append(r.Deliveries, matching.Delivery{
				Contract: "ppa-" + buyers[c], ContractVersion: 1, Seller: "mesa-ridge", Buyer: buyers[c], Meter: meters[c],
				Energy: delivered[c], USDPerMWh: rates[c],
			})
		}
		if imported := loads[c] - delivered[c]; imported > 0 {
			r.Imports = append(r.Imports, matching.GridFlow{Party: buyers[c], Meter: meters[c], Energy: imported, Price: ref("LZ_WEST", loadPrice)})
		}
	}
	prices := []ledger.MarketPrice{
		{Node: "CFEC_CC1_RN", Market: "RT", Start: start, End: end, USDPerMWh: genPrice},
		{Node: "LZ_WEST", Market: "RT", Start: start, End: end, USDPerMWh: loadPrice},
	}
	return r, prices
}

// median of xs (xs is reordered).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}
