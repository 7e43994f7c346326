// Package simulate makes a synthetic but plausible month of meter readings
// and market prices for a site: a combined-cycle plant that runs near full
// output with a forced outage, a trip with a ramp back, and a derate; data
// centers whose loads follow the hour of day and their training jobs; and
// real-time prices with a daily shape, negative night hours and an afternoon
// spike. It is deterministic: the same site, period and seed give the same
// messages. It is pure: the caller publishes what it returns.
package simulate

import (
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// Month is a simulated month of one site.
type Month struct {
	Readings []matching.Reading // in interval order, generation meters first within an interval
	Prices   []matching.Price   // real-time prices of every node of the site, in interval order
}

// Options shape the simulation.
type Options struct {
	Seed int64
	Days int // simulate only the first Days days of the period (0: all of it)
	// Portfolio, when set, adds the prices the site's contracts read: hubs
	// and other nodes (real-time, like the site's nodes) and gas indexes (one
	// $/MMBtu price per local day).
	Portfolio *contracts.Portfolio
}

// Site simulates one billing period of a site.
func Site(s *contracts.Site, period contracts.Period, opt Options) Month {
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x0ff7a4e))
	start, end := period.Bounds(s.Location)
	if opt.Days > 0 {
		end = time.Date(period.Year, period.Month, 1+opt.Days, 0, 0, 0, 0, s.Location).UTC()
	}
	step := s.Interval()
	loads := s.MetersOfKind(contracts.MeterLoad)
	nodes := []string{s.GeneratorNode}
	for _, m := range loads {
		if n := s.NodeOf(m); n != nodes[0] && !contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	var gas []string
	if opt.Portfolio != nil {
		for _, c := range opt.Portfolio.ContractsAt(s.ID) {
			for _, n := range c.Nodes(s) {
				if !contains(nodes, n) {
					nodes = append(nodes, n)
				}
			}
			for _, g := range c.GasIndexes() {
				if !contains(gas, g) {
					gas = append(gas, g)
				}
			}
		}
	}
	units := s.MetersOfKind(contracts.MeterGross)
	capacityKW, _ := s.CapacityMW.Mul(decimal.NewFromInt(1000)).Float64() // shaping only; readings are integers
	jobs := trainingJobs(rng, len(loads), start, end)
	var out Month
	for t := start; t.Before(end); t = t.Add(step) {
		local := t.In(s.Location)
		hour := float64(local.Hour()) + float64(local.Minute())/60
		day := local.Day()
		grossKW := plantKW(capacityKW, day, hour, rng)
		stationKW := 6_000.0
		if grossKW > 0 {
			stationKW = 8_000 + 0.025*grossKW
		}
		if local.Hour() == 0 && local.Minute() == 0 {
			for i, g := range gas { // the day's gas index price, published at its start
				next := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, s.Location)
				usd := 2.6 + 0.9*rng.Float64() + 0.05*float64(i)
				out.Prices = append(out.Prices, matching.Price{
					Node: g, Market: "GAS", Start: t, End: next.UTC(), Unit: matching.UnitMMBtu,
					USDPerMWh: decimal.NewFromFloat(usd).Round(3),
				})
			}
		}
		var rs []matching.Reading
		for _, u := range units { // the units share the output evenly
			rs = append(rs, reading(s, u.ID, t, step, grossKW/float64(len(units))))
		}
		if st := s.MetersOfKind(contracts.MeterStationService); len(st) > 0 {
			rs = append(rs, reading(s, st[0].ID, t, step, stationKW))
		}
		for i, m := range loads {
			rs = append(rs, reading(s, m.ID, t, step, loadKW(i, hour, jobs[i], t, rng)))
		}
		out.Readings = append(out.Readings, rs...)
		genPrice := priceUSD(day, hour, rng)
		for _, n := range nodes {
			p := genPrice
			switch {
			case n == s.GeneratorNode:
			case strings.HasPrefix(n, "HB_"): // a hub: a small basis either way
				p += rng.Float64() - 0.5
			default:
				p += 1.75 + rng.Float64()*0.5 // the load zone's basis over the plant's node
			}
			out.Prices = append(out.Prices, matching.Price{
				Node: n, Market: "RT", Start: t, End: t.Add(step),
				USDPerMWh: decimal.NewFromFloat(p).Round(2),
			})
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// reading turns an average power over the interval into exact Wh.
func reading(s *contracts.Site, meter string, t time.Time, step time.Duration, kw float64) matching.Reading {
	kw = math.Max(0, math.Round(kw)) // whole kW: meters report kWh to 3 decimals
	wh := int64(kw) * int64(step/time.Minute) * 1000 / 60
	return matching.Reading{Site: s.ID, Meter: meter, Start: t, End: t.Add(step), Energy: matching.Wh(wh), Quality: matching.Actual, Version: 1}
}

// plantKW is the plant's gross output: near full load, with a forced outage of
// one combustion turbine (day 9 afternoon), a trip and a two-hour ramp back
// (day 20 night), and a derate for maintenance (day 25 daytime).
func plantKW(capacityKW float64, day int, hour float64, rng *rand.Rand) float64 {
	full := capacityKW*0.955 + rng.NormFloat64()*capacityKW*0.004
	switch {
	case day == 9 && hour >= 14 && hour < 22:
		return full * 0.5
	case day == 20 && hour >= 2 && hour < 5:
		return 0
	case day == 20 && hour >= 5 && hour < 7:
		return full * (hour - 5) / 2
	case day == 25 && hour >= 8 && hour < 20:
		return full * 0.55
	}
	return full
}

// job is a training run that lifts a data center's load for a while.
type job struct {
	from, to time.Time
	liftKW   float64
}

func trainingJobs(rng *rand.Rand, n int, start, end time.Time) [][]job {
	out := make([][]job, n)
	for i := range out {
		for t := start.Add(time.Duration(rng.IntN(48)) * time.Hour); t.Before(end); {
			d := time.Duration(12+rng.IntN(60)) * time.Hour
			out[i] = append(out[i], job{from: t, to: t.Add(d), liftKW: 20_000 + rng.Float64()*40_000})
			t = t.Add(d + time.Duration(6+rng.IntN(30))*time.Hour)
		}
	}
	return out
}

// baseKW is each data center's base load (the first three sized like the
// example site's; further loads smaller).
var baseKW = []float64{395_000, 345_000, 255_000}

// loadKW is a data center's load: a base, cooling that peaks mid-afternoon,
// training jobs, and noise.
func loadKW(i int, hour float64, jobs []job, t time.Time, rng *rand.Rand) float64 {
	base := 200_000.0
	if i < len(baseKW) {
		base = baseKW[i]
	}
	cooling := base * 0.06 * math.Cos((hour-15.5)/24*2*math.Pi)
	lift := 0.0
	for _, j := range jobs {
		if !t.Before(j.from) && t.Before(j.to) {
			lift = j.liftKW
			break
		}
	}
	return base + cooling + lift + rng.NormFloat64()*base*0.006
}

// priceUSD is the plant node's real-time price: a daily shape, negative in a
// few windy nights, and a scarcity spike during the day-9 outage.
func priceUSD(day int, hour float64, rng *rand.Rand) float64 {
	p := 32 + 18*math.Max(0, math.Sin((hour-7)/24*2*math.Pi)) + rng.NormFloat64()*3
	if (day == 3 || day == 17) && hour >= 1 && hour < 5 {
		p = -8 - rng.Float64()*10
	}
	if day == 9 && hour >= 15 && hour < 19 {
		p = 380 + rng.Float64()*240
	}
	return p
}
