package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/api"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/positions"
	"github.com/offtake/offtake/positions/pgsource"
	"github.com/offtake/offtake/stream"
	"github.com/shopspring/decimal"
	"github.com/urfave/cli/v2"
)

func positionsCommand() *cli.Command {
	return &cli.Command{
		Name:  "positions",
		Usage: "month-to-date positions per site and contract, once, refreshing (--watch), or served over HTTP (--http)",
		Description: "Reads the ledger and prints, for a billing period (default: the period of the latest interval\n" +
			"booked), per contract: delivered MWh and amount, average price, contracted volume to date and the\n" +
			"pace against it, minimum-take pace, shortfalls and the mark-to-market of the rest of the month\n" +
			"against the forward curve (FWD prices in the ledger, or --curve FILE); per site: net generation\n" +
			"sold under PPAs and exported, export revenue, fuel cost at the gas index and heat rate, spark\n" +
			"spread and capacity factor; per data center: load, the share the plant supplied, the\n" +
			"hourly-matched percentage and the import cost. \"To date\" is up to the latest interval booked.\n\n" +
			"With --http it serves the positions API, the event stream and the dashboard instead, over the\n" +
			"ledger, following it (within a second) as engines in any process book.\n\n" +
			"Examples:\n" +
			"   offtake positions\n" +
			"   offtake positions --period 2028-03 --contract ppa-northwind --output json\n" +
			"   offtake positions --watch\n" +
			"   offtake positions --http 127.0.0.1:8080 --tokens tokens.txt",
		Flags: append([]cli.Flag{databaseFlag(), contractsFlag(), periodFlag(false),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output format: table, json or csv", Value: "table", EnvVars: env("output")},
			&cli.StringFlag{Name: "site", Usage: "only this site", EnvVars: env("site")},
			&cli.StringFlag{Name: "contract", Usage: "only this contract (and its site)", EnvVars: env("contract")},
			&cli.BoolFlag{Name: "watch", Aliases: []string{"w"}, Usage: "refresh in place until interrupted", EnvVars: env("watch")},
			&cli.DurationFlag{Name: "every", Usage: "with --watch: how often to look for newly booked intervals", Value: 2 * time.Second, EnvVars: env("every")},
			&cli.IntFlag{Name: "watch-count", Usage: "with --watch: stop after this many refreshes (0: never)", Hidden: true},
		}, apiFlags()...),
		Action: func(c *cli.Context) error {
			format := c.String("output")
			if format != "table" && format != "json" && format != "csv" {
				return usagef("--output %q: use table, json or csv", format)
			}
			p, _, err := loadContracts(c)
			if err != nil {
				return err
			}
			if s := c.String("site"); s != "" {
				if _, ok := p.Site(s); !ok {
					return usagef("--site %q: no such site in the contract files", s)
				}
			}
			if id := c.String("contract"); id != "" {
				if _, ok := p.Contract(id); !ok {
					return usagef("--contract %q: no such contract in the contract files", id)
				}
			}
			var period *contracts.Period
			if c.String("period") != "" {
				pp, err := parsePeriod(c)
				if err != nil {
					return err
				}
				period = &pp
			}
			opt, err := sourceOptions(c)
			if err != nil {
				return err
			}
			store, err := openStore(c)
			if err != nil {
				return err
			}
			defer store.Close()
			if addr := c.String("http"); addr != "" {
				srv, err := newAPIServer(c, p, store.Pool(), false)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.ErrWriter, "positions: serving the API and dashboard on http://%s/ (tokens: %d)\n", addr, srv.Tokens())
				return srv.Serve(c.Context, addr)
			}
			src := pgsource.New(store.Pool(), p, opt)
			show := func() error {
				rep, err := positionsReport(c.Context, src, period)
				if err != nil {
					return err
				}
				return printPositions(c.App.Writer, rep.Only(c.String("site"), c.String("contract")), format)
			}
			if !c.Bool("watch") {
				return show()
			}
			return watch(c.Context, c.App.Writer, c.Duration("every"), c.Int("watch-count"), src, show)
		},
	}
}

