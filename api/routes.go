package api

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/positions"
	"github.com/offtake/offtake/settlement"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shopspring/decimal"
)

//go:embed web
var webFiles embed.FS

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) { writeJSON(w, code, apiError{msg}) }

// statusRecorder keeps the status code for the metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// handlerFunc is a handler that knows who is asking.
type handlerFunc func(w http.ResponseWriter, r *http.Request, id Identity)

// guard authenticates the request and checks its role against roles:
// 401 without a valid token, 403 for a role not allowed here.
func (s *Server) guard(route string, h handlerFunc, roles ...Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
			if route != "events" {
				s.metrics.latency.WithLabelValues(route).Observe(time.Since(began).Seconds())
			}
		}()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rec.Header().Set("Allow", "GET, HEAD")
			fail(rec, http.StatusMethodNotAllowed, "the API is read only: use GET")
			return
		}
		id, ok := s.cfg.Tokens.lookup(tokenOf(r))
		if !ok {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="offtake"`)
			fail(rec, http.StatusUnauthorized, "a valid API token is required: Authorization: Bearer TOKEN")
			return
		}
		for _, role := range roles {
			if id.Role == role {
				h(rec, r, id)
				return
			}
		}
		fail(rec, http.StatusForbidden, "the "+string(id.Role)+" role may not read "+route)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	all := []Role{Trader, Counterparty, Operator}
	business := []Role{Trader, Counterparty}
	ops := []Role{Trader, Operator}

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	metrics := promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
	mux.HandleFunc("/metrics", s.guard("metrics", func(w http.ResponseWriter, r *http.Request, _ Identity) { metrics.ServeHTTP(w, r) }, ops...))

	mux.HandleFunc("/api/v1/me", s.guard("me", func(w http.ResponseWriter, _ *http.Request, id Identity) { writeJSON(w, http.StatusOK, id) }, all...))
	mux.HandleFunc("/api/v1/status", s.guard("status", s.status, ops...))
	mux.HandleFunc("/api/v1/positions", s.guard("positions", s.positions, business...))
	mux.HandleFunc("/api/v1/sites", s.guard("sites", s.sites, business...))
	mux.HandleFunc("/api/v1/sites/{site}/series", s.guard("series", s.seriesOf, business...))
	mux.HandleFunc("/api/v1/contracts", s.guard("contracts", s.contracts, business...))
	mux.HandleFunc("/api/v1/contracts/{contract}", s.guard("contract", s.contract, business...))
	mux.HandleFunc("/api/v1/invoices", s.guard("invoices", s.invoices, business...))
	mux.HandleFunc("/api/v1/events", s.guard("events", s.events, business...))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "no such endpoint: see GET /api/v1/… in the README")
	})

	web, _ := fs.Sub(webFiles, "web")
	static := http.FileServerFS(web)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// The dashboard's files hold no data; the data needs a token.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		static.ServeHTTP(w, r)
	})
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	var reasons []string
	if !s.engineReady.Load() {
		reasons = append(reasons, "engine: "+s.engineReason.Load().(string))
	}
	s.mu.Lock()
	if s.ledger != nil {
		reasons = append(reasons, "ledger: "+s.ledger.Error())
	}
	s.mu.Unlock()
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reasons": reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// status is what an operator checks: readiness, the live period, how far
// each site is booked, the ledger batch and the stream's clients.
func (s *Server) status(w http.ResponseWriter, _ *http.Request, _ Identity) {
	rep, period, version := s.current()
	type siteStatus struct {
		ID              string     `json:"id"`
		AsOf            *time.Time `json:"as_of,omitempty"`
		IntervalsBooked int        `json:"intervals_booked"`
	}
	out := struct {
		Ready         bool         `json:"engine_ready"`
		Period        string       `json:"period,omitempty"`
		LedgerBatch   int64        `json:"ledger_batch"`
		EventClients  int          `json:"event_clients"`
		Sites         []siteStatus `json:"sites"`
		WindowHours   int          `json:"chart_window_hours"`
		TokensEnabled int          `json:"tokens"`
	}{Ready: s.engineReady.Load(), LedgerBatch: version, EventClients: s.hub.count(), Sites: []siteStatus{},
		WindowHours: int(s.series.Window() / time.Hour), TokensEnabled: s.cfg.Tokens.Len()}
	if rep != nil {
		out.Period = period.String()
		for _, st := range rep.Sites {
			out.Sites = append(out.Sites, siteStatus{st.ID, st.AsOf, st.IntervalsBooked})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// periodParam reads ?period=YYYY-MM (nil: the live period).
func periodParam(w http.ResponseWriter, r *http.Request) (*contracts.Period, bool) {
	v := r.URL.Query().Get("period")
	if v == "" {
		return nil, true
	}
	p, err := contracts.ParsePeriod(v)
	if err != nil {
		fail(w, http.StatusBadRequest, "period: "+err.Error())
		return nil, false
	}
	return &p, true
}

// owns reports whether a counterparty is a party to the contract.
func owns(id Identity, c *contracts.Contract) bool {
	return id.Role == Trader || c.Buyer == id.Party || c.Seller == id.Party
}

// siteVisible reports whether id may see anything of the site.
func (s *Server) siteVisible(id Identity, site *contracts.Site) bool {
	if id.Role == Trader || site.Owner == id.Party {
		return true
	}
	for _, m := range site.MetersOfKind(contracts.MeterLoad) {
		if m.Party == id.Party {
			return true
		}
	}
	for _, c := range s.p.ContractsAt(site.ID) {
		if owns(id, c) {
			return true
		}
	}
	return false
}

func (s *Server) positions(w http.ResponseWriter, r *http.Request, id Identity) {
	period, ok := periodParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	site, contract := q.Get("site"), q.Get("contract")
	if contract != "" {
		c, ok := s.p.Contract(contract)
		if !ok && id.Role == Trader {
			fail(w, http.StatusNotFound, "no contract "+strconv.Quote(contract))
			return
		}
		if !ok || !owns(id, c) {
			fail(w, http.StatusForbidden, "contract "+strconv.Quote(contract)+" is not one of yours")
			return
		}
	}
	if site != "" {
		st, ok := s.p.Site(site)
		if !ok && id.Role == Trader {
			fail(w, http.StatusNotFound, "no site "+strconv.Quote(site))
			return
		}
		if !ok || !s.siteVisible(id, st) {
			fail(w, http.StatusForbidden, "site "+strconv.Quote(site)+" is not one of yours")
			return
		}
	}
	rep, err := s.report(r.Context(), period)
	if err != nil {
		s.log.Error("positions", "err", err)
		fail(w, http.StatusServiceUnavailable, "the ledger cannot be read just now")
		return
	}
	if site == "" && contract == "" {
		// The common request, from every client after every change: the
		// body is encoded once per report and scope, not once per client.
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(s.encoded(rep, id))
		return
	}
	writeJSON(w, http.StatusOK, scopeReport(rep, id).Only(site, contract))
}

// encoded is the JSON of what id may see of rep, cached for the latest
// report (a new report drops the cache).
func (s *Server) encoded(rep *positions.Report, id Identity) []byte {
	key := string(id.Role) + ":" + id.Party
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.cacheFor != rep {
		s.cacheFor, s.cache = rep, map[string][]byte{}
	}
	if b, ok := s.cache[key]; ok {
		return b
	}
	b, _ := json.MarshalIndent(scopeReport(rep, id), "", "  ")
	b = append(b, '\n')
	if len(s.cache) < maxCachedScopes {
		s.cache[key] = b
	}
	return b
}

// maxCachedScopes bounds the encoded-report cache (one entry per role and
// counterparty).
const maxCachedScopes = 1024

func (s *Server) contract(w http.ResponseWriter, r *http.Request, id Identity) {
	name := r.PathValue("contract")
	c, ok := s.p.Contract(name)
	if !ok && id.Role == Trader {
		fail(w, http.StatusNotFound, "no contract "+strconv.Quote(name))
		return
	}
	if !ok || !owns(id, c) {
		fail(w, http.StatusForbidden, "contract "+strconv.Quote(name)+" is not one of yours")
		return
	}
	period, ok := periodParam(w, r)
	if !ok {
		return
	}
	rep, err := s.report(r.Context(), period)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "the ledger cannot be read just now")
		return
	}
	cp, found := rep.Contract(name)
	out := struct {
		Period   string              `json:"period"`
		Contract contractInfo        `json:"contract"`
		Position *positions.Contract `json:"position,omitempty"`
	}{Period: rep.Period, Contract: info(s.p, c)}
	if found {
		out.Position = cp
	}
	writeJSON(w, http.StatusOK, out)
}

// contractInfo is a contract's terms for the API.
type contractInfo struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Site     string `json:"site"`
	Seller   string `json:"seller"`
	Buyer    string `json:"buyer"`
	Meter    string `json:"meter,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Start    string `json:"start"`
	End      string `json:"end"`
	Versions int    `json:"versions"`
	Volume   string `json:"volume"`
	Price    string `json:"price"`
}

