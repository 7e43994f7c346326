package pgsource_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/positions"
	"github.com/offtake/offtake/positions/pgsource"
	"github.com/offtake/offtake/positions/positionstest"
	"github.com/offtake/offtake/settlement"
	settlepg "github.com/offtake/offtake/settlement/pgsource"
	"github.com/shopspring/decimal"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

var march = contracts.Period{Year: 2028, Month: time.March}

// ledgerWith books the first days of March 2028 of the file's site, with a
// flat gas index and a flat forward curve at the generator node and hub.
func ledgerWith(t *testing.T, file string, days int) (*postgres.Store, *contracts.Portfolio, *positionstest.Engine) {
	t.Helper()
	ctx := context.Background()
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	p, err := contracts.LoadFiles(examples.Files, file)
	if err != nil {
		t.Fatal(err)
	}
	site := &p.Sites[0]
	from, to := march.Bounds(site.Location)
	extra := positionstest.GasPrices(site, march, days, "HENRY_HUB", "3.10")
	for _, node := range []string{site.GeneratorNode, "HB_WEST"} {
		extra = append(extra, matching.Price{Node: node, Market: "FWD", Start: from, End: to, USDPerMWh: decimal.RequireFromString("41.50")})
	}
	e, err := positionstest.New(ctx, store, p, site.ID, march, days, 7, extra...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(ctx, e.Readings()); err != nil {
		t.Fatal(err)
	}
	return store, p, e
}

// Positions reconcile with the month's settlement to the cent, and with
// the ledger's balances exactly, on both example files.
func TestReconcilesWithSettlementAndLedger(t *testing.T) {
	for _, file := range []string{"coyote-flats.yaml", "term-sheet.yaml"} {
		t.Run(file, func(t *testing.T) {
			ctx := context.Background()
			store, p, _ := ledgerWith(t, file, 3)
			rep, err := pgsource.New(store.Pool(), p, pgsource.Options{}).Report(ctx, march)
			if err != nil {
				t.Fatal(err)
			}
			sts, err := settlement.Settle(ctx, p, march, settlepg.New(store.Pool(), p), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(sts) == 0 || len(rep.Contracts) != len(p.Contracts) {
				t.Fatalf("%d statements, %d contract positions for %d contracts", len(sts), len(rep.Contracts), len(p.Contracts))
			}
			for _, st := range sts {
				c, ok := rep.Contract(st.Contract.ID)
				if !ok {
					t.Fatalf("no position for %s", st.Contract.ID)
				}
				exact, rounded := decimal.Zero, decimal.Zero
				for _, l := range st.Lines {
					switch l.Kind {
					case settlement.LineEnergy, settlement.LineNegative, settlement.LineVirtual, settlement.LineBasis:
						exact, rounded = exact.Add(l.ExactUSD), rounded.Add(l.AmountUSD)
					}
				}
				if !c.AmountUSD.Equal(exact) {
					t.Errorf("%s: position amount %s, statement's energy lines exactly %s", c.ID, c.AmountUSD, exact)
				}
				if !c.AmountUSD.Round(2).Equal(rounded) && len(st.Lines) == 1 {
					t.Errorf("%s: position $%s, statement $%s", c.ID, c.AmountUSD.StringFixed(2), rounded.StringFixed(2))
				}
				if c.Kind == string(contracts.KindPhysical) && !c.DeliveredMWh.Equal(st.EnergyMWh) {
					t.Errorf("%s: delivered %s MWh, statement %s", c.ID, c.DeliveredMWh, st.EnergyMWh)
				}
				shortfall := decimal.Zero
				for _, l := range st.Lines {
					if l.Kind == settlement.LineShortfall {
						shortfall = shortfall.Add(l.ExactUSD)
					}
				}
				if !c.ShortfallUSD.Neg().Equal(shortfall) {
					t.Errorf("%s: shortfall damages %s, statement %s", c.ID, c.ShortfallUSD, shortfall)
				}
			}
			site := rep.Sites[0]
			// Energy: net = sold + exported − bought for station service; every Wh sold reached a load.
			if got := site.SoldPPAMWh.Add(site.ExportMWh).Sub(site.PlantImportMWh); !got.Equal(site.NetMWh) {
				t.Errorf("sold %s + export %s − plant import %s = %s, net %s", site.SoldPPAMWh, site.ExportMWh, site.PlantImportMWh, got, site.NetMWh)
			}
			fromPlant := decimal.Zero
			for _, l := range site.Loads {
				fromPlant = fromPlant.Add(l.FromPlantMWh)
				if !l.LoadMWh.Equal(l.FromPlantMWh.Add(l.ImportedMWh)) {
					t.Errorf("%s: load %s ≠ from plant %s + imported %s", l.Party, l.LoadMWh, l.FromPlantMWh, l.ImportedMWh)
				}
				if l.HourlyMatchedPercent.GreaterThan(decimal.NewFromInt(100)) || l.Hours == 0 {
					t.Errorf("%s: hourly matched %s%% over %d hours", l.Party, l.HourlyMatchedPercent, l.Hours)
				}
			}
			if !fromPlant.Equal(site.SoldPPAMWh) {
				t.Errorf("loads got %s MWh from the plant, it sold %s", fromPlant, site.SoldPPAMWh)
			}
			// Money: the owner's settlement account is what the site's figures say it earned.
			bals, err := store.Balances(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := site.PPARevenueUSD.Add(site.ExportUSD).Sub(site.PlantImportUSD)
			for _, c := range rep.Contracts {
				want = want.Sub(c.ShortfallUSD)
				if c.Kind == string(contracts.KindVirtual) {
					want = want.Add(c.AmountUSD)
				}
			}
			for _, b := range bals {
				if b.Account == site.Owner+":settlement" && !b.Balance.Equal(want) {
					t.Errorf("%s balance %s, positions say %s", b.Account, b.Balance, want)
				}
			}
			if site.IntervalsBooked != 3*96 || site.AsOf == nil || !site.AsOf.Equal(time.Date(2028, 3, 4, 6, 0, 0, 0, time.UTC)) {
				t.Errorf("booked %d intervals as of %v", site.IntervalsBooked, site.AsOf)
			}
		})
	}
}

func TestFuelSparkSpreadAndLoads(t *testing.T) {
	ctx := context.Background()
	store, p, _ := ledgerWith(t, "coyote-flats.yaml", 2)
	rep, err := pgsource.New(store.Pool(), p, pgsource.Options{}).Report(ctx, march)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Sites[0]
	if s.FuelUSD == nil || s.SparkSpreadUSD == nil {
		t.Fatalf("no fuel cost: %+v", s)
	}
	// 6.9 MMBtu/MWh × $3.10/MMBtu on every MWh of gross output.
	if want := s.GrossMWh.Mul(decimal.RequireFromString("21.39")); !s.FuelUSD.Equal(want) || !s.FuelUnpricedMWh.IsZero() {
		t.Errorf("fuel $%s, want $%s (unpriced %s MWh)", s.FuelUSD, want, s.FuelUnpricedMWh)
	}
	if want := s.PPARevenueUSD.Add(s.ExportUSD).Sub(s.PlantImportUSD).Sub(*s.FuelUSD); !s.SparkSpreadUSD.Equal(want) {
		t.Errorf("spark spread %s, want %s", s.SparkSpreadUSD, want)
	}
	if !s.FuelUSDPerMMBtu.Equal(decimal.RequireFromString("3.1")) {
		t.Errorf("fuel at %s $/MMBtu", s.FuelUSDPerMMBtu)
	}
	if s.CapacityFactorPercent.Sign() <= 0 || s.CapacityFactorPercent.GreaterThan(decimal.NewFromInt(100)) {
		t.Errorf("capacity factor %s%%", s.CapacityFactorPercent)
	}
	if len(s.Loads) != 3 {
		t.Fatalf("%d loads", len(s.Loads))
	}
	// Emissions (the example books them): what the plant's energy carries
	// is a little above its 366.114 kg/MWh of gross output, attributed over
	// net output; the site's total is what buyers and the grid were given.
	sum := decimal.Zero
	for _, l := range s.Loads {
		if l.EmissionsT.Sign() <= 0 || l.EmissionsKgPerMWh == nil {
			t.Errorf("%s: no emissions %+v", l.Party, l)
		}
		sum = sum.Add(l.EmissionsT)
	}
	if s.EmissionsT.LessThan(sum) || s.EmissionsT.Sign() <= 0 {
		t.Errorf("site emissions %s t, loads %s t", s.EmissionsT, sum)
	}
	for _, c := range rep.Contracts {
		if c.EmissionsKgPerMWh == nil || c.EmissionsKgPerMWh.LessThan(decimal.RequireFromString("366.114")) || c.EmissionsKgPerMWh.GreaterThan(decimal.NewFromInt(400)) {
			t.Errorf("%s: %v kg/MWh", c.ID, c.EmissionsKgPerMWh)
		}
	}
	// Load-following contracts without expected volume: nothing to pace or mark.
	for _, c := range rep.Contracts {
		if c.ContractedMWh != nil || c.MTM != nil {
			t.Errorf("%s: contracted %v, mtm %+v", c.ID, c.ContractedMWh, c.MTM)
		}
	}
}

func TestContractedPaceShortfallsAndMarkToMarket(t *testing.T) {
	ctx := context.Background()
	store, p, _ := ledgerWith(t, "term-sheet.yaml", 3)
	rep, err := pgsource.New(store.Pool(), p, pgsource.Options{}).Report(ctx, march)
	if err != nil {
		t.Fatal(err)
	}
	site := rep.Sites[0]
	// ppa-atlas: a 200 MW baseload block, 743 hours in March 2028 (spring forward).
	atlas, _ := rep.Contract("ppa-atlas")
	if atlas.ContractedMWh == nil || !atlas.ContractedMWh.Equal(decimal.NewFromInt(200*743)) {
		t.Fatalf("ppa-atlas contracted %v", atlas.ContractedMWh)
	}
	if !atlas.ContractedToDateMWh.Equal(decimal.NewFromInt(200 * 72)) {
		t.Errorf("ppa-atlas contracted to date %s, want 14400", atlas.ContractedToDateMWh)
	}
	if !atlas.PaceMWh.Equal(atlas.DeliveredMWh.Sub(decimal.NewFromInt(14400))) {
		t.Errorf("pace %s", atlas.PaceMWh)
	}
	// The rest: 671 hours × 200 MW at the contract price against $41.50.
	m := atlas.MTM
	if m == nil || !m.RemainingMWh.Equal(decimal.NewFromInt(200*671)) || !m.PricedMWh.Equal(m.RemainingMWh) {
		t.Fatalf("ppa-atlas mtm %+v", m)
	}
	want := m.ContractUSDPerMWh.Sub(decimal.RequireFromString("41.5")).Mul(m.RemainingMWh)
	if m.ValueUSD.Sub(want).Abs().GreaterThan(decimal.RequireFromString("0.01")) {
		t.Errorf("mtm %s, want ≈ %s", m.ValueUSD, want)
	}
	// ppa-cirrus: expected 90,000 MWh, minimum take 80%, pro rata to date.
	cirrus, _ := rep.Contract("ppa-cirrus")
	if !cirrus.ContractedMWh.Equal(decimal.NewFromInt(90000)) || !cirrus.MinimumTakeMWh.Equal(decimal.NewFromInt(72000)) {
		t.Fatalf("ppa-cirrus contracted %v, minimum %v", cirrus.ContractedMWh, cirrus.MinimumTakeMWh)
	}
	toDate := decimal.NewFromInt(72000*288).DivRound(decimal.NewFromInt(2972), 6)
	if cirrus.MinimumTakeToDateMWh.Sub(toDate).Abs().GreaterThan(decimal.RequireFromString("0.000001")) {
		t.Errorf("minimum take to date %s, want %s", cirrus.MinimumTakeToDateMWh, toDate)
	}
	// vppa: volume settled, marked at the hub; the site's MTM is the sum.
	v, _ := rep.Contract("vppa-atlas-hedge")
	if v.MTM == nil || v.MTM.Node != "HB_WEST" || v.DeliveredMWh.Sign() <= 0 {
		t.Fatalf("vppa %+v", v)
	}
	sum := decimal.Zero
	for _, c := range rep.Contracts {
		if c.MTM != nil {
			sum = sum.Add(c.MTM.ValueUSD)
		}
	}
	if !site.MTMUSD.Equal(sum) {
		t.Errorf("site mtm %s, contracts %s", site.MTMUSD, sum)
	}
	if site.FuelUSD != nil {
		t.Errorf("fuel costed without a heat rate: %s", site.FuelUSD)
	}
}

// A correction re-matches an interval: positions net the reversal out.
func TestCorrectionsNetOut(t *testing.T) {
	ctx := context.Background()
	store, p, e := ledgerWith(t, "coyote-flats.yaml", 1)
	src := pgsource.New(store.Pool(), p, pgsource.Options{})
	before, err := src.Report(ctx, march)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Reading(0) // the gross meter of the first interval
	if m, _ := p.Sites[0].Meter(r.Meter); m.Kind != contracts.MeterGross {
		t.Fatalf("reading 0 is %s", r.Meter)
	}
	r.Version++
	r.Energy -= 50_000_000 // 50 MWh less
	res, err := e.Correct(ctx, r)
	if err != nil || len(res) != 1 || res[0].Revision != 2 {
		t.Fatalf("correction: %v, %d results", err, len(res))
	}
	after, err := src.Report(ctx, march)
	if err != nil {
		t.Fatal(err)
	}
	b, a := before.Sites[0], after.Sites[0]
	if !b.NetMWh.Sub(a.NetMWh).Equal(decimal.NewFromInt(50)) || a.IntervalsBooked != b.IntervalsBooked {
		t.Errorf("net %s → %s, intervals %d → %d", b.NetMWh, a.NetMWh, b.IntervalsBooked, a.IntervalsBooked)
	}
	if got := a.SoldPPAMWh.Add(a.ExportMWh).Sub(a.PlantImportMWh); !got.Equal(a.NetMWh) {
		t.Errorf("after the correction sold + export − import = %s, net %s", got, a.NetMWh)
	}
}

func TestSeries(t *testing.T) {
	ctx := context.Background()
	store, p, _ := ledgerWith(t, "coyote-flats.yaml", 3)
	src := pgsource.New(store.Pool(), p, pgsource.Options{})
	end, ok, err := src.LatestInterval(ctx, "coyote-flats")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	pts, err := src.Series(ctx, "coyote-flats", end.Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 192 {
		t.Fatalf("%d points over 48 hours of 15 minutes", len(pts))
	}
	for _, pt := range pts {
		if !pt.NetMWh.Equal(pt.DeliveredMWh.Add(pt.ExportMWh)) && pt.NetMWh.Sign() > 0 {
			t.Fatalf("%s: net %s ≠ delivered %s + export %s", pt.Start, pt.NetMWh, pt.DeliveredMWh, pt.ExportMWh)
		}
		if !pt.LoadMWh.Equal(pt.DeliveredMWh.Add(pt.ImportMWh)) {
			t.Fatalf("%s: load %s ≠ delivered %s + import %s", pt.Start, pt.LoadMWh, pt.DeliveredMWh, pt.ImportMWh)
		}
	}
	period, ok, err := src.LatestPeriod(ctx)
	if err != nil || !ok || period != march {
		t.Errorf("latest period %v %v %v", period, ok, err)
	}
	var _ positions.Point = pts[0]
}

// Live, fed the engine's results as they are booked, says what the ledger
// says: the same report, to the last digit, as reading the ledger afresh.
func TestLiveEqualsTheLedger(t *testing.T) {
	ctx := context.Background()
	for _, file := range []string{"coyote-flats.yaml", "term-sheet.yaml"} {
		t.Run(file, func(t *testing.T) {
			url := pgserver.NewTestDatabase(t)
			if _, err := migrations.Apply(ctx, url, nil); err != nil {
				t.Fatal(err)
			}
			store, err := postgres.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			p, err := contracts.LoadFiles(examples.Files, file)
			if err != nil {
				t.Fatal(err)
			}
			site := &p.Sites[0]
			from, to := march.Bounds(site.Location)
			extra := append(positionstest.GasPrices(site, march, 3, "HENRY_HUB", "3.10"),
				matching.Price{Node: site.GeneratorNode, Market: "FWD", Start: from, End: to, USDPerMWh: decimal.RequireFromString("39.75")})
			e, err := positionstest.New(ctx, store, p, site.ID, march, 3, 9, extra...)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.StepHours(ctx, 20); err != nil {
				t.Fatal(err)
			}
			src := pgsource.New(store.Pool(), p, pgsource.Options{})
			in, err := src.Inputs(ctx, march)
			if err != nil {
				t.Fatal(err)
			}
			live := positions.NewLive(p, march, in)
			e.OnBatch = func(res []matching.Result) {
				if !live.Add(res) {
					t.Fatal("results outside March")
				}
			}
			for e.Fed() < e.Readings() {
				if _, err := e.StepHours(ctx, 7); err != nil {
					t.Fatal(err)
				}
			}
			r := e.Reading(5)
			r.Version++
			r.Energy += 1_234_567
			if _, err := e.Correct(ctx, r); err != nil {
				t.Fatal(err)
			}
			want, err := src.Report(ctx, march)
			if err != nil {
				t.Fatal(err)
			}
			got := live.Report()
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if string(wj) != string(gj) {
				t.Errorf("live and ledger differ:\nlive   %s\nledger %s", gj, wj)
			}
		})
	}
}
