package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// Committed is what one Commit wrote.
type Committed struct {
	BatchID    int64 // the id of the batches row the transaction wrote
	Inserted   int   // transfers newly booked
	Duplicates int   // transfers of the batch already booked (or repeated in it): skipped
}

// copyColumns are the transfers columns Commit copies, in row order
// (transferRows); recorded_at is the transaction's time.
var copyColumns = []string{
	"id", "batch_id", "debit_account", "credit_account", "unit", "amount", "leg", "site",
	"interval_start", "interval_end", "period", "revision", "contract_id", "contract_version",
	"quantity_mwh", "price_usd_per_mwh", "price_node", "price_market", "price_start", "price_carried",
	"band", "price_basis", "readings", "reverses",
}

// batchIDColumn is where the batch id goes in a row of copyColumns.
const batchIDColumn = 1

// copyColumnList is copyColumns for SQL.
const copyColumnList = `id, batch_id, debit_account, credit_account, unit, amount, leg, site,
	interval_start, interval_end, period, revision, contract_id, contract_version,
	quantity_mwh, price_usd_per_mwh, price_node, price_market, price_start, price_carried,
	band, price_basis, readings, reverses`

// When some of a batch's transfers are already booked (a replay), they are
// copied here first: COPY cannot skip rows, so the insert into transfers
// reads from this table with ON CONFLICT. It lives for one transaction.
const createCopyTable = `CREATE TEMP TABLE ledger_copy ` + copyTableColumns + ` ON COMMIT DROP`

// copyTableColumns declares copyColumns with their types.
const copyTableColumns = `(
	id uuid, batch_id bigint, debit_account text, credit_account text, unit text, amount numeric, leg text, site text,
	interval_start timestamptz, interval_end timestamptz, period text, revision int,
	contract_id text, contract_version int, quantity_mwh numeric, price_usd_per_mwh numeric,
	price_node text, price_market text, price_start timestamptz, price_carried boolean,
	band text, price_basis text, readings jsonb, reverses uuid
)`

// New accounts appear with the first transfer that names them; their party,
// kind and unit are derived from the id, so there is nothing to configure.
const insertAccounts = `INSERT INTO accounts (id, party, kind, unit)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
ON CONFLICT DO NOTHING`

const insertBatch = `INSERT INTO batches (source) VALUES ($1) RETURNING id`

// Every batch locks the accounts it touches in the same (byte) order before
// changing any, so two batches sharing accounts queue instead of
// deadlocking.
const lockAccounts = `SELECT count(*) FROM (
	SELECT id FROM accounts WHERE id = ANY($1::text[]) ORDER BY id COLLATE "C" FOR UPDATE
) locked`

// book inserts the copied transfers, skipping ids already booked, and moves
// each touched balance once by the net of the rows actually inserted: a
// replayed batch inserts nothing and so moves nothing.
const book = `WITH inserted AS (
	INSERT INTO transfers (` + copyColumnList + `)
	SELECT ` + copyColumnList + ` FROM ledger_copy c
	-- Booked rows never reach the insert: a finalized period's partition
	-- refuses any row before the conflict is seen, even a duplicate.
	WHERE NOT EXISTS (SELECT FROM transfers t WHERE t.id = c.id AND t.period = c.period)
	ON CONFLICT (id, period) DO NOTHING
	RETURNING debit_account, credit_account, amount
), moves AS (
	SELECT credit_account AS account, amount FROM inserted
	UNION ALL
	SELECT debit_account, -amount FROM inserted
), deltas AS (
	SELECT account, sum(amount) AS delta FROM moves GROUP BY account
), balances AS (
	UPDATE accounts a SET balance = a.balance + d.delta, updated_batch = $1
	FROM deltas d WHERE a.id = d.account
	RETURNING a.id
), counted AS (
	UPDATE batches SET transfers = (SELECT count(*) FROM inserted) WHERE id = $1
)
SELECT (SELECT count(*) FROM inserted)`

// moveBalances adds each account's delta once (the fast path, where every
// transfer of the batch was inserted and the deltas are computed in Go).
const moveBalances = `UPDATE accounts a SET balance = a.balance + d.delta, updated_batch = $3
FROM unnest($1::text[], $2::numeric[]) AS d(id, delta) WHERE a.id = d.id`

