// Package pgsource reads the inputs of positions from the ledger in
// PostgreSQL: one aggregation per question, summed exactly in NUMERIC and
// read as text into decimals. Every query is parameterized.
package pgsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/positions"
	"github.com/shopspring/decimal"
)

// Source reads positions from a ledger database.
type Source struct {
	pool      *pgxpool.Pool
	p         *contracts.Portfolio
	fuelIndex string
	curve     positions.Curve // from a file, merged over the prices table's FWD prices
}

// Options tune a Source.
type Options struct {
	FuelIndex string          // the gas index fuel is costed at (default positions.DefaultFuelIndex)
	Curve     positions.Curve // forward prices from a curve file; they win over FWD prices of the same length
}

// New reads the ledger in pool for the portfolio p.
func New(pool *pgxpool.Pool, p *contracts.Portfolio, opt Options) *Source {
	if opt.FuelIndex == "" {
		opt.FuelIndex = positions.DefaultFuelIndex
	}
	return &Source{pool: pool, p: p, fuelIndex: opt.FuelIndex, curve: opt.Curve}
}

// Report builds the positions of a period from what the ledger holds.
func (s *Source) Report(ctx context.Context, period contracts.Period) (*positions.Report, error) {
	in, err := s.Inputs(ctx, period)
	if err != nil {
		return nil, err
	}
	return positions.Build(s.p, period, in), nil
}

// LatestPeriod is the billing period of the latest interval booked (the
// first site's time zone); ok is false when the ledger holds none.
func (s *Source) LatestPeriod(ctx context.Context) (contracts.Period, bool, error) {
	var start *time.Time
	var site string
	err := s.pool.QueryRow(ctx, `SELECT site, interval_start FROM intervals ORDER BY interval_start DESC LIMIT 1`).Scan(&site, &start)
	if errors.Is(err, pgx.ErrNoRows) {
		return contracts.Period{}, false, nil
	}
	if err != nil {
		return contracts.Period{}, false, fmt.Errorf("positions: latest period: %w", err)
	}
	loc := time.UTC
	if st, ok := s.p.Site(site); ok {
		loc = st.Location
	} else if len(s.p.Sites) > 0 {
		loc = s.p.Sites[0].Location
	}
	return contracts.PeriodOf(*start, loc), true, nil
}

