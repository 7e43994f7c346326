package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/devbroker"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/offtake/offtake/settlement/pgsource"
	"github.com/offtake/offtake/simulate"
	"github.com/offtake/offtake/stream"
	"github.com/segmentio/kafka-go"
	"github.com/urfave/cli/v2"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run everything end to end on embedded defaults",
		Description: "Starts an in-process Kafka-protocol broker, finds or starts PostgreSQL (DATABASE_URL, else the\n" +
			"server on 127.0.0.1:5432, else a private cluster from the machine's PostgreSQL binaries), creates a\n" +
			"fresh database offtake_demo, applies migrations, loads the example contracts, publishes a simulated\n" +
			"month of 15-minute readings and prices, runs the engine until it has caught up, verifies the\n" +
			"ledger, settles the month, writes invoice files under --out and prints a summary.\n\n" +
			"--example pjm-2025 runs a site built from real PJM data (July 2025 load, solar and prices)\n" +
			"replayed instead of the simulation.\n\n" +
			"Examples:\n" +
			"   offtake demo\n" +
			"   offtake demo --contracts examples/term-sheet.yaml\n" +
			"   offtake demo --example pjm-2025",
		Flags: []cli.Flag{
			databaseFlag(), contractsFlag(), logLevelFlag(),
			&cli.StringFlag{Name: "period", Usage: "month to simulate and settle, YYYY-MM (March has the spring-forward day)", Value: "2028-03", EnvVars: env("period")},
			&cli.Int64Flag{Name: "seed", Usage: "simulation seed", Value: 1, EnvVars: env("seed")},
			&cli.StringFlag{Name: "out", Usage: "directory for invoice files", Value: "out", EnvVars: env("out")},
			&cli.StringFlag{Name: "database", Usage: "name of the database the demo (re)creates", Value: "offtake_demo", EnvVars: env("database")},
			&cli.BoolFlag{Name: "bad-messages", Usage: "also publish a malformed message and a duplicate, to show the dead-letter path", Value: true, EnvVars: env("bad-messages")},
			exampleFlag(),
		},
		Action: func(c *cli.Context) error {
			d := demo{w: c.App.Writer, seed: c.Int64("seed"), out: c.String("out"), bad: c.Bool("bad-messages")}
			var from string
			if name := c.String("example"); name != "" {
				if c.IsSet("contracts") || c.IsSet("period") {
					return usagef("--example %s brings its own contracts and period: leave out --contracts and --period", name)
				}
				file, p, sim, period, err := replayedExample(name, stream.DefaultTopics())
				if err != nil {
					return err
				}
				d.p, d.period, d.replayed, from = p, period, &sim, file+" (real data)"
			} else {
				p, f, err := loadContracts(c)
				if err != nil {
					return err
				}
				period, err := parsePeriod(c)
				if err != nil {
					return err
				}
				d.p, d.period, from = p, period, f
			}
			p := d.p
			d.step("contracts: %s: sites %d, contracts %d", from, len(p.Sites), len(p.Contracts))
			url, stop, err := d.database(c.Context, c.String("database-url"), c.String("database"))
			if err != nil {
				return err
			}
			defer stop()
			return d.run(c.Context, url)
		},
	}
}

// demo is one end-to-end run.
type demo struct {
	w      io.Writer
	p      *contracts.Portfolio
	period contracts.Period
	seed   int64
	out    string
	bad    bool
	// replayed is an example's real data (--example), used instead of the simulation
	replayed *simulation
	days     int // simulate only the first days of the period (tests); 0 = all
	start    time.Time
}

