package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/offtake/offtake/settlement/pgsource"
	"github.com/shopspring/decimal"
)

func init() { register("settlement", measureSettlement) }

// settleContracts is the portfolio the settlement benchmark settles: 100
// sites with 10 data centers each, every data center under its own
// load-following PPA.
const (
	settleContracts = 1000
	settlePerSite   = 10
)

// measureSettlement books a period for 1,000 contracts (env.Readings
// interval allocations: 3,000,000 is a whole month at 15 minutes), then
// times settling it — statements from the ledger and every invoice file
// written — against one SQL aggregation over the same transfers, in the same
// run. Issue 6's target: settlement within 3× of that single query.
func measureSettlement(ctx context.Context, env Env) (Result, error) {
	if _, err := migrations.Apply(ctx, env.DatabaseURL, nil); err != nil {
		return Result{}, err
	}
	store, err := postgres.Open(ctx, env.DatabaseURL)
	if err != nil {
		return Result{}, err
	}
	defer store.Close()
	p, err := benchPortfolio(settleContracts)
	if err != nil {
		return Result{}, err
	}
	loc := p.Sites[0].Location
	period := contracts.Period{Year: 2028, Month: time.March}
	from, to := period.Bounds(loc)
	step := p.Sites[0].Interval()
	intervals := min(max(env.Readings/settleContracts, 96), int(to.Sub(from)/step))

	progress(env, "settlement: booking %d intervals × %d contracts", intervals, settleContracts)
	var b ledger.Batch
	b.Source = "bench"
	booked := 0
	for i := range intervals {
		start := from.Add(time.Duration(i) * step)
		for s := range p.Sites {
			r := benchResult(&p.Sites[s], start, step, i)
			ts, iv := ledger.Post(&r, loc)
			b.Transfers = append(b.Transfers, ts...)
			b.Intervals = append(b.Intervals, iv)
		}
		if len(b.Transfers) >= 20_000 || i == intervals-1 {
			c, err := store.Commit(ctx, b)
			if err != nil {
				return Result{}, err
			}
			booked += c.Inserted
			b = ledger.Batch{Source: "bench"}
		}
	}

	progress(env, "settlement: one aggregation over %d transfers", booked)
	aggStart := time.Now()
	var groups int
	if err := store.Pool().QueryRow(ctx, `
		SELECT count(*) FROM (
		  SELECT contract_id, leg, price_usd_per_mwh, sum(quantity_mwh), sum(amount), count(*)
		    FROM transfers WHERE period = $1 GROUP BY 1, 2, 3) g`, period.String()).Scan(&groups); err != nil {
		return Result{}, err
	}
	aggTime := time.Since(aggStart)

	// Each read of settlement alone, for where the time goes.
	src := pgsource.New(store.Pool(), p)
	t0 := time.Now()
	if _, err := src.ContractTotals(ctx, period); err != nil {
		return Result{}, err
	}
	totalsTime := time.Since(t0)
	buyers := map[string]string{}
	for _, c := range p.Contracts {
		buyers[c.ID] = c.Buyer
	}
	t0 = time.Now()
	if _, err := src.ContractIntervals(ctx, period, buyers); err != nil {
		return Result{}, err
	}
	rowsTime := time.Since(t0)

	progress(env, "settlement: settling %d contracts and writing their files", settleContracts)
	dir, err := os.MkdirTemp("", "offtake-bench-invoices-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	settleStart := time.Now()
	sts, err := settlement.Settle(ctx, p, period, pgsource.New(store.Pool(), p), nil)
	if err != nil {
		return Result{}, err
	}
	readTime := time.Since(settleStart)
	written, err := files.Write(dir, sts)
	if err != nil {
		return Result{}, err
	}
	settleTime := time.Since(settleStart)
	nfiles := 0
	for _, w := range written {
		nfiles += len(w.Files)
	}
	if len(sts) != settleContracts {
		return Result{}, fmt.Errorf("settlement: %d statements for %d contracts", len(sts), settleContracts)
	}
	return Result{
		Figures: []Figure{
			{Name: "interval allocations booked", Value: float64(intervals * settleContracts), Unit: "allocations", Note: fmt.Sprintf("%d transfers", booked)},
			{Name: "one SQL aggregation", Value: aggTime.Seconds(), Unit: "s", Note: fmt.Sprintf("%d groups", groups)},
			{Name: "  its totals query alone", Value: totalsTime.Seconds(), Unit: "s"},
			{Name: "  its interval rows alone", Value: rowsTime.Seconds(), Unit: "s"},
			{Name: "settlement (statements)", Value: readTime.Seconds(), Unit: "s", Note: "both reads at once, then the statements"},
			{Name: "settlement and files", Value: settleTime.Seconds(), Unit: "s", Note: fmt.Sprintf("%d statements, %d files", len(sts), nfiles)},
		},
		// target: settle ≤ 3 × aggregation, i.e. aggregation / settle ≥ 1/3
		Ratios: []Ratio{RatioOf("one aggregation ÷ settling and writing (≥ 1/3: within 3×)", aggTime.Seconds(), settleTime.Seconds(), 1.0/3)},
	}, nil
}

func progress(env Env, format string, args ...any) {
	if env.Progress != nil {
		fmt.Fprintf(env.Progress, format+"\n", args...)
	}
}

// benchPortfolio is n data centers, settlePerSite to a site, each under a
// load-following PPA of its own at its own price.
func benchPortfolio(n int) (*contracts.Portfolio, error) {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		return nil, err
	}
	p := &contracts.Portfolio{
		Parties: []contracts.Party{
			{ID: "bench-gen", Name: "Bench Generation LLC", Role: contracts.RoleSeller, InvoicePrefix: "BG", Address: "1 Plant Road, Odessa, TX", TaxID: "US-00-0000001"},
			{ID: "bench-iso", Name: "Bench ISO", Role: contracts.RoleGrid},
		},
	}
	start, end := contracts.Date{Year: 2028, Month: 1, Day: 1}, contracts.Date{Year: 2038, Month: 1, Day: 1}
	for i := range n {
		if i%settlePerSite == 0 {
			p.Sites = append(p.Sites, contracts.Site{
				ID: fmt.Sprintf("site-%03d", i/settlePerSite), Name: fmt.Sprintf("Bench Energy Center %03d", i/settlePerSite), Market: "ERCOT",
				TimeZone: "America/Chicago", Location: loc, IntervalMinutes: 15, Owner: "bench-gen", Grid: "bench-iso",
				CapacityMW: decimal.NewFromInt(1000), GeneratorNode: "BENCH_RN", LoadNode: "LZ_WEST",
				Meters: []contracts.Meter{{ID: "GROSS", Kind: contracts.MeterGross}},
			})
		}
		site := &p.Sites[len(p.Sites)-1]
		buyer, meter := fmt.Sprintf("dc-%04d", i), fmt.Sprintf("L-%04d", i)
		p.Parties = append(p.Parties, contracts.Party{ID: buyer, Name: fmt.Sprintf("Data Center %04d Inc.", i), Role: contracts.RoleBuyer, Address: "Data Center Way, Midland, TX"})
		site.Meters = append(site.Meters, contracts.Meter{ID: meter, Kind: contracts.MeterLoad, Party: buyer})
		c := contracts.Contract{
			ID: fmt.Sprintf("ppa-%04d", i), Kind: contracts.KindPhysical, Seller: "bench-gen", Buyer: buyer, Site: site.ID,
			Meter: meter, Priority: 1, Start: start, End: end, Rounding: contracts.RoundHalfUp, PaymentTermsDays: 30,
			Terms: contracts.Terms{Version: 1, Effective: start,
				Volume: contracts.Volume{Shape: contracts.ShapeLoadFollowing},
				Price:  contracts.Price{Kind: contracts.PriceFixed, USDPerMWh: decimal.New(4000+int64(i%300)*5, -2)}},
		}
		c.Prepare()
		p.Contracts = append(p.Contracts, c)
	}
	return p, nil
}

