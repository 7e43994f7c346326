// Package pgsource reads settlement's period totals from the ledger in
// PostgreSQL: one aggregation per question, summed exactly in NUMERIC.
package pgsource

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// Source implements settlement.Source over a ledger database.
type Source struct {
	p           *contracts.Portfolio
	pool        querier
	gridParties []string
	siteIDs     []string // with siteZones: each site's market time zone, for the
	siteZones   []string // billing period an interval belongs to
	siteLocs    []*time.Location
	market      string // the market whose prices are averaged (the engine's, RT)
}

// bounds are each site's period bounds (in the order of siteIDs), as two
// query arguments: an interval outside them is a prior-period adjustment.
func (s *Source) bounds(period contracts.Period) []any {
	lo := make([]time.Time, len(s.siteLocs))
	hi := make([]time.Time, len(s.siteLocs))
	for i, loc := range s.siteLocs {
		lo[i], hi[i] = period.Bounds(loc)
	}
	return []any{lo, hi}
}

// querier is what the source reads through: the pool, or the transaction
// of a finalizing run.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// New reads the ledger in pool for the portfolio p: its grid parties are
// left out of grid summaries (the grid is the other side of every grid leg),
// and its sites' time zones date each interval in its own billing period.
func New(pool *pgxpool.Pool, p *contracts.Portfolio) *Source { return newSource(pool, p) }

func newSource(q querier, p *contracts.Portfolio) *Source {
	s := &Source{p: p, pool: q, market: "RT"}
	for _, pt := range p.Parties {
		if pt.Role == contracts.RoleGrid {
			s.gridParties = append(s.gridParties, pt.ID)
		}
	}
	for _, st := range p.Sites {
		s.siteIDs = append(s.siteIDs, st.ID)
		s.siteZones = append(s.siteZones, st.TimeZone)
		s.siteLocs = append(s.siteLocs, st.Location)
	}
	return s
}

var _ settlement.Source = (*Source)(nil)

// Concurrent reports whether the source may be read from two goroutines at
// once: yes over a pool, no inside a transaction.
func (s *Source) Concurrent() bool {
	_, ok := s.pool.(*pgxpool.Pool)
	return ok
}

// Prepare readies the period's partition for settlement's reads: a month
// just booked in bulk may have no planner statistics yet (autovacuum
// analyzes it later), and without them the interval rows' aggregation
// takes a plan several times slower. It analyzes the partition when it
// never was; a role not allowed to (only the owner may) goes on without.
func (s *Source) Prepare(ctx context.Context, period contracts.Period) {
	part := "transfers_" + strings.ReplaceAll(period.String(), "-", "_")
	var never bool
	if err := s.pool.QueryRow(ctx, `
		SELECT coalesce(last_analyze IS NULL AND last_autoanalyze IS NULL, false)
		  FROM pg_stat_user_tables WHERE relname = $1`, part).Scan(&never); err != nil || !never {
		return
	}
	if ex, ok := s.pool.(interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}); ok && !s.inTx() {
		_, _ = ex.Exec(ctx, "ANALYZE "+pgx.Identifier{part}.Sanitize()) // the name is built from a checked period, and quoted
	}
}

// inTx reports whether the source reads inside a transaction (a finalizing
// run), where a failed statement would abort it.
func (s *Source) inTx() bool {
	_, pool := s.pool.(*pgxpool.Pool)
	return !pool
}

