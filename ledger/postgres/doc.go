// Package postgres is the PostgreSQL store of the ledger: it writes the
// transfers that ledger.Post books, keeps each account's balance beside them,
// and stores the engine's booked intervals, market prices and Kafka consumer
// offsets in the same transaction, so a crash at any instant loses nothing
// and doubles nothing.
//
// Commit is the one write path. It checks a batch in Go before touching the
// database (positive amounts within the unit's scale, distinct accounts
// holding the transfer's unit, a billing period YYYY-MM), makes sure each
// billing period has its partition of transfers, then writes the batch in
// one transaction:
//
//   - missing accounts are created, and the touched accounts are locked in
//     one fixed (byte) order, so batches sharing accounts queue instead of
//     deadlocking;
//   - the transfers are copied (COPY) straight into transfers; if some id is
//     already booked (a replay), the copy is rolled back to a savepoint and
//     the rows go through a temporary table and an insert that skips booked
//     ids, so a replayed batch is a no-op;
//   - each touched balance is updated once, by the net of the rows inserted;
//   - intervals are inserted, prices upserted and consumer offsets moved
//     forward (never backwards);
//
// and retries the whole transaction, a bounded number of times, when
// PostgreSQL reports a serialization failure or a deadlock.
//
// The database defends the journal by itself (migrations/00002): transfers
// cannot be updated, deleted or truncated; both accounts of a transfer hold
// its unit; a finalized billing period's partition refuses every new row; a
// reversal must cancel exactly one booked transfer; stored offsets cannot
// move backwards and their history is kept; and the roles offtake_writer,
// offtake_reader and offtake_settlement get only what they need.
// FinalizePeriod finalizes a period, serialized with the writers and with
// other finalizers; Commit then fails with ErrPeriodFinalized for any
// transfer dated in it.
//
// Verify recomputes what the ledger promises — debits equal credits per unit
// and per batch, balances sum to zero and equal their transfers, no transfer
// crosses units, no amount is finer than its unit, ids are unique, batches
// count their transfers, nothing was recorded in a period after its
// finalization, reversals cancel exactly, offsets never moved backwards — and
// reports each violation. Entries and Trace read the audit trail; Offsets,
// BookedIntervals and Prices are what a restarted engine reads to resume.
//
// The schema is in package migrations; Open refuses a database whose units
// table disagrees with ledger.Unit.Scale.
package postgres
