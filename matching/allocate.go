package matching

import (
	"fmt"
	"math/bits"
)

// Claim is one contract's claim on an interval's output.
type Claim struct {
	Priority int
	Load     int // index into the loads passed to Allocate
	CapWh    Wh  // the most the claim takes in the interval (its volume); NoCap for none
}

// NoCap is the CapWh of a claim without a cap: it takes all of its load it can get.
const NoCap Wh = -1

// Allocation is how Allocate split one interval.
type Allocation struct {
	Delivered   []Wh // per claim, same order as the claims
	Export      Wh
	PlantImport Wh
	Imports     []Wh // per load
}

// Allocate splits net output (gross − station) between claims on loads.
//
// Claims must come sorted by priority (then by a stable key such as the
// contract id). Each priority group takes what it asks for when the supply
// left covers it; otherwise the supply is shared pro rata to what each claim
// asks. A claim asks min(its cap, what is left of its load); claims of one
// group on the same load ask in turn, so they never ask for more than the
// load. Pro-rata shares are floored to whole Wh and the few Wh left over (fewer
// than the claims in the group) go one each to the claims with the largest
// remainders, ties to the earlier claim: a deterministic rule for the last unit.
//
// Whatever output is left is exported; whatever load is left is imported; if
// net output is negative the plant imports the difference. Allocate panics if
// energy is not conserved, which would be a bug.
func Allocate(gross, station Wh, loads []Wh, claims []Claim) Allocation {
	net := gross - station
	supply := max(net, 0)
	a := Allocation{
		Delivered:   make([]Wh, len(claims)),
		PlantImport: max(-net, 0),
		Imports:     make([]Wh, len(loads)),
	}
	copy(a.Imports, loads) // what is left of each load; becomes the import
	asks := make([]Wh, len(claims))
	for lo := 0; lo < len(claims); {
		hi := lo + 1
		for hi < len(claims) && claims[hi].Priority == claims[lo].Priority {
			hi++
		}
		supply -= allocateGroup(supply, claims[lo:hi], asks[lo:hi], a.Delivered[lo:hi], a.Imports)
		lo = hi
	}
	a.Export = supply
	assertConserved(gross, station, loads, claims, a)
	return a
}

// allocateGroup gives one priority group its share of supply, takes it off
// the loads left and returns the energy given.
func allocateGroup(supply Wh, group []Claim, asks, given, loadsLeft []Wh) Wh {
	var asked Wh
	for i, c := range group {
		ask := loadsLeft[c.Load]
		if c.CapWh >= 0 && c.CapWh < ask {
			ask = c.CapWh
		}
		asks[i] = ask
		loadsLeft[c.Load] -= ask // claims of one group on one load ask in turn
		asked += ask
	}
	for i, c := range group { // put the asks back: they are taken below as given
		loadsLeft[c.Load] += asks[i]
	}
	if asked <= supply {
		copy(given, asks)
	} else {
		shareProRata(supply, asked, asks, given)
	}
	var total Wh
	for i, c := range group {
		loadsLeft[c.Load] -= given[i]
		total += given[i]
	}
	return total
}

// shareProRata splits supply (< asked) in proportion to asks, in whole Wh.
func shareProRata(supply, asked Wh, asks, given []Wh) {
	const maxGroup = 64
	if len(asks) > maxGroup {
		panic(fmt.Sprintf("matching: %d claims in one priority group, more than %d", len(asks), maxGroup))
	}
	var rems [maxGroup]uint64
	var sum Wh
	for i, ask := range asks {
		hi, lo := bits.Mul64(uint64(supply), uint64(ask))
		q, r := bits.Div64(hi, lo, uint64(asked)) // exact: supply < asked so q < ask
		given[i] = Wh(q)
		rems[i] = r
		sum += Wh(q)
	}
	// The floors lose less than one Wh per claim, so fewer than len(asks) are left.
	for left := supply - sum; left > 0; left-- {
		best := -1
		for i := range asks {
			if given[i] < asks[i] && (best < 0 || rems[i] > rems[best]) {
				best = i
			}
		}
		given[best]++
		rems[best] = 0
	}
}

func assertConserved(gross, station Wh, loads []Wh, claims []Claim, a Allocation) {
	var delivered Wh
	perLoad := make([]Wh, len(loads))
	for i, c := range claims {
		if a.Delivered[i] < 0 || (c.CapWh >= 0 && a.Delivered[i] > c.CapWh) {
			panic(fmt.Sprintf("matching: claim %d given %d Wh (cap %d)", i, a.Delivered[i], c.CapWh))
		}
		delivered += a.Delivered[i]
		perLoad[c.Load] += a.Delivered[i]
	}
	if net := gross - station; net != delivered+a.Export-a.PlantImport || a.Export < 0 || a.PlantImport < 0 {
		panic(fmt.Sprintf("matching: energy not conserved: net %d != delivered %d + export %d - import %d", net, delivered, a.Export, a.PlantImport))
	}
	for i, load := range loads {
		if load != perLoad[i]+a.Imports[i] || a.Imports[i] < 0 {
			panic(fmt.Sprintf("matching: load %d not conserved: %d != delivered %d + import %d", i, load, perLoad[i], a.Imports[i]))
		}
	}
}