func (d *demo) step(format string, args ...any) {
	if d.start.IsZero() {
		d.start = time.Now()
	}
	fmt.Fprintf(d.w, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

// database finds or starts PostgreSQL and (re)creates the demo database.
func (d *demo) database(ctx context.Context, url, name string) (string, func(), error) {
	if url != "" {
		d.step("postgres: using --database-url %s as is", pgserver.Redact(url))
		return url, func() {}, nil
	}
	srv, err := pgserver.Find(ctx, pgserver.Options{Log: stepWriter{d}})
	if err != nil {
		return "", nil, err
	}
	url, err = srv.CreateDatabase(ctx, name, true)
	if err != nil {
		srv.Stop()
		return "", nil, err
	}
	d.step("postgres: fresh database %s", pgserver.Redact(url))
	return url, func() { srv.Stop() }, nil
}

type stepWriter struct{ d *demo }

func (s stepWriter) Write(b []byte) (int, error) {
	s.d.step("%s", trimNL(string(b)))
	return len(b), nil
}

func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func (d *demo) run(ctx context.Context, url string) error {
	if _, err := migrations.Apply(ctx, url, io.Discard); err != nil {
		return connectError(url, err)
	}
	d.step("migrate: schema up to date")
	store, err := postgres.Open(ctx, url)
	if err != nil {
		return connectError(url, err)
	}
	defer store.Close()

	t := stream.DefaultTopics()
	b, err := devbroker.Start("127.0.0.1:0", map[string]int{t.Generation: 4, t.Consumption: 4, t.Prices: 4, t.DeadLetter: 1})
	if err != nil {
		return fmt.Errorf("demo broker: %w", err)
	}
	defer b.Close()
	d.step("kafka: in-process broker on %s", b.Addrs()[0])

	var sim simulation
	if d.replayed != nil {
		sim = *d.replayed
	} else {
		sites, _ := pickSites(d.p, nil)
		sim = simulated(sites, d.period, simulate.Options{Seed: d.seed, Days: d.days, Portfolio: d.p}, t)
	}
	msgs := sim.all()
	if d.bad {
		msgs = withBadMessages(sim)
	}
	pub := stream.NewPublisher(b.Addrs())
	if err := pub.Publish(ctx, msgs); err != nil {
		pub.Close()
		return err
	}
	pub.Close()
	what := "simulate: published"
	if d.replayed != nil {
		what = "replay: published real"
	}
	d.step("%s %d readings and %d prices for %s (%d-minute intervals, %s)", what, len(sim.readings), len(sim.prices), d.period, d.p.Sites[0].IntervalMinutes, d.p.Sites[0].TimeZone)

	cfg := stream.Config{Brokers: b.Addrs(), Topics: t, Consumer: "offtake", UntilCaughtUp: true}
	stats, err := stream.Run(ctx, cfg, d.p, storeAdapter{store})
	if err != nil {
		return err
	}
	d.step("engine: %d intervals closed, %d transfers booked in %d batches; %d duplicate(s), %d dead letter(s)%s",
		stats.IntervalsClosed, stats.Transfers, stats.Batches, stats.Duplicates, stats.DeadLetters, reasons(stats.DeadByReason))
	if err := d.showDeadLetters(ctx, b.Addrs(), t.DeadLetter); err != nil {
		return err
	}

	rep, err := store.Verify(ctx)
	if err != nil {
		return err
	}
	if rep.Violations > 0 {
		printVerify(d.w, rep)
		return fmt.Errorf("demo: ledger verify found %d violation(s)", rep.Violations)
	}
	d.step("ledger verify: every invariant holds")

	sts, err := settle(ctx, d.p, store, d.period, nil)
	if err != nil {
		return err
	}
	written, err := files.Write(d.out, sts)
	if err != nil {
		return err
	}
	n := 0
	for _, w := range written {
		n += len(w.Files)
	}
	d.step("invoices: %d files under %s/%s/", n, d.out, d.period)
	grid, err := pgsource.New(store.Pool(), d.p).GridTotals(ctx, d.period)
	if err != nil {
		return err
	}
	d.summary(sts, settlement.SummarizeGrid(grid))
	return nil
}

// withBadMessages is the simulation's messages with a duplicate of the first
// reading right behind it and a malformed reading at the end.
func withBadMessages(sim simulation) []stream.Message {
	first := sim.readings[0]
	msgs := append([]stream.Message{}, sim.prices...)
	msgs = append(msgs, first, first)
	msgs = append(msgs, sim.readings[1:]...)
	return append(msgs, stream.Message{Topic: first.Topic, Key: first.Key,
		Value: []byte(`{"site":"coyote-flats","meter":"CFEC-GROSS","start":"2028-03-01T06:00:00Z","end":"2028-03-01T06:15:00Z","value":"NaN","unit":"kWh"}`)})
}

func (d *demo) showDeadLetters(ctx context.Context, brokers []string, topic string) error {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	lag, err := r.ReadLag(ctx)
	if err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	for i := int64(0); i < lag; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		d.step("dead letter from %s/%s/%s: %s", h["offtake-source-topic"], h["offtake-source-partition"], h["offtake-source-offset"], h["offtake-reason"])
	}
	return nil
}

func (d *demo) summary(sts []settlement.Statement, grid []settlement.GridSummary) {
	fmt.Fprintf(d.w, "\nSettlement %s\n\n", d.period)
	tw := table(d.w)
	fmt.Fprintln(tw, "contract\tbuyer\tdelivered MWh\t$/MWh\tamount\t")
	for _, st := range sts {
		rate := "-"
		if len(st.Lines) == 1 {
			rate = st.Lines[0].RateUSD.StringFixed(2)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", st.Contract.ID, st.Buyer.Name, mwh(st.EnergyMWh), rate, usd(st.TotalUSD))
	}
	tw.Flush()
	fmt.Fprintln(d.w, "\nGrid")
	tw = table(d.w)
	fmt.Fprintln(tw, "party\texport MWh\texport revenue\timport MWh\timport cost\t")
	for _, g := range grid {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", g.Party, mwh(g.ExportMWh), usd(g.ExportUSD), mwh(g.ImportMWh), usd(g.ImportUSD))
	}
	tw.Flush()
	fmt.Fprintf(d.w, "\nInvoices are in %s/%s/<counterparty>/. Done in %.1fs.\n", d.out, d.period, time.Since(d.start).Seconds())
}

// reasons formats dead-letter counts by reason: " (invalid_value: 1)".
func reasons(by map[string]int64) string {
	if len(by) == 0 {
		return ""
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, by[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
