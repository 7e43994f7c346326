package matching

import (
	"math/big"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

const mwh = Wh(WhPerMWh)

func TestAllocate(t *testing.T) {
	tests := []struct {
		name           string
		gross, station Wh
		loads          []Wh
		claims         []Claim
		want           Allocation
	}{
		{
			name:  "all load covered, the rest exported",
			gross: 1000, station: 100,
			loads:  []Wh{200, 300, 100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 2, Load: 1, CapWh: NoCap}, {Priority: 2, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{200, 300, 100}, Export: 300, Imports: []Wh{0, 0, 0}},
		},
		{
			name:  "exact cover: nothing exported, nothing imported",
			gross: 600, station: 0,
			loads:  []Wh{200, 300, 100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 2, Load: 1, CapWh: NoCap}, {Priority: 2, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{200, 300, 100}, Imports: []Wh{0, 0, 0}},
		},
		{
			name:  "shortfall shared pro rata within a priority",
			gross: 300, station: 0,
			loads:  []Wh{100, 300},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 1, Load: 1, CapWh: NoCap}},
			// 300 × 100/400 = 75, 300 × 300/400 = 225: no remainder.
			want: Allocation{Delivered: []Wh{75, 225}, Imports: []Wh{25, 75}},
		},
		{
			// Three equal asks of 100 share 299: each is owed 99.67, the
			// floors give 297 and leave 2 Wh. All remainders tie, so the 2 Wh
			// go to the two earliest claims.
			name:  "remainder: tie goes to the earlier claims",
			gross: 299, station: 0,
			loads:  []Wh{100, 100, 100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 1, Load: 1, CapWh: NoCap}, {Priority: 1, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{100, 100, 99}, Imports: []Wh{0, 0, 1}},
		},
		{
			// Asks 300, 200, 100 share 299: owed 149.5, 99.67, 49.83; floors
			// 149, 99, 49 leave 2 Wh; remainders (×600) are 300, 400, 500, so
			// the last two claims get them although they come later.
			name:  "remainder: largest remainders first, not the earliest claims",
			gross: 299, station: 0,
			loads:  []Wh{300, 200, 100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 1, Load: 1, CapWh: NoCap}, {Priority: 1, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{149, 100, 50}, Imports: []Wh{151, 100, 50}},
		},
		{
			// Asks 100, 300, 100, 100 share 598: owed 99.67, 299, 99.67, 99.67;
			// floors 99, 299, 99, 99 leave 2 Wh; claims 0, 2 and 3 tie on the
			// largest remainder, so claims 0 and 2 (the earlier) get them.
			name:  "remainder: three-way tie for two Wh",
			gross: 598, station: 0,
			loads:  []Wh{100, 300, 100, 100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 1, Load: 1, CapWh: NoCap}, {Priority: 1, Load: 2, CapWh: NoCap}, {Priority: 1, Load: 3, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{100, 299, 100, 99}, Imports: []Wh{0, 1, 0, 1}},
		},
		{
			name:  "priority 1 served fully before priority 2",
			gross: 500, station: 100,
			loads:  []Wh{300, 200, 200},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 2, Load: 1, CapWh: NoCap}, {Priority: 2, Load: 2, CapWh: NoCap}},
			// 400 net: 300 to priority 1, the 100 left split 50/50.
			want: Allocation{Delivered: []Wh{300, 50, 50}, Imports: []Wh{0, 150, 150}},
		},
		{
			name:  "priority 1 takes everything when supply is short of it",
			gross: 250, station: 0,
			loads:  []Wh{300, 200, 200},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 2, Load: 1, CapWh: NoCap}, {Priority: 2, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{250, 0, 0}, Imports: []Wh{50, 200, 200}},
		},
		{
			name:  "caps: a claim never takes more than its cap",
			gross: 1000, station: 0,
			loads:  []Wh{300, 200, 200},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: 120}, {Priority: 2, Load: 1, CapWh: 150}, {Priority: 2, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{120, 150, 200}, Export: 530, Imports: []Wh{180, 50, 0}},
		},
		{
			name:  "caps: pro rata to the capped asks",
			gross: 300, station: 0,
			loads:  []Wh{1000, 1000},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: 100}, {Priority: 1, Load: 1, CapWh: 300}},
			want:   Allocation{Delivered: []Wh{75, 225}, Imports: []Wh{925, 775}},
		},
		{
			name:  "two claims of one group on one load ask in turn, enough supply",
			gross: 1000, station: 0,
			loads:  []Wh{100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 1, Load: 0, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{100, 0}, Export: 900, Imports: []Wh{0}},
		},
		{
			name:  "two claims of one group on one load, capped, short supply",
			gross: 50, station: 0,
			loads:  []Wh{100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: 60}, {Priority: 1, Load: 0, CapWh: 60}},
			// asks 60 and 40 (what is left of the load): 30 and 20.
			want: Allocation{Delivered: []Wh{30, 20}, Imports: []Wh{50}},
		},
		{
			name:  "claims of two priorities on one load",
			gross: 1000, station: 0,
			loads:  []Wh{100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: 70}, {Priority: 2, Load: 0, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{70, 30}, Export: 900, Imports: []Wh{0}},
		},
		{
			name:  "net negative: the plant imports, every load imports",
			gross: 10, station: 30,
			loads:  []Wh{200, 300, 100},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 2, Load: 1, CapWh: NoCap}, {Priority: 2, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{0, 0, 0}, PlantImport: 20, Imports: []Wh{200, 300, 100}},
		},
		{
			name:  "net negative with a negative gross reading",
			gross: -5, station: 30,
			loads:  []Wh{200},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{0}, PlantImport: 35, Imports: []Wh{200}},
		},
		{
			name:  "zero loads: everything exported",
			gross: 1000, station: 40,
			loads:  []Wh{0, 0, 0},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 2, Load: 1, CapWh: NoCap}, {Priority: 2, Load: 2, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{0, 0, 0}, Export: 960, Imports: []Wh{0, 0, 0}},
		},
		{
			name:  "no loads and no claims",
			gross: 1000, station: 40,
			want: Allocation{Delivered: []Wh{}, Export: 960, Imports: []Wh{}},
		},
		{
			name:  "a load without a contract imports all of it",
			gross: 1000, station: 0,
			loads:  []Wh{100, 200},
			claims: []Claim{{Priority: 1, Load: 1, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{200}, Export: 800, Imports: []Wh{100, 0}},
		},
		{
			name:  "nothing generated",
			gross: 0, station: 0,
			loads:  []Wh{100, 200},
			claims: []Claim{{Priority: 1, Load: 0, CapWh: NoCap}, {Priority: 1, Load: 1, CapWh: NoCap}},
			want:   Allocation{Delivered: []Wh{0, 0}, Imports: []Wh{100, 200}},
		},
		{
			// Coyote Flats at full load: 300 MWh gross, 10 MWh station service,
			// 290 MWh net against 120 + 110 + 90 MWh of load under caps of
			// 112.5, 100 and 75 MWh: 287.5 MWh delivered, 2.5 exported.
			name:  "coyote flats, caps bind",
			gross: 300 * mwh, station: 10 * mwh,
			loads: []Wh{120 * mwh, 110 * mwh, 90 * mwh},
			claims: []Claim{
				{Priority: 1, Load: 0, CapWh: 112_500_000},
				{Priority: 2, Load: 2, CapWh: 75 * mwh}, // ppa-cedar sorts before ppa-helios
				{Priority: 2, Load: 1, CapWh: 100 * mwh},
			},
			want: Allocation{
				Delivered: []Wh{112_500_000, 75 * mwh, 100 * mwh},
				Export:    2_500_000,
				Imports:   []Wh{7_500_000, 10 * mwh, 15 * mwh},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Allocate(tt.gross, tt.station, tt.loads, tt.claims)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Allocate(%d, %d, %v, %+v)\n got %+v\nwant %+v", tt.gross, tt.station, tt.loads, tt.claims, got, tt.want)
			}
		})
	}
}

