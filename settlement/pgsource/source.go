// Package pgsource reads settlement's period totals from the ledger in
// PostgreSQL: one aggregation per question, summed exactly in NUMERIC.
package pgsource

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// Source implements settlement.Source over a ledger database.
type Source struct {
	pool       *pgxpool.Pool
	gridPartys []string
}

// New reads from pool; gridParties are the grid's party ids, left out of grid
// summaries (the grid is the other side of every grid leg).
func New(pool *pgxpool.Pool, gridParties []string) *Source {
	return &Source{pool: pool, gridPartys: gridParties}
}

var _ settlement.Source = (*Source)(nil)

// ContractTotals sums each contract's legs in the period by price and by
// who paid. A payment booked against a negative price, or a difference the
// seller pays, runs from the seller: settlement signs it by the payer. A
// reversal (a correction cancelling an earlier transfer) counts its
// quantity negative, and its money runs the other way.
func (s *Source) ContractTotals(ctx context.Context, period contracts.Period) ([]settlement.LegTotal, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT contract_id, contract_version, leg,
		       coalesce(price_usd_per_mwh, 0)::text,
		       CASE WHEN unit = 'USD' THEN split_part(debit_account, ':', 1) ELSE '' END,
		       sum(CASE WHEN reverses IS NULL THEN quantity_mwh ELSE -quantity_mwh END)::text,
		       sum(CASE WHEN unit = 'USD' THEN amount ELSE 0 END)::text,
		       count(*)
		  FROM transfers
		 WHERE period = $1 AND contract_id IS NOT NULL AND contract_id <> ''
		 GROUP BY 1, 2, 3, 4, 5
		 ORDER BY 1, 2, 3, 4, 5`, period.String())
	if err != nil {
		return nil, fmt.Errorf("contract totals %s: %w", period, err)
	}
	defer rows.Close()
	var out []settlement.LegTotal
	for rows.Next() {
		var t settlement.LegTotal
		var leg, price, qty, amount string
		if err := rows.Scan(&t.Contract, &t.ContractVersion, &leg, &price, &t.Payer, &qty, &amount, &t.Transfers); err != nil {
			return nil, fmt.Errorf("contract totals %s: %w", period, err)
		}
		t.Leg = ledger.Leg(leg)
		if t.USDPerMWh, t.QuantityMWh, t.AmountUSD, err = decimals(price, qty, amount); err != nil {
			return nil, fmt.Errorf("contract totals %s: %w", period, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
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
		 ORDER BY party, leg`, period.String(), gridLegs, s.gridPartys)
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
