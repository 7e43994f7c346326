// Package devbroker runs an in-memory Kafka-protocol broker for development
// and tests.
//
// The broker is github.com/twmb/franz-go/pkg/kfake running in process. It
// speaks the real Kafka wire protocol over TCP, so the application's
// production client (github.com/segmentio/kafka-go) talks to it exactly as
// it would talk to a real cluster: point kafka-go's Brokers / Addr at
// [Broker.Addrs] and nothing else changes.
//
// Everything is kept in memory and lost on [Broker.Close]. The broker runs a
// single node, so every partition has one replica and RequiredAcks=all is
// satisfied as soon as the write is stored.
//
// See interop_test.go for what kafka-go features are proven to work against
// the broker, and the caveats found while proving them.
package devbroker
