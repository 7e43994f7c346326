package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
)

// benchIntervals is how many intervals a benchmark batch posts: 12 transfers
// each, so about 2,000 transfers a batch.
const benchIntervals = 167

// benchBatches posts n batches of consecutive intervals of one site, as the
// engine would, each with its intervals, prices and offset.
func benchBatches(b *testing.B, n int) ([]ledger.Batch, int) {
	b.Helper()
	batches := make([]ledger.Batch, n)
	total := 0
	for i := range batches {
		start := t0.Add(time.Duration(i*benchIntervals) * 15 * time.Minute)
		batches[i] = postedBatch(b, "bench-1", start, benchIntervals, int64(i+1))
		total += len(batches[i].Transfers)
	}
	return batches, total
}

// BenchmarkCommit measures transfers per second through Commit: checks,
// account locks, COPY into the temporary table, the insert with conflict
// skipping, balance updates, intervals, prices and offsets, one transaction
// a batch. Compare with BenchmarkRawCopy, the raw limit of the same rows.
func BenchmarkCommit(b *testing.B) {
	ctx := testCtx(b)
	s, _ := newStore(b)
	batches, total := benchBatches(b, b.N)
	b.ResetTimer()
	for i := range b.N {
		c, err := s.Commit(ctx, batches[i])
		if err != nil {
			b.Fatal(err)
		}
		if c.Inserted != len(batches[i].Transfers) {
			b.Fatalf("batch %d: %+v", i, c)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(float64(total)/float64(b.N), "transfers/batch")
}

// BenchmarkRawCopy measures the same rows copied (COPY, binary) into a plain
// table with the transfers' columns and no key, constraint or index, one
// autocommitted COPY a batch: what the server can take at best.
func BenchmarkRawCopy(b *testing.B) {
	ctx := testCtx(b)
	s, _ := newStore(b)
	if _, err := s.pool.Exec(ctx, `CREATE TABLE raw_transfers `+copyTableColumns); err != nil {
		b.Fatal(err)
	}
	batches, total := benchBatches(b, b.N)
	rows := make([][][]any, b.N)
	for i, batch := range batches {
		ts := make([]*ledger.Transfer, len(batch.Transfers))
		for j := range batch.Transfers {
			ts[j] = &batch.Transfers[j]
		}
		var err error
		if rows[i], err = s.transferRows(ts); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		n, err := s.pool.CopyFrom(ctx, pgx.Identifier{"raw_transfers"}, copyColumns, pgx.CopyFromRows(rows[i]))
		if err != nil {
			b.Fatal(err)
		}
		if int(n) != len(rows[i]) {
			b.Fatalf("copied %d of %d rows", n, len(rows[i]))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "transfers/s")
}
