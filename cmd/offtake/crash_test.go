package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/devbroker"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/migrations"
	"github.com/offtake/offtake/pgserver"
	"github.com/offtake/offtake/stream"
	"github.com/offtake/offtake/stream/streamtest"
	"github.com/segmentio/kafka-go"
)

// The stream's guarantees, tested end to end: real PostgreSQL, the
// in-process broker over TCP, and for crashes and rebalances the real
// offtake binary in separate processes.
//
// One month (March 2028, 2,972 intervals) of readings of several sites is
// published twice on one broker: in order and clean, and the way a feed
// delivers it — shuffled within windows shorter than the grace, with
// duplicates and a malformed message. The clean input booked by one
// uninterrupted engine is the reference ledger; every other way of booking
// the messy input must give exactly the same transfers, balances and
// intervals.
func TestStreamGuarantees(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a month of several sites")
	}
	f := newStreamFixture(t)

	t.Run("duplicates and out-of-order readings book what the clean readings book", func(t *testing.T) {
		url := f.database(t)
		stats := f.runInProcess(t, url, f.messy, "offtake")
		if stats.Duplicates+stats.Late == 0 || stats.DeadByReason["malformed"] != 1 {
			t.Fatalf("the messy input had %d duplicates, %d late, dead letters %v; want duplicates and one malformed message", stats.Duplicates, stats.Late, stats.DeadByReason)
		}
		f.assertSameLedger(t, url)
	})

	t.Run("killed with SIGKILL again and again, the ledger is the uninterrupted one", func(t *testing.T) {
		url := f.database(t)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		const kills = 12
		for k := range kills {
			// Kill at a random moment after the engine has booked a share of
			// the stream: mid-batch, mid-commit, mid-fetch, mid-rebuild.
			target := int64(float64(f.readingMsgs) * (float64(k) + rng.Float64()) / (kills + 2))
			p := f.start(t, url, "crash", fmt.Sprintf("life-%02d", k))
			f.waitProgress(t, url, "crash", target, p)
			time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			p.kill(t)
		}
		p := f.start(t, url, "crash", "last", "--until-caught-up")
		if err := p.wait(2 * time.Minute); err != nil {
			t.Fatalf("the last run after %d kills: %v\n%s", kills, err, p.output())
		}
		f.assertSameLedger(t, url)
	})

	t.Run("two engines in one group, one stopped and started mid-stream", func(t *testing.T) {
		url := f.database(t)
		a := f.start(t, url, "pair", "a")
		b := f.start(t, url, "pair", "b")
		f.waitProgress(t, url, "pair", f.readingMsgs/5, a, b)
		b.stop(t) // SIGTERM: books what it holds and exits 0
		if !strings.Contains(b.output(), "run: ") {
			t.Fatalf("b stopped without its summary:\n%s", b.output())
		}
		f.waitProgress(t, url, "pair", f.readingMsgs/3, a)
		b = f.start(t, url, "pair", "b-again")
		// Wait until the group has given b-again its share before waiting
		// for the end: with a fast ledger, a may finish the rest first.
		b.waitOutput(t, `partitions="[`+f.messy.Consumption+`/`)
		f.waitDone(t, url, "pair", a, b)
		a.stop(t)
		b.stop(t)
		for _, p := range []*engineProcess{a, b} {
			if !strings.Contains(p.output(), `partitions="[`+f.messy.Consumption+`/`) {
				t.Errorf("%s never had reading partitions assigned:\n%s", p.name, p.output())
			}
		}
		f.assertSameLedger(t, url)
	})
}

// streamFixture is the broker with both inputs on it, the contract file,
// the built binary and the reference ledger.
type streamFixture struct {
	ctx          context.Context
	p            *contracts.Portfolio
	contracts    string // path of the contract file
	bin          string // the offtake binary
	broker       *devbroker.Broker
	clean, messy stream.Topics
	readingMsgs  int64  // reading messages on the messy topics
	reference    string // the clean input's ledger, as text
}

const (
	fixtureSites      = 4
	fixturePartitions = 4
)

