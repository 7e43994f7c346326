package stream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

type bounds struct{ first, last int64 }

// endOffsets lists every partition of topics with its first and end offset.
func endOffsets(ctx context.Context, brokers []string, topics []string) (map[TopicPartition]bounds, error) {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("kafka at %v: %w", brokers, err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w (create it, or run `offtake simulate`, which creates the topics)", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			req[t.Name] = append(req[t.Name], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	out := map[TopicPartition]bounds{}
	for topic, parts := range resp.Topics {
		for _, po := range parts {
			if po.Error != nil {
				return nil, fmt.Errorf("offsets of %s/%d: %w", topic, po.Partition, po.Error)
			}
			out[TopicPartition{topic, po.Partition}] = bounds{po.FirstOffset, po.LastOffset}
		}
	}
	return out, nil
}

// EnsureTopics creates the topics that are missing, each with partitions
// partitions (the dead-letter topic with one). Generation and consumption
// topics must be co-partitioned (same count, same key = site) so that a site's
// readings meet in one engine: EnsureTopics refuses existing topics that are
// not.
func EnsureTopics(ctx context.Context, brokers []string, t Topics, partitions int) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	want := map[string]int{t.Generation: partitions, t.Consumption: partitions, t.Prices: partitions, t.DeadLetter: 1}
	var configs []kafka.TopicConfig
	for name, n := range want {
		configs = append(configs, kafka.TopicConfig{Topic: name, NumPartitions: n, ReplicationFactor: 1})
	}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: configs})
	if err != nil {
		return fmt.Errorf("create topics at %v: %w", brokers, err)
	}
	for name, e := range resp.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", name, e)
		}
	}
	return CheckCoPartitioned(ctx, brokers, t)
}

// CheckCoPartitioned checks that the generation and consumption topics have
// the same number of partitions.
func CheckCoPartitioned(ctx context.Context, brokers []string, t Topics) error {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	meta, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{t.Generation, t.Consumption}})
	if err != nil {
		return fmt.Errorf("kafka at %v: %w", brokers, err)
	}
	n := map[string]int{}
	for _, tm := range meta.Topics {
		if tm.Error != nil {
			return fmt.Errorf("topic %s: %w", tm.Name, tm.Error)
		}
		n[tm.Name] = len(tm.Partitions)
	}
	if n[t.Generation] != n[t.Consumption] {
		return fmt.Errorf("topics %s (%d partitions) and %s (%d) are not co-partitioned: give them the same partition count so a site's readings meet in one engine",
			t.Generation, n[t.Generation], t.Consumption, n[t.Consumption])
	}
	return nil
}

// Message is one message to publish.
type Message struct {
	Topic string
	Key   []byte
	Value []byte
}

// Publisher writes messages to Kafka, keyed (key = site for readings, node
// for prices) so that one key always lands on one partition.
type Publisher struct {
	w *kafka.Writer
}

// NewPublisher writes to brokers.
func NewPublisher(brokers []string) *Publisher {
	return &Publisher{w: &kafka.Writer{
		Addr: kafka.TCP(brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchSize: 5000, BatchBytes: 16 << 20, BatchTimeout: 5 * time.Millisecond,
	}}
}

// Publish writes msgs in order, in chunks, and returns once all are acknowledged.
func (p *Publisher) Publish(ctx context.Context, msgs []Message) error {
	const chunk = 20_000
	batch := make([]kafka.Message, 0, chunk)
	for i := 0; i < len(msgs); i += chunk {
		batch = batch[:0]
		for _, m := range msgs[i:min(i+chunk, len(msgs))] {
			batch = append(batch, kafka.Message{Topic: m.Topic, Key: m.Key, Value: m.Value})
		}
		if err := p.w.WriteMessages(ctx, batch...); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}

// Close flushes and closes the publisher.
func (p *Publisher) Close() error { return p.w.Close() }