// apiFlags are the flags of the HTTP server, shared by `positions --http`
// and `run --http`.
func apiFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "http", Usage: "serve the positions API, event stream, dashboard, /metrics and health on `ADDR`, e.g. 127.0.0.1:8080", EnvVars: env("http")},
		&cli.StringFlag{Name: "tokens", Usage: "API tokens `FILE`: one \"ROLE[:PARTY] TOKEN [NAME]\" a line (roles: trader, counterparty:PARTY, operator)", EnvVars: env("tokens")},
		&cli.StringFlag{Name: "api-tokens", Usage: "API tokens as a list: ROLE[:PARTY]=TOKEN[=NAME], comma-separated (for secrets injected as environment)", EnvVars: env("api-tokens")},
		&cli.StringFlag{Name: "curve", Usage: "forward curve `FILE`, CSV (node,start,end,usd_per_mwh) for the mark-to-market; adds to the ledger's FWD prices", EnvVars: env("curve")},
		&cli.StringFlag{Name: "fuel-index", Usage: "gas index the plants' fuel is costed at", Value: positions.DefaultFuelIndex, EnvVars: env("fuel-index")},
	}
}

// sourceOptions reads --curve and --fuel-index.
func sourceOptions(c *cli.Context) (pgsource.Options, error) {
	opt := pgsource.Options{FuelIndex: c.String("fuel-index")}
	if name := c.String("curve"); name != "" {
		f, err := os.Open(name)
		if err != nil {
			return opt, usagef("--curve: %v", err)
		}
		defer f.Close()
		if opt.Curve, err = positions.ParseCurve(name, f); err != nil {
			return opt, usagef("--curve: %v", err)
		}
	}
	return opt, nil
}

// apiTokens reads --tokens and --api-tokens.
func apiTokens(c *cli.Context, p *contracts.Portfolio) (*api.Tokens, error) {
	var tokens *api.Tokens
	if name := c.String("tokens"); name != "" {
		f, err := os.Open(name)
		if err != nil {
			return nil, usagef("--tokens: %v", err)
		}
		defer f.Close()
		if tokens, err = api.ParseTokens(name, f, p); err != nil {
			return nil, usagef("--tokens: %v", err)
		}
	}
	if list := c.String("api-tokens"); list != "" {
		more, err := api.ParseTokenList(list, p)
		if err != nil {
			return nil, usagef("--api-tokens: %v", err)
		}
		tokens = tokens.Merge(more)
	}
	if tokens.Len() == 0 {
		return nil, usagef("--http needs API tokens: --tokens FILE or --api-tokens ROLE=TOKEN (every request needs one; there is no anonymous access)")
	}
	return tokens, nil
}

// newAPIServer makes the HTTP server from the api flags. With engine set,
// /readyz waits for the engine's SetReady(true).
func newAPIServer(c *cli.Context, p *contracts.Portfolio, pool *pgxpool.Pool, engine bool) (*apiServer, error) {
	tokens, err := apiTokens(c, p)
	if err != nil {
		return nil, err
	}
	opt, err := sourceOptions(c)
	if err != nil {
		return nil, err
	}
	srv := api.New(api.Config{Tokens: tokens, WaitForEngine: engine, FuelIndex: opt.FuelIndex, Curve: opt.Curve, Log: logger(c)},
		api.Deps{Portfolio: p, Pool: pool})
	return &apiServer{srv, tokens.Len()}, nil
}

// apiServer is the api.Server with what the command reports about it.
type apiServer struct {
	*api.Server
	tokens int
}

// Tokens is how many API tokens are configured.
func (s *apiServer) Tokens() int { return s.tokens }

// positionsReport is the period's report, or the latest period's.
func positionsReport(ctx context.Context, src *pgsource.Source, period *contracts.Period) (*positions.Report, error) {
	if period == nil {
		p, ok, err := src.LatestPeriod(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("the ledger holds no intervals yet: run the engine (`offtake run`) or give --period")
		}
		period = &p
	}
	return src.Report(ctx, *period)
}

