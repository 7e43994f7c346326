package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// Check is one invariant Verify checked.
type Check struct {
	Name   string
	OK     bool
	Detail string // what was found: the totals when OK, each violation (one a line) when not
}

// UnitTotal sums one unit's transfers, for display.
type UnitTotal struct {
	Unit      string
	Transfers int64
	Amount    decimal.Decimal // Σ amounts: what moved, debits and credits alike
}

// Report is the outcome of Verify.
type Report struct {
	Checks     []Check
	Violations int // accounts, transfers or units breaking a check; 0 when the ledger is sound
	Units      []UnitTotal
}

// OK reports whether every check passed.
func (r Report) OK() bool { return r.Violations == 0 }

// String renders the report for a terminal: one line per check, its detail
// indented below, then the unit totals.
func (r Report) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s  %s\n", mark, c.Name)
		for _, line := range strings.Split(c.Detail, "\n") {
			if line != "" {
				fmt.Fprintf(&b, "      %s\n", line)
			}
		}
	}
	for _, u := range r.Units {
		fmt.Fprintf(&b, "%s: %d transfers, %s moved\n", u.Unit, u.Transfers, u.Amount)
	}
	if r.OK() {
		b.WriteString("ledger verified: no violations\n")
	} else {
		fmt.Fprintf(&b, "ledger NOT verified: %d violations\n", r.Violations)
	}
	return b.String()
}

// maxListed bounds the violations a check lists one by one; Violations
// still counts them all.
const maxListed = 50

// perAccount is every account with the debits and credits of its transfers;
// an id that transfers name but accounts lack comes with exists false.
const perAccount = `WITH flows AS (
	SELECT debit_account AS id, sum(amount) AS debits, 0::numeric AS credits FROM transfers GROUP BY debit_account
	UNION ALL
	SELECT credit_account, 0, sum(amount) FROM transfers GROUP BY credit_account
), sums AS (
	SELECT id, sum(debits) AS debits, sum(credits) AS credits FROM flows GROUP BY id
)
SELECT COALESCE(a.id, s.id), a.id IS NOT NULL, COALESCE(a.unit, ''), COALESCE(a.balance, 0),
	COALESCE(s.debits, 0), COALESCE(s.credits, 0)
FROM accounts a FULL JOIN sums s ON s.id = a.id
ORDER BY COALESCE(a.id, s.id) COLLATE "C"`

// perUnit counts, in one pass over the journal, each unit's transfers and
// those whose accounts do not hold the unit or whose amount is finer than it.
const perUnit = `SELECT t.unit, count(*), sum(t.amount),
	count(*) FILTER (WHERE da.unit IS DISTINCT FROM t.unit OR ca.unit IS DISTINCT FROM t.unit),
	count(*) FILTER (WHERE u.scale IS NULL OR t.amount <> round(t.amount, u.scale))
FROM transfers t
LEFT JOIN accounts da ON da.id = t.debit_account
LEFT JOIN accounts ca ON ca.id = t.credit_account
LEFT JOIN units u ON u.code = t.unit
GROUP BY t.unit ORDER BY t.unit COLLATE "C"`

const crossUnit = `SELECT t.id::text, t.unit, t.debit_account, COALESCE(da.unit, 'no such account'),
	t.credit_account, COALESCE(ca.unit, 'no such account')
FROM transfers t
LEFT JOIN accounts da ON da.id = t.debit_account
LEFT JOIN accounts ca ON ca.id = t.credit_account
WHERE da.unit IS DISTINCT FROM t.unit OR ca.unit IS DISTINCT FROM t.unit
ORDER BY t.id LIMIT $1`

const tooFine = `SELECT t.id::text, t.amount::text, t.unit, COALESCE(u.scale, -1)
FROM transfers t LEFT JOIN units u ON u.code = t.unit
WHERE u.scale IS NULL OR t.amount <> round(t.amount, u.scale)
ORDER BY t.id LIMIT $1`