const countBatch = `UPDATE batches SET transfers = $2 WHERE id = $1`

// conflicts finds copied transfers whose id was booked before with another
// movement (only run when some ids were already there).
const conflicts = `SELECT c.id::text, t.amount::text, t.unit, t.debit_account, t.credit_account, t.leg,
	c.amount::text, c.unit, c.debit_account, c.credit_account, c.leg
FROM ledger_copy c JOIN transfers t ON t.id = c.id
WHERE t.batch_id <> $1
  AND (t.debit_account, t.credit_account, t.unit, t.amount, t.leg)
      IS DISTINCT FROM (c.debit_account, c.credit_account, c.unit, c.amount, c.leg)
ORDER BY c.id LIMIT 5`

// The first record of an interval's revision stands: it is what was booked.
const insertIntervals = `INSERT INTO intervals (site, interval_start, interval_end, revision, period,
	gross_mwh, net_mwh, export_mwh, import_mwh, estimated, batch_id)
SELECT site, s, e, rev, period, g, n, x, i, est, $11
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::int[], $5::text[],
	$6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::boolean[])
	AS u(site, s, e, rev, period, g, n, x, i, est)
ON CONFLICT (site, interval_start, revision) DO NOTHING`

// A restated price replaces the stored one (transfers keep their own copy).
const upsertPrices = `INSERT INTO prices (node, market, interval_start, interval_end, usd_per_mwh, unit)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::numeric[], $6::text[])
ON CONFLICT (node, market, interval_start) DO UPDATE
SET interval_end = excluded.interval_end, usd_per_mwh = excluded.usd_per_mwh, unit = excluded.unit
WHERE (prices.interval_end, prices.usd_per_mwh, prices.unit) IS DISTINCT FROM (excluded.interval_end, excluded.usd_per_mwh, excluded.unit)`

// next_offset becomes GREATEST(stored, new): the row is only updated when the
// new offset is ahead, so a late duplicate batch never rewinds a consumer and
// batch_id keeps naming the batch that moved it last.
const upsertOffsets = `INSERT INTO consumer_offsets (consumer, topic, partition, next_offset, batch_id, updated_at)
SELECT c, t, p, n, $5, now() FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) AS u(c, t, p, n)
ON CONFLICT (consumer, topic, partition) DO UPDATE
SET next_offset = excluded.next_offset, batch_id = excluded.batch_id, updated_at = excluded.updated_at
WHERE consumer_offsets.next_offset < excluded.next_offset`

