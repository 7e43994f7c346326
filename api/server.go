// Package api is offtake's HTTP server: a versioned JSON API of positions,
// contracts and invoices under /api/v1, a Server-Sent Events stream of
// position changes, the embedded web dashboard, /metrics for Prometheus and
// /healthz and /readyz. Every /api request carries a token (see Tokens);
// what it may read depends on the token's role.
//
// The engine tells the server what it booked through Publish, called once a
// batch is committed: the chart's points and the positions (positions.Live:
// the results posted and added to the ledger totals, no database round trip)
// go out at once, then the positions are recomputed from the ledger so they
// always reconcile with it. The server also polls the ledger's latest batch
// id, so it follows engines running in other processes too.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/positions"
	"github.com/offtake/offtake/positions/pgsource"
	"github.com/offtake/offtake/settlement"
	settlepg "github.com/offtake/offtake/settlement/pgsource"
)

// Config tunes a Server.
type Config struct {
	// Tokens are the API tokens. Without any, every /api and /metrics
	// request is refused (401): there is no anonymous access.
	Tokens *Tokens
	// Window is how much event time the live chart keeps per site
	// (default 48 hours).
	Window time.Duration
	// PollEvery is how often the server looks for batches other processes
	// booked (default 1 s; negative: never, rely on Publish alone).
	PollEvery time.Duration
	// ReconcileEvery is the least time between two recomputations of the
	// positions from the ledger while Publish keeps them current from the
	// engine's results (default 5 s): the ledger's own figures replace the
	// live ones at least this often, and reading a month of transfers does
	// not compete with every batch the engine commits.
	ReconcileEvery time.Duration
	// WaitForEngine makes /readyz fail until SetReady(true): set it when
	// an engine runs in the process.
	WaitForEngine bool
	FuelIndex     string          // the gas index fuel is costed at (default HENRY_HUB)
	Curve         positions.Curve // forward prices from a curve file, over the ledger's FWD prices
	Log           *slog.Logger
}

// Deps are what the server reads.
type Deps struct {
	Portfolio *contracts.Portfolio
	Pool      *pgxpool.Pool // the ledger (read only)
	// Metrics, when set, are the collectors to serve (the stream
	// increments them); nil: the server makes its own.
	Metrics *Metrics
}

// Server serves the API, the event stream and the dashboard.
type Server struct {
	cfg     Config
	p       *contracts.Portfolio
	src     *pgsource.Source
	settle  *settlepg.Source
	metrics *Metrics
	series  *positions.Series
	hub     *hub
	log     *slog.Logger
	handler http.Handler

	refresh chan struct{} // cap 1: a pending refresh of the live positions

	tracker atomic.Pointer[positions.Live] // the live period's inputs, kept current by Publish between reloads

	mu      sync.Mutex
	live    *positions.Report // the latest period's positions, as last computed
	period  contracts.Period
	version int64 // the ledger batch the live positions were computed at
	ledger  error // the last refresh's error, for /readyz

	pastMu sync.Mutex // serializes reads of other periods, so 100 clients cost one query
	past   map[string]pastReport

	cacheMu  sync.Mutex
	cacheFor *positions.Report
	cache    map[string][]byte // encoded positions by scope, for cacheFor

	published    atomic.Bool // Publish was called since the last poll
	dirty        atomic.Bool // Publish added results the pushed positions do not show yet
	engineReady  atomic.Bool
	engineReason atomic.Value // string
}

