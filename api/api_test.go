package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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
	"github.com/offtake/offtake/positions/pgsource"
	"github.com/offtake/offtake/positions/positionstest"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

const (
	traderToken    = "trader-token-0123456789"
	northwindToken = "northwind-token-0123456789"
	heliosToken    = "helios-token-0123456789"
	operatorToken  = "operator-token-0123456789"
)

var march = contracts.Period{Year: 2028, Month: time.March}

// fixture is a real engine booking into a real ledger, with the API server
// following it through Publish.
type fixture struct {
	t     testing.TB
	store *postgres.Store
	p     *contracts.Portfolio
	eng   *positionstest.Engine
	srv   *api.Server
	http  *httptest.Server
}

func newFixture(t testing.TB) *fixture {
	return newFixtureDays(t, 4)
}

// newFixtureDays is newFixture with days of readings ready to feed.
func newFixtureDays(t testing.TB, days int) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url := pgserver.NewTestDatabase(t)
	if _, err := migrations.Apply(ctx, url, nil); err != nil {
		t.Fatal(err)
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := api.ParseTokens("tokens", strings.NewReader(
		"# role party token name\n"+
			"trader "+traderToken+" desk\n"+
			"counterparty:northwind "+northwindToken+"\n"+
			"counterparty:helios "+heliosToken+"\n"+
			"operator "+operatorToken+" prometheus\n"), p)
	if err != nil {
		t.Fatal(err)
	}
	site := &p.Sites[0]
	eng, err := positionstest.New(ctx, store, p, site.ID, march, days, 11, positionstest.GasPrices(site, march, days, "HENRY_HUB", "2.95")...)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Config{Tokens: tokens, PollEvery: -1}, api.Deps{Portfolio: p, Pool: store.Pool()})
	eng.OnBatch = srv.Publish
	go srv.Run(ctx)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &fixture{t: t, store: store, p: p, eng: eng, srv: srv, http: hs}
}

// step books the next hours of readings.
func (f *fixture) step(hours int) {
	f.t.Helper()
	if _, err := f.eng.StepHours(context.Background(), hours); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(path, token string) (int, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.http.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// stream is an event-stream client.
type stream struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func (f *fixture) events(token string) *stream {
	f.t.Helper()
	resp, err := http.Get(f.http.URL + "/api/v1/events?access_token=" + token)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		f.t.Fatalf("events: %s", resp.Status)
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	return &stream{resp, sc}
}

// next reads the next event (blocking; the test binary's timeout guards it).
func (s *stream) next(t *testing.T) (string, []byte) {
	t.Helper()
	var name string
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			return name, []byte(strings.TrimPrefix(line, "data: "))
		}
	}
	t.Fatalf("event stream ended: %v", s.sc.Err())
	return "", nil
}

// until reads events until one named name satisfies ok.
func (s *stream) until(t *testing.T, name string, ok func([]byte) bool) []byte {
	t.Helper()
	for {
		n, data := s.next(t)
		if n == name && ok(data) {
			return data
		}
	}
}

func asOf(t *testing.T, data []byte) time.Time {
	var rep positions.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Sites) == 0 || rep.Sites[0].AsOf == nil {
		return time.Time{}
	}
	return *rep.Sites[0].AsOf
}