// Commit writes b in one transaction — the only way anything is written to
// the ledger — and reports what it inserted. It first checks every part of b
// (see the package documentation); a batch that breaks a rule gets an error
// wrapping ErrInvalid and nothing is written. Transfers whose ids are
// already booked are skipped, so committing a batch again changes no balance
// and inserts nothing (a new batches row records the attempt); one booked
// before with another amount, unit, accounts or leg fails the whole batch
// with ErrConflict. A transfer dated in a finalized billing period fails the
// whole batch with ErrPeriodFinalized (a replay of transfers booked there
// before the finalization is still a no-op). Consumer offsets only move
// forward. The transaction is retried on serialization failures and
// deadlocks.
func (s *Store) Commit(ctx context.Context, b ledger.Batch) (Committed, error) {
	c, err := s.check(&b)
	if err != nil {
		return Committed{}, err
	}
	rows, err := s.transferRows(c.transfers)
	if err != nil {
		return Committed{}, err
	}
	if err := s.ensurePeriods(ctx, c.periods); err != nil {
		return Committed{}, fmt.Errorf("ledger/postgres: commit: %w", err)
	}
	acc := accountArrays(c.accounts)
	deltas := balanceDeltas(c.transfers, c.accounts)
	pr := priceArrays(b.Prices)
	off := offsetArrays(b.Offsets)

	ivRows := intervalRows(b.Intervals)

	var out Committed
	err = s.write(ctx, func(tx pgx.Tx) error {
		out = Committed{}
		copying := len(rows) > 0 || len(ivRows) > 0
		q := &pgx.Batch{}
		if len(c.accounts) > 0 {
			q.Queue(insertAccounts, acc.ids, acc.parties, acc.kinds, acc.units)
		}
		q.Queue(insertBatch, b.Source).QueryRow(func(r pgx.Row) error { return r.Scan(&out.BatchID) })
		if len(rows) > 0 {
			q.Queue(lockAccounts, acc.ids).QueryRow(func(r pgx.Row) error {
				var n int
				if err := r.Scan(&n); err != nil {
					return err
				}
				if n != len(acc.ids) {
					return fmt.Errorf("locked %d of the batch's %d accounts", n, len(acc.ids))
				}
				return nil
			})
		}
		if copying {
			// The fast path's savepoint, sent with the rest: one round trip
			// less.
			q.Queue(`SAVEPOINT fast_path`)
		}
		if err := tx.SendBatch(ctx, q).Close(); err != nil {
			return err
		}

		slow := false
		if copying {
			for _, r := range rows {
				r[batchIDColumn] = out.BatchID
			}
			for _, r := range ivRows {
				r[intervalBatchIDColumn] = out.BatchID
			}
			var err error
			if slow, err = copyFast(ctx, tx, rows, ivRows); err != nil {
				return err
			}
		}

		q = &pgx.Batch{}
		if copying && !slow {
			q.Queue(`RELEASE SAVEPOINT fast_path`)
		}
		if len(rows) > 0 {
			if slow {
				q.Queue(book, out.BatchID).QueryRow(func(r pgx.Row) error { return r.Scan(&out.Inserted) })
			} else {
				out.Inserted = len(rows)
				q.Queue(moveBalances, deltas.ids, deltas.amounts, out.BatchID)
				q.Queue(countBatch, out.BatchID, len(rows))
			}
		}
		if slow && len(b.Intervals) > 0 {
			iv := intervalArrays(b.Intervals)
			q.Queue(insertIntervals, iv.sites, iv.starts, iv.ends, iv.revisions, iv.periods,
				iv.gross, iv.net, iv.export, iv.imports, iv.estimated, out.BatchID)
		}
		if len(off.consumers) > 0 {
			q.Queue(upsertOffsets, off.consumers, off.topics, off.partitions, off.next, out.BatchID)
		}
		if len(pr.nodes) > 0 {
			q.Queue(`SAVEPOINT prices`)
		}
		if q.Len() > 0 {
			if err := tx.SendBatch(ctx, q).Close(); err != nil {
				return err
			}
		}
		if len(pr.nodes) > 0 {
			if err := copyPrices(ctx, tx, pr); err != nil {
				return err
			}
		}

		if slow && out.Inserted < len(rows) {
			return checkConflicts(ctx, tx, out.BatchID)
		}
		return nil
	})
	if err != nil {
		return Committed{}, fmt.Errorf("ledger/postgres: commit: %w", s.ruleError(ctx, err))
	}
	out.Duplicates = len(b.Transfers) - out.Inserted
	return out, nil
}

