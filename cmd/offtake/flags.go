package main

import (
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/stream"
	"github.com/urfave/cli/v2"
)

// env names the environment variable of a flag: OFFTAKE_ and the flag in
// upper case with underscores.
func env(name string) []string {
	return []string{"OFFTAKE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

func databaseFlag() cli.Flag {
	return &cli.StringFlag{
		Name: "database-url", Usage: "PostgreSQL URL of the ledger, e.g. postgres://offtake@127.0.0.1:5432/offtake",
		EnvVars: append(env("database-url"), "DATABASE_URL"),
	}
}

func brokersFlag() cli.Flag {
	return &cli.StringSliceFlag{
		Name: "brokers", Usage: "Kafka bootstrap brokers, host:port (repeat or comma-separate)",
		Value: cli.NewStringSlice("127.0.0.1:9092"), EnvVars: env("brokers"),
	}
}

func contractsFlag() cli.Flag {
	return &cli.StringSliceFlag{
		Name: "contracts", Usage: "contract files (YAML); default: the embedded example " + examples.Default,
		EnvVars: env("contracts"),
	}
}

func periodFlag(required bool) cli.Flag {
	return &cli.StringFlag{Name: "period", Usage: "billing period, a month in the market's time zone: YYYY-MM", Required: required, EnvVars: env("period")}
}

func outputFlag() cli.Flag {
	return &cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: table or json", Value: "table", EnvVars: env("output")}
}

func logLevelFlag() cli.Flag {
	return &cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info", EnvVars: env("log-level")}
}

func topicFlags() []cli.Flag {
	d := stream.DefaultTopics()
	return []cli.Flag{
		&cli.StringFlag{Name: "topic-generation", Usage: "topic of generation meter readings", Value: d.Generation, EnvVars: env("topic-generation")},
		&cli.StringFlag{Name: "topic-consumption", Usage: "topic of load meter readings", Value: d.Consumption, EnvVars: env("topic-consumption")},
		&cli.StringFlag{Name: "topic-prices", Usage: "topic of market prices", Value: d.Prices, EnvVars: env("topic-prices")},
		&cli.StringFlag{Name: "topic-deadletter", Usage: "topic refused messages go to", Value: d.DeadLetter, EnvVars: env("topic-deadletter")},
	}
}

func topics(c *cli.Context) stream.Topics {
	return stream.Topics{
		Generation: c.String("topic-generation"), Consumption: c.String("topic-consumption"),
		Prices: c.String("topic-prices"), DeadLetter: c.String("topic-deadletter"),
	}
}

func brokers(c *cli.Context) []string {
	var out []string
	for _, b := range c.StringSlice("brokers") {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// loadContracts reads --contracts, or the embedded example.
func loadContracts(c *cli.Context) (*contracts.Portfolio, string, error) {
	names := c.StringSlice("contracts")
	if len(names) == 0 {
		p, err := contracts.LoadFiles(examples.Files, examples.Default)
		return p, "embedded " + examples.Default, err
	}
	p, err := contracts.LoadFiles(osFiles{}, names...)
	return p, strings.Join(names, ", "), err
}

// osFiles reads files by the names the user gave, so messages name them the
// same way (fs.FS paths cannot be absolute or climb with "..").
type osFiles struct{}

func (osFiles) Open(name string) (fs.File, error)    { return os.Open(name) }
func (osFiles) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// databaseURL is --database-url, or a sentence telling how to give one.
func databaseURL(c *cli.Context) (string, error) {
	if u := c.String("database-url"); u != "" {
		return u, nil
	}
	return "", usagef("no database: pass --database-url postgres://USER@HOST:5432/DB or set DATABASE_URL (`offtake demo` finds or starts a PostgreSQL for you)")
}

func parsePeriod(c *cli.Context) (contracts.Period, error) {
	p, err := contracts.ParsePeriod(c.String("period"))
	if err != nil {
		return p, usagef("--period: %s", err)
	}
	return p, nil
}

func outputFormat(c *cli.Context) (string, error) {
	switch o := c.String("output"); o {
	case "table", "json":
		return o, nil
	default:
		return "", usagef("--output %q: use table or json", o)
	}
}

// connectError makes a failure to reach PostgreSQL one clear sentence.
func connectError(url string, err error) error {
	return fmt.Errorf("cannot use PostgreSQL at %s: %v (check --database-url or DATABASE_URL, and run `offtake migrate` once on a new database)", pgserver.Redact(url), err)
}
