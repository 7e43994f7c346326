package streamtest

import (
	"testing"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/messages"
	"github.com/offtake/offtake/stream"
)

func TestPortfolioLoads(t *testing.T) {
	p, err := Portfolio(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sites) != 3 || len(p.Contracts) != 9 {
		t.Fatalf("%d sites and %d contracts, want 3 and 9", len(p.Sites), len(p.Contracts))
	}
}

// Disorder keeps every reading, moves none further than its window, and
// only adds copies of readings it was given.
func TestDisorder(t *testing.T) {
	p, err := Portfolio(2)
	if err != nil {
		t.Fatal(err)
	}
	in := Simulate(p, contracts.Period{Year: 2028, Month: 3}, 1, 2, stream.DefaultTopics())
	const window = 3
	out := Disorder(in.Readings, 2, window, 10, 7)
	pos := map[string]int{}
	for i, m := range in.Readings {
		pos[string(m.Value)] = i
	}
	seen := map[string]int{}
	dups := 0
	for i, m := range out {
		k := string(m.Value)
		orig, ok := pos[k]
		if !ok {
			t.Fatalf("message %d was not in the input: %s", i, k)
		}
		if seen[k] > 0 {
			dups++
		} else if w := 2 * MetersPerSite * window; orig/w != (i-dups)/w && abs(orig-(i-dups)) >= 2*w {
			t.Fatalf("%s moved from %d to %d, beyond its window", k, orig, i-dups)
		}
		seen[k]++
		if _, err := messages.DecodeReading(m.Value); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != len(in.Readings) || dups == 0 || dups != len(out)-len(in.Readings) {
		t.Fatalf("%d distinct of %d readings, %d duplicates in %d messages", len(seen), len(in.Readings), dups, len(out))
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
