package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/devbroker"
	"github.com/offtake/offtake/ledger/postgres"
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
			msgs := simulated(sites, period, simulate.Options{Seed: c.Int64("seed"), Portfolio: p}, t)
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

func settleCommand() *cli.Command {
	return &cli.Command{
		Name:  "settle",
		Usage: "preview or finalize the statements of a billing period",
		Description: "Sums the ledger's transfers of the period into one statement per contract: energy by\n" +
			"time-of-use band, shortfall damages, virtual PPA settlement, prior-period corrections, the\n" +
			"capacity charge, minimum-take and excess true-ups and taxes, each line rounded to the cent once\n" +
			"by the contract's rule, the total the sum of the rounded lines.\n\n" +
			"Without --finalize it is a preview: nothing is written, invoices carry draft ids. With\n" +
			"--finalize, in one transaction, the period is finalized in the ledger (the database then\n" +
			"refuses transfers dated in it; later corrections land in the next open period), each statement\n" +
			"gets an invoice number, gapless per issuer and year (MRP-2028-000001), and the run is recorded.\n" +
			"Finalizing again, or previewing a finalized period, reproduces the same statements and numbers\n" +
			"and issues nothing new; two runs at once cannot both finalize.\n\n" +
			"Examples:\n" +
			"   offtake settle --period 2028-03\n" +
			"   offtake settle --period 2028-03 --counterparty northwind --output json\n" +
			"   offtake settle --period 2028-03 --finalize --by 'jane@mesaridge.example'",
		Flags: []cli.Flag{databaseFlag(), contractsFlag(), periodFlag(true), outputFlag(),
			&cli.StringFlag{Name: "contract", Usage: "only this contract", EnvVars: env("contract")},
			&cli.StringFlag{Name: "counterparty", Usage: "only this buyer's contracts", EnvVars: env("counterparty")},
			&cli.BoolFlag{Name: "finalize", Usage: "finalize the period: lock it, number the invoices, record the run", EnvVars: env("finalize")},
			&cli.StringFlag{Name: "by", Usage: "who finalizes (recorded with the run)", Value: defaultBy(), EnvVars: env("by")},
		},
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			sts, run, err := statements(c, c.Bool("finalize"))
			if err != nil {
				return err
			}
			if run != nil {
				if run.Reused {
					fmt.Fprintf(c.App.ErrWriter, "settle: %s was finalized before: %d invoice(s), nothing new issued\n", run.Period, run.Invoices)
				} else {
					fmt.Fprintf(c.App.ErrWriter, "settle: finalized %s by %s: %d invoice(s) numbered, total $%s\n", run.Period, run.By, run.Invoices, run.TotalUSD.StringFixed(2))
				}
			}
			if format == "json" {
				return printJSON(c.App.Writer, statementsJSON(sts))
			}
			printStatements(c.App.Writer, sts)
			return nil
		},
	}
}

func defaultBy() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "offtake settle"
}

func invoicesCommand() *cli.Command {
	return &cli.Command{
		Name:  "invoices",
		Usage: "write the invoice files of a billing period",
		Description: "Writes DIR/YYYY-MM/<counterparty>/ for each statement of the period: <invoice>.pdf, .csv,\n" +
			"-intervals.csv, .json, .xml (UBL 2.1) and MANIFEST.sha256. A finalized period's files carry its\n" +
			"invoice numbers; an open period's are drafts. The same ledger gives the same bytes.\n\n" +
			"Examples:\n" +
			"   offtake invoices --period 2028-03 --out out\n" +
			"   offtake invoices --period 2028-03 --out out --counterparty northwind",
		Flags: []cli.Flag{databaseFlag(), contractsFlag(), periodFlag(true),
			&cli.StringFlag{Name: "out", Usage: "output directory", Value: "out", EnvVars: env("out")},
			&cli.StringFlag{Name: "counterparty", Usage: "only this buyer's invoices", EnvVars: env("counterparty")},
		},
		Action: func(c *cli.Context) error {
			sts, _, err := statements(c, false)
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

// statements builds the period's statements from the ledger (finalizing
// the period first when finalize is set), filtered by --contract and
// --counterparty. A finalized period's statements carry their numbers.
func statements(c *cli.Context, finalize bool) ([]settlement.Statement, *pgsource.Run, error) {
	p, _, err := loadContracts(c)
	if err != nil {
		return nil, nil, err
	}
	period, err := parsePeriod(c)
	if err != nil {
		return nil, nil, err
	}
	if finalize && (c.String("contract") != "" || c.String("counterparty") != "") {
		return nil, nil, usagef("--finalize settles the whole period: leave out --contract and --counterparty")
	}
	store, err := openStore(c)
	if err != nil {
		return nil, nil, err
	}
	defer store.Close()
	bar := newProgress(c.App.ErrWriter, "settle "+period.String()+": contracts")
	var sts []settlement.Statement
	var run *pgsource.Run
	if finalize {
		by := strings.TrimSpace(c.String("by"))
		if by == "" {
			return nil, nil, usagef("--by: say who finalizes the period")
		}
		r, all, err := pgsource.Finalize(c.Context, store.Pool(), p, period, by, bar.update)
		if err != nil {
			return nil, nil, err
		}
		sts, run = all, &r
	} else {
		sts, err = settle(c.Context, p, store, period, bar.update)
		if err != nil {
			return nil, nil, err
		}
	}
	return filterStatements(sts, c.String("contract"), c.String("counterparty")), run, nil
}

// settle previews a period's statements, with the numbers of a finalized period.
func settle(ctx context.Context, p *contracts.Portfolio, store *postgres.Store, period contracts.Period, progress func(done, total int)) ([]settlement.Statement, error) {
	src := pgsource.New(store.Pool(), p)
	sts, err := settlement.Settle(ctx, p, period, src, progress)
	if err != nil {
		return nil, err
	}
	numbers, err := src.InvoiceNumbers(ctx, period)
	if err != nil {
		return nil, err
	}
	return settlement.Number(sts, numbers), nil
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