func newStreamFixture(t *testing.T) *streamFixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	dir := t.TempDir()
	f := &streamFixture{ctx: ctx, contracts: filepath.Join(dir, "sites.yaml"), bin: filepath.Join(dir, "offtake")}
	if err := os.WriteFile(f.contracts, streamtest.PortfolioYAML(fixtureSites), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.p, err = streamtest.Portfolio(fixtureSites); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(ctx, goTool(), "build", "-o", f.bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	f.clean = stream.Topics{Generation: "clean.generation", Consumption: "clean.consumption", Prices: "clean.prices", DeadLetter: "clean.deadletter"}
	f.messy = stream.Topics{Generation: "messy.generation", Consumption: "messy.consumption", Prices: "messy.prices", DeadLetter: "messy.deadletter"}
	topics := map[string]int{}
	for _, tp := range []stream.Topics{f.clean, f.messy} {
		for _, name := range tp.Inputs() {
			topics[name] = fixturePartitions
		}
		topics[tp.DeadLetter] = 1
	}
	if f.broker, err = devbroker.Start("127.0.0.1:0", topics); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.broker.Close)
	f.checkSitesSpread(t)

	period := contracts.Period{Year: 2028, Month: 3}
	f.publish(t, streamtest.Simulate(f.p, period, 11, 0, f.clean).All())
	in := streamtest.Simulate(f.p, period, 11, 0, f.messy)
	readings := streamtest.Disorder(in.Readings, fixtureSites, 3, 40, 5)
	bad := stream.Message{Topic: f.messy.Generation, Key: []byte(streamtest.SiteID(0)), Value: []byte(`{"site":`)}
	readings = append(readings[:len(readings)/2], append([]stream.Message{bad}, readings[len(readings)/2:]...)...)
	f.readingMsgs = int64(len(readings))
	f.publish(t, append(in.Prices, readings...))

	url := f.database(t)
	stats := f.runInProcess(t, url, f.clean, "offtake")
	if want := int64(fixtureSites * 2972); stats.IntervalsClosed != want || stats.Late+stats.Duplicates+stats.DeadLetters != 0 {
		t.Fatalf("reference run: %+v; want %d intervals closed and nothing late, duplicate or refused", stats, want)
	}
	f.reference = ledgerText(t, ctx, url)
	return f
}

// checkSitesSpread makes sure the sites land on partitions that two
// members of a group split between them, or the rebalance test would test
// nothing.
func (f *streamFixture) checkSitesSpread(t *testing.T) {
	t.Helper()
	used := map[int]bool{}
	var h kafka.Hash
	parts := make([]int, fixturePartitions)
	for i := range parts {
		parts[i] = i
	}
	for i := range fixtureSites {
		used[h.Balance(kafka.Message{Key: []byte(streamtest.SiteID(i))}, parts...)%2] = true
	}
	if len(used) != 2 {
		t.Fatalf("the %d sites all hash to even or all to odd partitions: the group's two members would not share them", fixtureSites)
	}
}

func (f *streamFixture) publish(t *testing.T, msgs []stream.Message) {
	t.Helper()
	pub := stream.NewPublisher(f.broker.Addrs())
	defer pub.Close()
	if err := pub.Publish(f.ctx, msgs); err != nil {
		t.Fatal(err)
	}
}

