package api_test

import (
	"context"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkPositionsUnderIngest measures the positions API while the engine
// ingests as fast as it can: the latency of GET /api/v1/positions (p50,
// p99) with 100 concurrent clients, and the ingestion throughput with those
// clients against the same ingestion without them, in one run
// (clients-cost = 1 − with/without; the target is < 10%).
//
//	go test -run '^$' -bench PositionsUnderIngest -benchtime 1x ./api
func BenchmarkPositionsUnderIngest(b *testing.B) {
	const clients, days, stepReadings = 100, 3, 2000
	ingest := func(f *fixture) time.Duration {
		ctx := context.Background()
		began := time.Now()
		for f.eng.Fed() < f.eng.Readings() {
			if _, err := f.eng.Step(ctx, stepReadings); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(began)
	}
	for range b.N {
		b.StopTimer()
		alone := newFixtureDays(b, days)
		withClients := newFixtureDays(b, days)
		readings := float64(alone.eng.Readings())
		b.StartTimer()

		without := ingest(alone)

		stop := make(chan struct{})
		var mu sync.Mutex
		var latencies []time.Duration
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest(http.MethodGet, withClients.http.URL+"/api/v1/positions", nil)
					req.Header.Set("Authorization", "Bearer "+traderToken)
					began := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					latencies = append(latencies, time.Since(began))
					mu.Unlock()
				}
			}()
		}
		with := ingest(withClients)
		close(stop)
		wg.Wait()

		sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
		q := func(p float64) float64 {
			if len(latencies) == 0 {
				return 0
			}
			return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
		}
		b.ReportMetric(q(0.50), "p50-ms")
		b.ReportMetric(q(0.99), "p99-ms")
		b.ReportMetric(float64(len(latencies)), "requests")
		b.ReportMetric(readings/without.Seconds(), "readings/s-alone")
		b.ReportMetric(readings/with.Seconds(), "readings/s-with-clients")
		b.ReportMetric(1-without.Seconds()/with.Seconds(), "clients-cost")
	}
}
