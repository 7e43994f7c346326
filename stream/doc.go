// Package stream is offtake's Kafka adapter: it reads the generation,
// consumption and price topics with segmentio/kafka-go, feeds the matching
// engine, and books what closes in the ledger, one PostgreSQL transaction per
// batch with the partitions' offsets in the same transaction.
//
// Run joins a Kafka consumer group (kafka-go's ConsumerGroup/Generation API)
// that shares out the reading topics: partition k of the generation topic
// and partition k of the consumption topic go to the same member (the topics
// must be co-partitioned: same partition count, key = site), so a site's
// readings meet in one engine. Every member reads every price partition.
// Each generation starts a fresh engine that loads the prices and booked
// intervals from the ledger and reads each partition, one reader per
// partition, from the offset stored in PostgreSQL; Kafka's committed offsets
// are written for lag monitoring only. When a generation ends, the batch in
// hand is booked before the member rejoins.
//
// The offset stored for a partition never passes a message whose interval is
// still open: a restart or a rebalance re-reads it and rebuilds the interval.
// Transfer ids are derived from what they record, so an interval booked twice
// around a rebalance is booked once. A crash at any instant loses nothing and
// doubles nothing.
//
// Messages that do not decode, or that the engine refuses, go to the
// dead-letter topic with the original bytes, the source topic/partition/offset
// and the reason, and are counted by reason code in Stats.
//
// Package streamtest builds the multi-site inputs the stream's tests and
// benchmarks use.
package stream