// ContractTotals sums each contract's legs in the period by price, band and
// who paid. A payment booked against a negative price, or a difference the
// seller pays, runs from the seller: settlement signs it by the payer. A
// reversal (a correction cancelling an earlier transfer) counts its
// quantity negative, and its money runs the other way. Transfers whose
// interval lies in another billing period are prior-period adjustments and
// say which period (Of).
func (s *Source) ContractTotals(ctx context.Context, period contracts.Period) ([]settlement.LegTotal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT t.contract_id, t.contract_version, t.leg,
		       coalesce(t.price_usd_per_mwh, 0)::text,
		       CASE WHEN t.unit = 'USD' THEN split_part(t.debit_account, ':', 1) ELSE '' END,
		       coalesce(t.band, ''),
		       coalesce(t.price_basis, '') LIKE '%below zero: adjusted%',
		       CASE WHEN z.tz IS NULL OR (t.interval_start >= z.lo AND t.interval_start < z.hi) THEN ''
		            ELSE to_char(t.interval_start AT TIME ZONE z.tz, 'YYYY-MM') END,
		       sum(CASE WHEN t.reverses IS NULL THEN t.quantity_mwh ELSE -t.quantity_mwh END)::text,
		       sum(CASE WHEN t.unit = 'USD' THEN t.amount
		                WHEN t.unit = 'tCO2e' AND t.reverses IS NULL THEN t.amount
		                WHEN t.unit = 'tCO2e' THEN -t.amount ELSE 0 END)::text,
		       count(*)
		  FROM transfers t
		  LEFT JOIN unnest($2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[]) AS z(site, tz, lo, hi) ON z.site = t.site
		 WHERE t.period = $1 AND t.contract_id IS NOT NULL AND t.contract_id <> ''
		 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
		 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`, append([]any{period.String(), s.siteIDs, s.siteZones}, s.bounds(period)...)...)
	if err != nil {
		return nil, fmt.Errorf("contract totals %s: %w", period, err)
	}
	defer rows.Close()
	var out []settlement.LegTotal
	for rows.Next() {
		var t settlement.LegTotal
		var leg, price, of, qty, amount string
		if err := rows.Scan(&t.Contract, &t.ContractVersion, &leg, &price, &t.Payer, &t.Band, &t.Adjusted, &of, &qty, &amount, &t.Transfers); err != nil {
			return nil, fmt.Errorf("contract totals %s: %w", period, err)
		}
		t.Leg = ledger.Leg(leg)
		if of != "" && of != period.String() {
			t.Of = of
		}
		if t.USDPerMWh, t.QuantityMWh, t.AmountUSD, err = decimals(price, qty, amount); err != nil {
			return nil, fmt.Errorf("contract totals %s: %w", period, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ContractIntervals lists, for every contract with transfers in the period,
// the intervals behind its lines, net of corrections: energy delivered (or a
// virtual contract's volume), the money its buyer pays (negative when the
// seller does), the price of the latest revision, and whether any reading
// behind the interval was estimated. One pass over the period's transfers.
func (s *Source) ContractIntervals(ctx context.Context, period contracts.Period, buyers map[string]string) (map[string][]settlement.IntervalRow, error) {
	ids := make([]string, 0, len(buyers))
	payers := make([]string, 0, len(buyers))
	for id, b := range buyers {
		ids = append(ids, id)
		payers = append(payers, b)
	}
	// Grouped by contract and interval start only (the site, the end and
	// the period follow from those, in Go): the fewer keys, the cheaper the
	// pass over the period's transfers. A month of 1,000 contracts is a
	// million groups: the aggregation gets the memory to hash them (the
	// default work_mem would spill it to disk), for this transaction only.
	q := s.pool
	if pool, ok := s.pool.(*pgxpool.Pool); ok {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, fmt.Errorf("intervals of %s: %w", period, err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // read only
		q = tx
	}
	if _, err := q.(interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}).Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil {
		return nil, fmt.Errorf("intervals of %s: %w", period, err)
	}
	rows, err := q.Query(ctx, `
		SELECT contract_id, interval_start,
		       -- exact decimals as integers of their minimum units (MWh: 6
		       -- places; USD: 12, split at the point so no part overflows):
		       -- decoding a million numerics costs more than the query
		       (mwh * 1000000)::bigint,
		       trunc(usd)::bigint, ((usd - trunc(usd)) * 1000000000000)::bigint,
		       (price * 1000000)::bigint,
		       band
		  FROM (SELECT t.contract_id, t.interval_start,
		               sum(CASE WHEN (t.leg = 'delivery') OR (t.leg = 'cfd' AND t.unit = 'USD')
		                        THEN CASE WHEN t.reverses IS NULL THEN t.quantity_mwh ELSE -t.quantity_mwh END ELSE 0 END) AS mwh,
		               sum(CASE WHEN t.unit = 'USD' THEN CASE WHEN split_part(t.debit_account, ':', 1) = c.buyer THEN t.amount ELSE -t.amount END ELSE 0 END) AS usd,
		               -- the price: every revision of an interval prices it alike (same terms,
		               -- same market price), so any booked, unreversed payment's will do
		               coalesce(max(t.price_usd_per_mwh) FILTER (WHERE t.leg IN ('delivery_payment', 'cfd') AND t.reverses IS NULL), 0) AS price,
		               coalesce(max(t.band), '') AS band
		          FROM transfers t
		          JOIN unnest($2::text[], $3::text[]) AS c(contract, buyer) ON c.contract = t.contract_id
		         WHERE t.period = $1 AND t.unit <> 'tCO2e'
		         GROUP BY t.contract_id, t.interval_start) g`, period.String(), ids, payers)
	if err != nil {
		return nil, fmt.Errorf("intervals of %s: %w", period, err)
	}
	type key struct {
		site  string
		start int64
	}
	out := map[string][]settlement.IntervalRow{}
	type ref struct {
		contract string
		i        int
		k        key
	}
	var refs []ref
	var first, last time.Time
	sites := map[string]*contracts.Site{}
	for i := range s.p.Contracts {
		c := &s.p.Contracts[i]
		if st, ok := s.p.Site(c.Site); ok {
			sites[c.ID] = st
		}
	}
	for rows.Next() {
		var r settlement.IntervalRow
		var contract string
		// numeric scans into decimal.Decimal exactly (the store's pool
		// registers pgx-shopspring-decimal), in binary: no text round trip
		var mwh, usdInt, usdFrac, price int64
		if err := rows.Scan(&contract, &r.Start, &mwh, &usdInt, &usdFrac, &price, &r.Band); err != nil {
			rows.Close()
			return nil, fmt.Errorf("intervals of %s: %w", period, err)
		}
		r.MWh, r.USDPerMWh = decimal.New(mwh, -6), decimal.New(price, -6)
		r.AmountUSD = decimal.New(usdInt, 0).Add(decimal.New(usdFrac, -12))
		r.Start = r.Start.UTC()
		r.Quality = "actual"
		site := sites[contract]
		if site != nil {
			r.End = r.Start.Add(site.Interval())
			if of := contracts.PeriodOf(r.Start, site.Location); of != period {
				r.Of = of.String()
			}
		}
		if first.IsZero() || r.Start.Before(first) {
			first = r.Start
		}
		if r.Start.After(last) {
			last = r.Start
		}
		out[contract] = append(out[contract], r)
		siteID := ""
		if site != nil {
			siteID = site.ID
		}
		refs = append(refs, ref{contract, len(out[contract]) - 1, key{siteID, r.Start.Unix()}})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("intervals of %s: %w", period, err)
	}
	for _, rs := range out { // in time order (the query does not sort: Go sorts 1,000 short lists faster)
		sort.Slice(rs, func(i, j int) bool { return rs[i].Start.Before(rs[j].Start) })
	}
	refs = refs[:0] // the sort moved rows: index them again
	for contract, rs := range out {
		siteID := ""
		if st := sites[contract]; st != nil {
			siteID = st.ID
		}
		for i, r := range rs {
			refs = append(refs, ref{contract, i, key{siteID, r.Start.Unix()}})
		}
	}
	if len(refs) == 0 {
		return out, nil
	}
	// Quality, from the interval records: estimated when any revision was.
	est, err := s.pool.Query(ctx, `
		SELECT DISTINCT site, interval_start FROM intervals
		 WHERE estimated AND interval_start >= $1 AND interval_start <= $2`, first, last)
	if err != nil {
		return nil, fmt.Errorf("intervals of %s: %w", period, err)
	}
	estimated := map[key]bool{}
	var site string
	var start time.Time
	if _, err := pgx.ForEachRow(est, []any{&site, &start}, func() error {
		estimated[key{site, start.Unix()}] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("intervals of %s: %w", period, err)
	}
	for _, r := range refs {
		if estimated[r.k] {
			out[r.contract][r.i].Quality = "estimated"
		}
	}
	return out, nil
}

// EmissionsAnnex is each buyer's emissions of the period hour by hour: the
// plant's emissions attributed to the energy delivered to it, and the
// grid's on the energy it imported, net of corrections. One pass.
func (s *Source) EmissionsAnnex(ctx context.Context, period contracts.Period, buyers []string) (map[string][]settlement.EmissionHour, error) {
	accounts := make([]string, len(buyers))
	for i, b := range buyers {
		accounts[i] = b + ":emissions"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT split_part(credit_account, ':', 1), date_trunc('hour', interval_start),
		       sum(CASE WHEN leg = 'emissions' THEN sign * quantity_mwh ELSE 0 END)::text,
		       sum(CASE WHEN leg = 'emissions' THEN sign * amount ELSE 0 END)::text,
		       sum(CASE WHEN leg = 'import_emissions' THEN sign * quantity_mwh ELSE 0 END)::text,
		       sum(CASE WHEN leg = 'import_emissions' THEN sign * amount ELSE 0 END)::text
		  FROM (SELECT interval_start, leg, quantity_mwh, amount,
		               -- a reversal moves the emissions back: count it from its debit side
		               CASE WHEN reverses IS NULL THEN credit_account ELSE debit_account END AS credit_account,
		               CASE WHEN reverses IS NULL THEN 1 ELSE -1 END AS sign
		          FROM transfers
		         WHERE period = $1 AND unit = 'tCO2e' AND leg IN ('emissions', 'import_emissions')) x
		 WHERE credit_account = ANY($2)
		 GROUP BY 1, 2 ORDER BY 1, 2`, period.String(), accounts)
	if err != nil {
		return nil, fmt.Errorf("emissions of %s: %w", period, err)
	}
	out := map[string][]settlement.EmissionHour{}
	var h settlement.EmissionHour
	var buyer, a, b, c, d string
	if _, err := pgx.ForEachRow(rows, []any{&buyer, &h.Start, &a, &b, &c, &d}, func() error {
		var err error
		if h.DeliveredMWh, h.DeliveredT, h.ImportedMWh, err = decimals(a, b, c); err != nil {
			return err
		}
		if h.ImportedT, err = decimal.NewFromString(d); err != nil {
			return err
		}
		h.Start = h.Start.UTC()
		out[buyer] = append(out[buyer], h)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("emissions of %s: %w", period, err)
	}
	return out, nil
}