// copyFast copies the transfers straight into transfers and the interval
// records into intervals: the fast path, taken whenever none of them is
// booked yet, where the rows are written once (COPY, no conflict handling)
// and the balances move by deltas computed in Go. If some of them is already
// booked (a replayed batch, or two engine instances around a rebalance), a
// copy fails on a primary key — or on a finalized period's constraint, which
// a replay of what it booked before must pass — and everything is rolled
// back to the savepoint fast_path the caller set; the transfers are then
// copied into the temporary table for book, which skips the booked ones, and
// slow reports that (the caller then inserts the intervals with ON CONFLICT).
func copyFast(ctx context.Context, tx pgx.Tx, rows, ivRows [][]any) (slow bool, err error) {
	if len(rows) > 0 {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"transfers"}, copyColumns, pgx.CopyFromRows(rows))
	}
	if err == nil && len(ivRows) > 0 {
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"intervals"}, intervalColumns, pgx.CopyFromRows(ivRows))
	}
	if err == nil {
		return false, nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || (pgErr.Code != "23505" && !finalizedConstraint(pgErr)) {
		return false, fmt.Errorf("copy transfers: %w", err)
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT fast_path`); err != nil {
		return false, err
	}
	if len(rows) == 0 {
		return true, nil
	}
	if _, err := tx.Exec(ctx, createCopyTable); err != nil {
		return false, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_copy"}, copyColumns, pgx.CopyFromRows(rows)); err != nil {
		return false, fmt.Errorf("copy transfers: %w", err)
	}
	return true, nil
}

// copyPrices copies the batch's prices into prices: in the steady state
// every price is new. If one is stored already (a restated price, or prices
// read again after a restart), the copy is rolled back to the savepoint
// prices the caller set and the prices are upserted instead: a restated
// price replaces the stored one.
func copyPrices(ctx context.Context, tx pgx.Tx, pr priceCols) error {
	rows := make([][]any, len(pr.nodes))
	for i := range rows {
		rows[i] = []any{pr.nodes[i], pr.markets[i], pr.starts[i], pr.ends[i], pr.prices[i], pr.units[i]}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"prices"}, []string{"node", "market", "interval_start", "interval_end", "usd_per_mwh", "unit"}, pgx.CopyFromRows(rows))
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return fmt.Errorf("copy prices: %w", err)
	}
	if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT prices`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, upsertPrices, pr.nodes, pr.markets, pr.starts, pr.ends, pr.prices, pr.units); err != nil {
		return fmt.Errorf("upsert prices: %w", err)
	}
	return nil
}

// checkConflicts fails the transaction when a skipped transfer differs from
// the one booked under its id.
func checkConflicts(ctx context.Context, tx pgx.Tx, batchID int64) error {
	rows, err := tx.Query(ctx, conflicts, batchID)
	if err != nil {
		return err
	}
	var found []string
	var id, bookedAmt, bookedUnit, bookedDebit, bookedCredit, bookedLeg, amt, unit, debit, credit, leg string
	if _, err := pgx.ForEachRow(rows, []any{&id, &bookedAmt, &bookedUnit, &bookedDebit, &bookedCredit, &bookedLeg, &amt, &unit, &debit, &credit, &leg}, func() error {
		found = append(found, fmt.Sprintf("%s is booked as %s %s %s→%s (%s), the batch has %s %s %s→%s (%s)",
			id, bookedAmt, bookedUnit, bookedDebit, bookedCredit, bookedLeg, amt, unit, debit, credit, leg))
		return nil
	}); err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("transfer %s: %w", strings.Join(found, "; "), ErrConflict)
	}
	return nil
}

