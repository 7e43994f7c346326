package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/stream"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the matching engine: Kafka in, ledger out",
		Description: "Reads readings and prices from Kafka, allocates every interval and books the transfers in\n" +
			"PostgreSQL with the partitions' offsets in the same transaction. Applies migrations first.\n\n" +
			"Several instances with the same --consumer share the sites: they form a Kafka consumer group\n" +
			"that gives partition k of the generation and consumption topics (which must be co-partitioned)\n" +
			"to one instance; every instance reads every price partition. On start and on every rebalance\n" +
			"each instance resumes its partitions from the offsets stored in PostgreSQL, so a crash or a\n" +
			"rebalance at any instant loses nothing and doubles nothing.\n\n" +
			"Stops on SIGINT/SIGTERM after booking what is done (exit 0), or with --until-caught-up once\n" +
			"every partition it was given is read to the end it had then.",
		Flags: append([]cli.Flag{
			brokersFlag(), databaseFlag(), contractsFlag(), logLevelFlag(),
			&cli.StringFlag{Name: "consumer", Usage: "consumer group: the Kafka group id and the name the offsets are stored under in PostgreSQL; every instance of one engine uses the same", Value: "offtake", EnvVars: env("consumer")},
			&cli.DurationFlag{Name: "session-timeout", Usage: "how long the group waits for a silent instance before giving its partitions to the others (Kafka's minimum is 6s unless the broker allows less)", Value: 10 * time.Second, EnvVars: env("session-timeout")},
			&cli.DurationFlag{Name: "rebalance-timeout", Usage: "how long a rebalance waits for instances to book what they hold and rejoin", Value: 30 * time.Second, EnvVars: env("rebalance-timeout")},
			&cli.IntFlag{Name: "flush-intervals", Usage: "book a batch after this many closed intervals", Value: 2000, EnvVars: env("flush-intervals")},
			&cli.DurationFlag{Name: "flush-every", Usage: "and at least this often", Value: 500 * time.Millisecond, EnvVars: env("flush-every")},
			&cli.IntFlag{Name: "grace-intervals", Usage: "intervals past its end an incomplete interval waits for missing meters", Value: 4, EnvVars: env("grace-intervals")},
			&cli.IntFlag{Name: "interpolate-max-gap", Usage: "a meter's missing readings are linearly interpolated over runs of at most this many intervals (0: never)", Value: 4, EnvVars: env("interpolate-max-gap")},
			&cli.StringFlag{Name: "estimate-rule", Usage: "how other missing readings are estimated: previous (the meter's latest value) or zero", Value: matching.EstimatePrevious, EnvVars: env("estimate-rule")},
			&cli.BoolFlag{Name: "until-caught-up", Usage: "stop once every partition is read to its end at start", EnvVars: env("until-caught-up")},
		}, append(topicFlags(), apiFlags()...)...),
		Action: func(c *cli.Context) error {
			p, _, err := loadContracts(c)
			if err != nil {
				return err
			}
			url, err := databaseURL(c)
			if err != nil {
				return err
			}
			if _, err := migrations.Apply(c.Context, url, io.Discard); err != nil {
				return connectError(url, err)
			}
			store, err := postgres.Open(c.Context, url)
			if err != nil {
				return connectError(url, err)
			}
			defer store.Close()
			log := logger(c)
			if r := c.String("estimate-rule"); r != matching.EstimatePrevious && r != matching.EstimateZero {
				return usagef("--estimate-rule %q: use %s or %s", r, matching.EstimatePrevious, matching.EstimateZero)
			}
			if c.Int("interpolate-max-gap") < 0 {
				return usagef("--interpolate-max-gap %d: use 0 or more", c.Int("interpolate-max-gap"))
			}
			cfg := engineConfig(c, brokers(c), topics(c), log)
			if addr := c.String("http"); addr != "" {
				srv, err := newAPIServer(c, p, store.Pool(), true) // /readyz waits for the engine
				if err != nil {
					return err
				}
				cfg.Progress = engineProgress(srv.Server, cfg.Progress)
				ctx, cancel := context.WithCancel(c.Context)
				done := make(chan struct{})
				go func() {
					defer close(done)
					if err := srv.Serve(ctx, addr); err != nil {
						log.Error("http", "addr", addr, "err", err)
					}
				}()
				defer func() { cancel(); <-done }()
				log.Info("http: positions API, events, dashboard, /metrics and health", "addr", addr, "tokens", srv.Tokens())
			}
			start := time.Now()
			stats, err := stream.Run(c.Context, cfg, p, storeAdapter{store})
			printRunStats(c.App.Writer, stats, time.Since(start))
			return err
		},
	}
}

