package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/devbroker"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/stream"
)

// The pjm-2025 example end to end: `offtake replay` publishes a month of
// real PJM data (hourly solar, load and real-time prices onto a 15-minute
// site) to the in-process broker over TCP, after a bad file was refused
// whole; the engine then closes and books every interval of July 2025 on
// the replayed data alone, and the ledger verifies.
func TestReplayEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tp := stream.DefaultTopics()
	b, err := devbroker.Start("127.0.0.1:0", map[string]int{tp.Generation: 4, tp.Consumption: 4, tp.Prices: 4, tp.DeadLetter: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := strings.Join(b.Addrs(), ",")
	contractsFile := filepath.Join("..", "..", "examples", "pjm-2025.yaml")
	mapping := filepath.Join("..", "..", "examples", "data", "pjm-2025", "replay.yaml")

	// A bad row anywhere: exit 2, file:line, nothing published.
	dir := t.TempDir()
	bad := filepath.Join(dir, "load.csv")
	if err := os.WriteFile(bad, []byte("meter,start,end,value,unit\nDC-LOAD,2025-07-01T04:00:00Z,2025-07-01T04:15:00Z,12.5,kWh\nDC-LOAD,2025-07-01T04:15:00Z,2025-07-01T04:30:00Z,12,5,kWh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "replay", "--brokers", brokers, "--contracts", contractsFile, "--format", "csv", bad)
	if code != exitBadInput || !strings.Contains(stderr, "load.csv:3: 6 fields where the header has 5") {
		t.Fatalf("bad file: exit %d, stderr %q", code, stderr)
	}

	code, stdout, stderr := runCLI(t, nil, "replay", "--brokers", brokers, "--contracts", contractsFile, "--mapping", mapping, "--rate", "200000/s")
	if code != exitOK {
		t.Fatalf("replay: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"replay: 5952 readings and 744 prices, intervals from 2025-07-01T04:00:00Z to 2025-08-01T04:00:00Z", "offtake.prices   744 messages", "replay: published 6696 messages"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "replay") {
		t.Errorf("no progress on stderr: %q", stderr)
	}

	p, err := contracts.LoadFiles(examples.Files, "pjm-2025.yaml")
	if err != nil {
		t.Fatal(err)
	}
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stats, err := stream.Run(ctx, stream.Config{Brokers: b.Addrs(), Topics: tp, Consumer: "replay-test", UntilCaughtUp: true}, p, storeAdapter{store})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages != 6696 || stats.DeadLetters != 0 || stats.IntervalsClosed != 2976 {
		t.Fatalf("engine: %d messages, %d dead letters, %d intervals closed; want 6696, 0, 2976", stats.Messages, stats.DeadLetters, stats.IntervalsClosed)
	}
	var booked, estimated, carried int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM intervals WHERE site = 'laurel-run'`).Scan(&booked); err != nil {
		t.Fatal(err)
	}
	if booked != 2976 {
		t.Errorf("%d intervals booked, want 2976 (July 2025, 15-minute)", booked)
	}
	// every price real, none carried forward; every reading as replayed, none estimated by the engine
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FILTER (WHERE price_carried), count(*) FILTER (WHERE readings::text LIKE '%estimated%') FROM transfers`).Scan(&carried, &estimated); err != nil {
		t.Fatal(err)
	}
	if carried != 0 || estimated != 0 {
		t.Errorf("%d transfers at a carried price, %d on estimated readings; want none", carried, estimated)
	}
	rep, err := store.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("ledger verify: %+v", rep)
	}
}

// Mistakes on the command line and in the files: exit 2, one clear line each.
func TestReplayCLIBadInput(t *testing.T) {
	sites := filepath.Join("..", "..", "replay", "testdata", "sites.yaml")
	ercot := filepath.Join("..", "..", "replay", "testdata", "ercot_nbohr_hbwest_2023-11-05_2024-03-10.csv")
	lmp := filepath.Join("..", "..", "replay", "testdata", "pjm_rto_da_hrl_lmps_2025_dst_days.csv")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay"}, "nothing to replay: give FILE arguments with --format, or --mapping FILE"},
		{[]string{"replay", lmp}, "--format: say what the files are"},
		{[]string{"replay", "--format", "pjm-lmp", "--speed", "10x", "--rate", "5/s", lmp}, "--speed and --rate: give one pace"},
		{[]string{"replay", "--format", "pjm-lmp", "--speed", "fast", lmp}, `--speed: "fast" is not a speed like 3600x`},
		{[]string{"replay", "--format", "pjm-lmp", "--rate", "-3/s", lmp}, `--rate: "-3/s" is not a rate like 500/s`},
		{[]string{"replay", "--format", "pjm-lmp", "--site", "nowhere", lmp}, `site: "nowhere" is not a site of the contract files`},
		{[]string{"replay", "--format", "pjm-lmp", "--scale", "x", lmp}, `--scale "x": give a positive decimal`},
		{[]string{"replay", "--format", "pjm-lmp", "--period", "2025-13", lmp}, `--period: period "2025-13" is not a month`},
		{[]string{"replay", "--mapping", "m.yaml", lmp}, "--mapping names the files and their formats"},
		{[]string{"replay", "--format", "pjm-lmp", "no-such-file.csv"}, "no-such-file.csv: no such file"},
		{[]string{"replay", "--site", "tx15", "--format", "ercot-hourly", "--node", "HUB=HB_WEST", ercot},
			"ercot_nbohr_hbwest_2023-11-05_2024-03-10.csv:3: HOUR: 2023-11-05 is the fall-back day in America/Chicago"},
	} {
		args := append([]string{c.args[0], "--dry-run", "--contracts", sites}, c.args[1:]...)
		code, _, stderr := runCLI(t, nil, args...)
		if code != exitBadInput || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
	// the same file, repaired on request: a dry run prints the summary and says what it repaired
	code, stdout, stderr := runCLI(t, nil, "replay", "--dry-run", "--contracts", sites, "--site", "tx15", "--format", "ercot-hourly",
		"--node", "HUB=HB_WEST", "--node", "NODE=NBOHR_RN", "--repair-merged-hour", ercot)
	if code != exitOK || !strings.Contains(stdout, "replay: 0 readings and 94 prices") || !strings.Contains(stdout, "repaired the merged fall-back hour of 2023-11-05 (line 3)") ||
		!strings.Contains(stdout, "warning: no prices for HENRY_HUB") || !strings.Contains(stdout, "dry run, nothing published") {
		t.Errorf("repaired dry run: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestReplayedExample(t *testing.T) {
	tp := stream.DefaultTopics()
	file, p, sim, period, err := replayedExample("pjm-2025", tp)
	if err != nil {
		t.Fatal(err)
	}
	if file != "pjm-2025.yaml" || len(p.Sites) != 1 || period != (contracts.Period{Year: 2025, Month: 7}) || len(sim.prices) != 744 || len(sim.readings) != 5952 {
		t.Errorf("%s: %d sites, %s, %d prices, %d readings", file, len(p.Sites), period, len(sim.prices), len(sim.readings))
	}
	if _, _, _, _, err := replayedExample("nope", tp); err == nil || !strings.Contains(err.Error(), `--example: "nope" is not an example (one of pjm-2025)`) {
		t.Errorf("unknown example: %v", err)
	}
}
