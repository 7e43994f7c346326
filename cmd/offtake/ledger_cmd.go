package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/offtake/offtake/ledger/postgres"
	"github.com/urfave/cli/v2"
)

func ledgerCommand() *cli.Command {
	return &cli.Command{
		Name:  "ledger",
		Usage: "inspect and check the ledger",
		Subcommands: []*cli.Command{
			{
				Name:  "verify",
				Usage: "check the ledger's invariants; exit 1 naming each violation",
				Description: "Checks that debits equal credits for every unit and every batch, that every account's\n" +
					"balance equals the sum of its transfers, that every transfer's accounts hold its unit, that\n" +
					"no transfer was recorded in a finalized period after its finalization, that every reversal\n" +
					"cancels one booked transfer exactly, and that stored Kafka offsets never moved backwards.",
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
			ledgerEntriesCommand(),
			ledgerTraceCommand(),
			ledgerPeriodsCommand(),
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
