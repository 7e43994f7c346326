package main

import (
	"bytes"
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
	"github.com/offtake/offtake/settlement/files"
	"github.com/offtake/offtake/simulate"
	"github.com/offtake/offtake/stream"
	"github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

// pipeline is the demo's pipeline at a smaller scale: real PostgreSQL, the
// in-process broker over TCP, a few simulated days.
type pipeline struct {
	t      *testing.T
	ctx    context.Context
	p      *contracts.Portfolio
	url    string
	store  *postgres.Store
	broker *devbroker.Broker
	topics stream.Topics
	sim    simulation
	period contracts.Period
}

const testDays = 3

func newPipeline(t *testing.T) *pipeline {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
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
	t.Cleanup(store.Close)
	tp := stream.DefaultTopics()
	b, err := devbroker.Start("127.0.0.1:0", map[string]int{tp.Generation: 4, tp.Consumption: 4, tp.Prices: 4, tp.DeadLetter: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	period := contracts.Period{Year: 2028, Month: 3}
	sites, _ := pickSites(p, nil)
	return &pipeline{t: t, ctx: ctx, p: p, url: url, store: store, broker: b, topics: tp, period: period,
		sim: simulated(sites, period, simulate.Options{Seed: 7, Days: testDays}, tp)}
}

func (pl *pipeline) publish(msgs []stream.Message) {
	pl.t.Helper()
	pub := stream.NewPublisher(pl.broker.Addrs())
	defer pub.Close()
	if err := pub.Publish(pl.ctx, msgs); err != nil {
		pl.t.Fatal(err)
	}
}

func (pl *pipeline) run(consumer string) stream.Stats {
	pl.t.Helper()
	stats, err := stream.Run(pl.ctx, stream.Config{Brokers: pl.broker.Addrs(), Topics: pl.topics, Consumer: consumer, UntilCaughtUp: true, FlushIntervals: 50},
		pl.p, storeAdapter{pl.store})
	if err != nil {
		pl.t.Fatal(err)
	}
	return stats
}

// snapshot is the ledger's content as text, for byte-for-byte comparison.
func (pl *pipeline) snapshot() string {
	pl.t.Helper()
	var buf bytes.Buffer
	for _, q := range []string{
		`SELECT id::text, debit_account, credit_account, unit, amount::text, leg, site, interval_start::text, coalesce(contract_id,''), coalesce(price_usd_per_mwh::text,'') FROM transfers ORDER BY id`,
		`SELECT id, balance::text FROM accounts ORDER BY id`,
		`SELECT site, interval_start::text, net_mwh::text, export_mwh::text, import_mwh::text FROM intervals ORDER BY 1, 2`,
	} {
		rows, err := pl.store.Pool().Query(pl.ctx, q)
		if err != nil {
			pl.t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				pl.t.Fatal(err)
			}
			for _, v := range vals {
				buf.WriteString(v.(string))
				buf.WriteByte('|')
			}
			buf.WriteByte('\n')
		}
		rows.Close()
	}
	return buf.String()
}

func TestPipelineEndToEnd(t *testing.T) {
	pl := newPipeline(t)
	pl.publish(withBadMessages(pl.sim))
	stats := pl.run("offtake")

	const wantIntervals = testDays * 96 // 2028-03-01..03: no DST change, 96 a day
	if stats.IntervalsClosed != wantIntervals || stats.OpenIntervals != 0 {
		t.Fatalf("closed %d intervals (open %d), want %d", stats.IntervalsClosed, stats.OpenIntervals, wantIntervals)
	}
	if stats.DeadLetters != 1 || stats.DeadByReason["invalid_value"] != 1 || stats.Duplicates != 1 {
		t.Fatalf("dead letters %d %v, duplicates %d; want 1 invalid_value and 1 duplicate; stats %+v", stats.DeadLetters, stats.DeadByReason, stats.Duplicates, stats)
	}

	var estimated, carried int
	if err := pl.store.Pool().QueryRow(pl.ctx, `SELECT (SELECT count(*) FROM intervals WHERE estimated), (SELECT count(*) FROM transfers WHERE price_carried)`).Scan(&estimated, &carried); err != nil ||
		estimated != 0 || carried != 0 || stats.Late != 0 {
		t.Fatalf("%d intervals estimated, %d prices carried and %d readings late with every reading and price published (%v)", estimated, carried, stats.Late, err)
	}
	t.Run("the malformed message is on the dead-letter topic with its reason", func(t *testing.T) {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: pl.broker.Addrs(), Topic: pl.topics.DeadLetter, Partition: 0, MaxWait: 100 * time.Millisecond})
		defer r.Close()
		m, err := r.FetchMessage(pl.ctx)
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if !bytes.Contains(m.Value, []byte(`"value":"NaN"`)) || h["offtake-source-topic"] != pl.topics.Generation ||
			h["offtake-source-offset"] == "" || h["offtake-reason-code"] != "invalid_value" || !strings.Contains(h["offtake-reason"], "NaN") {
			t.Fatalf("dead letter %s with headers %v", m.Value, h)
		}
	})
	t.Run("energy conserved per interval against the meter readings", func(t *testing.T) {
		pl.checkConservation(t)
	})
	t.Run("ledger verify", func(t *testing.T) {
		rep, err := pl.store.Verify(pl.ctx)
		if err != nil || rep.Violations != 0 {
			t.Fatalf("verify: %v %+v", err, rep)
		}
	})
	t.Run("invoice totals equal the ledger", func(t *testing.T) {
		pl.checkInvoices(t)
	})

	before := pl.snapshot()
	t.Run("the same input again changes nothing", func(t *testing.T) {
		// The same messages published again (new offsets) are late duplicates.
		pl.publish(pl.sim.all())
		again := pl.run("offtake")
		if again.Transfers != 0 || again.IntervalsClosed != 0 {
			t.Fatalf("re-published input booked %d transfers, closed %d intervals", again.Transfers, again.IntervalsClosed)
		}
		// A new consumer re-reads the whole log against an empty engine: the
		// transfers it derives have the same ids, so nothing is inserted.
		replay := pl.run("offtake-replay")
		if replay.Transfers != 0 {
			t.Fatalf("replay inserted %d transfers", replay.Transfers)
		}
		if after := pl.snapshot(); after != before {
			t.Fatal("ledger changed after replaying the same input")
		}
	})
}