// matchedShare runs one load-following claim against a supply per interval
// and returns the energy matched in each interval.
func matchedShare(t *testing.T, supply, load []Wh) []Wh {
	t.Helper()
	matched := make([]Wh, len(load))
	for i := range load {
		a := Allocate(supply[i], 0, []Wh{load[i]}, []Claim{{Priority: 1, Load: 0, CapWh: NoCap}})
		matched[i] = a.Delivered[0]
	}
	return matched
}

func sum(ws []Wh) Wh {
	var s Wh
	for _, w := range ws {
		s += w
	}
	return s
}

// The known answers of issue 3, hourly matching: matching is per interval, so
// surplus in one hour does not cover a deficit in another.
func TestAllocateIssue3KnownAnswers(t *testing.T) {
	t.Run("one plant", func(t *testing.T) {
		// issue 3, hourly matching: load [5,5,5,5] MWh against generation
		// [20,0,20,0] MWh matches [5,0,5,0], 50% of the load.
		load := []Wh{5 * mwh, 5 * mwh, 5 * mwh, 5 * mwh}
		gen := []Wh{20 * mwh, 0, 20 * mwh, 0}
		matched := matchedShare(t, gen, load)
		if want := []Wh{5 * mwh, 0, 5 * mwh, 0}; !slices.Equal(matched, want) {
			t.Errorf("matched %v, want %v", matched, want)
		}
		if got := 100 * sum(matched) / sum(load); got != 50 {
			t.Errorf("matched %d%%, want 50%%", got)
		}
	})
	t.Run("two plants", func(t *testing.T) {
		// issue 3, hourly matching: load [10,10] MWh against two plants
		// producing [6,0] and [0,8] MWh matches 14 of 20 MWh, 70%. The
		// supply of an interval is the sum of the plants' output in it.
		load := []Wh{10 * mwh, 10 * mwh}
		plantA := []Wh{6 * mwh, 0}
		plantB := []Wh{0, 8 * mwh}
		supply := []Wh{plantA[0] + plantB[0], plantA[1] + plantB[1]}
		matched := matchedShare(t, supply, load)
		if want := []Wh{6 * mwh, 8 * mwh}; !slices.Equal(matched, want) {
			t.Errorf("matched %v, want %v", matched, want)
		}
		if got := sum(matched); got != 14*mwh {
			t.Errorf("matched %s MWh, want 14", got.MWh())
		}
		if got := 100 * sum(matched) / sum(load); got != 70 {
			t.Errorf("matched %d%%, want 70%%", got)
		}
	})
}