// New makes a server. Run (or Serve) starts its background work.
func New(cfg Config, deps Deps) *Server {
	if cfg.Window <= 0 {
		cfg.Window = 48 * time.Hour
	}
	if cfg.PollEvery == 0 {
		cfg.PollEvery = time.Second
	}
	if cfg.ReconcileEvery == 0 {
		cfg.ReconcileEvery = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, p: deps.Portfolio, metrics: deps.Metrics, log: cfg.Log,
		src:     pgsource.New(deps.Pool, deps.Portfolio, pgsource.Options{FuelIndex: cfg.FuelIndex, Curve: cfg.Curve}),
		settle:  settlepg.New(deps.Pool, deps.Portfolio),
		series:  positions.NewSeries(cfg.Window),
		hub:     newHub(),
		refresh: make(chan struct{}, 1),
		past:    map[string]pastReport{},
		ledger:  errors.New("starting: the positions are not computed yet"),
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.engineReady.Store(!cfg.WaitForEngine)
	s.engineReason.Store("the engine has not started")
	s.handler = s.routes()
	return s
}

// Metrics are the collectors the server serves on /metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// SetReady sets the engine's readiness for /readyz (with WaitForEngine):
// false with a reason while it catches up or after it failed.
func (s *Server) SetReady(ready bool, reason string) {
	s.engineReady.Store(ready)
	s.engineReason.Store(reason)
}

// Publish is the engine's hook: call it with the results of each batch once
// the batch is committed. It does not block on clients or the database: the
// chart's points go out at once and the positions are recomputed by Run.
func (s *Server) Publish(results []matching.Result) {
	if len(results) == 0 {
		return
	}
	points := make([]positions.Point, len(results))
	for i := range results {
		points[i] = positions.PointOf(&results[i])
	}
	s.series.Add(points...)
	s.hub.send("intervals", func(id Identity) any {
		out := s.scopePoints(points, id)
		if len(out) == 0 {
			return nil
		}
		return map[string]any{"points": out}
	})
	s.published.Store(true)
	if t := s.tracker.Load(); t != nil && t.Add(results) {
		s.dirty.Store(true)
	}
	s.kick()
}

// kick asks Run for a refresh of the live positions (coalescing requests).
func (s *Server) kick() {
	select {
	case s.refresh <- struct{}{}:
	default:
	}
}

// Serve listens on addr and serves until ctx is done, then shuts down
// (closing the event streams) within five seconds.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		cancel()
		<-done
		return err
	case <-ctx.Done():
	}
	shut, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	err := hs.Shutdown(shut)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Run keeps the live positions and the chart current until ctx is done:
// it recomputes them when Publish asks and when the ledger's latest batch
// changes (checked every PollEvery).
func (s *Server) Run(ctx context.Context) {
	s.reload(ctx, true)
	last := time.Now()
	var tick, timerC <-chan time.Time
	if s.cfg.PollEvery > 0 {
		t := time.NewTicker(s.cfg.PollEvery)
		defer t.Stop()
		tick = t.C
	}
	var timer *time.Timer
	reconcile := func(points bool) {
		s.reload(ctx, points)
		last = time.Now()
		if timer != nil {
			timer.Stop()
		}
		timerC = nil
	}
	for {
		select {
		case <-ctx.Done():
			s.hub.closeAll()
			return
		case <-s.refresh:
			if t := s.tracker.Load(); t != nil && s.dirty.Swap(false) {
				// The positions from the results just booked, with no
				// database round trip; the ledger's own figures follow
				// within ReconcileEvery.
				s.pastMu.Lock()
				rep := t.Report()
				s.mu.Lock()
				s.live = rep
				s.mu.Unlock()
				s.pastMu.Unlock()
				s.hub.positions(rep)
				if wait := s.cfg.ReconcileEvery - time.Since(last); wait > 0 {
					if timerC == nil {
						timer = time.NewTimer(wait)
						timerC = timer.C
					}
					continue
				}
			}
			reconcile(false)
		case <-timerC:
			reconcile(false)
		case <-tick:
			if s.published.Swap(false) || timerC != nil {
				continue // this process's engine booked: Publish covered it
			}
			v, err := s.src.Version(ctx)
			if err != nil {
				s.setLedgerErr(err)
				continue
			}
			s.mu.Lock()
			changed := v != s.version || s.ledger != nil
			s.mu.Unlock()
			if changed {
				reconcile(true) // another process booked: its points are only in the ledger
			}
		}
	}
}

func (s *Server) setLedgerErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.ledger == nil {
		s.log.Warn("positions: ledger unreachable", "err", err)
	}
	s.ledger = err
}

