// Package postgres is the PostgreSQL store of the ledger: it writes the
// transfers that ledger.Post books, keeps each account's balance beside them,
// and stores the engine's booked intervals, market prices and Kafka consumer
// offsets in the same transaction, so a crash at any instant loses nothing
// and doubles nothing.
//
// Commit is the one write path. It checks a batch in Go before touching the
// database (positive amounts within the unit's scale, distinct accounts
// holding the transfer's unit), then writes it in one transaction:
//
//   - missing accounts are created;
//   - the transfers are copied (COPY) into a temporary table and inserted
//     from there, skipping ids already booked, so a replayed batch is a no-op;
//   - the touched accounts are locked in one fixed order, then each one's
//     balance is updated once, from the rows actually inserted;
//   - intervals are inserted, prices upserted and consumer offsets moved
//     forward (never backwards);
//
// and retries the whole transaction, a bounded number of times, when
// PostgreSQL reports a serialization failure or a deadlock.
//
// Verify recomputes what the ledger promises — debits equal credits per unit,
// balances sum to zero and equal their transfers, no transfer crosses units,
// no amount is finer than its unit — and reports each violation. Offsets,
// BookedIntervals and Prices are what a restarted engine reads to resume.
//
// The schema is in package migrations; Open refuses a database whose units
// table disagrees with ledger.Unit.Scale.
package postgres