func info(_ *contracts.Portfolio, c *contracts.Contract) contractInfo {
	return contractInfo{c.ID, string(c.Kind), c.Site, c.Seller, c.Buyer, c.Meter, c.Priority, c.Start.String(), c.End.String(),
		len(c.Versions()), c.VolumeText(), c.PriceText()}
}

func (s *Server) contracts(w http.ResponseWriter, _ *http.Request, id Identity) {
	out := []contractInfo{}
	for i := range s.p.Contracts {
		if c := &s.p.Contracts[i]; owns(id, c) {
			out = append(out, info(s.p, c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"contracts": out})
}

func (s *Server) sites(w http.ResponseWriter, _ *http.Request, id Identity) {
	type siteInfo struct {
		ID              string          `json:"id"`
		Name            string          `json:"name"`
		Market          string          `json:"market"`
		TimeZone        string          `json:"time_zone"`
		IntervalMinutes int             `json:"interval_minutes"`
		CapacityMW      decimal.Decimal `json:"capacity_mw"`
		Loads           []string        `json:"loads"` // the parties with a load at the site (only yours, for a counterparty)
	}
	out := []siteInfo{}
	for i := range s.p.Sites {
		st := &s.p.Sites[i]
		if !s.siteVisible(id, st) {
			continue
		}
		si := siteInfo{ID: st.ID, Name: st.Name, Market: st.Market, TimeZone: st.TimeZone, IntervalMinutes: st.IntervalMinutes, Loads: []string{}}
		if id.Role == Trader || st.Owner == id.Party {
			si.CapacityMW = st.CapacityMW
		}
		for _, m := range st.MetersOfKind(contracts.MeterLoad) {
			if id.Role == Trader || m.Party == id.Party || st.Owner == id.Party {
				si.Loads = append(si.Loads, m.Party)
			}
		}
		out = append(out, si)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sites": out})
}

func (s *Server) seriesOf(w http.ResponseWriter, r *http.Request, id Identity) {
	name := r.PathValue("site")
	st, ok := s.p.Site(name)
	if !ok && id.Role == Trader {
		fail(w, http.StatusNotFound, "no site "+strconv.Quote(name))
		return
	}
	if !ok || !s.siteVisible(id, st) {
		fail(w, http.StatusForbidden, "site "+strconv.Quote(name)+" is not one of yours")
		return
	}
	pts := s.scopePoints(s.series.Site(name), id)
	if pts == nil {
		pts = []positions.Point{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"site": name, "window_hours": int(s.series.Window() / time.Hour), "points": pts})
}

// invoiceView is a statement for the API.
type invoiceView struct {
	InvoiceID string            `json:"invoice_id"`
	Final     bool              `json:"final"`
	Period    string            `json:"period"`
	Contract  string            `json:"contract"`
	Seller    string            `json:"seller"`
	Buyer     string            `json:"buyer"`
	IssueDate string            `json:"issue_date"`
	DueDate   string            `json:"due_date"`
	EnergyMWh decimal.Decimal   `json:"energy_mwh"`
	NetUSD    decimal.Decimal   `json:"net_usd"`
	TaxUSD    decimal.Decimal   `json:"tax_usd"`
	TotalUSD  decimal.Decimal   `json:"total_usd"`
	Lines     []settlement.Line `json:"lines"`
}

func (s *Server) invoices(w http.ResponseWriter, r *http.Request, id Identity) {
	period, ok := periodParam(w, r)
	if !ok {
		return
	}
	if period == nil {
		_, lp, _ := s.current()
		if lp == (contracts.Period{}) {
			fail(w, http.StatusBadRequest, "nothing booked yet: give ?period=YYYY-MM")
			return
		}
		period = &lp
	}
	sts, err := s.statements(r.Context(), *period)
	if err != nil {
		s.log.Error("invoices", "err", err)
		fail(w, http.StatusServiceUnavailable, "the statements cannot be built just now")
		return
	}
	out := []invoiceView{}
	for _, st := range sts {
		if !owns(id, st.Contract) {
			continue
		}
		out = append(out, invoiceView{st.InvoiceID, st.Final, st.Period.String(), st.Contract.ID, st.Seller.ID, st.Buyer.ID,
			st.IssueDate.String(), st.DueDate.String(), st.EnergyMWh, st.NetUSD, st.TaxUSD, st.TotalUSD, st.Lines})
	}
	writeJSON(w, http.StatusOK, map[string]any{"period": period.String(), "invoices": out})
}
