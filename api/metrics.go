package api

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the Prometheus collectors /metrics serves. The engine's
// stream increments the offtake_* counters as it goes (see the README's
// "Positions and the API"); the server keeps its own http and SSE figures.
type Metrics struct {
	Registry *prometheus.Registry

	Readings        prometheus.Counter     // readings accepted by the engine (duplicates and late ones included)
	IntervalsClosed prometheus.Counter     // intervals allocated (revisions included)
	Transfers       prometheus.Counter     // transfers inserted into the ledger
	DeadLetters     *prometheus.CounterVec // by reason code (stream.ReasonCode)
	Lag             *prometheus.GaugeVec   // messages behind the partition's end, by topic and partition
	BatchSeconds    prometheus.Histogram   // time from a batch's first result to its commit

	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	sseClients prometheus.Gauge
	refreshes  prometheus.Counter
	refreshSec prometheus.Histogram
}

// NewMetrics makes the collectors in a fresh registry, with the Go runtime
// and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.Readings = prometheus.NewCounter(prometheus.CounterOpts{Name: "offtake_readings_total", Help: "Meter readings the engine has taken in."})
	m.IntervalsClosed = prometheus.NewCounter(prometheus.CounterOpts{Name: "offtake_intervals_closed_total", Help: "Intervals allocated by the engine, corrections (revisions) included."})
	m.Transfers = prometheus.NewCounter(prometheus.CounterOpts{Name: "offtake_transfers_total", Help: "Transfers inserted into the ledger (replays insert none)."})
	m.DeadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "offtake_dead_letters_total", Help: "Messages refused to the dead-letter topic, by reason code."}, []string{"reason"})
	m.Lag = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "offtake_consumer_lag_messages", Help: "Messages between the consumer's position and the partition's end."}, []string{"topic", "partition"})
	m.BatchSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "offtake_batch_commit_seconds", Help: "Time to book one ledger batch, from its first result to its commit.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "offtake_http_requests_total", Help: "HTTP requests served, by route and status code."}, []string{"route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "offtake_http_request_seconds", Help: "HTTP request latency by route (the event stream excluded).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"route"})
	m.sseClients = prometheus.NewGauge(prometheus.GaugeOpts{Name: "offtake_sse_clients", Help: "Clients connected to the event stream."})
	m.refreshes = prometheus.NewCounter(prometheus.CounterOpts{Name: "offtake_positions_refreshes_total", Help: "Times the live positions were recomputed from the ledger."})
	m.refreshSec = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "offtake_positions_refresh_seconds", Help: "Time to recompute the live positions from the ledger.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)})
	m.Registry.MustRegister(m.Readings, m.IntervalsClosed, m.Transfers, m.DeadLetters, m.Lag, m.BatchSeconds,
		m.requests, m.latency, m.sseClients, m.refreshes, m.refreshSec,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetLag records a partition's lag in messages.
func (m *Metrics) SetLag(topic string, partition int, messages int64) {
	m.Lag.WithLabelValues(topic, strconv.Itoa(partition)).Set(float64(messages))
}

// DeadLetter counts one dead letter of a reason code.
func (m *Metrics) DeadLetter(reason string) { m.DeadLetters.WithLabelValues(reason).Inc() }
