package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/segmentio/kafka-go"
)

// Topics names the topics offtake reads and writes.
type Topics struct {
	Generation  string // readings of generation meters (gross, station service, POI)
	Consumption string // readings of load meters
	Prices      string // market prices
	DeadLetter  string // refused messages, with the reason in headers
}

// DefaultTopics are the topic names used unless configured otherwise.
func DefaultTopics() Topics {
	return Topics{
		Generation: "offtake.generation", Consumption: "offtake.consumption",
		Prices: "offtake.prices", DeadLetter: "offtake.deadletter",
	}
}

// Inputs lists the topics the engine reads.
func (t Topics) Inputs() []string { return []string{t.Generation, t.Consumption, t.Prices} }

// grouped lists the topics whose partitions the consumer group shares out:
// the reading topics. Every member reads every price partition.
func (t Topics) grouped() []string { return []string{t.Generation, t.Consumption} }

// Config configures a Run.
type Config struct {
	Brokers []string
	Topics  Topics
	// Consumer is the consumer group's id in Kafka and the name the offsets
	// are stored under in PostgreSQL: every instance of one engine uses the
	// same name.
	Consumer       string
	Engine         matching.Config // interval closing rules (zero: matching.DefaultConfig)
	FlushIntervals int             // book after this many closed intervals (default 2,000)
	FlushEvery     time.Duration   // and at least this often (default 500 ms)
	UntilCaughtUp  bool            // stop once every assigned partition reaches the end it had when assigned
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to the others (default 10 s; Kafka refuses less
	// than its group.min.session.timeout.ms, 6 s by default).
	SessionTimeout time.Duration
	// RebalanceTimeout is how long a rebalance waits for members to book
	// what they hold and rejoin (default 30 s).
	RebalanceTimeout time.Duration
	Log              *slog.Logger
	Progress         func(Stats) // called after each batch is booked, if set
}

// Ledger is what the stream needs of the ledger store.
type Ledger interface {
	Commit(ctx context.Context, b ledger.Batch) (int, error) // returns transfers inserted
	Offsets(ctx context.Context, consumer string) (map[TopicPartition]int64, error)
	BookedIntervals(ctx context.Context, site string) ([]time.Time, error)
	Prices(ctx context.Context, since time.Time) ([]ledger.MarketPrice, error) // those starting at or after since
}

// FinalizedPeriods is what a Ledger may also do: list the finalized billing
// periods (YYYY-MM). A stream over such a ledger books an interval of a
// finalized period (a correction, or data that arrived after the period was
// closed) in the next open period, as a prior-period adjustment, instead of
// having the ledger refuse the batch.
type FinalizedPeriods interface {
	FinalizedPeriods(ctx context.Context) ([]string, error)
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int
}

// Stats counts what a Run did.
type Stats struct {
	Messages        int64
	Readings        int64
	Prices          int64
	Duplicates      int64
	Late            int64
	Corrected       int64 // readings that re-matched a closed interval (a restatement, or the actual after an estimate)
	DeadLetters     int64
	DeadByReason    map[string]int64 // dead letters by reason code (see ReasonCode)
	IntervalsClosed int64
	Transfers       int64 // inserted into the ledger (replays insert none)
	Batches         int64
	OpenIntervals   int
	Generations     int64 // consumer-group generations joined: 1 plus the rebalances seen
	Partitions      int   // reading partitions assigned in the current generation
}

// DeadLetterSummary is the dead-letter counters as "code: n, code: n", by code.
func (s Stats) DeadLetterSummary() string {
	codes := make([]string, 0, len(s.DeadByReason))
	for c := range s.DeadByReason {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s: %d", c, s.DeadByReason[c])
	}
	return strings.Join(parts, ", ")
}

// maxJoinErrors bounds how many times in a row joining the group may fail
// (each after a back-off) before Run gives up.
const maxJoinErrors = 20

// Run joins the consumer group cfg.Consumer and consumes until ctx is done
// (or, with UntilCaughtUp, until every assigned partition is read to the end
// it had when assigned and all that could close is booked). It returns what
// it did; an error means the last batch may not be booked, and a restart
// resumes from the stored offsets.
//
// The group shares out the partitions of the reading topics, partition k of
// both to one member (the topics must be co-partitioned, which Run checks);
// every member reads every price partition. Each generation of the group
// starts a fresh engine: it loads the prices and booked intervals from the
// ledger and resumes each assigned partition from its offset stored in
// PostgreSQL, which never passes a message of a still-open interval, so
// re-reading rebuilds the open intervals. When a generation ends (a member
// joined or left) the batch in hand is booked with its offsets before the
// member rejoins. Kafka's own committed offsets are written for lag
// monitoring only and never read.
func Run(ctx context.Context, cfg Config, p *contracts.Portfolio, store Ledger) (Stats, error) {
	cfg = withDefaults(cfg)
	stats := Stats{DeadByReason: map[string]int64{}}
	if err := CheckCoPartitioned(ctx, cfg.Brokers, cfg.Topics); err != nil {
		return stats, err
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID: cfg.Consumer, Brokers: cfg.Brokers, Topics: cfg.Topics.grouped(),
		GroupBalancers:    []kafka.GroupBalancer{coPartitioned{}},
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		HeartbeatInterval: max(cfg.SessionTimeout/10, 50*time.Millisecond),
		JoinGroupBackoff:  min(cfg.SessionTimeout/4, time.Second),
		StartOffset:       kafka.FirstOffset,
		Logger:            kafka.LoggerFunc(func(f string, a ...any) { cfg.Log.Debug(fmt.Sprintf(f, a...), "component", "kafka-go") }),
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { cfg.Log.Debug(fmt.Sprintf(f, a...), "component", "kafka-go") }),
	})
	if err != nil {
		return stats, fmt.Errorf("consumer group %s: %w", cfg.Consumer, err)
	}
	defer cg.Close()
	joinErrors := 0
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			return stats, nil
		}
		if err != nil {
			joinErrors++
			cfg.Log.Debug("join group", "group", cfg.Consumer, "err", err)
			if joinErrors >= maxJoinErrors {
				return stats, fmt.Errorf("consumer group %s: %w", cfg.Consumer, err)
			}
			continue
		}
		joinErrors = 0
		stats.Generations++
		done := make(chan generationEnd, 1)
		gen.Start(func(gctx context.Context) { done <- runGeneration(ctx, gctx, cfg, p, store, gen, &stats) })
		end := <-done
		if end.err != nil || end.finished {
			return stats, end.err
		}
	}
}

func withDefaults(cfg Config) Config {
	if cfg.Engine == (matching.Config{}) {
		cfg.Engine = matching.DefaultConfig()
	}
	if cfg.FlushIntervals <= 0 {
		cfg.FlushIntervals = 2000
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 500 * time.Millisecond
	}
	if cfg.Consumer == "" {
		cfg.Consumer = "offtake"
	}
	if cfg.Topics == (Topics{}) {
		cfg.Topics = DefaultTopics()
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.RebalanceTimeout <= 0 {
		cfg.RebalanceTimeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// ReasonCode is a short, stable name for why a message was refused, for
// counters and the offtake-reason-code header.
func ReasonCode(err error) string {
	var fe *messages.FieldError
	if errors.As(err, &fe) {
		if fe.Field == "" {
			return "malformed"
		}
		return "invalid_" + fe.Field
	}
	return "refused"
}
