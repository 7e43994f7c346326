package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	// ledger_finalize_period locks the period, waits for the batches
	// writing in it, adds the constraint that refuses new rows and stamps
	// the time: see migrations/00002_ledger_locks.sql.
	err := s.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SELECT ledger_finalize_period($1, $2)`, period, by)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codePeriodFinalized {
		err = fmt.Errorf("%s: %w", pgErr.Message, ErrPeriodFinalized)
	}
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
