package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// TopicPartition names a Kafka partition.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Offsets returns the next offset to read of each partition the consumer
// (group) has committed a batch for. A partition missing from the map has
// never been committed: start it from the beginning.
func (s *Store) Offsets(ctx context.Context, consumer string) (map[TopicPartition]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1`, consumer)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: offsets: %w", err)
	}
	out := map[TopicPartition]int64{}
	var tp TopicPartition
	var next int64
	if _, err := pgx.ForEachRow(rows, []any{&tp.Topic, &tp.Partition, &next}, func() error {
		out[tp] = next
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger/postgres: offsets: %w", err)
	}
	return out, nil
}

// BookedIntervals returns the starts (UTC, ascending, each once whatever its
// revisions) of the site's intervals booked at or after since, so a
// restarted engine does not allocate them again.
func (s *Store) BookedIntervals(ctx context.Context, site string, since time.Time) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT interval_start FROM intervals
		WHERE site = $1 AND interval_start >= $2 ORDER BY interval_start`, site, since)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: booked intervals: %w", err)
	}
	var out []time.Time
	var t time.Time
	if _, err := pgx.ForEachRow(rows, []any{&t}, func() error {
		out = append(out, t.UTC())
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger/postgres: booked intervals: %w", err)
	}
	return out, nil
}

// Prices returns the stored market prices whose interval starts at or after
// since, ordered by start, node and market (times in UTC).
func (s *Store) Prices(ctx context.Context, since time.Time) ([]ledger.MarketPrice, error) {
	rows, err := s.pool.Query(ctx, `SELECT node, market, interval_start, interval_end, usd_per_mwh, unit FROM prices
		WHERE interval_start >= $1 ORDER BY interval_start, node COLLATE "C", market COLLATE "C"`, since)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: prices: %w", err)
	}
	var out []ledger.MarketPrice
	var p ledger.MarketPrice
	if _, err := pgx.ForEachRow(rows, []any{&p.Node, &p.Market, &p.Start, &p.End, &p.USDPerMWh, &p.Unit}, func() error {
		p.Start, p.End = p.Start.UTC(), p.End.UTC()
		out = append(out, p)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger/postgres: prices: %w", err)
	}
	return out, nil
}

// Balance is an account's balance: its credits minus its debits, exact.
type Balance struct {
	Account string // "party:kind"
	Party   string
	Kind    string
	Unit    string
	Balance decimal.Decimal
}

// Balances returns every account's balance, ordered by account id.
func (s *Store) Balances(ctx context.Context) ([]Balance, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, party, kind, unit, balance FROM accounts ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: balances: %w", err)
	}
	var out []Balance
	var b Balance
	if _, err := pgx.ForEachRow(rows, []any{&b.Account, &b.Party, &b.Kind, &b.Unit, &b.Balance}, func() error {
		out = append(out, b)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("ledger/postgres: balances: %w", err)
	}
	return out, nil
}
