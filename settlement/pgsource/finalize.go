package pgsource

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// Run is what a finalizing settlement run did.
type Run struct {
	Period   string
	By       string
	Invoices int
	TotalUSD decimal.Decimal
	// Reused is set when the period had been finalized by an earlier run:
	// nothing new was numbered, and the statements carry the numbers
	// issued then.
	Reused bool
}

// ErrFinalizedOutside is returned when the ledger's period was finalized
// without a settlement run (by `offtake ledger` tools or by hand): there are
// no invoice numbers to reproduce, and numbering now would not be the run
// that locked the period.
var ErrFinalizedOutside = errors.New("the period is finalized in the ledger but no settlement run numbered its invoices")

// Finalize settles a billing period for good, in one transaction: it takes
// the period's settlement lock (a second run on the same period waits, then
// finds it finalized), finalizes the period in the ledger (from then on the
// database refuses transfers dated in it, and corrections go to the next open
// period), builds the statements from what the ledger holds, numbers each
// statement that has lines — gapless per issuer and year, in contract order —
// and records the run. A crash before the commit leaves nothing; after it,
// everything. Finalizing a finalized period numbers nothing and returns the
// statements with the numbers issued then.
func Finalize(ctx context.Context, pool *pgxpool.Pool, p *contracts.Portfolio, period contracts.Period, by string, progress func(done, total int)) (Run, []settlement.Statement, error) {
	run := Run{Period: period.String(), By: by}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return run, nil, fmt.Errorf("finalize %s: %w", period, err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('offtake settle ' || $1))`, run.Period); err != nil {
		return run, nil, fmt.Errorf("finalize %s: lock: %w", period, err)
	}
	src := newSource(tx, p)
	numbers, err := src.InvoiceNumbers(ctx, period)
	if err != nil {
		return run, nil, err
	}
	var finalized, recorded bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM periods WHERE period = $1 AND finalized_at IS NOT NULL),
	                                  EXISTS (SELECT 1 FROM settlement_runs WHERE period = $1)`, run.Period).Scan(&finalized, &recorded); err != nil {
		return run, nil, fmt.Errorf("finalize %s: %w", period, err)
	}
	switch {
	case recorded:
		sts, err := settlement.Settle(ctx, p, period, src, progress)
		if err != nil {
			return run, nil, err
		}
		sts = settlement.Number(sts, numbers)
		run.Reused = true
		for _, st := range sts {
			if st.Final {
				run.Invoices++
				run.TotalUSD = run.TotalUSD.Add(st.TotalUSD)
			}
		}
		return run, sts, nil
	case finalized:
		return run, nil, fmt.Errorf("finalize %s: %w", period, ErrFinalizedOutside)
	}
	if _, err := tx.Exec(ctx, `SELECT ledger_finalize_period($1, $2)`, run.Period, by); err != nil {
		return run, nil, fmt.Errorf("finalize %s in the ledger: %w", period, err)
	}
	sts, err := settlement.Settle(ctx, p, period, src, progress)
	if err != nil {
		return run, nil, err
	}
	// Number in contract order; a statement without lines gets no invoice.
	order := make([]int, 0, len(sts))
	for i := range sts {
		if len(sts[i].Lines) > 0 {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return sts[order[a]].Contract.ID < sts[order[b]].Contract.ID })
	numbers = map[string]string{}
	type issued struct {
		st        *settlement.Statement
		issuer    string
		year, seq int
	}
	var all []issued
	for _, i := range order {
		st := &sts[i]
		issuer := settlement.Issuer(st.Seller)
		year := st.IssueDate.Year
		var seq int
		err := tx.QueryRow(ctx, `
			INSERT INTO invoice_counters (issuer, year, next) VALUES ($1, $2, 2)
			ON CONFLICT (issuer, year) DO UPDATE SET next = invoice_counters.next + 1
			RETURNING next - 1`, issuer, year).Scan(&seq)
		if err != nil {
			return run, nil, fmt.Errorf("finalize %s: number %s: %w", period, st.Contract.ID, err)
		}
		numbers[st.Contract.ID] = settlement.InvoiceNumber(issuer, year, seq)
		all = append(all, issued{st, issuer, year, seq})
		run.Invoices++
		run.TotalUSD = run.TotalUSD.Add(st.TotalUSD)
	}
	var runID int64
	if err := tx.QueryRow(ctx, `INSERT INTO settlement_runs (period, finalized_by, invoices, total_usd) VALUES ($1, $2, $3, $4) RETURNING id`,
		run.Period, by, run.Invoices, run.TotalUSD.String()).Scan(&runID); err != nil {
		return run, nil, fmt.Errorf("finalize %s: record the run: %w", period, err)
	}
	for _, x := range all {
		if _, err := tx.Exec(ctx, `
			INSERT INTO invoices (invoice_id, run_id, period, contract_id, issuer, buyer, year, seq, total_usd)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			numbers[x.st.Contract.ID], runID, run.Period, x.st.Contract.ID, x.issuer, x.st.Buyer.ID, x.year, x.seq, x.st.TotalUSD.String()); err != nil {
			return run, nil, fmt.Errorf("finalize %s: record invoice %s: %w", period, numbers[x.st.Contract.ID], err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return run, nil, fmt.Errorf("finalize %s: commit: %w", period, err)
	}
	return run, settlement.Number(sts, numbers), nil
}

// InvoiceNumbers returns the invoice numbers a finalizing run issued for a
// period, by contract id (empty while the period is open).
func (s *Source) InvoiceNumbers(ctx context.Context, period contracts.Period) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT contract_id, invoice_id FROM invoices WHERE period = $1`, period.String())
	if err != nil {
		return nil, fmt.Errorf("invoice numbers of %s: %w", period, err)
	}
	out := map[string]string{}
	var contract, id string
	if _, err := pgx.ForEachRow(rows, []any{&contract, &id}, func() error {
		out[contract] = id
		return nil
	}); err != nil {
		return nil, fmt.Errorf("invoice numbers of %s: %w", period, err)
	}
	return out, nil
}