func TestAllocatePanicsOnOversizeGroup(t *testing.T) {
	loads := make([]Wh, 65)
	claims := make([]Claim, 65)
	for i := range claims {
		loads[i] = 10
		claims[i] = Claim{Priority: 1, Load: i, CapWh: NoCap}
	}
	defer func() {
		if recover() == nil {
			t.Error("65 claims in one short group did not panic")
		}
	}()
	Allocate(100, 0, loads, claims)
}

// allocInput is a random Allocate input: loads and claims sorted by priority.
type allocInput struct {
	gross, station Wh
	loads          []Wh
	claims         []Claim
}

func drawAllocInput(t *rapid.T) allocInput {
	// A scale per case so that short supply, ties and huge values all occur.
	scale := rapid.SampledFrom([]int64{3, 100, 1_000_000, int64(maxWh)}).Draw(t, "scale")
	energy := func(label string) Wh { return Wh(rapid.Int64Range(0, scale).Draw(t, label)) }
	in := allocInput{
		gross:   Wh(rapid.Int64Range(-scale, scale).Draw(t, "gross")),
		station: energy("station"),
	}
	n := rapid.IntRange(0, 6).Draw(t, "loads")
	for i := 0; i < n; i++ {
		if i > 0 && rapid.Bool().Draw(t, "repeat") {
			// Equal asks make equal remainders: the tie rule must decide.
			in.loads = append(in.loads, in.loads[rapid.IntRange(0, i-1).Draw(t, "same as")])
			continue
		}
		in.loads = append(in.loads, energy("load"))
	}
	if n > 0 {
		m := rapid.IntRange(0, 10).Draw(t, "claims")
		priorities := rapid.IntRange(1, 3).Draw(t, "priorities") // often one group of many claims
		for i := 0; i < m; i++ {
			c := Claim{Priority: rapid.IntRange(1, priorities).Draw(t, "priority"), Load: rapid.IntRange(0, n-1).Draw(t, "load"), CapWh: NoCap}
			if rapid.Bool().Draw(t, "capped") {
				c.CapWh = Wh(rapid.Int64Range(1, scale).Draw(t, "cap"))
			}
			in.claims = append(in.claims, c)
		}
		slices.SortStableFunc(in.claims, func(a, b Claim) int { return a.Priority - b.Priority })
	}
	return in
}

func TestAllocateProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := drawAllocInput(t)
		loads := slices.Clone(in.loads)
		claims := slices.Clone(in.claims)
		a := Allocate(in.gross, in.station, in.loads, in.claims) // panics on a broken invariant
		if !slices.Equal(loads, in.loads) || !slices.Equal(claims, in.claims) {
			t.Fatalf("Allocate changed its inputs")
		}
		if again := Allocate(in.gross, in.station, in.loads, in.claims); !reflect.DeepEqual(a, again) {
			t.Fatalf("not deterministic: %+v then %+v", a, again)
		}
		checkAllocation(t, in, a)
	})
}

