package replay

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/examples/data"
	"github.com/offtake/offtake/stream"
)

// An example built from real data: its contract file in examples.Files, its
// data folder in data.Files (with replay.yaml) and the billing period the data
// covers.
type example struct {
	contracts string
	folder    string
	period    contracts.Period
}

var exampleSet = map[string]example{
	"pjm-2025": {contracts: "pjm-2025.yaml", folder: "pjm-2025", period: contracts.Period{Year: 2025, Month: 7}},
}

// Examples lists the names of the examples built from real data.
func Examples() []string {
	out := make([]string, 0, len(exampleSet))
	for n := range exampleSet {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Example returns a named example built from real data: the name of its
// contract file in examples.Files, its portfolio, the checked messages of
// its replay for topics t, and the billing period they cover whole (every
// meter has a reading and every node the site needs a price in every
// interval of it).
func Example(name string, t stream.Topics) (contractsFile string, p *contracts.Portfolio, plan *Plan, period contracts.Period, err error) {
	ex, ok := exampleSet[name]
	if !ok {
		return "", nil, nil, period, &offtake.Error{Place: "--example", Msg: fmt.Sprintf("%q is not an example", name), Hint: "one of " + strings.Join(Examples(), ", ")}
	}
	p, err = contracts.LoadFiles(examples.Files, ex.contracts)
	if err != nil {
		return "", nil, nil, period, fmt.Errorf("example %s: %w", name, err)
	}
	mapping := path.Join(ex.folder, "replay.yaml")
	body, err := fs.ReadFile(data.Files, mapping)
	if err != nil {
		return "", nil, nil, period, fmt.Errorf("example %s: %w", name, err)
	}
	srcs, err := LoadMapping(mapping, body, func(name string) ([]byte, error) { return fs.ReadFile(data.Files, name) })
	if err != nil {
		return "", nil, nil, period, fmt.Errorf("example %s: %w", name, err)
	}
	plan, err = Build(p, t, srcs)
	if err != nil {
		return "", nil, nil, period, fmt.Errorf("example %s: %w", name, err)
	}
	return ex.contracts, p, plan, ex.period, nil
}