// AveragePrice is the time-weighted average of a node's market prices with
// a start in [from, to); ok is false when there are none.
func (s *Source) AveragePrice(ctx context.Context, node string, from, to time.Time) (decimal.Decimal, bool, error) {
	var avg *string
	err := s.pool.QueryRow(ctx, `
		SELECT (sum(usd_per_mwh * extract(epoch FROM interval_end - interval_start))
		        / nullif(sum(extract(epoch FROM interval_end - interval_start)), 0))::text
		  FROM prices WHERE node = $1 AND market = $2 AND interval_start >= $3 AND interval_start < $4`,
		node, s.market, from, to).Scan(&avg)
	if err != nil {
		return decimal.Zero, false, fmt.Errorf("average price of %s: %w", node, err)
	}
	if avg == nil {
		return decimal.Zero, false, nil
	}
	d, err := decimal.NewFromString(*avg)
	if err != nil {
		return decimal.Zero, false, fmt.Errorf("average price of %s: %w", node, err)
	}
	return d.Round(contracts.PriceDecimals), true, nil
}

var gridLegs = []string{
	string(ledger.Export), string(ledger.ExportPayment), string(ledger.Import), string(ledger.ImportPayment),
	string(ledger.PlantImport), string(ledger.PlantImportPayment),
}