// reload recomputes the live positions (and, with points, the chart from
// the ledger) and pushes them to the event stream.
func (s *Server) reload(ctx context.Context, points bool) {
	began := time.Now()
	v, err := s.src.Version(ctx)
	if err != nil {
		s.setLedgerErr(err)
		return
	}
	period, ok, err := s.src.LatestPeriod(ctx)
	if err != nil {
		s.setLedgerErr(err)
		return
	}
	if !ok { // nothing booked yet: an empty report, not a query per request
		s.mu.Lock()
		s.version, s.ledger = v, nil
		s.live = &positions.Report{Sites: []positions.Site{}, Contracts: []positions.Contract{}}
		s.mu.Unlock()
		return
	}
	in, err := s.src.Inputs(ctx, period)
	if err != nil {
		s.setLedgerErr(err)
		return
	}
	rep := positions.Build(s.p, period, in)
	if t := s.tracker.Load(); t != nil {
		t.Reset(period, in)
	} else {
		s.tracker.Store(positions.NewLive(s.p, period, in))
	}
	if points {
		for _, site := range s.p.Sites {
			end, ok, err := s.src.LatestInterval(ctx, site.ID)
			if err != nil || !ok {
				continue
			}
			pts, err := s.src.Series(ctx, site.ID, end.Add(-s.series.Window()))
			if err == nil {
				s.series.Add(pts...)
			}
		}
	}
	s.mu.Lock()
	s.live, s.period, s.version, s.ledger = rep, period, v, nil
	s.mu.Unlock()
	s.metrics.refreshes.Inc()
	s.metrics.refreshSec.Observe(time.Since(began).Seconds())
	s.hub.positions(rep)
}

// current is the live report and its period (nil before the first refresh).
func (s *Server) current() (*positions.Report, contracts.Period, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, s.period, s.version
}

// report is the positions of a period: the live report when it is the live
// period, else computed from the ledger.
func (s *Server) report(ctx context.Context, period *contracts.Period) (*positions.Report, error) {
	if s.dirty.Load() {
		s.catchUp() // a batch Publish added that Run has not pushed yet: answer with it
	}
	live, lp, version := s.current()
	if live != nil && live.Period == "" {
		live = nil // nothing was booked at the last refresh: look again
	}
	if live != nil && (period == nil || *period == lp) {
		return live, nil
	}
	// Another period, or before the first refresh: from the ledger, one
	// query at a time and once per ledger batch, so a hundred clients
	// asking at once cost one query.
	s.pastMu.Lock()
	defer s.pastMu.Unlock()
	if live == nil {
		v, err := s.src.Version(ctx)
		if err != nil {
			return nil, err
		}
		version = v
		if period == nil {
			p, ok, err := s.src.LatestPeriod(ctx)
			if err != nil {
				return nil, err
			}
			if !ok {
				return &positions.Report{Sites: []positions.Site{}, Contracts: []positions.Contract{}}, nil
			}
			period = &p
		}
	}
	key := period.String()
	if c, ok := s.past[key]; ok && c.version == version {
		return c.rep, nil
	}
	rep, err := s.src.Report(ctx, *period)
	if err != nil {
		return nil, err
	}
	if len(s.past) >= maxPastPeriods {
		clear(s.past)
	}
	s.past[key] = pastReport{version, rep}
	return rep, nil
}

// catchUp builds the live positions from what Publish added, pushes them,
// and lets Run reconcile with the ledger: a request right after Publish
// sees what was just booked.
func (s *Server) catchUp() {
	t := s.tracker.Load()
	if t == nil {
		return
	}
	s.pastMu.Lock()
	defer s.pastMu.Unlock()
	if !s.dirty.Swap(false) {
		return // another request or Run did it
	}
	rep := t.Report()
	s.mu.Lock()
	s.live = rep
	s.mu.Unlock()
	s.hub.positions(rep)
	s.kick()
}

// maxPastPeriods bounds the cache of other periods' reports.
const maxPastPeriods = 24

type pastReport struct {
	version int64
	rep     *positions.Report
}

// statements previews (or reproduces, once finalized) the period's
// statements.
func (s *Server) statements(ctx context.Context, period contracts.Period) ([]settlement.Statement, error) {
	sts, err := settlement.Settle(ctx, s.p, period, s.settle, nil)
	if err != nil {
		return nil, err
	}
	numbers, err := s.settle.InvoiceNumbers(ctx, period)
	if err != nil {
		return nil, err
	}
	return settlement.Number(sts, numbers), nil
}
