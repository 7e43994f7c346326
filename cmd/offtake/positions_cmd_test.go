package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/api"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/positions"
	"github.com/offtake/offtake/positions/positionstest"
	"github.com/offtake/offtake/stream"
)

// bookedLedger is a test database with two simulated days of the example
// site booked by the real engine.
func bookedLedger(t *testing.T) string {
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
	defer store.Close()
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatal(err)
	}
	e, err := positionstest.New(ctx, store, p, "coyote-flats", contracts.Period{Year: 2028, Month: time.March}, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Step(ctx, e.Readings()); err != nil {
		t.Fatal(err)
	}
	return url
}

func TestCLIPositions(t *testing.T) {
	url := bookedLedger(t)
	env := map[string]string{"DATABASE_URL": url}

	code, out, errOut := runCLI(t, env, "positions")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Positions 2028-03", "Coyote Flats Energy Center", "ppa-northwind", "hourly matched", "capacity factor", "192 of 2972 intervals"} {
		if !strings.Contains(out, want) {
			t.Errorf("table has no %q:\n%s", want, out)
		}
	}

	code, out, errOut = runCLI(t, env, "positions", "--period", "2028-03", "--contract", "ppa-helios", "-o", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep positions.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Contracts) != 1 || rep.Contracts[0].ID != "ppa-helios" || rep.Contracts[0].DeliveredMWh.Sign() <= 0 || len(rep.Sites) != 1 {
		t.Errorf("--contract ppa-helios gave %+v", rep)
	}

	code, out, errOut = runCLI(t, env, "positions", "--output", "csv")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range rows[1:] {
		kinds[r[0]]++
		if len(r) != len(rows[0]) {
			t.Fatalf("row %v has %d columns, header %d", r, len(r), len(rows[0]))
		}
	}
	if kinds["site"] != 1 || kinds["load"] != 3 || kinds["contract"] != 3 {
		t.Errorf("csv records %v", kinds)
	}

	// --watch, stopped after one refresh (not a terminal: no escape codes).
	code, out, errOut = runCLI(t, env, "positions", "--watch", "--watch-count", "1", "--every", "10ms")
	if code != exitOK || strings.Contains(out, "\033[") || !strings.Contains(out, "watching every") {
		t.Errorf("watch: exit %d %s\n%s", code, errOut, out)
	}

	// Bad input is exit 2 with one sentence.
	for _, args := range [][]string{
		{"positions", "--output", "xml"},
		{"positions", "--site", "nowhere"},
		{"positions", "--contract", "nothing"},
		{"positions", "--period", "2028-3"},
		{"positions", "--http", "127.0.0.1:0"}, // no tokens
	} {
		if code, _, errOut := runCLI(t, env, args...); code != exitBadInput || errOut == "" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
	dir := t.TempDir()
	curve := filepath.Join(dir, "curve.csv")
	if err := os.WriteFile(curve, []byte("node,start,end,usd_per_mwh\nCFEC_CC1_RN,2028-03-01T06:00:00Z,2028-03-01T05:00:00Z,40\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, env, "positions", "--curve", curve); code != exitBadInput || !strings.Contains(errOut, "curve.csv:2") {
		t.Errorf("bad curve: exit %d, %q", code, errOut)
	}
}

// The stream's cumulative stats become counter increments, and the first
// booked batch makes the server ready.
func TestEngineProgressFeedsMetrics(t *testing.T) {
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{WaitForEngine: true}, api.Deps{Portfolio: p})
	calls := 0
	progress := engineProgress(srv, func(stream.Stats) { calls++ })
	progress(stream.Stats{Readings: 10, IntervalsClosed: 2, Transfers: 30, DeadByReason: map[string]int64{"malformed": 1}})
	progress(stream.Stats{Readings: 25, IntervalsClosed: 5, Transfers: 70, DeadByReason: map[string]int64{"malformed": 1, "invalid_value": 2}})
	families, err := srv.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			name := f.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			}
		}
	}
	want := map[string]float64{"offtake_readings_total": 25, "offtake_intervals_closed_total": 5, "offtake_transfers_total": 70,
		"offtake_dead_letters_total,malformed": 1, "offtake_dead_letters_total,invalid_value": 2}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if calls != 2 {
		t.Errorf("next called %d times", calls)
	}
}