// checkAllocation checks a against the rules, independently of Allocate's
// own assertions.
func checkAllocation(t *rapid.T, in allocInput, a Allocation) {
	net := in.gross - in.station
	if len(a.Delivered) != len(in.claims) || len(a.Imports) != len(in.loads) {
		t.Fatalf("%d deliveries and %d imports for %d claims and %d loads", len(a.Delivered), len(a.Imports), len(in.claims), len(in.loads))
	}
	if sum(a.Delivered)+a.Export-a.PlantImport != net {
		t.Fatalf("Σ delivered %d + export %d − plant import %d != net %d", sum(a.Delivered), a.Export, a.PlantImport, net)
	}
	if a.Export < 0 || a.PlantImport < 0 || (a.Export > 0 && a.PlantImport > 0) {
		t.Fatalf("export %d, plant import %d", a.Export, a.PlantImport)
	}
	if a.PlantImport != max(-net, 0) {
		t.Fatalf("plant import %d for net %d", a.PlantImport, net)
	}
	perLoad := make([]Wh, len(in.loads))
	for i, c := range in.claims {
		d := a.Delivered[i]
		if d < 0 || (c.CapWh >= 0 && d > c.CapWh) {
			t.Fatalf("claim %d delivered %d (cap %d)", i, d, c.CapWh)
		}
		perLoad[c.Load] += d
	}
	for i, load := range in.loads {
		if a.Imports[i] < 0 || perLoad[i]+a.Imports[i] != load {
			t.Fatalf("load %d: %d != delivered %d + import %d", i, load, perLoad[i], a.Imports[i])
		}
	}
	checkGroups(t, in, a)
}

// checkGroups replays the priority groups: a group whose asks fit in the
// supply left gets them; otherwise each claim gets the floor or floor+1 of its
// exact pro-rata share, the extra Wh going to the largest remainders, ties to
// the earlier claim, and the supply is used up.
func checkGroups(t *rapid.T, in allocInput, a Allocation) {
	supply := max(in.gross-in.station, 0)
	loadsLeft := slices.Clone(in.loads)
	for lo := 0; lo < len(in.claims); {
		hi := lo
		for hi < len(in.claims) && in.claims[hi].Priority == in.claims[lo].Priority {
			hi++
		}
		asks := make([]Wh, hi-lo)
		var asked Wh
		scratch := slices.Clone(loadsLeft)
		for i := lo; i < hi; i++ {
			c := in.claims[i]
			ask := scratch[c.Load]
			if c.CapWh >= 0 {
				ask = min(ask, c.CapWh)
			}
			asks[i-lo] = ask
			scratch[c.Load] -= ask
			asked += ask
		}
		given := a.Delivered[lo:hi]
		if asked <= supply {
			if !slices.Equal(given, asks) {
				t.Fatalf("group %d..%d asks %v with %d supply, given %v", lo, hi, asks, supply, given)
			}
		} else {
			checkProRata(t, supply, asked, asks, given)
		}
		for i := lo; i < hi; i++ {
			loadsLeft[in.claims[i].Load] -= a.Delivered[i]
			supply -= a.Delivered[i]
		}
		lo = hi
	}
	if supply != a.Export {
		t.Fatalf("%d Wh left after the claims, %d exported", supply, a.Export)
	}
}

func checkProRata(t *rapid.T, supply, asked Wh, asks, given []Wh) {
	if sum(given) != supply {
		t.Fatalf("short group asks %v (%d) of %d supply, given %v (%d)", asks, asked, supply, given, sum(given))
	}
	floors := make([]int64, len(asks))
	rems := make([]*big.Int, len(asks))
	for i, ask := range asks {
		q, r := new(big.Int).QuoRem(new(big.Int).Mul(big.NewInt(int64(supply)), big.NewInt(int64(ask))), big.NewInt(int64(asked)), new(big.Int))
		floors[i], rems[i] = q.Int64(), r
		if d := int64(given[i]); d != floors[i] && d != floors[i]+1 {
			t.Fatalf("claim %d: given %d, exact share %d %s/%d", i, d, floors[i], r, asked)
		}
	}
	for i := range asks {
		for j := range asks {
			up, down := int64(given[i]) == floors[i]+1, int64(given[j]) == floors[j]
			if !up || !down {
				continue
			}
			// i got an extra Wh and j did not: i must rank before j.
			if c := rems[i].Cmp(rems[j]); c < 0 || (c == 0 && i > j) {
				t.Fatalf("claim %d (remainder %s) got the extra Wh before claim %d (remainder %s): asks %v, supply %d, given %v", i, rems[i], j, rems[j], asks, supply, given)
			}
		}
	}
}
