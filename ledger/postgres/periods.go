package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Period is a billing period the ledger knows: one with transfers booked in
// it, or one finalized.
type Period struct {
	Period      string     `json:"period"` // YYYY-MM in the market's time zone
	OpenedAt    time.Time  `json:"opened_at"`
	FinalizedAt *time.Time `json:"finalized_at,omitempty"` // nil while open
	FinalizedBy string     `json:"finalized_by,omitempty"`
}

// Finalized reports whether the period is finalized.
func (p Period) Finalized() bool { return p.FinalizedAt != nil }

// FinalizePeriod finalizes a billing period (YYYY-MM): from then on the
// database refuses every transfer dated in it (Commit fails with
// ErrPeriodFinalized), and corrections go to the next open period. by names
// who finalized it (a user, or "offtake settle"). It waits for batches being
// written in the period to commit first, and of two concurrent finalizations
// exactly one wins: the other, like any finalization of a period finalized
// before, fails with an error wrapping ErrPeriodFinalized that says by whom
// and when. A period with no transfers yet can be finalized too.
func (s *Store) FinalizePeriod(ctx context.Context, period, by string) error {
	if !validPeriod(period) {
		return fmt.Errorf("ledger/postgres: finalize %q: not a billing period (YYYY-MM): %w", period, ErrInvalid)
	}
	if by == "" {
		return fmt.Errorf("ledger/postgres: finalize %s: say who finalizes it: %w", period, ErrInvalid)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO periods (period) VALUES ($1) ON CONFLICT DO NOTHING`, period); err != nil {
			return err
		}
		// FOR UPDATE waits for writers holding the row FOR SHARE (their
		// statement trigger takes it) and for a concurrent finalizer; then it
		// reads the row as they left it.
		var at *time.Time
		var who *string
		if err := tx.QueryRow(ctx, `SELECT finalized_at, finalized_by FROM periods WHERE period = $1 FOR UPDATE`, period).Scan(&at, &who); err != nil {
			return err
		}
		if at != nil {
			return fmt.Errorf("finalized by %s at %s: %w", deref(who), at.UTC().Format(time.RFC3339), ErrPeriodFinalized)
		}
		// clock_timestamp, not now(): every transfer that got in before the
		// lock has a recorded_at (its transaction's start) before this.
		_, err := tx.Exec(ctx, `UPDATE periods SET finalized_at = clock_timestamp(), finalized_by = $2 WHERE period = $1`, period, by)
		return err
	})
	if err != nil {
		return fmt.Errorf("ledger/postgres: finalize %s: %w", period, err)
	}
	return nil
}

// Periods returns every billing period the ledger knows, ordered.
func (s *Store) Periods(ctx context.Context) ([]Period, error) {
	rows, err := s.pool.Query(ctx, `SELECT period, opened_at, finalized_at, coalesce(finalized_by, '') FROM periods ORDER BY period`)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: periods: %w", err)
	}
	var out []Period
	var p Period
	if _, err := pgx.ForEachRow(rows, []any{&p.Period, &p.OpenedAt, &p.FinalizedAt, &p.FinalizedBy}, func() error {
		p.OpenedAt = p.OpenedAt.UTC()
		if p.FinalizedAt != nil {
			t := p.FinalizedAt.UTC()
			p.FinalizedAt = &t
		}
		out = append(out, p)
		p = Period{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger/postgres: periods: %w", err)
	}
	return out, nil
}

// FinalizedPeriods returns the finalized billing periods, ordered.
func (s *Store) FinalizedPeriods(ctx context.Context) ([]Period, error) {
	all, err := s.Periods(ctx)
	if err != nil {
		return nil, err
	}
	var out []Period
	for _, p := range all {
		if p.Finalized() {
			out = append(out, p)
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