// Version is a number that changes whenever the ledger books a batch: the
// latest batch id (0 for an empty ledger).
func (s *Source) Version(ctx context.Context) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM batches`).Scan(&id); err != nil {
		return 0, fmt.Errorf("positions: ledger version: %w", err)
	}
	return id, nil
}

// Inputs reads the ledger totals of a period.
func (s *Source) Inputs(ctx context.Context, period contracts.Period) (positions.Inputs, error) {
	in := positions.Inputs{FuelIndex: s.fuelIndex, Gas: map[string]decimal.Decimal{}}
	var err error
	if in.Legs, err = s.legs(ctx, period); err != nil {
		return in, err
	}
	if in.Sites, err = s.sites(ctx, period); err != nil {
		return in, err
	}
	if in.Hours, err = s.hours(ctx, period); err != nil {
		return in, err
	}
	if in.Forward, err = s.forward(ctx, period); err != nil {
		return in, err
	}
	if in.Gas, err = s.gas(ctx); err != nil {
		return in, err
	}
	return in, nil
}

func (s *Source) zones() (ids, zones []string) {
	for _, st := range s.p.Sites {
		ids, zones = append(ids, st.ID), append(zones, st.TimeZone)
	}
	return ids, zones
}

// legs sums the period's transfers by site, contract, leg and direction.
// A reversal is summed in the direction of what it reverses, negated.
func (s *Source) legs(ctx context.Context, period contracts.Period) ([]positions.LegSum, error) {
	ids, zones := s.zones()
	rows, err := s.pool.Query(ctx, `
		SELECT t.site, coalesce(t.contract_id, ''), t.leg, t.unit,
		       split_part(CASE WHEN t.reverses IS NULL THEN t.debit_account ELSE t.credit_account END, ':', 1),
		       split_part(CASE WHEN t.reverses IS NULL THEN t.credit_account ELSE t.debit_account END, ':', 1),
		       coalesce(to_char(t.interval_start AT TIME ZONE z.tz, 'YYYY-MM') <> t.period, false),
		       coalesce(sum(CASE WHEN t.reverses IS NULL THEN t.quantity_mwh ELSE -t.quantity_mwh END), 0)::text,
		       sum(CASE WHEN t.reverses IS NULL THEN t.amount ELSE -t.amount END)::text
		  FROM transfers t
		  LEFT JOIN unnest($2::text[], $3::text[]) AS z(site, tz) ON z.site = t.site
		 WHERE t.period = $1 AND t.unit IN ('MWh', 'USD', 'tCO2e')
		 GROUP BY 1, 2, 3, 4, 5, 6, 7
		 ORDER BY 1, 2, 3, 5, 6, 7`, period.String(), ids, zones)
	if err != nil {
		return nil, fmt.Errorf("positions %s: legs: %w", period, err)
	}
	var out []positions.LegSum
	var l positions.LegSum
	var leg, unit, qty, amount string
	_, err = pgx.ForEachRow(rows, []any{&l.Site, &l.Contract, &leg, &unit, &l.From, &l.To, &l.Prior, &qty, &amount}, func() error {
		l.Leg, l.Unit = ledger.Leg(leg), ledger.Unit(unit)
		var err error
		if l.QuantityMWh, l.Amount, err = decimals(qty, amount); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("positions %s: legs: %w", period, err)
	}
	return out, nil
}

// bounds are each site's period bounds, as arrays for unnest.
func (s *Source) bounds(period contracts.Period) (ids []string, from, to []time.Time) {
	for _, st := range s.p.Sites {
		f, t := period.Bounds(st.Location)
		ids, from, to = append(ids, st.ID), append(from, f), append(to, t)
	}
	return ids, from, to
}

// sites sums each site's intervals in the period (by interval time, each
// at its latest revision) and costs their gross output at the gas index
// price in force (the latest at or before the interval).
func (s *Source) sites(ctx context.Context, period contracts.Period) ([]positions.SiteSum, error) {
	ids, from, to := s.bounds(period)
	rows, err := s.pool.Query(ctx, `
		WITH latest AS (
		    SELECT DISTINCT ON (i.site, i.interval_start) i.site, i.interval_start, i.interval_end, i.gross_mwh, i.net_mwh
		      FROM intervals i
		      JOIN unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS b(site, lo, hi)
		        ON b.site = i.site AND i.interval_start >= b.lo AND i.interval_start < b.hi
		     ORDER BY i.site, i.interval_start, i.revision DESC)
		SELECT l.site, count(*), max(l.interval_end), sum(l.gross_mwh)::text, sum(l.net_mwh)::text,
		       coalesce(sum(l.gross_mwh) FILTER (WHERE g.usd IS NOT NULL), 0)::text,
		       coalesce(sum(l.gross_mwh * g.usd), 0)::text
		  FROM latest l
		  LEFT JOIN LATERAL (SELECT p.usd_per_mwh AS usd FROM prices p
		                      WHERE p.node = $4 AND p.market = 'GAS' AND p.interval_start <= l.interval_start
		                      ORDER BY p.interval_start DESC LIMIT 1) g ON true
		 GROUP BY l.site ORDER BY l.site`, ids, from, to, s.fuelIndex)
	if err != nil {
		return nil, fmt.Errorf("positions %s: sites: %w", period, err)
	}
	var out []positions.SiteSum
	var x positions.SiteSum
	var gross, net, fuelMWh, fuelUSD string
	_, err = pgx.ForEachRow(rows, []any{&x.Site, &x.Intervals, &x.AsOf, &gross, &net, &fuelMWh, &fuelUSD}, func() error {
		var err error
		if x.GrossMWh, x.NetMWh, err = decimals(gross, net); err != nil {
			return err
		}
		if x.FuelGrossMWh, x.FuelGrossUSD, err = decimals(fuelMWh, fuelUSD); err != nil {
			return err
		}
		x.AsOf = x.AsOf.UTC()
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("positions %s: sites: %w", period, err)
	}
	return out, nil
}

// hours sums each party's deliveries and imports per hour (UTC hours: the
// local hours of every zone whose offset is whole hours).
func (s *Source) hours(ctx context.Context, period contracts.Period) ([]positions.HourSum, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT t.site,
		       split_part(CASE WHEN t.reverses IS NULL THEN t.credit_account ELSE t.debit_account END, ':', 1),
		       date_trunc('hour', t.interval_start AT TIME ZONE 'UTC'),
		       coalesce(sum(CASE WHEN t.leg = 'delivery' THEN CASE WHEN t.reverses IS NULL THEN t.amount ELSE -t.amount END END), 0)::text,
		       coalesce(sum(CASE WHEN t.leg = 'import' THEN CASE WHEN t.reverses IS NULL THEN t.amount ELSE -t.amount END END), 0)::text
		  FROM transfers t
		 WHERE t.period = $1 AND t.leg IN ('delivery', 'import') AND t.unit = 'MWh'
		 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, period.String())
	if err != nil {
		return nil, fmt.Errorf("positions %s: hours: %w", period, err)
	}
	var out []positions.HourSum
	var h positions.HourSum
	var delivered, imported string
	_, err = pgx.ForEachRow(rows, []any{&h.Site, &h.Party, &h.Hour, &delivered, &imported}, func() error {
		var err error
		if h.DeliveredMWh, h.ImportedMWh, err = decimals(delivered, imported); err != nil {
			return err
		}
		h.Hour = time.Date(h.Hour.Year(), h.Hour.Month(), h.Hour.Day(), h.Hour.Hour(), 0, 0, 0, time.UTC)
		out = append(out, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("positions %s: hours: %w", period, err)
	}
	return out, nil
}

// forward reads the FWD prices that overlap the period (any site's bounds)
// and merges the curve file over them.
func (s *Source) forward(ctx context.Context, period contracts.Period) (positions.Curve, error) {
	_, from, to := s.bounds(period)
	lo, hi := time.Time{}, time.Time{}
	for i := range from {
		if lo.IsZero() || from[i].Before(lo) {
			lo = from[i]
		}
		if to[i].After(hi) {
			hi = to[i]
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT node, interval_start, interval_end, usd_per_mwh::text FROM prices
		 WHERE market = 'FWD' AND interval_start < $2 AND interval_end > $1
		 ORDER BY node, interval_start`, lo, hi)
	if err != nil {
		return positions.Curve{}, fmt.Errorf("positions %s: forward prices: %w", period, err)
	}
	var points []positions.CurvePoint
	var p positions.CurvePoint
	var price string
	_, err = pgx.ForEachRow(rows, []any{&p.Node, &p.Start, &p.End, &price}, func() error {
		var err error
		if p.USDPerMWh, err = decimal.NewFromString(price); err != nil {
			return err
		}
		p.Start, p.End = p.Start.UTC(), p.End.UTC()
		points = append(points, p)
		return nil
	})
	if err != nil {
		return positions.Curve{}, fmt.Errorf("positions %s: forward prices: %w", period, err)
	}
	c, err := positions.NewCurve(points)
	if err != nil {
		return c, fmt.Errorf("positions %s: %w", period, err)
	}
	return c.Merge(s.curve), nil
}

