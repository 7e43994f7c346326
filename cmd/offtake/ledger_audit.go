package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/offtake/offtake/ledger/postgres"
	"github.com/urfave/cli/v2"
)

// The audit commands of `offtake ledger`: trace, entries, periods.

func ledgerTraceCommand() *cli.Command {
	return &cli.Command{
		Name:      "trace",
		Usage:     "show the chain behind one transfer: readings, price, contract version, batch, reversals",
		ArgsUsage: "TRANSFER-ID",
		Description: "Prints what the transfer recorded and where it came from: the interval allocation it booked\n" +
			"(gross, net, export, import), the meter readings (ids, versions, qualities), the market price\n" +
			"(node, market, interval, and whether the stored price still equals the booked one), the\n" +
			"contract and its version, the batch that wrote it, its billing period's state, and the\n" +
			"transfer it reverses or those reversing it. Ids are listed by `offtake ledger entries`.\n\n" +
			"Example:\n   offtake ledger trace 0b6c1f9e-3a52-8d41-9c07-5e2f7a1b3c4d",
		Flags: []cli.Flag{databaseFlag(), outputFlag()},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("ledger trace: give one transfer id (see `offtake ledger entries`)")
			}
			return ledgerReport(func(ctx context.Context, store *postgres.Store, w io.Writer, format string) error {
				tr, err := store.Trace(ctx, c.Args().First())
				switch {
				case errors.Is(err, postgres.ErrInvalid):
					return usagef("ledger trace: %q is not a transfer id (a UUID, as `offtake ledger entries` lists them)", c.Args().First())
				case errors.Is(err, postgres.ErrNotFound):
					return cli.Exit(fmt.Sprintf("ledger trace: no transfer has id %s", c.Args().First()), exitFailure)
				case err != nil:
					return err
				}
				return show(w, format, tr, func() { printTrace(w, tr) })
			})(c)
		},
	}
}

func ledgerEntriesCommand() *cli.Command {
	return &cli.Command{
		Name:  "entries",
		Usage: "list transfers, filtered, as a table, CSV or JSON",
		Description: "Filters combine (all must hold). --from/--to bound the interval start (UTC, RFC 3339 or\n" +
			"YYYY-MM-DD). Rows are ordered by interval, site, leg and id.\n\n" +
			"Examples:\n" +
			"   offtake ledger entries --period 2028-03 --contract ppa-helios --leg delivery_payment --limit 10\n" +
			"   offtake ledger entries --party cedar --from 2028-03-09 --to 2028-03-10 --output csv > cedar.csv",
		Flags: []cli.Flag{
			databaseFlag(),
			periodFlag(false),
			&cli.StringFlag{Name: "site", Usage: "only this site", EnvVars: env("site")},
			&cli.StringFlag{Name: "contract", Usage: "only this contract", EnvVars: env("contract")},
			&cli.StringFlag{Name: "party", Usage: "only transfers to or from this party's accounts", EnvVars: env("party")},
			&cli.StringFlag{Name: "account", Usage: "only transfers to or from this account (party:kind)", EnvVars: env("account")},
			&cli.StringFlag{Name: "leg", Usage: "only this leg (delivery, delivery_payment, export, …)", EnvVars: env("leg")},
			&cli.StringFlag{Name: "from", Usage: "interval start at or after (RFC 3339 or YYYY-MM-DD, UTC)", EnvVars: env("from")},
			&cli.StringFlag{Name: "to", Usage: "interval start before (RFC 3339 or YYYY-MM-DD, UTC)", EnvVars: env("to")},
			&cli.IntFlag{Name: "limit", Usage: "at most this many rows (0: all)", Value: 1000, EnvVars: env("limit")},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: table, csv or json", Value: "table", EnvVars: env("output")},
		},
		Action: func(c *cli.Context) error {
			format := c.String("output")
			if format != "table" && format != "csv" && format != "json" {
				return usagef("--output %q: use table, csv or json", format)
			}
			f, err := entryFilter(c)
			if err != nil {
				return err
			}
			store, err := openStore(c)
			if err != nil {
				return err
			}
			defer store.Close()
			es, err := store.Entries(c.Context, f)
			if err != nil {
				return err
			}
			w := c.App.Writer
			switch format {
			case "json":
				if es == nil {
					es = []postgres.Entry{}
				}
				return printJSON(w, es)
			case "csv":
				return printEntriesCSV(w, es)
			}
			printEntries(w, es)
			return nil
		},
	}
}

