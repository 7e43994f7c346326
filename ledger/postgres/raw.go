package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
)

// CreateRawTable creates table name with the columns Commit writes to
// transfers and no key, constraint, index, trigger or partition: the raw
// limit a benchmark compares Commit with. It is never part of the ledger.
func (s *Store) CreateRawTable(ctx context.Context, name string) error {
	_, err := s.pool.Exec(ctx, `CREATE TABLE `+pgx.Identifier{name}.Sanitize()+` `+copyTableColumns)
	if err != nil {
		return fmt.Errorf("ledger/postgres: raw table: %w", err)
	}
	return nil
}

// RawCopy copies the transfers, encoded exactly as Commit encodes them, into
// a table CreateRawTable made, in one autocommitted COPY and with no check at
// all: what the server can take at best, for benchmarks. It writes nothing
// to the ledger.
func (s *Store) RawCopy(ctx context.Context, name string, ts []ledger.Transfer) error {
	ptrs := make([]*ledger.Transfer, len(ts))
	for i := range ts {
		ptrs[i] = &ts[i]
	}
	rows, err := s.transferRows(ptrs)
	if err != nil {
		return err
	}
	n, err := s.pool.CopyFrom(ctx, pgx.Identifier{name}, copyColumns, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("ledger/postgres: raw copy: %w", err)
	}
	if int(n) != len(rows) {
		return fmt.Errorf("ledger/postgres: raw copy: copied %d of %d rows", n, len(rows))
	}
	return nil
}