// Verify recomputes the ledger's invariants from the journal and reports
// each one, with every violation it finds:
//
//   - unit scales: the units table keeps each unit to ledger.Unit.Scale places;
//   - debits equal credits: per unit (of the accounts), Σ debits = Σ credits;
//   - balances sum to zero: per unit, Σ account balances = 0;
//   - balances match transfers: each account's balance = Σ credits − Σ debits
//     of its transfers (a mismatch lists the account with both numbers);
//   - transfers stay in their unit: both accounts of every transfer hold its
//     unit;
//   - amounts within scale: no amount has more places than its unit keeps;
//   - debits equal credits per batch: per batch and unit, likewise;
//   - batches match their transfers: every transfer names a batch that counts
//     it (batches.transfers);
//   - records name their batches: interval records and stored offsets;
//   - transfer ids are unique across the partitions;
//   - finalized periods stay closed: no transfer dated in a finalized period
//     was recorded after its finalization;
//   - reversals cancel exactly: every reversal names a booked transfer, has
//     its unit and amount with the accounts swapped, and no transfer is
//     reversed twice;
//   - offsets never move backwards: in the history of every consumer
//     partition's stored offset, and the stored offset is the latest.
//
// All checks read one snapshot, so commits running meanwhile cannot make
// them disagree. An error means Verify could not run, not that the ledger is
// wrong.
func (s *Store) Verify(ctx context.Context) (Report, error) {
	var r Report
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		r = Report{}
		if err := verifyUnits(ctx, tx, &r); err != nil {
			return fmt.Errorf("units: %w", err)
		}
		if err := verifyAccounts(ctx, tx, &r); err != nil {
			return fmt.Errorf("accounts: %w", err)
		}
		if err := verifyTransfers(ctx, tx, &r); err != nil {
			return fmt.Errorf("transfers: %w", err)
		}
		for _, q := range journalChecks {
			if err := verifyList(ctx, tx, &r, q); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("ledger/postgres: verify: %w", err)
	}
	return r, nil
}

// add appends a check with its violations (at most maxListed of them listed).
func (r *Report) add(name string, okDetail string, violations []string, count int) {
	c := Check{Name: name, OK: count == 0, Detail: okDetail}
	if count > 0 {
		lines := violations
		if len(lines) > maxListed {
			lines = lines[:maxListed]
		}
		c.Detail = strings.Join(lines, "\n")
		if count > len(lines) {
			c.Detail += fmt.Sprintf("\n… and %d more", count-len(lines))
		}
	}
	r.Checks = append(r.Checks, c)
	r.Violations += count
}

func verifyUnits(ctx context.Context, tx pgx.Tx, r *Report) error {
	rows, err := tx.Query(ctx, `SELECT code, scale FROM units ORDER BY code COLLATE "C"`)
	if err != nil {
		return err
	}
	var code string
	var scale int32
	var found, bad []string
	if _, err := pgx.ForEachRow(rows, []any{&code, &scale}, func() error {
		found = append(found, fmt.Sprintf("%s %d", code, scale))
		if want := ledger.Unit(code).Scale(); scale != want {
			bad = append(bad, fmt.Sprintf("%s: the units table keeps %d places, ledger.Unit.Scale %d", code, scale, want))
		}
		return nil
	}); err != nil {
		return err
	}
	r.add("unit scales match the code", "places kept: "+strings.Join(found, ", "), bad, len(bad))
	return nil
}

func verifyAccounts(ctx context.Context, tx pgx.Tx, r *Report) error {
	rows, err := tx.Query(ctx, perAccount)
	if err != nil {
		return err
	}
	type sums struct{ debits, credits, balances decimal.Decimal }
	units := map[string]*sums{}
	var mismatched []string
	var (
		id, unit                 string
		exists                   bool
		balance, debits, credits decimal.Decimal
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &exists, &unit, &balance, &debits, &credits}, func() error {
		if !exists {
			mismatched = append(mismatched, fmt.Sprintf("%s: named by transfers (credits − debits %s) but not in accounts", id, credits.Sub(debits)))
			return nil
		}
		u := units[unit]
		if u == nil {
			u = &sums{}
			units[unit] = u
		}
		u.debits, u.credits, u.balances = u.debits.Add(debits), u.credits.Add(credits), u.balances.Add(balance)
		if want := credits.Sub(debits); !balance.Equal(want) {
			mismatched = append(mismatched, fmt.Sprintf("%s: balance %s, credits − debits of its transfers %s (off by %s)", id, balance, want, balance.Sub(want)))
		}
		return nil
	}); err != nil {
		return err
	}
	names := make([]string, 0, len(units))
	for u := range units {
		names = append(names, u)
	}
	slices.Sort(names)
	var equal, unequal, zero, nonzero []string
	for _, name := range names {
		u := units[name]
		if u.debits.Equal(u.credits) {
			equal = append(equal, fmt.Sprintf("%s: debits %s = credits %s", name, u.debits, u.credits))
		} else {
			unequal = append(unequal, fmt.Sprintf("%s: debits %s ≠ credits %s", name, u.debits, u.credits))
		}
		if u.balances.IsZero() {
			zero = append(zero, fmt.Sprintf("%s: Σ balances %s", name, u.balances))
		} else {
			nonzero = append(nonzero, fmt.Sprintf("%s: Σ balances %s, not 0", name, u.balances))
		}
	}
	r.add("debits equal credits per unit", strings.Join(equal, "\n"), unequal, len(unequal))
	r.add("balances sum to zero per unit", strings.Join(zero, "\n"), nonzero, len(nonzero))
	r.add("balances match transfers", "every account's balance = Σ credits − Σ debits of its transfers", mismatched, len(mismatched))
	return nil
}