func ledgerPeriodsCommand() *cli.Command {
	return &cli.Command{
		Name:  "periods",
		Usage: "list billing periods: open, or finalized by whom and when",
		Flags: []cli.Flag{databaseFlag(), outputFlag()},
		Action: ledgerReport(func(ctx context.Context, store *postgres.Store, w io.Writer, format string) error {
			ps, err := store.Periods(ctx)
			if err != nil {
				return err
			}
			if ps == nil {
				ps = []postgres.Period{}
			}
			return show(w, format, ps, func() { printPeriods(w, ps) })
		}),
	}
}

func entryFilter(c *cli.Context) (postgres.EntryFilter, error) {
	f := postgres.EntryFilter{
		Site: c.String("site"), Contract: c.String("contract"), Party: c.String("party"),
		Account: c.String("account"), Leg: c.String("leg"), Limit: c.Int("limit"),
	}
	if c.String("period") != "" {
		p, err := parsePeriod(c)
		if err != nil {
			return f, err
		}
		f.Period = p.String()
	}
	if f.Limit < 0 {
		return f, usagef("--limit %d: use 0 (all) or more", f.Limit)
	}
	var err error
	if f.From, err = instantFlag(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = instantFlag(c, "to"); err != nil {
		return f, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return f, usagef("--to %s is not after --from %s", c.String("to"), c.String("from"))
	}
	return f, nil
}

// instantFlag reads an RFC 3339 instant or a UTC date.
func instantFlag(c *cli.Context, name string) (time.Time, error) {
	s := c.String(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, usagef("--%s %q: write an instant like 2028-03-01T06:00:00Z or a date like 2028-03-01 (UTC)", name, s)
}

const minuteUTC = "2006-01-02T15:04Z"

func printEntries(w io.Writer, es []postgres.Entry) {
	if len(es) == 0 {
		fmt.Fprintln(w, "ledger entries: no transfers match")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "interval (UTC)\tsite\tleg\tdebit\tcredit\tamount\tunit\tcontract\t$/MWh\tid\t")
	for _, e := range es {
		price := ""
		if e.USDPerMWh != nil {
			price = e.USDPerMWh.String()
		}
		contract := e.Contract
		if contract != "" {
			contract += " v" + strconv.Itoa(e.ContractVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", e.IntervalStart.Format(minuteUTC), e.Site, e.Leg,
			e.Debit, e.Credit, e.Amount.String(), e.Unit, contract, price, e.ID)
	}
	tw.Flush()
}

var entriesCSVHeader = []string{"id", "batch_id", "recorded_at", "period", "site", "interval_start", "interval_end", "revision",
	"leg", "debit", "credit", "amount", "unit", "contract", "contract_version", "quantity_mwh", "usd_per_mwh",
	"price_node", "price_market", "price_start", "price_carried", "band", "price_basis", "readings", "reverses"}

// printEntriesCSV writes one row per transfer, every field; readings as
// meter:version:quality separated by spaces.
func printEntriesCSV(w io.Writer, es []postgres.Entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(entriesCSVHeader); err != nil {
		return err
	}
	for _, e := range es {
		var qty, price, priceStart, version string
		if e.QuantityMWh != nil {
			qty = e.QuantityMWh.String()
		}
		if e.USDPerMWh != nil {
			price = e.USDPerMWh.String()
		}
		if e.PriceStart != nil {
			priceStart = e.PriceStart.Format(time.RFC3339)
		}
		if e.Contract != "" {
			version = strconv.Itoa(e.ContractVersion)
		}
		refs := make([]string, len(e.Readings))
		for i, r := range e.Readings {
			refs[i] = fmt.Sprintf("%s:%d:%s", r.Meter, r.Version, r.Quality)
		}
		if err := cw.Write([]string{e.ID, strconv.FormatInt(e.BatchID, 10), e.RecordedAt.Format(time.RFC3339Nano), e.Period, e.Site,
			e.IntervalStart.Format(time.RFC3339), e.IntervalEnd.Format(time.RFC3339), strconv.Itoa(e.Revision),
			e.Leg, e.Debit, e.Credit, e.Amount.String(), e.Unit, e.Contract, version, qty, price,
			e.PriceNode, e.PriceMarket, priceStart, strconv.FormatBool(e.PriceCarried), e.Band, e.PriceBasis,
			strings.Join(refs, " "), e.Reverses}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func printTrace(w io.Writer, tr postgres.Trace) {
	e := tr.Transfer
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-10s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("transfer", "%s  %s", e.ID, e.Leg)
	line("amount", "%s %s  %s → %s", e.Amount, e.Unit, e.Debit, e.Credit)
	line("interval", "%s %s – %s (revision %d)", e.Site, e.IntervalStart.Format(minuteUTC), e.IntervalEnd.Format(minuteUTC), e.Revision)
	period := "open"
	if tr.Period.FinalizedAt != nil {
		period = fmt.Sprintf("finalized by %s at %s", tr.Period.FinalizedBy, tr.Period.FinalizedAt.Format(time.RFC3339))
	}
	line("period", "%s (%s)", e.Period, period)
	if e.Contract != "" {
		line("contract", "%s version %d", e.Contract, e.ContractVersion)
	}
	if e.QuantityMWh != nil {
		priced := fmt.Sprintf("%s MWh", e.QuantityMWh)
		if e.USDPerMWh != nil {
			priced += fmt.Sprintf(" at %s $/MWh", e.USDPerMWh)
		}
		if e.Band != "" {
			priced += ", band " + e.Band
		}
		if e.PriceBasis != "" {
			priced += ", price " + e.PriceBasis
		}
		line("energy", "%s", priced)
	}
	if e.PriceNode != "" {
		p := fmt.Sprintf("%s %s", e.PriceNode, e.PriceMarket)
		if e.PriceStart != nil {
			p += " from " + e.PriceStart.Format(minuteUTC)
		}
		if e.PriceCarried {
			p += " (carried forward: no price covered the interval)"
		}
		switch {
		case tr.Price == nil:
			p += "; not in the prices table"
		case tr.Price.SameAsBooked:
			p += fmt.Sprintf("; stored price %s $/MWh, as booked", tr.Price.USDPerMWh)
		default:
			p += fmt.Sprintf("; stored price now %s $/MWh (restated after booking)", tr.Price.USDPerMWh)
		}
		line("price", "%s", p)
	}
	if len(e.Readings) > 0 {
		refs := make([]string, len(e.Readings))
		for i, r := range e.Readings {
			refs[i] = fmt.Sprintf("%s v%d %s", r.Meter, r.Version, r.Quality)
		}
		line("readings", "%s", strings.Join(refs, ", "))
	}
	if iv := tr.Interval; iv != nil {
		est := ""
		if iv.Estimated {
			est = ", estimated"
		}
		line("allocated", "gross %s MWh, net %s, export %s, import %s%s (batch %d)", iv.GrossMWh, iv.NetMWh, iv.ExportMWh, iv.ImportMWh, est, iv.BatchID)
	}
	line("batch", "%d from %s at %s, %d transfers", tr.Batch.ID, tr.Batch.Source, tr.Batch.RecordedAt.Format(time.RFC3339), tr.Batch.Transfers)
	line("recorded", "%s", e.RecordedAt.Format(time.RFC3339Nano))
	if tr.Reverses != nil {
		line("reverses", "%s  %s %s %s → %s (%s)", tr.Reverses.ID, tr.Reverses.Amount, tr.Reverses.Unit, tr.Reverses.Debit, tr.Reverses.Credit, tr.Reverses.Leg)
	}
	for _, r := range tr.ReversedBy {
		line("reversed", "by %s, recorded %s", r.ID, r.RecordedAt.Format(time.RFC3339))
	}
}

func printPeriods(w io.Writer, ps []postgres.Period) {
	if len(ps) == 0 {
		fmt.Fprintln(w, "ledger periods: none yet")
		return
	}
	tw := table(w)
	fmt.Fprintln(tw, "period\tstate\tfinalized by\tfinalized at (UTC)\t")
	for _, p := range ps {
		if p.FinalizedAt == nil {
			fmt.Fprintf(tw, "%s\topen\t\t\t\n", p.Period)
			continue
		}
		fmt.Fprintf(tw, "%s\tfinalized\t%s\t%s\t\n", p.Period, p.FinalizedBy, p.FinalizedAt.Format(time.RFC3339))
	}
	tw.Flush()
}