// transferRows turns the transfers into COPY rows (columns copyColumns).
// Amounts are written at exactly their unit's scale, so a balance's text is
// the same whatever exponent the computation left on a decimal. Facts a
// transfer does not have are NULL: no contract on a grid leg, no price on an
// energy leg.
func (s *Store) transferRows(ts []*ledger.Transfer) ([][]any, error) {
	rows := make([][]any, len(ts))
	// Post gives all transfers of an interval one Readings slice: encode it
	// once.
	var lastRefs *ledger.ReadingRef
	var lastLen int
	var lastJSON any
	for i, t := range ts {
		var readings any
		if len(t.Readings) > 0 {
			if &t.Readings[0] == lastRefs && len(t.Readings) == lastLen {
				readings = lastJSON
			} else {
				js, err := json.Marshal(t.Readings)
				if err != nil {
					return nil, fmt.Errorf("ledger/postgres: transfer %s readings: %w", uuidString(t.ID), err)
				}
				readings, lastRefs, lastLen, lastJSON = js, &t.Readings[0], len(t.Readings), js
			}
		}
		var contractVer, price, priceCarried, reverses any
		if t.Contract != "" {
			contractVer = t.ContractVer
		}
		if !t.Price.IsZero() {
			price, priceCarried = t.Price, t.PriceCarried
		}
		if t.Reverses != ([16]byte{}) {
			reverses = t.Reverses
		}
		amount := t.Amount
		if scale := s.units[t.Unit]; amount.Exponent() != -scale {
			amount = amount.Round(scale) // the same text in the database whatever the exponent
		}
		rows[i] = []any{
			t.ID, nil, t.Debit, t.Credit, string(t.Unit), amount, string(t.Leg), t.Site,
			t.IntervalStart, t.IntervalEnd, t.Period, t.Revision, nullString(t.Contract), contractVer,
			nullDecimal(t.QuantityMWh), price, nullString(t.PriceNode), nullString(t.PriceMarket), nullTime(t.PriceStart), priceCarried,
			nullString(t.Band), nullString(t.PriceBasis), readings, reverses,
		}
	}
	return rows, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullDecimal(d decimal.Decimal) any {
	if d.IsZero() {
		return nil
	}
	return d
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// deltaCols is each touched account's balance change, in lock order.
type deltaCols struct {
	ids     []string
	amounts []decimal.Decimal
}

// balanceDeltas sums the transfers into each account's change: credits
// minus debits. accounts is the batch's accounts in lock order.
func balanceDeltas(ts []*ledger.Transfer, accounts []account) deltaCols {
	sum := make(map[string]decimal.Decimal, len(accounts))
	for _, t := range ts {
		sum[t.Credit] = sum[t.Credit].Add(t.Amount)
		sum[t.Debit] = sum[t.Debit].Sub(t.Amount)
	}
	var c deltaCols
	for _, a := range accounts {
		if d := sum[a.id]; !d.IsZero() {
			c.ids = append(c.ids, a.id)
			c.amounts = append(c.amounts, d)
		}
	}
	return c
}

// ensurePeriods makes sure each billing period has its periods row and its
// partition of transfers, in a transaction of its own (creating a partition
// locks the whole table briefly), before a batch dated in them is written.
// Periods are never dropped, so what was ensured once is remembered.
func (s *Store) ensurePeriods(ctx context.Context, periods []string) error {
	for _, p := range periods {
		if _, ok := s.periods.Load(p); ok {
			continue
		}
		if _, err := s.pool.Exec(ctx, `SELECT ledger_ensure_period($1)`, p); err != nil {
			return fmt.Errorf("billing period %s: %w", p, err)
		}
		s.periods.Store(p, true)
	}
	return nil
}

// ruleError wraps the errors the database raises for a broken ledger rule
// with the sentinel callers match: ErrPeriodFinalized for a transfer dated in
// a finalized period (saying by whom and when), ErrInvalid for one the
// database refuses otherwise (accounts not holding its unit, a reversal that
// cancels nothing).
func (s *Store) ruleError(ctx context.Context, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case finalizedConstraint(pgErr):
		period := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(pgErr.ConstraintName, "period_"), "_is_finalized"), "_", "-")
		var by string
		var at time.Time
		if s.pool.QueryRow(ctx, `SELECT finalized_by, finalized_at FROM periods WHERE period = $1`, period).Scan(&by, &at) == nil {
			return fmt.Errorf("billing period %s was finalized by %s at %s: book the correction in an open period: %w",
				period, by, at.UTC().Format(time.RFC3339), ErrPeriodFinalized)
		}
		return fmt.Errorf("billing period %s is finalized: book the correction in an open period: %w", period, ErrPeriodFinalized)
	case pgErr.Code == codeReversal || pgErr.Code == "23514":
		return fmt.Errorf("%s: %w", pgErr.Message, ErrInvalid)
	}
	return err
}

// finalizedConstraint reports whether err is a row refused by the
// constraint ledger_finalize_period puts on a finalized period's partition.
func finalizedConstraint(err *pgconn.PgError) bool {
	return err.Code == "23514" && strings.HasPrefix(err.ConstraintName, "period_") && strings.HasSuffix(err.ConstraintName, "_is_finalized")
}

// The SQLSTATEs offtake's triggers raise (class OT, offtake's own).
const (
	codePeriodFinalized = "OT001" // a billing period finalized before
	codeReversal        = "OT002" // a reversal that does not cancel exactly one booked transfer
)

// The parts of a batch as column arrays, for INSERT … SELECT FROM unnest:
// one statement per table whatever the batch's size.

type accountCols struct{ ids, parties, kinds, units []string }

