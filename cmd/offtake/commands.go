package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/devbroker"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/offtake/offtake/settlement/pgsource"
	"github.com/offtake/offtake/simulate"
	"github.com/offtake/offtake/stream"
	"github.com/urfave/cli/v2"
)

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "create or upgrade the ledger schema in PostgreSQL",
		Description: "Applies the numbered SQL migrations embedded in the binary. Safe to run again (it applies\n" +
			"nothing new) and from several processes at once (they take an advisory lock).",
		Flags: []cli.Flag{databaseFlag()},
		Action: func(c *cli.Context) error {
			url, err := databaseURL(c)
			if err != nil {
				return err
			}
			applied, err := migrations.Apply(c.Context, url, c.App.Writer)
			if err != nil {
				return connectError(url, err)
			}
			fmt.Fprintf(c.App.Writer, "migrate: %d applied, schema up to date\n", len(applied))
			return nil
		},
	}
}

func contractsCommand() *cli.Command {
	return &cli.Command{
		Name:  "contracts",
		Usage: "check and inspect contract files",
		Subcommands: []*cli.Command{
			{
				Name: "load", Usage: "check contract files and summarize what they define",
				ArgsUsage: "FILE...",
				Description: "Reads every file whole and reports every mistake with file:line and the field at fault.\n" +
					"Exit code 2 if any file is refused. With no FILE, checks --contracts (or the embedded example).",
				Flags: []cli.Flag{contractsFlag()},
				Action: func(c *cli.Context) error {
					if c.Args().Present() {
						if err := c.Set("contracts", c.Args().First()); err != nil {
							return err
						}
						for _, f := range c.Args().Tail() {
							_ = c.Set("contracts", f)
						}
					}
					p, from, err := loadContracts(c)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s: ok: %d parties, %d sites, %d contracts\n", from, len(p.Parties), len(p.Sites), len(p.Contracts))
					return nil
				},
			},
			{
				Name: "list", Usage: "list the contracts",
				Flags: []cli.Flag{contractsFlag(), outputFlag()},
				Action: func(c *cli.Context) error {
					p, _, err := loadContracts(c)
					if err != nil {
						return err
					}
					format, err := outputFormat(c)
					if err != nil {
						return err
					}
					return printContracts(c.App.Writer, p, format)
				},
			},
			{
				Name: "show", Usage: "show one contract's terms", ArgsUsage: "CONTRACT",
				Flags: []cli.Flag{contractsFlag(), outputFlag()},
				Action: func(c *cli.Context) error {
					p, _, err := loadContracts(c)
					if err != nil {
						return err
					}
					ct, ok := p.Contract(c.Args().First())
					if !ok {
						return usagef("no contract %q (try `offtake contracts list`)", c.Args().First())
					}
					format, err := outputFormat(c)
					if err != nil {
						return err
					}
					return printContract(c.App.Writer, p, ct, format)
				},
			},
		},
	}
}

func brokerCommand() *cli.Command {
	return &cli.Command{
		Name:  "broker",
		Usage: "serve an in-memory Kafka-protocol broker for development",
		Description: "Runs a Kafka-protocol broker in this process (kfake), with offtake's topics created, until\n" +
			"interrupted. Data lives in memory only. Point --brokers of other commands at it.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "host:port to listen on", Value: "127.0.0.1:9092", EnvVars: env("listen")},
			&cli.IntFlag{Name: "partitions", Usage: "partitions of the reading and price topics", Value: 4, EnvVars: env("partitions")},
		}, topicFlags()...),
		Action: func(c *cli.Context) error {
			t := topics(c)
			n := c.Int("partitions")
			b, err := devbroker.Start(c.String("listen"), map[string]int{t.Generation: n, t.Consumption: n, t.Prices: n, t.DeadLetter: 1})
			if err != nil {
				return fmt.Errorf("broker: %w", err)
			}
			defer b.Close()
			fmt.Fprintf(c.App.Writer, "broker: serving Kafka protocol on %s (topics %s, %s, %s: %d partitions; %s)\n",
				b.Addrs()[0], t.Generation, t.Consumption, t.Prices, n, t.DeadLetter)
			<-c.Context.Done()
			fmt.Fprintln(c.App.Writer, "broker: stopped")
			return nil
		},
	}
}

