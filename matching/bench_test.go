package matching_test

import (
	"testing"
	"time"

	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/shopspring/decimal"
)

// benchDays of readings: 5 meters × 96 intervals a day.
const benchDays = 7

var benchStart = time.Date(2028, 1, 10, 6, 0, 0, 0, time.UTC)

// benchReadings returns the readings of the Coyote Flats site (gross,
// station service and three loads) over benchDays, encoded with
// messages.EncodeReading as they arrive on Kafka, in interval order.
func benchReadings() (msgs [][]byte, intervals int) {
	meters := []string{"CFEC-GROSS", "CFEC-AUX", "DC-NORTHWIND", "DC-HELIOS", "DC-CEDAR"}
	for s := benchStart; s.Before(benchStart.Add(benchDays * 24 * time.Hour)); s = s.Add(15 * time.Minute) {
		i := int64(intervals)
		// kWh with decimals, varying so that caps bind in some intervals and
		// pro rata shares in others.
		energy := []int64{
			250_000_000 + (i*7_919_113)%60_000_000, // gross: 1,000–1,240 MW
			9_000_000 + (i*104_729)%2_000_000,      // station service
			95_000_000 + (i*3_571_111)%25_000_000,  // northwind
			70_000_000 + (i*2_750_159)%40_000_000,  // helios
			50_000_000 + (i*1_299_709)%35_000_000,  // cedar
		}
		for m, meter := range meters {
			msgs = append(msgs, messages.EncodeReading(matching.Reading{
				Site: "coyote-flats", Meter: meter, Start: s, End: s.Add(15 * time.Minute),
				Energy: matching.Wh(energy[m]), Quality: matching.Actual, Version: 1,
			}))
		}
		intervals++
	}
	return msgs, intervals
}

func BenchmarkDecode(b *testing.B) {
	msgs, _ := benchReadings()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := messages.DecodeReading(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}

// benchEngine is an engine for the site with every price of the bench days
// loaded: hourly real-time prices at the generator and the load node.
func benchEngine(b *testing.B) *matching.Engine {
	e, err := matching.New(matching.CoyoteFlats(), matching.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	for h := benchStart; h.Before(benchStart.Add(benchDays * 24 * time.Hour)); h = h.Add(time.Hour) {
		for _, node := range []string{"CFEC_CC1_RN", "LZ_WEST"} {
			usd := decimal.New(2500+int64(h.Hour())*125, -2)
			if _, err := e.AddPrice(matching.Price{Node: node, Market: "RT", Start: h, End: h.Add(time.Hour), USDPerMWh: usd}); err != nil {
				b.Fatal(err)
			}
		}
	}
	return e
}

// BenchmarkDecodeAndMatch decodes each reading and feeds it to the engine,
// which closes and allocates every interval as its fifth reading arrives.
// Each pass over the bench days starts a fresh engine (outside the timer).
func BenchmarkDecodeAndMatch(b *testing.B) {
	msgs, intervals := benchReadings()
	b.ReportAllocs()
	b.ResetTimer()
	var e *matching.Engine
	closed := 0
	var delivered matching.Wh
	for i := 0; i < b.N; i++ {
		j := i % len(msgs)
		if j == 0 {
			b.StopTimer()
			if e != nil && closed != intervals {
				b.Fatalf("%d intervals closed in a pass, want %d", closed, intervals)
			}
			e, closed = benchEngine(b), 0
			b.StartTimer()
		}
		r, err := messages.DecodeReading(msgs[j])
		if err != nil {
			b.Fatal(err)
		}
		_, res, err := e.AddReading(r)
		if err != nil {
			b.Fatal(err)
		}
		closed += len(res)
		for k := range res {
			delivered += res[k].Delivered()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "readings/s")
	if b.N >= len(msgs) && delivered <= 0 {
		b.Fatal("nothing delivered in a whole pass")
	}
}

// BenchmarkAllocate is the allocation of one interval alone.
func BenchmarkAllocate(b *testing.B) {
	loads := []matching.Wh{120_000_000, 110_000_000, 90_000_000}
	claims := []matching.Claim{{Priority: 1, Load: 0, CapWh: 112_500_000}, {Priority: 2, Load: 2, CapWh: 75_000_000}, {Priority: 2, Load: 1, CapWh: 100_000_000}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		a := matching.Allocate(260_000_000+matching.Wh(i%1000), 10_000_000, loads, claims)
		if a.Export < 0 {
			b.Fatal("negative export")
		}
	}
}

// BenchmarkMatchOverDecode measures both of the above in one run, a pass of
// each in turn, so that both see the same machine: on a shared machine the
// load moves more between two benchmark runs than matching costs. It reports
// the throughput of each and the ratio issue 3 sets a target for (decode and
// match at ≥ 50% of the readings/s of decode alone), by wall time and by the
// process's CPU time, which other processes' load does not inflate.
func BenchmarkMatchOverDecode(b *testing.B) {
	msgs, intervals := benchReadings()
	var decodeWall, matchWall, decodeCPU, matchCPU time.Duration
	timed := func(wall, cpu *time.Duration, pass func()) {
		w, c := time.Now(), processCPU()
		pass()
		*cpu += processCPU() - c
		*wall += time.Since(w)
	}
	decodePass := func() {
		for _, m := range msgs {
			if _, err := messages.DecodeReading(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	var e *matching.Engine
	matchPass := func() {
		closed := 0
		for _, m := range msgs {
			r, err := messages.DecodeReading(m)
			if err != nil {
				b.Fatal(err)
			}
			_, res, err := e.AddReading(r)
			if err != nil {
				b.Fatal(err)
			}
			closed += len(res)
		}
		if closed != intervals {
			b.Fatalf("%d intervals closed, want %d", closed, intervals)
		}
	}
	for i := 0; i < b.N; i++ {
		e = benchEngine(b)
		if i%2 == 0 {
			timed(&decodeWall, &decodeCPU, decodePass)
			timed(&matchWall, &matchCPU, matchPass)
		} else {
			timed(&matchWall, &matchCPU, matchPass)
			timed(&decodeWall, &decodeCPU, decodePass)
		}
	}
	readings := float64(b.N * len(msgs))
	b.ReportMetric(readings/decodeWall.Seconds(), "decode-readings/s")
	b.ReportMetric(readings/matchWall.Seconds(), "readings/s")
	b.ReportMetric(decodeWall.Seconds()/matchWall.Seconds(), "match/decode")
	b.ReportMetric(decodeCPU.Seconds()/matchCPU.Seconds(), "cpu-match/decode")
}