func TestAuthRolesAndStatusCodes(t *testing.T) {
	f := newFixture(t)
	f.step(6)
	endpoints := []string{"/api/v1/me", "/api/v1/status", "/api/v1/positions", "/api/v1/sites", "/api/v1/sites/coyote-flats/series",
		"/api/v1/contracts", "/api/v1/contracts/ppa-northwind", "/api/v1/invoices?period=2028-03", "/api/v1/events", "/metrics"}
	for _, ep := range endpoints {
		if code, _ := f.get(ep, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", ep, code)
		}
		if code, _ := f.get(ep, "not-a-token-at-all-0000"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", ep, code)
		}
	}
	forbidden := map[string][]string{
		operatorToken:  {"/api/v1/positions", "/api/v1/sites", "/api/v1/contracts", "/api/v1/invoices", "/api/v1/events", "/api/v1/sites/coyote-flats/series"},
		northwindToken: {"/metrics", "/api/v1/status", "/api/v1/contracts/ppa-helios", "/api/v1/positions?contract=ppa-cedar", "/api/v1/contracts/no-such-contract"},
	}
	for tok, eps := range forbidden {
		for _, ep := range eps {
			if code, body := f.get(ep, tok); code != http.StatusForbidden {
				t.Errorf("%s with %s: %d %s, want 403", ep, tok[:8], code, body)
			}
		}
	}
	allowed := map[string][]string{
		operatorToken:  {"/metrics", "/api/v1/status", "/api/v1/me"},
		traderToken:    endpoints[:len(endpoints)-2],
		northwindToken: {"/api/v1/positions", "/api/v1/contracts/ppa-northwind", "/api/v1/sites/coyote-flats/series", "/api/v1/invoices?period=2028-03"},
	}
	for tok, eps := range allowed {
		for _, ep := range eps {
			if code, body := f.get(ep, tok); code != http.StatusOK {
				t.Errorf("%s with %s: %d %s, want 200", ep, tok[:8], code, body)
			}
		}
	}
	if code, _ := f.get("/api/v1/contracts/no-such", traderToken); code != http.StatusNotFound {
		t.Errorf("unknown contract for a trader: %d, want 404", code)
	}
	if code, _ := f.get("/api/v1/positions?period=2028-13", traderToken); code != http.StatusBadRequest {
		t.Errorf("bad period: %d, want 400", code)
	}
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/api/v1/positions", nil)
	req.Header.Set("Authorization", "Bearer "+traderToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
	for _, ep := range []string{"/healthz", "/readyz", "/", "/app.js", "/style.css"} {
		if code, _ := f.get(ep, ""); code != http.StatusOK {
			t.Errorf("%s: %d, want 200 without a token", ep, code)
		}
	}
	_, metrics := f.get("/metrics", operatorToken)
	for _, name := range []string{"offtake_readings_total", "offtake_intervals_closed_total", "offtake_transfers_total",
		"offtake_batch_commit_seconds", "offtake_http_requests_total", "offtake_positions_refreshes_total"} {
		if !strings.Contains(string(metrics), name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

func TestReadiness(t *testing.T) {
	f := newFixture(t)
	srv := api.New(api.Config{Tokens: nil, PollEvery: -1, WaitForEngine: true}, api.Deps{Portfolio: f.p, Pool: f.store.Pool()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	get := func() (int, string) {
		resp, err := http.Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "engine") {
		t.Fatalf("before start: %d %s", code, body)
	}
	srv.SetReady(true, "")
	go srv.Run(ctx)
	// Run's first reload clears the ledger reason: poll (by count, not time) until it has.
	for i := 0; ; i++ {
		code, body := get()
		if code == http.StatusOK {
			break
		}
		if i > 100000 {
			t.Fatalf("never ready: %s", body)
		}
		time.Sleep(time.Millisecond)
	}
	srv.SetReady(false, "catching up: 1200 messages behind")
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "catching up") {
		t.Fatalf("after SetReady(false): %d %s", code, body)
	}
	if code, _ := f.get("/api/v1/positions", traderToken); code != http.StatusOK {
		t.Fatalf("the fixture's server: %d", code)
	}
}

// The event stream pushes positions that change when the engine books, and
// they equal what the ledger says.
func TestEventStreamFollowsTheEngine(t *testing.T) {
	f := newFixture(t)
	f.step(12)
	ev := f.events(traderToken)
	first := asOf(t, ev.until(t, "positions", func(b []byte) bool { return true }))
	f.step(6)
	_ = ev.until(t, "intervals", func(b []byte) bool { return strings.Contains(string(b), `"points"`) })
	data := ev.until(t, "positions", func(b []byte) bool { return asOf(t, b).After(first) })
	got := asOf(t, data)
	if !got.Equal(first.Add(6*time.Hour)) && !first.IsZero() {
		t.Errorf("as of %s after 6 more hours, was %s", got, first)
	}
	want, err := pgsource.New(f.store.Pool(), f.p, pgsource.Options{}).Report(context.Background(), march)
	if err != nil {
		t.Fatal(err)
	}
	var rep positions.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	for _, c := range want.Contracts {
		g, ok := rep.Contract(c.ID)
		if !ok || !g.AmountUSD.Equal(c.AmountUSD) || !g.DeliveredMWh.Equal(c.DeliveredMWh) {
			t.Errorf("%s: streamed %+v, ledger %s MWh $%s", c.ID, g, c.DeliveredMWh, c.AmountUSD)
		}
	}
	// The chart holds the last 48 hours of event time at most.
	f.step(48)
	_, body := f.get("/api/v1/sites/coyote-flats/series", traderToken)
	var s struct{ Points []positions.Point }
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 192 {
		t.Errorf("%d chart points, want 192 (48 hours of 15 minutes)", len(s.Points))
	}
}

// A counterparty never sees another counterparty's data: not through any
// endpoint, not through the event stream.
func TestCounterpartyIsolation(t *testing.T) {
	f := newFixture(t)
	f.step(6)
	others := map[string][]string{
		northwindToken: {"helios", "cedar", "DC-HELIOS", "DC-CEDAR"},
		heliosToken:    {"northwind", "cedar", "DC-NORTHWIND", "DC-CEDAR"},
	}
	own := map[string]string{northwindToken: "ppa-northwind", heliosToken: "ppa-helios"}
	check := func(tok, where string, body []byte) {
		t.Helper()
		low := strings.ToLower(string(body))
		for _, o := range others[tok] {
			if strings.Contains(low, strings.ToLower(o)) {
				t.Errorf("%s sees %q through %s: %.300s", own[tok], o, where, body)
			}
		}
		for _, plant := range []string{"gross_mwh\": \"1", "export_usd\": \"1", "spark_spread"} {
			if strings.Contains(string(body), plant) {
				t.Errorf("%s sees the plant's %s through %s", own[tok], plant, where)
			}
		}
	}
	streams := map[string]*stream{}
	for tok := range others {
		streams[tok] = f.events(tok)
	}
	for tok, c := range own {
		for _, ep := range []string{"/api/v1/me", "/api/v1/positions", "/api/v1/positions?site=coyote-flats", "/api/v1/positions?contract=" + c,
			"/api/v1/positions?period=2028-03", "/api/v1/sites", "/api/v1/sites/coyote-flats/series", "/api/v1/contracts",
			"/api/v1/contracts/" + c, "/api/v1/invoices?period=2028-03"} {
			code, body := f.get(ep, tok)
			if code != http.StatusOK {
				t.Fatalf("%s %s: %d %s", c, ep, code, body)
			}
			check(tok, ep, body)
			if ep != "/api/v1/me" && !strings.Contains(string(body), strings.TrimPrefix(c, "ppa-")) {
				t.Errorf("%s: %s does not show its own data: %.200s", c, ep, body)
			}
		}
	}
	f.step(3)
	for tok, s := range streams {
		sawIntervals, sawPositions := false, false
		for !sawIntervals || !sawPositions {
			name, data := s.next(t)
			check(tok, "the event stream ("+name+")", data)
			switch name {
			case "intervals":
				sawIntervals = true
			case "positions":
				sawPositions = sawPositions || asOf(t, data).After(time.Date(2028, 3, 1, 12, 0, 0, 0, time.UTC))
			}
		}
	}
}

func TestTokenFiles(t *testing.T) {
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ text, want string }{
		{"trader short", "at least 16"},
		{"boss 0123456789abcdef", "unknown role"},
		{"counterparty 0123456789abcdef", "needs its party"},
		{"counterparty:nobody 0123456789abcdef", "not a party"},
		{"trader:northwind 0123456789abcdef", "takes no party"},
		{"trader 0123456789abcdef\noperator 0123456789abcdef", "given twice"},
	} {
		_, err := api.ParseTokens("tokens.txt", strings.NewReader(bad.text), p)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "tokens.txt:") {
			t.Errorf("%q: %v, want an error with file:line and %q", bad.text, err, bad.want)
		}
	}
	tok, err := api.ParseTokenList("trader=0123456789abcdef=desk, counterparty:cedar=fedcba9876543210", p)
	if err != nil || tok.Len() != 2 {
		t.Fatalf("%v %d", err, tok.Len())
	}
}