func simulateCommand() *cli.Command {
	return &cli.Command{
		Name:  "simulate",
		Usage: "publish a simulated month of readings and prices to Kafka",
		Description: "For every site of the contract files (or --site), publishes one billing period of 15-minute\n" +
			"readings of every meter and real-time prices of every node, deterministically from --seed.\n" +
			"Creates the topics if they are missing.",
		Flags: append([]cli.Flag{
			brokersFlag(), contractsFlag(), logLevelFlag(),
			&cli.StringFlag{Name: "period", Usage: "billing period to simulate, YYYY-MM", Value: "2028-03", EnvVars: env("period")},
			&cli.StringSliceFlag{Name: "site", Usage: "only these sites", EnvVars: env("site")},
			&cli.Int64Flag{Name: "seed", Usage: "random seed: the same seed publishes the same messages", Value: 1, EnvVars: env("seed")},
			&cli.IntFlag{Name: "partitions", Usage: "partitions of topics it creates", Value: 4, EnvVars: env("partitions")},
		}, topicFlags()...),
		Action: func(c *cli.Context) error {
			p, _, err := loadContracts(c)
			if err != nil {
				return err
			}
			period, err := parsePeriod(c)
			if err != nil {
				return err
			}
			sites, err := pickSites(p, c.StringSlice("site"))
			if err != nil {
				return err
			}
			t := topics(c)
			if err := stream.EnsureTopics(c.Context, brokers(c), t, c.Int("partitions")); err != nil {
				return err
			}
			msgs := simulated(sites, period, simulate.Options{Seed: c.Int64("seed")}, t)
			pub := stream.NewPublisher(brokers(c))
			defer pub.Close()
			if err := pub.Publish(c.Context, msgs.all()); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "simulate: published %d readings and %d prices for %d site(s), %s\n", len(msgs.readings), len(msgs.prices), len(sites), period)
			return nil
		},
	}
}

func pickSites(p *contracts.Portfolio, ids []string) ([]*contracts.Site, error) {
	if len(ids) == 0 {
		out := make([]*contracts.Site, len(p.Sites))
		for i := range p.Sites {
			out[i] = &p.Sites[i]
		}
		return out, nil
	}
	var out []*contracts.Site
	for _, id := range ids {
		s, ok := p.Site(id)
		if !ok {
			return nil, usagef("--site %q: no such site in the contract files", id)
		}
		out = append(out, s)
	}
	return out, nil
}

// simulation is a set of messages to publish: prices first, so the engine
// can price intervals as soon as their readings are complete.
type simulation struct {
	prices, readings []stream.Message
}

func (s simulation) all() []stream.Message {
	return append(append([]stream.Message{}, s.prices...), s.readings...)
}

func simulated(sites []*contracts.Site, period contracts.Period, opt simulate.Options, t stream.Topics) simulation {
	var out simulation
	for _, s := range sites {
		m := simulate.Site(s, period, opt)
		for _, pr := range m.Prices {
			out.prices = append(out.prices, stream.Message{Topic: t.Prices, Key: []byte(pr.Node), Value: messages.EncodePrice(pr)})
		}
		for _, r := range m.Readings {
			meter, _ := s.Meter(r.Meter)
			topic := t.Consumption
			if meter.Kind.Generation() {
				topic = t.Generation
			}
			out.readings = append(out.readings, stream.Message{Topic: topic, Key: []byte(s.ID), Value: messages.EncodeReading(r)})
		}
	}
	return out
}

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

func settleCommand() *cli.Command {
	return &cli.Command{
		Name:  "settle",
		Usage: "print the statements of a billing period",
		Description: "Sums the ledger's transfers of the period into one statement per contract: energy lines by\n" +
			"price, each rounded to the cent once by the contract's rule, and a total that is the sum of the\n" +
			"rounded lines. Writes nothing.",
		Flags: []cli.Flag{databaseFlag(), contractsFlag(), periodFlag(true), outputFlag(),
			&cli.StringFlag{Name: "contract", Usage: "only this contract", EnvVars: env("contract")},
			&cli.StringFlag{Name: "counterparty", Usage: "only this buyer's contracts", EnvVars: env("counterparty")},
		},
		Action: func(c *cli.Context) error {
			sts, err := statements(c)
			if err != nil {
				return err
			}
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(c.App.Writer, statementsJSON(sts))
			}
			printStatements(c.App.Writer, sts)
			return nil
		},
	}
}

func invoicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "invoices",
		Usage: "write the invoice files of a billing period",
		Description: "Writes DIR/YYYY-MM/<counterparty>/<invoice>.csv and .json for each statement of the period.\n" +
			"The same ledger gives the same bytes.",
		Flags: []cli.Flag{databaseFlag(), contractsFlag(), periodFlag(true),
			&cli.StringFlag{Name: "out", Usage: "output directory", Value: "out", EnvVars: env("out")},
			&cli.StringFlag{Name: "counterparty", Usage: "only this buyer's invoices", EnvVars: env("counterparty")},
		},
		Action: func(c *cli.Context) error {
			sts, err := statements(c)
			if err != nil {
				return err
			}
			written, err := files.Write(c.String("out"), sts)
			if err != nil {
				return err
			}
			for _, w := range written {
				for _, f := range w.Files {
					fmt.Fprintf(c.App.Writer, "invoices: wrote %s\n", f)
				}
			}
			return nil
		},
	}
}

// statements builds the period's statements from the ledger, filtered by
// --contract and --counterparty.
func statements(c *cli.Context) ([]settlement.Statement, error) {
	p, _, err := loadContracts(c)
	if err != nil {
		return nil, err
	}
	period, err := parsePeriod(c)
	if err != nil {
		return nil, err
	}
	store, err := openStore(c)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	sts, err := settle(c.Context, p, store, period)
	if err != nil {
		return nil, err
	}
	return filterStatements(sts, c.String("contract"), c.String("counterparty")), nil
}

func settle(ctx context.Context, p *contracts.Portfolio, store *postgres.Store, period contracts.Period) ([]settlement.Statement, error) {
	src := pgsource.New(store.Pool(), gridParties(p))
	totals, err := src.ContractTotals(ctx, period)
	if err != nil {
		return nil, err
	}
	return settlement.Build(p, period, totals)
}

func gridParties(p *contracts.Portfolio) []string {
	var out []string
	for _, pt := range p.Parties {
		if pt.Role == contracts.RoleGrid {
			out = append(out, pt.ID)
		}
	}
	return out
}

func filterStatements(sts []settlement.Statement, contract, counterparty string) []settlement.Statement {
	var out []settlement.Statement
	for _, st := range sts {
		if (contract == "" || st.Contract.ID == contract) && (counterparty == "" || st.Buyer.ID == counterparty) {
			out = append(out, st)
		}
	}
	return out
}

func ledgerCommand() *cli.Command {
	return &cli.Command{
		Name:  "ledger",
		Usage: "inspect and check the ledger",
		Subcommands: []*cli.Command{
			{
				Name:  "verify",
				Usage: "check the ledger's invariants; exit 1 naming each violation",
				Description: "Checks that debits equal credits for every unit, that every account's balance equals the\n" +
					"sum of its transfers, and that every transfer's accounts hold its unit.",
				Flags: []cli.Flag{databaseFlag(), outputFlag()},
				Action: ledgerReport(func(ctx context.Context, store *postgres.Store, w io.Writer, format string) error {
					rep, err := store.Verify(ctx)
					if err != nil {
						return err
					}
					if err := show(w, format, rep, func() { printVerify(w, rep) }); err != nil {
						return err
					}
					if rep.Violations > 0 {
						return cli.Exit(fmt.Sprintf("ledger verify: %d violation(s)", rep.Violations), exitFailure)
					}
					return nil
				}),
			},
			{
				Name:  "balances",
				Usage: "list every account's balance",
				Flags: []cli.Flag{databaseFlag(), outputFlag()},
				Action: ledgerReport(func(ctx context.Context, store *postgres.Store, w io.Writer, format string) error {
					bs, err := store.Balances(ctx)
					if err != nil {
						return err
					}
					return show(w, format, bs, func() { printBalances(w, bs) })
				}),
			},
		},
	}
}

// ledgerReport opens the ledger and checks --output before running report.
func ledgerReport(report func(ctx context.Context, store *postgres.Store, w io.Writer, format string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		format, err := outputFormat(c)
		if err != nil {
			return err
		}
		store, err := openStore(c)
		if err != nil {
			return err
		}
		defer store.Close()
		return report(c.Context, store, c.App.Writer, format)
	}
}

// show prints v as JSON, or as a table with printTable.
func show(w io.Writer, format string, v any, printTable func()) error {
	if format == "json" {
		return printJSON(w, v)
	}
	printTable()
	return nil
}

// openStore opens the ledger at --database-url.
func openStore(c *cli.Context) (*postgres.Store, error) {
	url, err := databaseURL(c)
	if err != nil {
		return nil, err
	}
	store, err := postgres.Open(c.Context, url)
	if err != nil {
		return nil, connectError(url, err)
	}
	return store, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