// benchResult is interval i's allocation: every data center takes a few MWh
// from the plant, the rest is exported.
func benchResult(site *contracts.Site, start time.Time, step time.Duration, i int) matching.Result {
	r := matching.Result{Site: site.ID, Start: start, End: start.Add(step), Revision: 1, Seller: site.Owner, Grid: site.Grid}
	var delivered matching.Wh
	for k, m := range site.Meters[1:] {
		e := matching.Wh(1_000_000 + (i*7919+k*104729)%2_000_000)
		delivered += e
		n := 0
		fmt.Sscanf(m.ID, "L-%d", &n)
		r.Deliveries = append(r.Deliveries, matching.Delivery{
			Contract: fmt.Sprintf("ppa-%04d", n), ContractVersion: 1, Seller: site.Owner, Buyer: m.Party, Meter: m.ID,
			Energy: e, USDPerMWh: decimal.New(4000+int64(n%300)*5, -2), PriceBasis: "fixed", Volume: matching.NoCap,
		})
		r.Loads = append(r.Loads, matching.ReadingRef{Meter: m.ID, Energy: e, Quality: matching.Actual, Version: 1})
		r.Imports = append(r.Imports, matching.GridFlow{Party: m.Party, Meter: m.ID})
	}
	export := matching.Wh(50_000_000)
	r.Gross, r.Net = delivered+export, delivered+export
	r.Export = matching.GridFlow{Party: site.Owner, Meter: "GROSS", Energy: export, Price: matching.PriceRef{Node: site.GeneratorNode, Market: "RT", Start: start, USDPerMWh: decimal.NewFromInt(30)}}
	r.Readings = append([]matching.ReadingRef{{Meter: "GROSS", Energy: r.Gross, Quality: matching.Actual, Version: 1}}, r.Loads...)
	return r
}