func engineConfig(c *cli.Context, brokers []string, t stream.Topics, log *slog.Logger) stream.Config {
	cfg := stream.Config{Brokers: brokers, Topics: t, Consumer: c.String("consumer"), UntilCaughtUp: c.Bool("until-caught-up"),
		SessionTimeout: c.Duration("session-timeout"), RebalanceTimeout: c.Duration("rebalance-timeout"),
		FlushIntervals: c.Int("flush-intervals"), FlushEvery: c.Duration("flush-every")}
	cfg.Engine = matching.DefaultConfig()
	cfg.Engine.GraceIntervals = c.Int("grace-intervals")
	cfg.Engine.InterpolateMaxGap = c.Int("interpolate-max-gap")
	cfg.Engine.EstimateRule = c.String("estimate-rule")
	cfg.Log = log
	last := time.Now()
	cfg.Progress = func(s stream.Stats) {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		log.Info("engine", "readings", s.Readings, "intervals", s.IntervalsClosed, "transfers", s.Transfers, "open", s.OpenIntervals,
			"partitions", s.Partitions, "generations", s.Generations, "dead_letters", s.DeadLetters, "dead_by_reason", s.DeadLetterSummary())
	}
	return cfg
}

func printRunStats(w io.Writer, s stream.Stats, d time.Duration) {
	dead := ""
	if s.DeadLetters > 0 {
		dead = " (" + s.DeadLetterSummary() + ")"
	}
	fmt.Fprintf(w, "run: %d messages (%d readings, %d prices) in %s; %d intervals closed, %d transfers booked in %d batches; %d duplicates, %d late, %d corrected, %d dead letters%s, %d intervals still open; %d group generations\n",
		s.Messages, s.Readings, s.Prices, d.Round(time.Millisecond), s.IntervalsClosed, s.Transfers, s.Batches, s.Duplicates, s.Late, s.Corrected, s.DeadLetters, dead, s.OpenIntervals, s.Generations)
}

// storeAdapter fits the PostgreSQL ledger store to what the stream needs.
type storeAdapter struct{ *postgres.Store }

func (s storeAdapter) Commit(ctx context.Context, b ledger.Batch) (int, error) {
	c, err := s.Store.Commit(ctx, b)
	return c.Inserted, err
}

func (s storeAdapter) Offsets(ctx context.Context, consumer string) (map[stream.TopicPartition]int64, error) {
	offs, err := s.Store.Offsets(ctx, consumer)
	out := make(map[stream.TopicPartition]int64, len(offs))
	for tp, o := range offs {
		out[stream.TopicPartition{Topic: tp.Topic, Partition: tp.Partition}] = o
	}
	return out, err
}

func (s storeAdapter) BookedIntervals(ctx context.Context, site string) ([]time.Time, error) {
	return s.Store.BookedIntervals(ctx, site, time.Time{})
}

func (s storeAdapter) Prices(ctx context.Context, since time.Time) ([]ledger.MarketPrice, error) {
	return s.Store.Prices(ctx, since)
}

func (s storeAdapter) FinalizedPeriods(ctx context.Context) ([]string, error) {
	ps, err := s.Store.FinalizedPeriods(ctx)
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Period
	}
	return out, err
}