// GridTotals sums each non-grid party's grid legs in the period: quantity in
// MWh, and money received (positive) or paid (negative).
func (s *Source) GridTotals(ctx context.Context, period contracts.Period) ([]settlement.GridTotal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT party, leg, sum(quantity_mwh)::text, sum(signed)::text, count(*)
		  FROM (SELECT split_part(credit_account, ':', 1) AS party, leg,
		               CASE WHEN reverses IS NULL THEN quantity_mwh ELSE -quantity_mwh END AS quantity_mwh, amount AS signed
		          FROM transfers WHERE period = $1 AND leg = ANY($2)
		        UNION ALL
		        SELECT split_part(debit_account, ':', 1), leg,
		               CASE WHEN reverses IS NULL THEN quantity_mwh ELSE -quantity_mwh END, -amount
		          FROM transfers WHERE period = $1 AND leg = ANY($2)) x
		 WHERE party <> ALL($3)
		 GROUP BY party, leg
		 ORDER BY party, leg`, period.String(), gridLegs, s.gridParties)
	if err != nil {
		return nil, fmt.Errorf("grid totals %s: %w", period, err)
	}
	defer rows.Close()
	var out []settlement.GridTotal
	for rows.Next() {
		var t settlement.GridTotal
		var leg, qty, amount string
		if err := rows.Scan(&t.Party, &leg, &qty, &amount, &t.Transfers); err != nil {
			return nil, fmt.Errorf("grid totals %s: %w", period, err)
		}
		t.Leg = ledger.Leg(leg)
		if t.QuantityMWh, t.AmountUSD, _, err = decimals(qty, amount, "0"); err != nil {
			return nil, fmt.Errorf("grid totals %s: %w", period, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func decimals(a, b, c string) (decimal.Decimal, decimal.Decimal, decimal.Decimal, error) {
	var out [3]decimal.Decimal
	for i, s := range []string{a, b, c} {
		d, err := decimal.NewFromString(s)
		if err != nil {
			return out[0], out[1], out[2], fmt.Errorf("numeric %q: %w", s, err)
		}
		out[i] = d
	}
	return out[0], out[1], out[2], nil
}