func accountArrays(as []account) accountCols {
	var c accountCols
	for _, a := range as {
		c.ids = append(c.ids, a.id)
		c.parties = append(c.parties, a.party)
		c.kinds = append(c.kinds, string(a.kind))
		c.units = append(c.units, string(a.unit))
	}
	return c
}

// intervalColumns are the intervals columns the fast path copies, in the
// order of intervalRows.
var intervalColumns = []string{"site", "interval_start", "interval_end", "revision", "period",
	"gross_mwh", "net_mwh", "export_mwh", "import_mwh", "estimated", "batch_id"}

// intervalBatchIDColumn is where the batch id goes in an interval row.
const intervalBatchIDColumn = 10

// intervalRows turns interval records into COPY rows (intervalColumns).
func intervalRows(ivs []ledger.Interval) [][]any {
	rows := make([][]any, len(ivs))
	for i, iv := range ivs {
		rows[i] = []any{iv.Site, iv.Start, iv.End, int32(iv.Revision), iv.Period,
			iv.GrossMWh, iv.NetMWh, iv.ExportMWh, iv.ImportMWh, iv.Estimated, nil}
	}
	return rows
}

type intervalCols struct {
	sites, periods              []string
	starts, ends                []time.Time
	revisions                   []int32
	gross, net, export, imports []decimal.Decimal
	estimated                   []bool
}

func intervalArrays(ivs []ledger.Interval) intervalCols {
	var c intervalCols
	for _, iv := range ivs {
		c.sites = append(c.sites, iv.Site)
		c.starts = append(c.starts, iv.Start)
		c.ends = append(c.ends, iv.End)
		c.revisions = append(c.revisions, int32(iv.Revision))
		c.periods = append(c.periods, iv.Period)
		c.gross = append(c.gross, iv.GrossMWh)
		c.net = append(c.net, iv.NetMWh)
		c.export = append(c.export, iv.ExportMWh)
		c.imports = append(c.imports, iv.ImportMWh)
		c.estimated = append(c.estimated, iv.Estimated)
	}
	return c
}

type priceCols struct {
	nodes, markets, units []string
	starts, ends          []time.Time
	prices                []decimal.Decimal
}

// priceArrays keeps the last of the batch's prices for each node, market and
// start (one statement cannot upsert a row twice), in key order.
func priceArrays(ps []ledger.MarketPrice) priceCols {
	type key struct {
		node, market string
		start        int64
	}
	last := map[key]int{}
	for i, p := range ps {
		last[key{p.Node, p.Market, p.Start.UnixNano()}] = i
	}
	idx := make([]int, 0, len(last))
	for _, i := range last {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(strings.Compare(ps[a].Node, ps[b].Node), strings.Compare(ps[a].Market, ps[b].Market), ps[a].Start.Compare(ps[b].Start))
	})
	var c priceCols
	for _, i := range idx {
		p := ps[i]
		c.nodes = append(c.nodes, p.Node)
		c.markets = append(c.markets, p.Market)
		c.starts = append(c.starts, p.Start)
		c.ends = append(c.ends, p.End)
		c.prices = append(c.prices, p.USDPerMWh)
		unit := p.Unit
		if unit == "" {
			unit = "MWh"
		}
		c.units = append(c.units, unit)
	}
	return c
}

type offsetCols struct {
	consumers, topics []string
	partitions        []int32
	next              []int64
}

// offsetArrays keeps the greatest of the batch's offsets for each consumer,
// topic and partition, in key order (the order their rows are locked in).
func offsetArrays(os []ledger.Offset) offsetCols {
	type key struct {
		consumer, topic string
		partition       int
	}
	best := map[key]int64{}
	for _, o := range os {
		k := key{o.Consumer, o.Topic, o.Partition}
		if n, ok := best[k]; !ok || o.Next > n {
			best[k] = o.Next
		}
	}
	keys := make([]key, 0, len(best))
	for k := range best {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(strings.Compare(a.consumer, b.consumer), strings.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	var c offsetCols
	for _, k := range keys {
		c.consumers = append(c.consumers, k.consumer)
		c.topics = append(c.topics, k.topic)
		c.partitions = append(c.partitions, int32(k.partition))
		c.next = append(c.next, best[k])
	}
	return c
}