// watch shows the positions, then again whenever the ledger books a batch
// (checked every `every`), in place on a terminal.
func watch(ctx context.Context, w io.Writer, every time.Duration, count int, src *pgsource.Source, show func() error) error {
	term := isTerminal(w)
	last := int64(-1)
	for n := 0; count == 0 || n < count; {
		v, err := src.Version(ctx)
		if err != nil {
			return err
		}
		if v != last {
			last = v
			n++
			if term {
				fmt.Fprint(w, "\033[H\033[2J") // home, clear: refresh in place
			} else if n > 1 {
				fmt.Fprintln(w)
			}
			if err := show(); err != nil {
				return err
			}
			fmt.Fprintf(w, "\nledger batch %d · watching every %s · Ctrl-C to stop\n", v, every)
		}
		if count > 0 && n >= count {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printPositions(w io.Writer, rep *positions.Report, format string) error {
	switch format {
	case "json":
		return printJSON(w, rep)
	case "csv":
		return positionsCSV(w, rep)
	}
	fmt.Fprintf(w, "Positions %s\n", rep.Period)
	for _, s := range rep.Sites {
		asOf := "nothing booked"
		if s.AsOf != nil {
			loc, _ := time.LoadLocation(s.TimeZone)
			asOf = "as of " + s.AsOf.In(loc).Format("2006-01-02 15:04 MST") + fmt.Sprintf(" (%s%% of the month, %d of %d intervals)", s.ElapsedPercent.StringFixed(1), s.IntervalsBooked, s.IntervalsInPeriod)
		}
		fmt.Fprintf(w, "\n%s (%s) — %s\n", s.Name, s.ID, asOf)
		tw := table(w)
		fmt.Fprintln(tw, "net MWh\tsold PPA MWh\tPPA revenue\texport MWh\texport revenue\tfuel cost\tspark spread\tcapacity factor\tMTM rest of month\t")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%%\t%s\t\n", mwh(s.NetMWh), mwh(s.SoldPPAMWh), usd(s.PPARevenueUSD), mwh(s.ExportMWh), usd(s.ExportUSD),
			optUSD(s.FuelUSD), optUSD(s.SparkSpreadUSD), s.CapacityFactorPercent.StringFixed(2), usd(s.MTMUSD))
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(s.Loads) > 0 {
			fmt.Fprintln(w)
			tw = table(w)
			fmt.Fprintln(tw, "data center\tload MWh\tfrom plant MWh\timported MWh\tplant share\thourly matched\timport cost\ttCO2e\tkg/MWh\t")
			for _, l := range s.Loads {
				intensity := "-"
				if l.EmissionsKgPerMWh != nil {
					intensity = l.EmissionsKgPerMWh.StringFixed(1)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%%\t%s%%\t%s\t%s\t%s\t\n", l.Party, mwh(l.LoadMWh), mwh(l.FromPlantMWh), mwh(l.ImportedMWh),
					l.PlantSharePercent.StringFixed(2), l.HourlyMatchedPercent.StringFixed(2), usd(l.ImportUSD),
					l.EmissionsT.Add(l.ImportEmissionsT).StringFixed(3), intensity)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
	}
	if len(rep.Contracts) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "contract\tbuyer\tdelivered MWh\tamount\t$/MWh\tcontracted to date\tpace MWh\tmin-take pace\tshortfall MWh\tMTM\t")
	for _, c := range rep.Contracts {
		mtm := "-"
		if c.MTM != nil {
			mtm = usd(c.MTM.ValueUSD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.ID, c.Buyer, mwh(c.DeliveredMWh), usd(c.AmountUSD), optPrice(c.AvgUSDPerMWh),
			optMWh(c.ContractedToDateMWh, false), optMWh(c.PaceMWh, true), optMWh(c.MinimumTakePaceMWh, true), mwh(c.ShortfallMWh), mtm)
	}
	return tw.Flush()
}

func optUSD(d *decimal.Decimal) string {
	if d == nil {
		return "-"
	}
	return usd(*d)
}

func optPrice(d *decimal.Decimal) string {
	if d == nil {
		return "-"
	}
	return d.StringFixed(2)
}

func optMWh(d *decimal.Decimal, sign bool) string {
	if d == nil {
		return "-"
	}
	if sign && d.Sign() > 0 {
		return "+" + mwh(*d)
	}
	return mwh(*d)
}

// positionsCSV writes one row per site, data center and contract; the
// record column says which, and columns that do not apply are empty.
func positionsCSV(w io.Writer, rep *positions.Report) error {
	cw := csv.NewWriter(w)
	head := []string{"record", "period", "site", "id", "name", "as_of",
		"delivered_mwh", "amount_usd", "avg_usd_per_mwh", "contracted_mwh", "contracted_to_date_mwh", "pace_mwh",
		"minimum_take_mwh", "minimum_take_pace_mwh", "shortfall_mwh", "shortfall_usd", "mtm_remaining_mwh", "mtm_forward_usd_per_mwh", "mtm_usd",
		"gross_mwh", "net_mwh", "sold_ppa_mwh", "export_mwh", "export_usd", "fuel_usd", "spark_spread_usd", "capacity_factor_percent",
		"load_mwh", "from_plant_mwh", "imported_mwh", "import_usd", "plant_share_percent", "hourly_matched_percent"}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	row := func(kv map[string]string) error {
		r := make([]string, len(head))
		for k, v := range kv {
			r[col[k]] = v
		}
		return cw.Write(r)
	}
	opt := func(d *decimal.Decimal) string {
		if d == nil {
			return ""
		}
		return d.String()
	}
	for _, s := range rep.Sites {
		asOf := ""
		if s.AsOf != nil {
			asOf = s.AsOf.Format(time.RFC3339)
		}
		if err := row(map[string]string{"record": "site", "period": rep.Period, "site": s.ID, "id": s.ID, "name": s.Name, "as_of": asOf,
			"gross_mwh": s.GrossMWh.String(), "net_mwh": s.NetMWh.String(), "sold_ppa_mwh": s.SoldPPAMWh.String(), "export_mwh": s.ExportMWh.String(),
			"export_usd": s.ExportUSD.String(), "fuel_usd": opt(s.FuelUSD), "spark_spread_usd": opt(s.SparkSpreadUSD),
			"capacity_factor_percent": s.CapacityFactorPercent.String(), "mtm_usd": s.MTMUSD.String()}); err != nil {
			return err
		}
		for _, l := range s.Loads {
			if err := row(map[string]string{"record": "load", "period": rep.Period, "site": s.ID, "id": l.Party, "name": l.Name, "as_of": asOf,
				"load_mwh": l.LoadMWh.String(), "from_plant_mwh": l.FromPlantMWh.String(), "imported_mwh": l.ImportedMWh.String(),
				"import_usd": l.ImportUSD.String(), "plant_share_percent": l.PlantSharePercent.String(),
				"hourly_matched_percent": l.HourlyMatchedPercent.String()}); err != nil {
				return err
			}
		}
	}
	for _, c := range rep.Contracts {
		kv := map[string]string{"record": "contract", "period": rep.Period, "site": c.Site, "id": c.ID, "name": c.BuyerName,
			"delivered_mwh": c.DeliveredMWh.String(), "amount_usd": c.AmountUSD.String(), "avg_usd_per_mwh": opt(c.AvgUSDPerMWh),
			"contracted_mwh": opt(c.ContractedMWh), "contracted_to_date_mwh": opt(c.ContractedToDateMWh), "pace_mwh": opt(c.PaceMWh),
			"minimum_take_mwh": opt(c.MinimumTakeMWh), "minimum_take_pace_mwh": opt(c.MinimumTakePaceMWh),
			"shortfall_mwh": c.ShortfallMWh.String(), "shortfall_usd": c.ShortfallUSD.String()}
		if c.MTM != nil {
			kv["mtm_remaining_mwh"], kv["mtm_forward_usd_per_mwh"], kv["mtm_usd"] = c.MTM.RemainingMWh.String(), opt(c.MTM.ForwardUSDPerMWh), c.MTM.ValueUSD.String()
		}
		if err := row(kv); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// engineProgress feeds the API server's metrics and readiness from the
// stream's cumulative Stats, passed after each booked batch, then calls
// next (the run command's own progress log), so `offtake run --http`
// wires the server with:
//
//	srv, err := newAPIServer(c, p, store.Pool(), true)
//	cfg.Progress = engineProgress(srv.Server, cfg.Progress)
//	go srv.Serve(c.Context, c.String("http"))
//
// and the stream calls srv.Publish(results) after each commit (a hook the
// stream does not have yet: see the README's "Positions and the API").
func engineProgress(srv *api.Server, next func(stream.Stats)) func(stream.Stats) {
	m := srv.Metrics()
	var prev stream.Stats
	prevDead := map[string]int64{}
	return func(s stream.Stats) {
		m.Readings.Add(float64(s.Readings - prev.Readings))
		m.IntervalsClosed.Add(float64(s.IntervalsClosed - prev.IntervalsClosed))
		m.Transfers.Add(float64(s.Transfers - prev.Transfers))
		for code, n := range s.DeadByReason {
			if d := n - prevDead[code]; d > 0 {
				m.DeadLetters.WithLabelValues(code).Add(float64(d))
			}
			prevDead[code] = n
		}
		prev = s
		srv.SetReady(true, "")
		if next != nil {
			next(s)
		}
	}
}
