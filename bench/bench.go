// Package bench measures offtake against the raw limits of the machine it
// runs on, in one run: each measurement reports its own rates and the raw
// rates it is compared to, so the ratios mean something on a shared, noisy
// machine where absolute figures do not.
//
// Measurements register themselves by name (see register); `offtake bench`
// runs all of them or the ones named with --only.
package bench

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// Env is what a measurement gets to work with.
type Env struct {
	// DatabaseURL points at a scratch database the measurement may fill and
	// empty as it likes; nothing else uses it.
	DatabaseURL string
	// Readings is how many meter readings a measurement should push through
	// (its own scale; each says in its figures what it used).
	Readings int
	// Progress receives one line per step of long work.
	Progress io.Writer
}

// Figure is one measured rate or size.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"` // e.g. "readings/s", "transfers/s", "MiB"
	Note  string  `json:"note,omitempty"`
}

// Ratio compares offtake with a raw limit measured in the same run.
type Ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`  // offtake ÷ raw limit
	Target float64 `json:"target"` // the target, e.g. 0.6
	Met    bool    `json:"met"`
}

// Result is what one measurement found.
type Result struct {
	Name    string   `json:"name"`
	Figures []Figure `json:"figures"`
	Ratios  []Ratio  `json:"ratios"`
}

// Measurement runs one comparison.
type Measurement func(ctx context.Context, env Env) (Result, error)

var registry = map[string]Measurement{}

// register adds a measurement; measurement files call it from init.
func register(name string, m Measurement) {
	if _, dup := registry[name]; dup {
		panic("bench: measurement " + name + " registered twice")
	}
	registry[name] = m
}

// Names lists the registered measurements, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs the named measurements (all when names is empty) in name order.
func Run(ctx context.Context, env Env, names []string) ([]Result, error) {
	if len(names) == 0 {
		names = Names()
	}
	var out []Result
	for _, n := range names {
		m, ok := registry[n]
		if !ok {
			return out, fmt.Errorf("no measurement named %q (have: %v)", n, Names())
		}
		r, err := m(ctx, env)
		if err != nil {
			return out, fmt.Errorf("%s: %w", n, err)
		}
		r.Name = n
		out = append(out, r)
	}
	return out, nil
}

// RatioOf builds a Ratio of got over limit against target.
func RatioOf(name string, got, limit, target float64) Ratio {
	v := 0.0
	if limit > 0 {
		v = got / limit
	}
	return Ratio{Name: name, Value: v, Target: target, Met: v >= target}
}
