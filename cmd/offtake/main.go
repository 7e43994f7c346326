// Command offtake is the one binary of offtake: it migrates the ledger
// database, checks contract files, serves a development Kafka broker,
// simulates and replays readings, runs the matching engine, settles billing
// periods and writes invoice files. `offtake demo` runs all of it end to end on
// embedded defaults. Every flag can also be set from an OFFTAKE_* environment
// variable; --database-url also from DATABASE_URL.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/offtake/offtake"
	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1 // something failed, or a check found violations
	exitBadInput = 2 // a bad flag, file or argument: nothing was written
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	var exit cli.ExitCoder
	switch {
	case errors.As(err, &exit):
		if msg := exit.Error(); msg != "" {
			fmt.Fprintln(stderr, "offtake:", msg)
		}
		if exit.ExitCode() == 3 { // urfave/cli: unknown command
			return exitBadInput
		}
		return exit.ExitCode()
	case offtake.IsUserError(err), isUsage(err), strings.HasPrefix(err.Error(), "Required flag"):
		fmt.Fprintln(stderr, "offtake:", err)
		return exitBadInput
	default:
		fmt.Fprintln(stderr, "offtake:", err)
		return exitFailure
	}
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "offtake",
		Usage: "settle power purchase agreements between a plant and its co-located loads",
		Description: "offtake reads interval meter readings and market prices from Kafka, allocates each interval's\n" +
			"plant output to the data centers under their PPAs and to the grid, books every allocation in a\n" +
			"double-entry ledger in PostgreSQL, and settles billing periods into invoice files.\n\n" +
			"Start with `offtake demo`: it runs everything end to end on embedded defaults.\n" +
			"Every flag can also be set from the environment variable shown beside it.",
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Commands: []*cli.Command{
			demoCommand(),
			migrateCommand(),
			contractsCommand(),
			brokerCommand(),
			simulateCommand(),
			replayCommand(),
			runCommand(),
			positionsCommand(),
			settleCommand(),
			invoicesCommand(),
			ledgerCommand(),
			benchCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run() prints and maps errors
	}
	markUsageErrors(app.Commands)
	return app
}

// markUsageErrors makes every command's flag mistakes usage errors (exit 2).
func markUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }
		markUsageErrors(c.Subcommands)
	}
}

// logger makes the command's logger from --log-level.
func logger(c *cli.Context) *slog.Logger {
	level := slog.LevelInfo
	_ = level.UnmarshalText([]byte(c.String("log-level")))
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
}
