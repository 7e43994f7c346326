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
			"PostgreSQL with the partitions' offsets in the same transaction. Resumes from the stored offsets\n" +
			"after a restart. Applies migrations first. Stops on SIGINT/SIGTERM after booking what is done,\n" +
			"or with --until-caught-up once every partition is read to the end it had at start.",
		Flags: append([]cli.Flag{
			brokersFlag(), databaseFlag(), contractsFlag(), logLevelFlag(),
			&cli.StringFlag{Name: "consumer", Usage: "name the engine's offsets are stored under", Value: "offtake", EnvVars: env("consumer")},
			&cli.IntFlag{Name: "grace-intervals", Usage: "intervals past its end an incomplete interval waits for missing meters", Value: 4, EnvVars: env("grace-intervals")},
			&cli.BoolFlag{Name: "until-caught-up", Usage: "stop once every partition is read to its end at start", EnvVars: env("until-caught-up")},
		}, topicFlags()...),
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
			cfg := engineConfig(c, brokers(c), topics(c), log)
			start := time.Now()
			stats, err := stream.Run(c.Context, cfg, p, storeAdapter{store})
			printRunStats(c.App.Writer, stats, time.Since(start))
			return err
		},
	}
}

func engineConfig(c *cli.Context, brokers []string, t stream.Topics, log *slog.Logger) stream.Config {
	cfg := stream.Config{Brokers: brokers, Topics: t, Consumer: c.String("consumer"), UntilCaughtUp: c.Bool("until-caught-up")}
	cfg.Engine = matching.DefaultConfig()
	cfg.Engine.GraceIntervals = c.Int("grace-intervals")
	cfg.Log = log
	last := time.Now()
	cfg.Progress = func(s stream.Stats) {
		if time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		log.Info("engine", "readings", s.Readings, "intervals", s.IntervalsClosed, "transfers", s.Transfers, "open", s.OpenIntervals, "dead_letters", s.DeadLetters)
	}
	return cfg
}

func printRunStats(w io.Writer, s stream.Stats, d time.Duration) {
	fmt.Fprintf(w, "run: %d messages (%d readings, %d prices) in %s; %d intervals closed, %d transfers booked in %d batches; %d duplicates, %d late, %d dead letters, %d intervals still open\n",
		s.Messages, s.Readings, s.Prices, d.Round(time.Millisecond), s.IntervalsClosed, s.Transfers, s.Batches, s.Duplicates, s.Late, s.DeadLetters, s.OpenIntervals)
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

func (s storeAdapter) Prices(ctx context.Context) ([]ledger.MarketPrice, error) {
	return s.Store.Prices(ctx, time.Time{})
}