func verifyTransfers(ctx context.Context, tx pgx.Tx, r *Report) error {
	rows, err := tx.Query(ctx, perUnit)
	if err != nil {
		return err
	}
	var t UnitTotal
	var crossing, fine int64
	var totalCrossing, totalFine int
	if _, err := pgx.ForEachRow(rows, []any{&t.Unit, &t.Transfers, &t.Amount, &crossing, &fine}, func() error {
		r.Units = append(r.Units, t)
		totalCrossing += int(crossing)
		totalFine += int(fine)
		return nil
	}); err != nil {
		return err
	}

	var crossList []string
	if totalCrossing > 0 {
		rows, err := tx.Query(ctx, crossUnit, maxListed)
		if err != nil {
			return err
		}
		var id, unit, debit, debitUnit, credit, creditUnit string
		if _, err := pgx.ForEachRow(rows, []any{&id, &unit, &debit, &debitUnit, &credit, &creditUnit}, func() error {
			crossList = append(crossList, fmt.Sprintf("%s moves %s from %s (%s) to %s (%s)", id, unit, debit, debitUnit, credit, creditUnit))
			return nil
		}); err != nil {
			return err
		}
	}
	r.add("transfers stay in their unit", "both accounts of every transfer hold its unit", crossList, totalCrossing)

	var fineList []string
	if totalFine > 0 {
		rows, err := tx.Query(ctx, tooFine, maxListed)
		if err != nil {
			return err
		}
		var id, amount, unit string
		var scale int32
		if _, err := pgx.ForEachRow(rows, []any{&id, &amount, &unit, &scale}, func() error {
			if scale < 0 {
				fineList = append(fineList, fmt.Sprintf("%s: %s %s, a unit the units table lacks", id, amount, unit))
			} else {
				fineList = append(fineList, fmt.Sprintf("%s: %s %s has more than %d decimal places", id, amount, unit, scale))
			}
			return nil
		}); err != nil {
			return err
		}
	}
	r.add("amounts within their unit's scale", "no amount is finer than its unit keeps", fineList, totalFine)
	return nil
}

// listCheck is a check whose query returns one line of text per violation,
// at most $1 of them, after a first column counting them all (a window
// count).
type listCheck struct {
	name, ok, query string
}

