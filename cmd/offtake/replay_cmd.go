package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/replay"
	"github.com/offtake/offtake/stream"
	"github.com/shopspring/decimal"
	"github.com/urfave/cli/v2"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:      "replay",
		Usage:     "publish real data files (ISO prices, meter data) to Kafka as readings and prices",
		ArgsUsage: "[FILE...]",
		Description: "Reads each FILE (or the files of --mapping) in --format, maps its series onto a site's meters and\n" +
			"price nodes, fits the values to the site's settlement interval (an hourly value is split evenly\n" +
			"into 15-minute readings, the remainder Wh to the last; 15-minute values are summed into an hour\n" +
			"only when all four are there; an hourly price covers its four intervals) and publishes them,\n" +
			"prices first at each instant. Every file is checked whole first: a mistake names file:line and\n" +
			"nothing is published. Formats: " + strings.Join(formatNames(), ", ") + ".\n\n" +
			"Examples:\n" +
			"  offtake replay --site laurel-run --format pjm-load --meter DC-LOAD --scale 0.002 hrl_load_metered.csv\n" +
			"  offtake replay --format pjm-lmp --node 'WESTERN HUB=PJM_WESTERN_HUB' --speed 3600x rt_hrl_lmps.csv\n" +
			"  offtake replay --mapping replay.yaml --period 2025-07 --rate 500/s",
		Flags: append([]cli.Flag{
			brokersFlag(), contractsFlag(),
			&cli.StringFlag{Name: "mapping", Usage: "a YAML mapping file: which files, formats, columns → meters/nodes, units, scales", EnvVars: env("mapping")},
			&cli.StringFlag{Name: "format", Usage: "format of the FILEs: " + strings.Join(formatNames(), ", "), EnvVars: env("format")},
			&cli.StringFlag{Name: "site", Usage: "the site the readings are of (default: the only site; a file of prices only fitting every site needs none)", EnvVars: env("site")},
			&cli.StringSliceFlag{Name: "meter", Usage: "the meter of the file's one energy series, or NAME=METER per series (repeat)", EnvVars: env("meter")},
			&cli.StringSliceFlag{Name: "node", Usage: "the node of the file's one price series, or NAME=NODE per series (repeat); pjm-lmp default: the pnode names", EnvVars: env("node")},
			&cli.StringFlag{Name: "market", Usage: "market of the prices: RT, DA, GAS (default from the file)", EnvVars: env("market")},
			&cli.StringFlag{Name: "column", Usage: "the value column (pjm-lmp: total_lmp_da or total_lmp_rt; pjm-load: mw; ercot-hourly: e.g. HUB)", EnvVars: env("column")},
			&cli.StringFlag{Name: "area", Usage: "pjm-load: only rows of this load_area", EnvVars: env("area")},
			&cli.StringFlag{Name: "unit", Usage: "energy unit of the values: MW (hour average), MWh, kWh, Wh (default per format)", EnvVars: env("unit")},
			&cli.StringFlag{Name: "scale", Usage: "multiply energy values by this decimal, e.g. 0.002", EnvVars: env("scale")},
			&cli.StringFlag{Name: "time-zone", Usage: "zone of local times in ercot-hourly and eia-gas files (default: the site's)", EnvVars: env("time-zone")},
			&cli.BoolFlag{Name: "repair-merged-hour", Usage: "ercot-hourly: let a merged fall-back hour's value stand for both hours (otherwise refused)", EnvVars: env("repair-merged-hour")},
			&cli.BoolFlag{Name: "skip-empty", Usage: "eia-gas: leave out rows without a price (otherwise refused)", EnvVars: env("skip-empty")},
			&cli.BoolFlag{Name: "fill-days", Usage: "eia-gas: days without a row take the latest earlier trading day's price", EnvVars: env("fill-days")},
			&cli.StringFlag{Name: "period", Usage: "only intervals of this month in the site's zone, YYYY-MM", EnvVars: env("period")},
			&cli.StringFlag{Name: "from", Usage: "only intervals from this local date, YYYY-MM-DD", EnvVars: env("from")},
			&cli.StringFlag{Name: "to", Usage: "only intervals before this local date, YYYY-MM-DD", EnvVars: env("to")},
			&cli.StringFlag{Name: "speed", Usage: "pace by data time: 3600x publishes one hour of intervals per second (default: full speed)", EnvVars: env("speed")},
			&cli.StringFlag{Name: "rate", Usage: "pace by messages: 500/s (default: full speed)", EnvVars: env("rate")},
			&cli.BoolFlag{Name: "dry-run", Usage: "check the files and print the summary; publish nothing", EnvVars: env("dry-run")},
			outputFlag(),
			&cli.IntFlag{Name: "partitions", Usage: "partitions of topics it creates", Value: 4, EnvVars: env("partitions")},
		}, topicFlags()...),
		Action: replayAction,
	}
}

func formatNames() []string {
	out := make([]string, len(replay.Formats))
	for i, f := range replay.Formats {
		out[i] = string(f)
	}
	return out
}

func replayAction(c *cli.Context) error {
	p, _, err := loadContracts(c)
	if err != nil {
		return err
	}
	pace, err := replayPace(c)
	if err != nil {
		return err
	}
	sources, err := replaySources(c)
	if err != nil {
		return err
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	t := topics(c)
	plan, err := replay.Build(p, t, sources)
	if err != nil {
		return err
	}
	if c.Bool("dry-run") {
		if format == "json" {
			return printReplayJSON(c.App.Writer, plan, 0)
		}
		printReplaySummary(c.App.Writer, plan)
		fmt.Fprintln(c.App.Writer, "replay: dry run, nothing published")
		return nil
	}
	if format == "table" {
		printReplaySummary(c.App.Writer, plan)
	}
	if err := stream.EnsureTopics(c.Context, brokers(c), t, c.Int("partitions")); err != nil {
		return err
	}
	pub := stream.NewPublisher(brokers(c))
	defer pub.Close()
	bar := newProgress(c.App.ErrWriter, "replay")
	began := time.Now()
	total := len(plan.Messages)
	err = replay.Publish(c.Context, pub, plan, pace, func(done int, _ time.Time) { bar.update(done, total) })
	if err != nil {
		return err
	}
	if format == "json" {
		return printReplayJSON(c.App.Writer, plan, total)
	}
	fmt.Fprintf(c.App.Writer, "replay: published %d messages to %s in %s\n", total, strings.Join(brokers(c), ","), time.Since(began).Round(time.Millisecond))
	return nil
}

func replayPace(c *cli.Context) (replay.Pace, error) {
	var pace replay.Pace
	var err error
	if c.String("speed") != "" && c.String("rate") != "" {
		return pace, usagef("--speed and --rate: give one pace, not both")
	}
	if s := c.String("speed"); s != "" {
		if pace.Speed, err = replay.ParseSpeed(s); err != nil {
			return pace, usagef("--speed: %s", err)
		}
	}
	if s := c.String("rate"); s != "" {
		if pace.Rate, err = replay.ParseRate(s); err != nil {
			return pace, usagef("--rate: %s", err)
		}
	}
	return pace, nil
}

// replaySources reads --mapping, or the FILE arguments with the flags.
func replaySources(c *cli.Context) ([]replay.Source, error) {
	from, to, err := replayWindow(c)
	if err != nil {
		return nil, err
	}
	if m := c.String("mapping"); m != "" {
		if c.Args().Len() > 0 || c.String("format") != "" {
			return nil, usagef("--mapping names the files and their formats: give no FILE arguments or --format with it")
		}
		data, err := os.ReadFile(m)
		if err != nil {
			return nil, usagef("--mapping: %v", err)
		}
		srcs, err := replay.LoadMapping(m, data, os.ReadFile)
		if err != nil {
			return nil, err
		}
		for i := range srcs {
			if c.String("site") != "" && srcs[i].Site == "" {
				srcs[i].Site = c.String("site")
			}
			if !from.IsZero() {
				srcs[i].From = from
			}
			if !to.IsZero() {
				srcs[i].To = to
			}
		}
		return srcs, nil
	}
	if c.Args().Len() == 0 {
		return nil, usagef("nothing to replay: give FILE arguments with --format, or --mapping FILE")
	}
	if c.String("format") == "" {
		return nil, usagef("--format: say what the files are: %s", strings.Join(formatNames(), ", "))
	}
	meter, meters, err := replay.ParseMap("meter", c.StringSlice("meter"))
	if err != nil {
		return nil, err
	}
	node, nodes, err := replay.ParseMap("node", c.StringSlice("node"))
	if err != nil {
		return nil, err
	}
	var scale decimal.Decimal
	if s := c.String("scale"); s != "" {
		if scale, err = decimal.NewFromString(s); err != nil || scale.Sign() <= 0 {
			return nil, usagef("--scale %q: give a positive decimal like 0.002", s)
		}
	}
	var out []replay.Source
	for _, name := range c.Args().Slice() {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, usagef("%v", err)
		}
		out = append(out, replay.Source{
			File: name, Data: data, Format: replay.Format(c.String("format")), Site: c.String("site"),
			Meter: meter, Meters: meters, Node: node, Nodes: nodes, Market: c.String("market"), Column: c.String("column"),
			Area: c.String("area"), Unit: c.String("unit"), Scale: scale, TimeZone: c.String("time-zone"),
			RepairMergedHour: c.Bool("repair-merged-hour"), SkipEmpty: c.Bool("skip-empty"), FillDays: c.Bool("fill-days"),
			From: from, To: to,
		})
	}
	return out, nil
}

// replayWindow reads --period or --from/--to.
func replayWindow(c *cli.Context) (from, to contracts.Date, err error) {
	if s := c.String("period"); s != "" {
		if c.String("from") != "" || c.String("to") != "" {
			return from, to, usagef("--period is a window already: give it or --from/--to, not both")
		}
		p, err := contracts.ParsePeriod(s)
		if err != nil {
			return from, to, usagef("--period: %s", err)
		}
		next := p.Next()
		return contracts.Date{Year: p.Year, Month: p.Month, Day: 1}, contracts.Date{Year: next.Year, Month: next.Month, Day: 1}, nil
	}
	for _, f := range []struct {
		name string
		d    *contracts.Date
	}{{"from", &from}, {"to", &to}} {
		if s := c.String(f.name); s != "" {
			if *f.d, err = contracts.ParseDate(s); err != nil {
				return from, to, usagef("--%s: %s", f.name, err)
			}
		}
	}
	return from, to, nil
}

// replayJSON is the summary for machines (--output json).
type replayJSON struct {
	Readings      int            `json:"readings"`
	Prices        int            `json:"prices"`
	ByTopic       map[string]int `json:"messages_by_topic"`
	First         string         `json:"first_interval_start"`
	Last          string         `json:"last_interval_end"`
	Rounded       int            `json:"values_rounded_to_wh"`
	Notes         []string       `json:"notes"`
	MissingPrices []string       `json:"missing_price_nodes"`
	Gaps          []string       `json:"meter_gaps"`
	Published     int            `json:"published"`
}

func printReplayJSON(w io.Writer, plan *replay.Plan, published int) error {
	s := plan.Summary
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(replayJSON{
		Readings: s.Readings, Prices: s.Prices, ByTopic: s.ByTopic,
		First: s.First.UTC().Format(time.RFC3339), Last: s.Last.UTC().Format(time.RFC3339),
		Rounded: s.Rounded, Notes: append([]string{}, s.Notes...), MissingPrices: append([]string{}, s.MissingPrices...),
		Gaps: append([]string{}, s.Gaps...), Published: published,
	})
}

func printReplaySummary(w io.Writer, plan *replay.Plan) {
	s := plan.Summary
	fmt.Fprintf(w, "replay: %d readings and %d prices, intervals from %s to %s\n", s.Readings, s.Prices,
		s.First.UTC().Format(time.RFC3339), s.Last.UTC().Format(time.RFC3339))
	topicsSeen := make([]string, 0, len(s.ByTopic))
	for tp := range s.ByTopic {
		topicsSeen = append(topicsSeen, tp)
	}
	sort.Strings(topicsSeen)
	tw := table(w)
	for _, tp := range topicsSeen {
		fmt.Fprintf(tw, "  %s\t%d messages\t\n", tp, s.ByTopic[tp])
	}
	tw.Flush()
	for _, n := range s.Notes {
		fmt.Fprintln(w, "  note:", n)
	}
	for _, n := range s.MissingPrices {
		fmt.Fprintf(w, "  warning: no prices for %s, which the site needs: its intervals close only when they arrive (replay them too)\n", n)
	}
	for _, g := range s.Gaps {
		fmt.Fprintf(w, "  warning: %s: the site's intervals are incomplete without them (replay them too)\n", g)
	}
}

// exampleFlag chooses an example built from real data, for `offtake demo
// --example NAME` (see replay.Examples).
func exampleFlag() cli.Flag {
	return &cli.StringFlag{Name: "example", Usage: "run an example built from real data instead of the simulation: " + strings.Join(replay.Examples(), ", "), EnvVars: env("example")}
}

// replayedExample is an example built from real data, as the demo runs it:
// its contract file (in examples.Files), portfolio, billing period, and its
// replayed messages as a simulation (prices, then readings, each in interval
// order), so withBadMessages and the rest of the demo apply unchanged.
func replayedExample(name string, t stream.Topics) (file string, p *contracts.Portfolio, sim simulation, period contracts.Period, err error) {
	file, p, plan, period, err := replay.Example(name, t)
	if err != nil {
		return "", nil, sim, period, err
	}
	sim.prices, sim.readings = plan.Split(t)
	return file, p, sim, period, nil
}