// database is a fresh database with the schema.
func (f *streamFixture) database(t *testing.T) string {
	t.Helper()
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(f.ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	return url
}

func (f *streamFixture) runInProcess(t *testing.T, url string, tp stream.Topics, group string) stream.Stats {
	t.Helper()
	store, err := postgres.Open(f.ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stats, err := stream.Run(f.ctx, stream.Config{Brokers: f.broker.Addrs(), Topics: tp, Consumer: group, UntilCaughtUp: true,
		SessionTimeout: time.Second, RebalanceTimeout: 2 * time.Second}, f.p, storeAdapter{store})
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func (f *streamFixture) assertSameLedger(t *testing.T, url string) {
	t.Helper()
	got := ledgerText(t, f.ctx, url)
	if got == f.reference {
		return
	}
	gl, rl := strings.Split(got, "\n"), strings.Split(f.reference, "\n")
	for i := 0; i < min(len(gl), len(rl)); i++ {
		if gl[i] != rl[i] {
			t.Fatalf("the ledger differs from the uninterrupted run's (%d lines against %d); first difference, line %d:\n got  %s\n want %s", len(gl), len(rl), i+1, gl[i], rl[i])
		}
	}
	t.Fatalf("the ledger has %d lines, the uninterrupted run's %d", len(gl), len(rl))
}

// ledgerText is what the ledger holds, as sorted text: every transfer with
// what it records (not the batch that wrote it, nor when), every balance,
// every interval booked.
func ledgerText(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var buf bytes.Buffer
	for _, q := range []string{
		`SELECT concat_ws('|', id, debit_account, credit_account, unit, amount, leg, site, interval_start, interval_end, period, revision,
			contract_id, contract_version, quantity_mwh, price_usd_per_mwh, price_node, price_market, price_start, price_carried, readings::text)
		   FROM transfers ORDER BY id`,
		`SELECT concat_ws('|', id, balance) FROM accounts ORDER BY id`,
		`SELECT concat_ws('|', site, interval_start, interval_end, revision, period, gross_mwh, net_mwh, export_mwh, import_mwh, estimated)
		   FROM intervals ORDER BY site, interval_start, revision`,
	} {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var line string
		if _, err := pgx.ForEachRow(rows, []any{&line}, func() error {
			buf.WriteString(line)
			buf.WriteByte('\n')
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// groupProgress is the sum of the stored offsets of the group's reading
// partitions: how many reading messages it has booked or passed.
func groupProgress(t *testing.T, ctx context.Context, url, group string, topics stream.Topics) int64 {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets WHERE consumer = $1 AND topic = ANY($2)`,
		group, []string{topics.Generation, topics.Consumption}).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitProgress waits until the group has booked target reading messages,
// failing if one of the processes exits first.
func (f *streamFixture) waitProgress(t *testing.T, url, group string, target int64, ps ...*engineProcess) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for groupProgress(t, f.ctx, url, group, f.messy) < target {
		for _, p := range ps {
			if p.exited() {
				t.Fatalf("%s exited before the group booked %d messages:\n%s", p.name, target, p.output())
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group booked %d of %d messages in 2 minutes", groupProgress(t, f.ctx, url, group, f.messy), target)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitDone waits until the group has read every reading message.
func (f *streamFixture) waitDone(t *testing.T, url, group string, ps ...*engineProcess) {
	t.Helper()
	f.waitProgress(t, url, group, f.readingMsgs, ps...)
}

// engineProcess is one `offtake run` in its own process.
type engineProcess struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	exit chan struct{} // closed when the process has exited
	err  error         // how it exited, once exit is closed
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs the binary on the messy topics in group group.
func (f *streamFixture) start(t *testing.T, url, group, name string, extra ...string) *engineProcess {
	t.Helper()
	args := append([]string{"run", "--brokers", f.broker.Addrs()[0], "--database-url", url, "--contracts", f.contracts,
		"--consumer", group, "--session-timeout", "500ms", "--rebalance-timeout", "3s", "--flush-intervals", "500",
		"--topic-generation", f.messy.Generation, "--topic-consumption", f.messy.Consumption,
		"--topic-prices", f.messy.Prices, "--topic-deadletter", f.messy.DeadLetter}, extra...)
	p := &engineProcess{name: name, cmd: exec.Command(f.bin, args...), out: &lockedBuffer{}, exit: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exit)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = p.cmd.Process.Kill()
			<-p.exit
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.output())
		}
	})
	return p
}

func (p *engineProcess) exited() bool {
	select {
	case <-p.exit:
		return true
	default:
		return false
	}
}

// waitOutput waits until the process has printed text.
func (p *engineProcess) waitOutput(t *testing.T, text string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.output(), text) {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("%s did not print %q:\n%s", p.name, text, p.output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// output is what the process has printed so far.
func (p *engineProcess) output() string { return p.out.String() }

// wait waits for the process to exit and returns how it exited.
func (p *engineProcess) wait(d time.Duration) error {
	select {
	case <-p.exit:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s still running after %s", p.name, d)
	}
}

func (p *engineProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	_ = p.wait(time.Minute)
}

// stop sends SIGTERM and expects exit code 0.
func (p *engineProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	if err := p.wait(time.Minute); err != nil {
		t.Fatalf("%s after SIGTERM: %v (want exit 0)\n%s", p.name, err, p.output())
	}
}

// goTool is the go command of the toolchain that built this test.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}
