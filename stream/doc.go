// Package stream is offtake's Kafka adapter: it reads the generation,
// consumption and price topics with segmentio/kafka-go, one reader per
// partition, feeds the matching engine, and books what closes in the ledger,
// one PostgreSQL transaction per batch with the partitions' offsets in the same
// transaction. On start it resumes every partition from the offset stored in
// PostgreSQL, so a crash at any instant loses nothing and doubles nothing.
//
// The offset stored for a partition never passes a message whose interval is
// still open: a restart re-reads it and rebuilds the interval. Messages that do
// not decode, or that the engine refuses, go to the dead-letter topic with the
// original bytes, the source topic/partition/offset and the reason.
package stream