var journalChecks = []listCheck{
	{"debits equal credits per batch", "per batch and unit, Σ debits = Σ credits", `
		WITH sides AS (
			SELECT t.batch_id, a.unit, t.amount AS debit, 0::numeric AS credit
			  FROM transfers t JOIN accounts a ON a.id = t.debit_account
			UNION ALL
			SELECT t.batch_id, a.unit, 0, t.amount
			  FROM transfers t JOIN accounts a ON a.id = t.credit_account
		)
		SELECT count(*) OVER (), format('batch %s %s: debits %s ≠ credits %s', batch_id, unit, sum(debit), sum(credit))
		  FROM sides GROUP BY batch_id, unit HAVING sum(debit) <> sum(credit)
		 ORDER BY batch_id, unit LIMIT $1`},
	{"batches match their transfers", "every transfer's batch exists and counts it", `
		WITH per AS (SELECT batch_id, count(*) AS n FROM transfers GROUP BY batch_id)
		SELECT count(*) OVER (), CASE WHEN b.id IS NULL
			THEN format('batch %s: %s transfers name it, no such batch', p.batch_id, p.n)
			ELSE format('batch %s: records %s transfers, %s name it', b.id, b.transfers, coalesce(p.n, 0)) END
		  FROM per p FULL JOIN batches b ON b.id = p.batch_id
		 WHERE b.id IS NULL OR b.transfers <> coalesce(p.n, 0)
		 ORDER BY coalesce(b.id, p.batch_id) LIMIT $1`},
	{"records name their batches", "every interval record and stored offset names a batch that exists", `
		WITH bad AS (
			SELECT format('interval %s %s revision %s names batch %s, which does not exist', i.site,
				to_char(i.interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'), i.revision, i.batch_id) AS line
			  FROM intervals i WHERE NOT EXISTS (SELECT FROM batches b WHERE b.id = i.batch_id)
			UNION ALL
			SELECT format('offset of %s %s/%s names batch %s, which does not exist', o.consumer, o.topic, o.partition, o.batch_id)
			  FROM consumer_offsets o WHERE o.batch_id IS NOT NULL AND NOT EXISTS (SELECT FROM batches b WHERE b.id = o.batch_id)
		)
		SELECT count(*) OVER (), line FROM bad ORDER BY line LIMIT $1`},
	{"transfer ids are unique", "no id is booked twice, in any partition", `
		SELECT count(*) OVER (), format('%s is booked %s times (periods %s)', id, count(*), string_agg(period, ', ' ORDER BY period))
		  FROM transfers GROUP BY id HAVING count(*) > 1 ORDER BY id LIMIT $1`},
	{"finalized periods stay closed", "no transfer was recorded in a period after its finalization", `
		SELECT count(*) OVER (), format('%s (%s, %s %s) recorded at %s, after period %s was finalized by %s at %s',
			t.id, t.leg, t.site, to_char(t.interval_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"'), t.recorded_at, p.period, p.finalized_by, p.finalized_at)
		  FROM transfers t JOIN periods p ON p.period = t.period
		 WHERE p.finalized_at IS NOT NULL AND t.recorded_at > p.finalized_at
		 ORDER BY t.recorded_at, t.id LIMIT $1`},
	{"reversals cancel exactly", "every reversal cancels one booked transfer exactly, once", `
		WITH bad AS (
			SELECT r.id, CASE WHEN o.id IS NULL THEN format('%s reverses %s, which is not booked', r.id, r.reverses)
				ELSE format('%s reverses %s but does not cancel it: %s %s %s→%s reversed by %s %s %s→%s', r.id, r.reverses,
					o.amount, o.unit, o.debit_account, o.credit_account, r.amount, r.unit, r.debit_account, r.credit_account) END AS line
			  FROM transfers r LEFT JOIN transfers o ON o.id = r.reverses
			 WHERE r.reverses IS NOT NULL
			   AND (o.id IS NULL OR (o.debit_account, o.credit_account, o.unit, o.amount) IS DISTINCT FROM (r.credit_account, r.debit_account, r.unit, r.amount))
			UNION ALL
			SELECT reverses, format('%s is reversed %s times (by %s)', reverses, count(*), string_agg(id::text, ', ' ORDER BY id))
			  FROM transfers WHERE reverses IS NOT NULL GROUP BY reverses HAVING count(*) > 1
		)
		SELECT count(*) OVER (), line FROM bad ORDER BY id LIMIT $1`},
	{"offsets never move backwards", "every stored offset only moved forward, and is the latest of its history", `
		WITH h AS (
			SELECT consumer, topic, partition, seq, next_offset, batch_id,
				lag(next_offset) OVER (PARTITION BY consumer, topic, partition ORDER BY seq) AS previous,
				row_number() OVER (PARTITION BY consumer, topic, partition ORDER BY seq DESC) AS from_last
			  FROM consumer_offset_history
		), bad AS (
			SELECT consumer, topic, partition, seq, format('%s %s/%s moved back from %s to %s (batch %s)', consumer, topic, partition, previous, next_offset, batch_id) AS line
			  FROM h WHERE next_offset < previous
			UNION ALL
			SELECT c.consumer, c.topic, c.partition, 0, format('%s %s/%s stores %s, its history ends at %s', c.consumer, c.topic, c.partition, c.next_offset, coalesce(h.next_offset::text, 'nothing'))
			  FROM consumer_offsets c LEFT JOIN h ON (h.consumer, h.topic, h.partition, h.from_last) = (c.consumer, c.topic, c.partition, 1)
			 WHERE h.next_offset IS DISTINCT FROM c.next_offset
		)
		SELECT count(*) OVER (), line FROM bad ORDER BY consumer, topic, partition, seq LIMIT $1`},
}

// verifyList runs a listCheck and adds its outcome to the report.
func verifyList(ctx context.Context, tx pgx.Tx, r *Report, q listCheck) error {
	rows, err := tx.Query(ctx, q.query, maxListed)
	if err != nil {
		return err
	}
	var total int
	var lines []string
	var n int
	var line string
	if _, err := pgx.ForEachRow(rows, []any{&n, &line}, func() error {
		total = n
		lines = append(lines, line)
		return nil
	}); err != nil {
		return err
	}
	r.add(q.name, q.ok, lines, total)
	return nil
}
