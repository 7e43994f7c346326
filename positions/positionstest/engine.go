// Package positionstest drives the real matching engine into a real ledger
// for the tests of positions and the API: simulated readings and prices go
// through matching.Engine, each closed interval through ledger.Post, and
// each batch through the PostgreSQL store's Commit, as the stream does —
// without Kafka, so these tests do not depend on the stream.
package positionstest

import (
	"context"
	"fmt"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/simulate"
	"github.com/shopspring/decimal"
)

// Engine feeds one site's simulated month to the engine in steps.
type Engine struct {
	Store *postgres.Store
	P     *contracts.Portfolio
	Site  *contracts.Site
	eng   *matching.Engine
	month simulate.Month
	next  int // readings fed so far
	// OnBatch, when set, is called with the results of each batch once
	// it is committed (the hook the API's Publish is).
	OnBatch func([]matching.Result)
}

// New prepares a simulated period of the site (days 0: all of it). Prices
// of the simulated days are filed at once; readings wait for Step.
func New(ctx context.Context, store *postgres.Store, p *contracts.Portfolio, site string, period contracts.Period, days int, seed int64, extra ...matching.Price) (*Engine, error) {
	st, ok := p.Site(site)
	if !ok {
		return nil, fmt.Errorf("positionstest: no site %q", site)
	}
	eng, err := matching.New(p, matching.DefaultConfig())
	if err != nil {
		return nil, err
	}
	e := &Engine{Store: store, P: p, Site: st, eng: eng}
	e.month = simulate.Site(st, period, simulate.Options{Seed: seed, Days: days, Portfolio: p})
	var b ledger.Batch
	b.Source = "positionstest"
	var results []matching.Result
	for _, pr := range append(e.month.Prices, extra...) {
		res, err := eng.AddPrice(pr)
		if err != nil {
			return nil, err
		}
		results = append(results, res...)
		b.Prices = append(b.Prices, ledger.MarketPrice{Node: pr.Node, Market: pr.Market, Start: pr.Start, End: pr.End, USDPerMWh: pr.USDPerMWh, Unit: pr.Unit})
	}
	return e, e.commit(ctx, b, results)
}

// Readings is how many readings the simulated period has; Fed how many
// were fed so far.
func (e *Engine) Readings() int { return len(e.month.Readings) }

// Fed is how many readings Step has fed.
func (e *Engine) Fed() int { return e.next }

// Step feeds the next n readings (fewer at the end) and books the intervals
// they close in one batch; it returns the results booked.
func (e *Engine) Step(ctx context.Context, n int) ([]matching.Result, error) {
	var b ledger.Batch
	b.Source = "positionstest"
	var results []matching.Result
	for ; n > 0 && e.next < len(e.month.Readings); n-- {
		_, res, err := e.eng.AddReading(e.month.Readings[e.next])
		if err != nil {
			return nil, err
		}
		e.next++
		results = append(results, res...)
	}
	return results, e.commit(ctx, b, results)
}

// StepHours feeds the readings of the next hours of event time.
func (e *Engine) StepHours(ctx context.Context, hours int) ([]matching.Result, error) {
	if e.next >= len(e.month.Readings) {
		return nil, nil
	}
	until := e.month.Readings[e.next].Start.Add(time.Duration(hours) * time.Hour)
	n := 0
	for i := e.next; i < len(e.month.Readings) && e.month.Readings[i].Start.Before(until); i++ {
		n++
	}
	return e.Step(ctx, n)
}

// Correct feeds a restated reading (a higher version) and books the
// re-match it causes.
func (e *Engine) Correct(ctx context.Context, r matching.Reading) ([]matching.Result, error) {
	_, res, err := e.eng.AddReading(r)
	if err != nil {
		return nil, err
	}
	return res, e.commit(ctx, ledger.Batch{Source: "positionstest"}, res)
}

// Reading is the i-th simulated reading.
func (e *Engine) Reading(i int) matching.Reading { return e.month.Readings[i] }

func (e *Engine) commit(ctx context.Context, b ledger.Batch, results []matching.Result) error {
	for i := range results {
		ts, iv := ledger.Post(&results[i], e.Site.Location)
		b.Transfers = append(b.Transfers, ts...)
		b.Intervals = append(b.Intervals, iv)
	}
	if len(b.Transfers) == 0 && len(b.Intervals) == 0 && len(b.Prices) == 0 {
		return nil
	}
	if _, err := e.Store.Commit(ctx, b); err != nil {
		return err
	}
	if e.OnBatch != nil && len(results) > 0 {
		e.OnBatch(results)
	}
	return nil
}

// GasPrices is one gas index price per local day of the simulated days, so
// fuel can be costed at a site whose contracts read no gas index.
func GasPrices(site *contracts.Site, period contracts.Period, days int, index string, usdPerMMBtu string) []matching.Price {
	var out []matching.Price
	for d := range days {
		start := time.Date(period.Year, period.Month, 1+d, 0, 0, 0, 0, site.Location)
		out = append(out, matching.Price{Node: index, Market: "GAS", Unit: matching.UnitMMBtu,
			Start: start.UTC(), End: start.AddDate(0, 0, 1).UTC(), USDPerMWh: mustDecimal(usdPerMMBtu)})
	}
	return out
}

func mustDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }
