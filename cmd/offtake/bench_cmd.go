package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/offtake/offtake/bench"
	"github.com/offtake/offtake/pgserver"
	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure offtake against this machine's raw limits, in one run",
		Description: "Each measurement times offtake and the raw limit it is judged against (raw Kafka\n" +
			"consume, raw PostgreSQL COPY, ...) in the same run, and reports the ratio and the\n" +
			"target it must meet. Absolute rates vary with the machine; the ratios should not.\n\n" +
			"The PostgreSQL server is found as for `offtake demo` (DATABASE_URL, 127.0.0.1:5432, or\n" +
			"a private cluster); the scratch database offtake_bench is recreated for the run.\n\n" +
			"Examples:\n" +
			"   offtake bench\n" +
			"   offtake bench --only ledger --output json",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "only", Usage: "run only these measurements (default: all)", EnvVars: env("only")},
			&cli.IntFlag{Name: "readings", Usage: "meter readings each measurement pushes through", Value: 200_000, EnvVars: env("readings")},
			outputFlag(),
		},
		Action: func(c *cli.Context) error {
			format, err := outputFormat(c)
			if err != nil {
				return err
			}
			if c.Int("readings") < 1000 {
				return usagef("--readings %d: use 1000 or more, or the timings mean nothing", c.Int("readings"))
			}
			for _, n := range c.StringSlice("only") {
				if !slices.Contains(bench.Names(), n) {
					return usagef("--only %q: no such measurement (have: %v)", n, bench.Names())
				}
			}
			progress := c.App.ErrWriter
			srv, err := pgserver.Find(c.Context, pgserver.Options{Log: progress})
			if err != nil {
				return err
			}
			defer srv.Stop()
			// a database of this run's own: two benches at once must not drop each other's
			name := fmt.Sprintf("offtake_bench_%d", os.Getpid())
			url, err := srv.CreateDatabase(c.Context, name, true)
			if err != nil {
				return err
			}
			defer srv.DropDatabase(context.Background(), name)
			res, err := bench.Run(c.Context, bench.Env{DatabaseURL: url, Readings: c.Int("readings"), Progress: progress}, c.StringSlice("only"))
			if err != nil {
				return err
			}
			return show(c.App.Writer, format, res, func() { printBench(c.App.Writer, res) })
		},
	}
}

func printBench(w io.Writer, res []bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, r := range res {
		fmt.Fprintf(tw, "%s\t\t\t\n", r.Name)
		for _, f := range r.Figures {
			v := fmt.Sprintf("%.0f", f.Value)
			if f.Value < 100 {
				v = fmt.Sprintf("%.2f", f.Value)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t  %s\n", f.Name, v, f.Unit, f.Note)
		}
		for _, q := range r.Ratios {
			verdict := "met"
			if !q.Met {
				verdict = "NOT met"
			}
			fmt.Fprintf(tw, "  %s\t%.2f×\ttarget %.2f×\t%s\n", q.Name, q.Value, q.Target, verdict)
		}
	}
	tw.Flush()
}