// checkConservation recomputes, from the published readings alone, each
// interval's net output and each load, and checks the ledger's legs add up.
func (pl *pipeline) checkConservation(t *testing.T) {
	site := &pl.p.Sites[0]
	type key struct {
		start time.Time
		meter string
	}
	readings := map[key]decimal.Decimal{}
	for _, r := range simulate.Site(site, pl.period, simulate.Options{Seed: 7, Days: testDays}).Readings {
		readings[key{r.Start, r.Meter}] = r.Energy.MWh()
	}
	rows, err := pl.store.Pool().Query(pl.ctx, `
		SELECT interval_start, leg, debit_account, credit_account, amount::text
		  FROM transfers WHERE unit = 'MWh' ORDER BY interval_start`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sellerOut := map[time.Time]decimal.Decimal{}
	received := map[key]decimal.Decimal{} // by buyer party
	for rows.Next() {
		var start time.Time
		var leg, debit, credit, amount string
		if err := rows.Scan(&start, &leg, &debit, &credit, &amount); err != nil {
			t.Fatal(err)
		}
		a := decimal.RequireFromString(amount)
		start = start.UTC()
		if debit == "mesa-ridge:energy" {
			sellerOut[start] = sellerOut[start].Add(a)
		}
		if credit == "mesa-ridge:energy" {
			sellerOut[start] = sellerOut[start].Sub(a)
		}
		received[key{start, strings.TrimSuffix(credit, ":energy")}] = received[key{start, strings.TrimSuffix(credit, ":energy")}].Add(a)
	}
	meterOf := map[string]string{"northwind": "DC-NORTHWIND", "helios": "DC-HELIOS", "cedar": "DC-CEDAR"}
	start, _ := pl.period.Bounds(site.Location)
	for i := 0; i < testDays*96; i++ {
		s := start.Add(time.Duration(i) * 15 * time.Minute)
		net := readings[key{s, "CFEC-GROSS"}].Sub(readings[key{s, "CFEC-AUX"}])
		if !sellerOut[s].Equal(net) {
			t.Fatalf("%s: plant gave %s MWh net, meters say %s", s, sellerOut[s], net)
		}
		for party, meter := range meterOf {
			if got, want := received[key{s, party}], readings[key{s, meter}]; !got.Equal(want) {
				t.Fatalf("%s: %s received %s MWh (delivered + imported), its meter read %s", s, party, got, want)
			}
		}
	}
}

// checkInvoices settles the period and compares every statement with the
// ledger, and checks the files are the same bytes when written twice.
func (pl *pipeline) checkInvoices(t *testing.T) {
	sts, err := settle(pl.ctx, pl.p, pl.store, pl.period, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 3 {
		t.Fatalf("%d statements, want 3", len(sts))
	}
	for _, st := range sts {
		var mwhText, usdText string
		err := pl.store.Pool().QueryRow(pl.ctx, `
			SELECT coalesce(sum(amount) FILTER (WHERE leg = 'delivery'), 0)::text,
			       round(coalesce(sum(amount) FILTER (WHERE leg = 'delivery_payment'), 0), 2)::text
			  FROM transfers WHERE contract_id = $1 AND period = $2`, st.Contract.ID, pl.period.String()).Scan(&mwhText, &usdText)
		if err != nil {
			t.Fatal(err)
		}
		if !st.EnergyMWh.Equal(decimal.RequireFromString(mwhText)) || !st.TotalUSD.Equal(decimal.RequireFromString(usdText)) {
			t.Fatalf("%s: statement %s MWh $%s, ledger %s MWh $%s", st.Contract.ID, st.EnergyMWh, st.TotalUSD, mwhText, usdText)
		}
		if st.TotalUSD.IsZero() {
			t.Fatalf("%s: empty statement", st.Contract.ID)
		}
	}
	dir1, dir2 := t.TempDir(), t.TempDir()
	for _, dir := range []string{dir1, dir2} {
		if _, err := files.Write(dir, sts); err != nil {
			t.Fatal(err)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir1, "2028-03", "*", "*"))
	if len(matches) != 21 { // per buyer: pdf, csv, intervals csv, json, xml, emissions annex and MANIFEST.sha256
		t.Fatalf("%d invoice files, want 21: %v", len(matches), matches)
	}
	for _, f := range matches {
		rel, _ := filepath.Rel(dir1, f)
		a, _ := os.ReadFile(f)
		b, _ := os.ReadFile(filepath.Join(dir2, rel))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs between two writes", rel)
		}
		// A counterparty's folder holds nothing about another counterparty.
		folder := filepath.Base(filepath.Dir(f))
		for _, other := range []string{"northwind", "helios", "cedar"} {
			if other != folder && bytes.Contains(bytes.ToLower(a), []byte(other)) {
				t.Fatalf("%s mentions %s", rel, other)
			}
		}
	}
}
