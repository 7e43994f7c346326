package matching_test

import (
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
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

// fullTerms is the bench site with its three contracts on the costlier
// terms: time-of-use with an escalator and NERC holidays, market-linked with
// floor, cap and a no-settlement negative-price rule, and gas-indexed.
func fullTerms() *contracts.Portfolio {
	p := matching.CoyoteFlats()
	wd, _ := contracts.ParseDays("weekdays")
	all, _ := contracts.ParseDays("all")
	peak, _ := contracts.ParseHours("7-22")
	day, _ := contracts.ParseHours("1-24")
	p.Calendars = []contracts.Calendar{{ID: "5x16", Holidays: "nerc", Bands: []contracts.Band{{Name: "peak", Days: wd, Hours: peak}, {Name: "off_peak", Days: all, Hours: day}}}}
	p.Calendars[0].Prepare()
	floor, cap := decimal.NewFromInt(20), decimal.NewFromInt(120)
	for i := range p.Contracts {
		c := &p.Contracts[i]
		switch c.ID {
		case "ppa-northwind":
			c.CalendarID, c.Calendar = "5x16", &p.Calendars[0]
			c.Price = contracts.Price{Kind: contracts.PriceTOU, Rates: map[string]decimal.Decimal{"peak": decimal.NewFromInt(68), "off_peak": decimal.RequireFromString("47.5")},
				Escalator: &contracts.Escalator{Percent: decimal.NewFromInt(2), Anniversary: contracts.Date{Year: 2027, Month: 6, Day: 1}, Decimals: 4}}
		case "ppa-helios":
			c.Price = contracts.Price{Kind: contracts.PriceMarketLinked, Negative: contracts.NegativeNoSettlement,
				Market: contracts.MarketLink{Node: "LZ_WEST", Factor: decimal.RequireFromString("0.9"), Adder: decimal.NewFromInt(5), Floor: &floor, Cap: &cap}}
		case "ppa-cedar":
			c.Price = contracts.Price{Kind: contracts.PriceGasIndexed, Gas: contracts.GasIndex{Index: "HENRY_HUB", HeatRate: decimal.RequireFromString("7.1"), VOMPerMWh: decimal.RequireFromString("3.25")}}
		}
	}
	for i := range p.Contracts {
		p.Contracts[i].Prepare()
	}
	return p
}

// benchEngine is an engine for the site with every price of the bench days
// loaded: hourly real-time prices at the generator and the load node, and a
// daily gas price.
func benchEngine(b *testing.B, full bool) *matching.Engine {
	p := matching.CoyoteFlats()
	if full {
		p = fullTerms()
	}
	e, err := matching.New(p, matching.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	for d := benchStart.Add(-24 * time.Hour); d.Before(benchStart.Add((benchDays + 1) * 24 * time.Hour)); d = d.Add(24 * time.Hour) {
		if _, err := e.AddPrice(matching.Price{Node: "HENRY_HUB", Market: "GAS", Start: d, End: d.Add(24 * time.Hour), USDPerMWh: decimal.RequireFromString("3.12"), Unit: matching.UnitMMBtu}); err != nil {
			b.Fatal(err)
		}
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
			e, closed = benchEngine(b, false), 0
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
	b.Run("fixed", func(b *testing.B) { matchOverDecode(b, false) })
	b.Run("full-terms", func(b *testing.B) { matchOverDecode(b, true) })
}

func matchOverDecode(b *testing.B, full bool) {
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
		e = benchEngine(b, full)
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