// gas reads the latest price of each gas index.
func (s *Source) gas(ctx context.Context) (map[string]decimal.Decimal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (node) node, usd_per_mwh::text FROM prices
		 WHERE market = 'GAS' ORDER BY node, interval_start DESC`)
	if err != nil {
		return nil, fmt.Errorf("positions: gas prices: %w", err)
	}
	out := map[string]decimal.Decimal{}
	var node, price string
	_, err = pgx.ForEachRow(rows, []any{&node, &price}, func() error {
		d, err := decimal.NewFromString(price)
		out[node] = d
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("positions: gas prices: %w", err)
	}
	return out, nil
}

// Series reads the chart points of a site's intervals starting at or after
// since, each at its latest revision, oldest first.
func (s *Source) Series(ctx context.Context, site string, since time.Time) ([]positions.Point, error) {
	rows, err := s.pool.Query(ctx, `
		WITH latest AS (
		    SELECT DISTINCT ON (interval_start) interval_start, interval_end, revision, gross_mwh, net_mwh, export_mwh
		      FROM intervals WHERE site = $1 AND interval_start >= $2
		     ORDER BY interval_start, revision DESC),
		flows AS (
		    SELECT t.interval_start, t.leg,
		           split_part(CASE WHEN t.reverses IS NULL THEN t.credit_account ELSE t.debit_account END, ':', 1) AS party,
		           sum(CASE WHEN t.reverses IS NULL THEN t.amount ELSE -t.amount END) AS mwh
		      FROM transfers t
		     WHERE t.site = $1 AND t.interval_start >= $2 AND t.unit = 'MWh' AND t.leg IN ('delivery', 'import')
		     GROUP BY 1, 2, 3)
		SELECT l.interval_start, l.interval_end, l.revision, l.gross_mwh::text, l.net_mwh::text, l.export_mwh::text,
		       coalesce(f.leg, ''), coalesce(f.party, ''), coalesce(f.mwh, 0)::text
		  FROM latest l LEFT JOIN flows f ON f.interval_start = l.interval_start
		 ORDER BY l.interval_start, f.party, f.leg`, site, since)
	if err != nil {
		return nil, fmt.Errorf("positions: series of %s: %w", site, err)
	}
	var out []positions.Point
	var start, end time.Time
	var revision int
	var gross, net, export, leg, party, mwh string
	loads := map[string]*positions.PointLoad{}
	var order []string
	flush := func() {
		if len(out) == 0 {
			return
		}
		pt := &out[len(out)-1]
		for _, p := range order {
			l := loads[p]
			l.MatchedPercent = pct(l.FromPlantMWh, l.LoadMWh)
			pt.Loads = append(pt.Loads, *l)
			pt.LoadMWh = pt.LoadMWh.Add(l.LoadMWh)
			pt.DeliveredMWh = pt.DeliveredMWh.Add(l.FromPlantMWh)
			pt.ImportMWh = pt.ImportMWh.Add(l.LoadMWh.Sub(l.FromPlantMWh))
		}
		loads, order = map[string]*positions.PointLoad{}, nil
	}
	_, err = pgx.ForEachRow(rows, []any{&start, &end, &revision, &gross, &net, &export, &leg, &party, &mwh}, func() error {
		if len(out) == 0 || !out[len(out)-1].Start.Equal(start.UTC()) {
			flush()
			g, n, err := decimals(gross, net)
			if err != nil {
				return err
			}
			x, err := decimal.NewFromString(export)
			if err != nil {
				return err
			}
			out = append(out, positions.Point{Site: site, Start: start.UTC(), End: end.UTC(), Revision: revision,
				GrossMWh: g, NetMWh: n, ExportMWh: x, Loads: []positions.PointLoad{}})
		}
		if leg == "" {
			return nil
		}
		e, err := decimal.NewFromString(mwh)
		if err != nil {
			return err
		}
		l := loads[party]
		if l == nil {
			l = &positions.PointLoad{Party: party}
			loads[party] = l
			order = append(order, party)
		}
		l.LoadMWh = l.LoadMWh.Add(e)
		if leg == string(ledger.Delivery) {
			l.FromPlantMWh = l.FromPlantMWh.Add(e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("positions: series of %s: %w", site, err)
	}
	flush()
	return out, nil
}

// LatestInterval is the end of the latest interval booked for a site.
func (s *Source) LatestInterval(ctx context.Context, site string) (time.Time, bool, error) {
	var end *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(interval_end) FROM intervals WHERE site = $1`, site).Scan(&end); err != nil {
		return time.Time{}, false, fmt.Errorf("positions: latest interval of %s: %w", site, err)
	}
	if end == nil {
		return time.Time{}, false, nil
	}
	return end.UTC(), true, nil
}

func pct(a, b decimal.Decimal) decimal.Decimal {
	if b.Sign() == 0 {
		return decimal.Zero
	}
	return a.Mul(decimal.NewFromInt(100)).DivRound(b, 2)
}

func decimals(a, b string) (decimal.Decimal, decimal.Decimal, error) {
	x, err := decimal.NewFromString(a)
	if err != nil {
		return x, x, err
	}
	y, err := decimal.NewFromString(b)
	return x, y, err
}
