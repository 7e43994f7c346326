package contracts_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/shopspring/decimal"

	offtake "github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadExample(t *testing.T) {
	p, err := contracts.Load("coyote-flats.yaml", readFile(t, "../examples/coyote-flats.yaml"))
	if err != nil {
		t.Fatalf("the example does not load:\n%v", err)
	}
	if len(p.Parties) != 5 || len(p.Sites) != 1 || len(p.Contracts) != 3 {
		t.Fatalf("got %d parties, %d sites, %d contracts; want 5, 1, 3", len(p.Parties), len(p.Sites), len(p.Contracts))
	}
	mesa, ok := p.Party("mesa-ridge")
	if !ok || mesa.Role != contracts.RoleSeller || mesa.InvoicePrefix != "MRP" || mesa.Name != "Mesa Ridge Power LLC" ||
		mesa.TaxID != "US-84-2231907" || mesa.Email != "settlements@mesaridge.example" ||
		mesa.Address != "1400 Travis Street, Suite 2200, Houston, TX 77002, US" {
		t.Errorf("mesa-ridge = %+v", mesa)
	}
	if g, _ := p.Party("ercot"); g == nil || g.Role != contracts.RoleGrid {
		t.Errorf("ercot = %+v", g)
	}

	s, ok := p.Site("coyote-flats")
	if !ok {
		t.Fatal("no site coyote-flats")
	}
	if s.TimeZone != "America/Chicago" || s.Location == nil || s.Location.String() != "America/Chicago" {
		t.Errorf("time zone = %q, location %v", s.TimeZone, s.Location)
	}
	if s.IntervalMinutes != 15 || s.Owner != "mesa-ridge" || s.Grid != "ercot" || s.Market != "ERCOT" ||
		s.GeneratorNode != "CFEC_CC1_RN" || s.LoadNode != "LZ_WEST" || s.Name != "Coyote Flats Energy Center" {
		t.Errorf("site = %+v", s)
	}
	if !s.CapacityMW.Equal(decimal.RequireFromString("1200")) {
		t.Errorf("site capacity = %s", s.CapacityMW)
	}
	if s.Line != 42 {
		t.Errorf("site line = %d, want 42", s.Line)
	}
	if len(s.Meters) != 5 {
		t.Fatalf("%d meters, want 5", len(s.Meters))
	}
	wantMeters := []contracts.Meter{
		{ID: "CFEC-GROSS", Kind: contracts.MeterGross, Line: 57},
		{ID: "CFEC-AUX", Kind: contracts.MeterStationService, Line: 59},
		{ID: "DC-NORTHWIND", Kind: contracts.MeterLoad, Party: "northwind", Line: 61},
		{ID: "DC-HELIOS", Kind: contracts.MeterLoad, Party: "helios", Line: 64},
		{ID: "DC-CEDAR", Kind: contracts.MeterLoad, Party: "cedar", Line: 67},
	}
	for i, want := range wantMeters {
		if s.Meters[i] != want {
			t.Errorf("meter %d = %+v, want %+v", i, s.Meters[i], want)
		}
	}

	type want struct {
		id, buyer, meter string
		priority         int
		end              string
		capacity, price  string
		terms, line      int
	}
	wants := []want{
		{"ppa-northwind", "northwind", "DC-NORTHWIND", 1, "2043-01-01", "450", "58.00", 30, 72},
		{"ppa-helios", "helios", "DC-HELIOS", 2, "2038-01-01", "400", "61.25", 30, 90},
		{"ppa-cedar", "cedar", "DC-CEDAR", 2, "2033-01-01", "300", "64.80", 45, 108},
	}
	for i, w := range wants {
		c := p.Contracts[i]
		if c.ID != w.id || c.Buyer != w.buyer || c.Meter != w.meter || c.Priority != w.priority ||
			c.Seller != "mesa-ridge" || c.Site != "coyote-flats" || c.Kind != contracts.KindPhysical || c.Version != 1 ||
			c.Start.String() != "2028-01-01" || c.End.String() != w.end || c.Rounding != contracts.RoundHalfUp ||
			c.PaymentTermsDays != w.terms || c.Line != w.line ||
			c.Volume.Shape != contracts.ShapeLoadFollowing || c.Price.Kind != contracts.PriceFixed {
			t.Errorf("contract %d = %+v, want %+v", i, c, w)
		}
		// Exact: the decimal carries the digits as written (58.00 has two places).
		if got := c.Price.USDPerMWh.String(); got != strings.TrimRight(strings.TrimRight(w.price, "0"), ".") {
			t.Errorf("%s price = %s, want %s", c.ID, got, w.price)
		}
		if got := c.Price.USDPerMWh.StringFixed(-c.Price.USDPerMWh.Exponent()); got != w.price {
			t.Errorf("%s price as written = %s, want %s", c.ID, got, w.price)
		}
		if !c.Volume.CapacityMW.Equal(decimal.RequireFromString(w.capacity)) {
			t.Errorf("%s capacity = %s, want %s", c.ID, c.Volume.CapacityMW, w.capacity)
		}
	}
	if got := p.ContractsAt("coyote-flats"); len(got) != 3 || got[0].ID != "ppa-northwind" || got[1].ID != "ppa-cedar" {
		t.Errorf("ContractsAt order wrong: %v", got)
	}
}

func TestLoadDefaults(t *testing.T) {
	// testdata/small.yaml leaves out the site's grid, the contract's kind,
	// rounding and payment terms.
	p, err := contracts.Load("small.yaml", readFile(t, "testdata/small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Contracts[0]
	if c.Kind != contracts.KindPhysical || c.Rounding != contracts.RoundHalfUp || c.PaymentTermsDays != 30 || c.Version != 1 {
		t.Errorf("defaults: %+v", c)
	}
	if p.Sites[0].Grid != "ercot" {
		t.Errorf("grid = %q, want the only grid party", p.Sites[0].Grid)
	}

	// no volume cap, half-even rounding, 0-day terms, quoted decimals, a price of 0.
	src := edit(t, base(t), map[int]string{
		47: drop,
		50: `      usd_per_mwh: "0.000001"`,
	}) + "    rounding: half_even\n    payment_terms_days: 0\n"
	p, err = contracts.Load("small.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c = p.Contracts[0]
	if !c.Volume.CapacityMW.IsZero() || c.Rounding != contracts.RoundHalfEven || c.PaymentTermsDays != 0 ||
		c.Price.USDPerMWh.String() != "0.000001" {
		t.Errorf("got %+v", c)
	}
}

const drop = "\x00drop"

func base(t testing.TB) string { return string(readFile(t, "testdata/small.yaml")) }

// edit replaces lines of src (numbered from 1) by new text; drop removes a line.
func edit(t testing.TB, src string, edits map[int]string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(src, "\n"), "\n")
	var out []string
	for i, line := range lines {
		text, ok := edits[i+1]
		switch {
		case !ok:
			out = append(out, line)
		case text != drop:
			out = append(out, text)
		}
		delete(edits, i+1)
	}
	if len(edits) > 0 {
		t.Fatalf("edits past the end: %v", edits)
	}
	return strings.Join(out, "\n") + "\n"
}

type badCase struct {
	name  string
	edits map[int]string // on testdata/small.yaml; see its numbered lines
	src   string         // instead of edits: the whole file
	line  int            // the line the error must name (0: none)
	want  []string       // words the error must hold, the field first
}

// badCases are broken files, each with the error it must give. Lines of
// testdata/small.yaml: parties 1-14 (mesa-ridge 2, northwind 6, helios 9,
// ercot 12), site 16-35 (meters 26, 28, 30, 33), contract 37-50.
var badCases = []badCase{
	{name: "yaml syntax", edits: map[int]string{3: "    name: Mesa: Ridge"}, line: 3, want: []string{"not valid YAML", "mapping values"}},
	{name: "tab indent", edits: map[int]string{4: "\trole: seller"}, line: 4, want: []string{"not valid YAML", "tabs"}},
	{name: "unknown key", edits: map[int]string{48: "    prise:"}, line: 48, want: []string{"contracts[ppa-northwind].prise", `unknown field "prise"`, `did you mean "price"`}},
	{name: "unknown top key", edits: map[int]string{15: "site:"}, line: 15, want: []string{`unknown field "site"`, `did you mean "sites"`}},
	{name: "missing end", edits: map[int]string{44: drop}, line: 37, want: []string{"contracts[ppa-northwind].end", "missing", "end: 2043-01-01"}},
	{name: "missing role", edits: map[int]string{14: drop}, line: 12, want: []string{"parties[ercot].role", "missing"}},
	{name: "missing meters", edits: map[int]string{25: drop, 26: drop, 27: drop, 28: drop, 29: drop, 30: drop, 31: drop, 32: drop, 33: drop, 34: drop, 35: drop}, line: 16, want: []string{"sites[coyote-flats].meters", "missing"}},
	{name: "priority not a number", edits: map[int]string{42: "    priority: high"}, line: 42, want: []string{"contracts[ppa-northwind].priority", `"high" is not a whole number`}},
	{name: "priority zero", edits: map[int]string{42: "    priority: 0"}, line: 42, want: []string{"contracts[ppa-northwind].priority", "1 or more"}},
	{name: "name is a list", edits: map[int]string{17: "    name: [a, b]"}, line: 17, want: []string{"sites[coyote-flats].name", "single value, not a list"}},
	{name: "parties a number", src: "parties: 5\n", line: 1, want: []string{"parties: must be a list, not the value \"5\""}},
	{name: "site a name", src: "sites:\n  - coyote-flats\n", line: 2, want: []string{"sites[0]: a site must be a mapping of keys to values, not the value \"coyote-flats\""}},
	{name: "duplicate party", edits: map[int]string{9: "  - id: northwind"}, line: 9, want: []string{"parties[northwind].id", `duplicate party id "northwind"`, "first at bad.yaml:6"}},
	{name: "duplicate key", edits: map[int]string{50: "      usd_per_mwh: 58.00\n      usd_per_mwh: 60"}, line: 51, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", "appears twice", "first at line 50"}},
	{name: "bad role", edits: map[int]string{8: "    role: purchaser"}, line: 8, want: []string{"parties[northwind].role", `unknown role "purchaser"`, "seller", "buyer", "grid"}},
	{name: "invoice prefix", edits: map[int]string{5: "    invoice_prefix: mrp"}, line: 5, want: []string{"parties[mesa-ridge].invoice_prefix", "not a valid invoice prefix", "capital letters"}},
	{name: "duplicate invoice prefix", edits: map[int]string{8: "    role: buyer\n    invoice_prefix: MRP"}, line: 9, want: []string{"parties[northwind].invoice_prefix", "already used", "mesa-ridge"}},
	{name: "bad email", edits: map[int]string{5: "    email: settlements at mesa"}, line: 5, want: []string{"parties[mesa-ridge].email", "not an e-mail address"}},
	{name: "bad id", edits: map[int]string{2: `  - id: "Mesa Ridge"`}, line: 2, want: []string{"parties[0].id", `"Mesa Ridge" is not a valid id`, "letters, digits"}},
	{name: "owner not a seller", edits: map[int]string{21: "    owner: northwind"}, line: 21, want: []string{"sites[coyote-flats].owner", `party "northwind" is a buyer, not a seller`, "seller parties: mesa-ridge"}},
	{name: "owner unknown", edits: map[int]string{21: "    owner: mesa"}, line: 21, want: []string{"sites[coyote-flats].owner", `no party "mesa"`}},
	{name: "grid not a grid", edits: map[int]string{21: "    owner: mesa-ridge\n    grid: helios"}, line: 22, want: []string{"sites[coyote-flats].grid", "is a buyer, not a grid"}},
	{name: "no grid party", edits: map[int]string{12: drop, 13: drop, 14: drop}, line: 13, want: []string{"sites[coyote-flats].grid", "no grid party", "role: grid"}},
	{name: "two grid parties", edits: map[int]string{14: "    role: grid\n  - id: pjm\n    name: PJM\n    role: grid"}, line: 19, want: []string{"sites[coyote-flats].grid", "2 grid parties", "ercot, pjm"}},
	{name: "time zone", edits: map[int]string{19: "    time_zone: America/Chicgo"}, line: 19, want: []string{"sites[coyote-flats].time_zone", `unknown time zone "America/Chicgo"`, "IANA"}},
	{name: "time zone Local", edits: map[int]string{19: "    time_zone: Local"}, line: 19, want: []string{"sites[coyote-flats].time_zone", "unknown time zone"}},
	{name: "interval", edits: map[int]string{20: "    interval_minutes: 10"}, line: 20, want: []string{"sites[coyote-flats].interval_minutes", "10 is not a settlement interval", "5, 15, 30 or 60"}},
	{name: "site capacity zero", edits: map[int]string{22: "    capacity_mw: 0"}, line: 22, want: []string{"sites[coyote-flats].capacity_mw", "more than 0"}},
	{name: "site capacity exponent", edits: map[int]string{22: "    capacity_mw: 1.2e3"}, line: 22, want: []string{"sites[coyote-flats].capacity_mw", `"1.2e3" is not a decimal number`, "without an exponent"}},
	{name: "site capacity thousands", edits: map[int]string{22: "    capacity_mw: 1,200"}, line: 22, want: []string{"sites[coyote-flats].capacity_mw", "without thousands separators, like 1200"}},
	{name: "empty node", edits: map[int]string{23: `    generator_node: ""`}, line: 23, want: []string{"sites[coyote-flats].generator_node", "must not be empty"}},
	{name: "no gross meter", edits: map[int]string{27: "        kind: poi"}, line: 26, want: []string{"sites[coyote-flats].meters", "no generation_gross meter"}},
	{name: "meter kind", edits: map[int]string{31: "        kind: loads"}, line: 31, want: []string{"sites[coyote-flats].meters[DC-NORTHWIND].kind", `unknown meter kind "loads"`, "generation_gross, station_service, load or poi"}},
	{name: "gross kind misspelt", edits: map[int]string{27: "        kind: generation_gros"}, line: 27, want: []string{`unknown meter kind "generation_gros"`}},
	{name: "meter kind missing id", edits: map[int]string{30: "      - kind: load", 31: drop}, line: 30, want: []string{"sites[coyote-flats].meters[2].id", "missing"}},
	{name: "duplicate meter", edits: map[int]string{28: "      - id: CFEC-GROSS"}, line: 28, want: []string{"sites[coyote-flats].meters[CFEC-GROSS].id", `duplicate meter id "CFEC-GROSS"`}},
	{name: "load meter party not a buyer", edits: map[int]string{32: "        party: mesa-ridge"}, line: 32, want: []string{"meters[DC-NORTHWIND].party", "is a seller, not a buyer"}},
	{name: "load meter without party", edits: map[int]string{32: drop}, line: 30, want: []string{"meters[DC-NORTHWIND].party", "missing"}},
	{name: "gross meter with party", edits: map[int]string{27: "        kind: generation_gross\n        party: northwind"}, line: 28, want: []string{"meters[CFEC-GROSS].party", "only a load meter"}},
	{name: "contract kind", edits: map[int]string{38: "    kind: financial\n    seller: mesa-ridge"}, line: 38, want: []string{"contracts[ppa-northwind].kind", `unknown contract kind "financial"`, "physical", "virtual"}},
	{name: "seller not a seller", edits: map[int]string{38: "    seller: ercot"}, line: 38, want: []string{"contracts[ppa-northwind].seller", "is a grid, not a seller"}},
	{name: "seller does not own site", edits: map[int]string{14: "    role: grid\n  - id: other-gen\n    name: Other Gen\n    role: seller", 38: "    seller: other-gen"}, line: 41, want: []string{"contracts[ppa-northwind].seller", `"other-gen" does not own site "coyote-flats"`, "seller: mesa-ridge"}},
	{name: "buyer not a buyer", edits: map[int]string{39: "    buyer: mesa-ridge"}, line: 39, want: []string{"contracts[ppa-northwind].buyer", "is a seller, not a buyer"}},
	{name: "unknown site", edits: map[int]string{40: "    site: nowhere"}, line: 40, want: []string{"contracts[ppa-northwind].site", `no site "nowhere"`, "coyote-flats"}},
	{name: "unknown meter", edits: map[int]string{41: "    meter: DC-NOPE"}, line: 41, want: []string{"contracts[ppa-northwind].meter", `no meter "DC-NOPE"`, "DC-NORTHWIND"}},
	{name: "meter not a load", edits: map[int]string{41: "    meter: CFEC-GROSS"}, line: 41, want: []string{"contracts[ppa-northwind].meter", "is a generation_gross meter, not a load meter"}},
	{name: "meter of another buyer", edits: map[int]string{41: "    meter: DC-HELIOS"}, line: 41, want: []string{"contracts[ppa-northwind].meter", `belongs to "helios", not to the buyer "northwind"`, "DC-NORTHWIND"}},
	{name: "buyer without a meter", edits: map[int]string{11: "    role: buyer\n  - id: cedar\n    name: Cedar Labs\n    role: buyer", 39: "    buyer: cedar"}, line: 44, want: []string{"contracts[ppa-northwind].meter", `belongs to "northwind", not to the buyer "cedar"`, "cedar has none at coyote-flats"}},
	{name: "bad date", edits: map[int]string{43: "    start: 2028-13-01"}, line: 43, want: []string{"contracts[ppa-northwind].start", `"2028-13-01" is not a date`, "YYYY-MM-DD"}},
	{name: "end not after start", edits: map[int]string{44: "    end: 2028-01-01"}, line: 44, want: []string{"contracts[ppa-northwind].end", "is not after start", "2029-01-01"}},
	{name: "volume shape", edits: map[int]string{46: "      shape: blocky"}, line: 46, want: []string{"contracts[ppa-northwind].volume.shape", `unknown volume shape "blocky"`, "load_following, as_generated, baseload or shaped"}},
	{name: "negative volume cap", edits: map[int]string{47: "      capacity_mw: -5"}, line: 47, want: []string{"contracts[ppa-northwind].volume.capacity_mw", "must not be negative", "0 for no cap"}},
	{name: "price comma", edits: map[int]string{50: "      usd_per_mwh: 61,25"}, line: 50, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", `"61,25" is not a decimal number (write it like 61.25)`}},
	{name: "price negative", edits: map[int]string{50: "      usd_per_mwh: -1.00"}, line: 50, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", "must not be negative", "0 or more"}},
	{name: "price decimals", edits: map[int]string{50: "      usd_per_mwh: 58.1234567"}, line: 50, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", "7 decimal places", "6 decimal places at most"}},
	{name: "price too large", edits: map[int]string{50: "      usd_per_mwh: 5800000000"}, line: 50, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", `"5800000000" is too large`, "9 digits"}},
	{name: "price nan", edits: map[int]string{50: "      usd_per_mwh: .nan"}, line: 50, want: []string{"usd_per_mwh", "not a decimal number"}},
	{name: "price missing", edits: map[int]string{50: drop}, line: 48, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", "missing"}},
	{name: "price a number", edits: map[int]string{48: "    price: 58.00", 49: drop, 50: drop}, line: 48, want: []string{"contracts[ppa-northwind].price", "must be a mapping", "usd_per_mwh"}},
	{name: "price kind", edits: map[int]string{49: "      kind: indexed"}, line: 49, want: []string{"contracts[ppa-northwind].price.kind", `unknown price kind "indexed"`, "fixed"}},
	{name: "rounding", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    rounding: up"}, line: 51, want: []string{"contracts[ppa-northwind].rounding", `unknown rounding rule "up"`, "half_even"}},
	{name: "payment terms", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    payment_terms_days: 400"}, line: 51, want: []string{"contracts[ppa-northwind].payment_terms_days", "0 to 365"}},
	{name: "duplicate contract", edits: map[int]string{50: "      usd_per_mwh: 58.00\n  - id: ppa-northwind\n    seller: mesa-ridge\n    buyer: northwind\n    site: coyote-flats\n    meter: DC-NORTHWIND\n    priority: 1\n    start: 2030-01-01\n    end: 2031-01-01\n    volume: {shape: load_following}\n    price: {kind: fixed, usd_per_mwh: 60}"}, line: 51, want: []string{"contracts[ppa-northwind].id", `duplicate contract id "ppa-northwind"`, "first at bad.yaml:37"}},
	{name: "alias", edits: map[int]string{47: "      capacity_mw: &cap 450", 50: "      usd_per_mwh: *cap"}, line: 50, want: []string{"contracts[ppa-northwind].price.usd_per_mwh", "alias *cap is not allowed"}},
	{name: "merge key", edits: map[int]string{48: "    price:\n      <<: {kind: fixed}", 49: drop}, line: 49, want: []string{"contracts[ppa-northwind].price", "merge key"}},
	{name: "tag", edits: map[int]string{42: "    priority: !!str 1"}, line: 42, want: []string{"contracts[ppa-northwind].priority", "tag !!str is not allowed"}},
	{name: "two documents", edits: map[int]string{50: "      usd_per_mwh: 58.00\n---\nparties: []"}, line: 51, want: []string{"second YAML document"}},
	// The full term sheet (issue 3).
	{name: "overlapping versions", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    amendments:\n      - version: 2\n        effective: 2030-01-01\n        price: {kind: fixed, usd_per_mwh: 60}\n      - version: 3\n        effective: 2029-06-01\n        price: {kind: fixed, usd_per_mwh: 62}"}, line: 56, want: []string{"contracts[ppa-northwind].amendments[1].effective", "version 3 overlaps the version before it", "2029-06-01 is not after 2030-01-01", "one day has one set of terms"}},
	{name: "amendment before start", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    amendments:\n      - version: 2\n        effective: 2027-06-01\n        price: {kind: fixed, usd_per_mwh: 60}"}, line: 53, want: []string{"amendments[0].effective", "overlaps the version before it"}},
	{name: "amendment after end", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    amendments:\n      - version: 2\n        effective: 2043-06-01\n        price: {kind: fixed, usd_per_mwh: 60}"}, line: 53, want: []string{"amendments[0].effective", "not within the term", "before the contract ends"}},
	{name: "amendment version gap", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    amendments:\n      - version: 3\n        effective: 2030-01-01\n        price: {kind: fixed, usd_per_mwh: 60}"}, line: 52, want: []string{"amendments[0].version", "version 3 out of order", "version 2"}},
	{name: "amendment changes nothing", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    amendments:\n      - version: 2\n        effective: 2030-01-01"}, line: 52, want: []string{"amendments[0]", "changes nothing"}},
	{name: "band leaves hours uncovered", edits: map[int]string{15: "calendars:\n  - id: c5x16\n    bands:\n      - name: peak\n        days: weekdays\n        hours_ending: 7-22\nsites:"}, line: 18, want: []string{"calendars[c5x16].bands", "leave hours uncovered", "sun hours ending 1-24", "mon hours ending 1-6,23-24", "days: all"}},
	{name: "holiday calendar unknown", edits: map[int]string{15: strings.Replace("calendars:\n  - id: c5x16\n    holidays: nerc\n    bands:\n      - name: peak\n        days: weekdays\n        hours_ending: 7-22\n      - name: off_peak\n        days: all\n        hours_ending: 1-24\nsites:", "holidays: nerc", "holidays: nyse", 1)}, line: 17, want: []string{"calendars[c5x16].holidays", `unknown holiday calendar "nyse"`, "nerc"}},
	{name: "band never applies", edits: map[int]string{15: strings.Replace("calendars:\n  - id: c5x16\n    holidays: nerc\n    bands:\n      - name: peak\n        days: weekdays\n        hours_ending: 7-22\n      - name: off_peak\n        days: all\n        hours_ending: 1-24\nsites:", "name: peak", "name: peak\n        days: all\n        hours_ending: 1-24\n      - name: late", 1)}, line: 22, want: []string{"calendars[c5x16].bands[1]", `band "late" never applies`}},
	{name: "bad hours", edits: map[int]string{15: strings.Replace("calendars:\n  - id: c5x16\n    holidays: nerc\n    bands:\n      - name: peak\n        days: weekdays\n        hours_ending: 7-22\n      - name: off_peak\n        days: all\n        hours_ending: 1-24\nsites:", "7-22", "7-25", 1)}, line: 21, want: []string{"bands[0].hours_ending", "not hours ending 1 to 24"}},
	{name: "no calendar", edits: map[int]string{49: "      kind: tou", 50: "      rates: {peak: 70, off_peak: 40}"}, line: 50, want: []string{"price.rates", "needs a calendar", "calendar: ID"}},
	{name: "unknown calendar", edits: map[int]string{44: "    end: 2043-01-01\n    calendar: c7x24"}, line: 45, want: []string{"contracts[ppa-northwind].calendar", `no calendar "c7x24"`}},
	{name: "rate for unknown band", edits: map[int]string{15: "calendars:\n  - id: c5x16\n    holidays: nerc\n    bands:\n      - name: peak\n        days: weekdays\n        hours_ending: 7-22\n      - name: off_peak\n        days: all\n        hours_ending: 1-24\nsites:", 44: "    end: 2043-01-01\n    calendar: c5x16", 49: "      kind: tou", 50: "      rates: {peak: 70, offpeak: 40}"}, line: 61, want: []string{"price.rates.offpeak", `no band "offpeak" in calendar "c5x16"`, "peak, off_peak"}},
	{name: "band without rate", edits: map[int]string{15: "calendars:\n  - id: c5x16\n    holidays: nerc\n    bands:\n      - name: peak\n        days: weekdays\n        hours_ending: 7-22\n      - name: off_peak\n        days: all\n        hours_ending: 1-24\nsites:", 44: "    end: 2043-01-01\n    calendar: c5x16", 49: "      kind: tou", 50: "      rates: {peak: 70}"}, line: 61, want: []string{"price.rates", `no rate for band "off_peak"`}},
	{name: "during without calendar", edits: map[int]string{46: "      shape: baseload", 47: "      mw: 50\n      during: peak"}, line: 48, want: []string{"volume.during", "needs a calendar"}},
	{name: "key of another shape", edits: map[int]string{46: "      shape: baseload\n      mw: 50"}, line: 48, want: []string{"volume.capacity_mw", "does not apply to a baseload volume"}},
	{name: "as generated percent", edits: map[int]string{46: "      shape: as_generated", 47: "      percent: 150"}, line: 47, want: []string{"volume.percent", "not a percentage in range"}},
	{name: "negative block", edits: map[int]string{46: "      shape: baseload", 47: "      mw: -50"}, line: 47, want: []string{"volume.mw", "more than 0 MW"}},
	{name: "profile too short", edits: map[int]string{46: "      shape: shaped", 47: "      profile:\n        - mw: [1, 2, 3]"}, line: 48, want: []string{"volume.profile[0].mw", "has 3 values, not 24"}},
	{name: "profile misses months", edits: map[int]string{46: "      shape: shaped", 47: "      profile:\n        - months: [jun, jul]\n          mw: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"}, line: 48, want: []string{"volume.profile", "no profile row for jan, feb, mar, apr, may, aug, sep, oct, nov, dec"}},
	{name: "bad month", edits: map[int]string{46: "      shape: shaped", 47: "      profile:\n        - months: [june]\n          mw: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"}, line: 48, want: []string{"profile[0].months", `"june" is not a month`}},
	{name: "virtual without hub", edits: map[int]string{37: "  - id: ppa-northwind\n    kind: virtual"}, line: 37, want: []string{"contracts[ppa-northwind].virtual", "required field \"virtual\" is missing", "hub: HB_WEST"}},
	{name: "virtual payer", edits: map[int]string{37: "  - id: ppa-northwind\n    kind: virtual", 50: "      usd_per_mwh: 44\n    virtual:\n      hub: HB_WEST\n      positive_paid_by: grid"}, line: 54, want: []string{"virtual.positive_paid_by", `"grid" is not seller or buyer`}},
	{name: "virtual terms on physical", edits: map[int]string{50: "      usd_per_mwh: 44\n    virtual:\n      hub: HB_WEST\n      positive_paid_by: seller"}, line: 51, want: []string{"contracts[ppa-northwind].virtual", "virtual terms on a physical contract"}},
	{name: "minimum take without expected energy", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    monthly:\n      minimum_take: {percent: 80, shortfall_usd_per_mwh: 12}"}, line: 52, want: []string{"monthly.expected_mwh", "no expected energy", "expected_mwh: 250000"}},
	{name: "capacity charge without MW", edits: map[int]string{47: "      capacity_mw: 0", 50: "      usd_per_mwh: 58.00\n    monthly:\n      capacity_usd_per_kw_month: 8.5"}, line: 52, want: []string{"monthly.contracted_mw", "capacity charge but no contracted MW"}},
	{name: "excess below 100", edits: map[int]string{50: "      usd_per_mwh: 58.00\n    monthly:\n      expected_mwh: 1000\n      excess: {above_percent: 90, fraction_of_price: 0.75}"}, line: 53, want: []string{"monthly.excess.above_percent", "not a percentage from 100 to 1000"}},
	{name: "heat rate", edits: map[int]string{49: "      kind: gas_indexed", 50: "      gas: {index: HENRY_HUB, heat_rate: 72, vom_usd_per_mwh: 3}"}, line: 50, want: []string{"price.gas.heat_rate", "not a plausible heat rate", "MMBtu per MWh"}},
	{name: "gas without index", edits: map[int]string{49: "      kind: gas_indexed", 50: "      gas: {heat_rate: 7.2}"}, line: 50, want: []string{"price.gas.index", "missing"}},
	{name: "price key of another kind", edits: map[int]string{49: "      kind: market_linked", 50: "      usd_per_mwh: 58.00\n      market: {factor: 1}"}, line: 50, want: []string{"price.usd_per_mwh", "does not apply to a market_linked price"}},
	{name: "cap below floor", edits: map[int]string{49: "      kind: market_linked", 50: "      market: {floor: 20, cap: 10}"}, line: 50, want: []string{"price.market.cap", "cap 10 is below floor 20"}},
	{name: "negative price rule", edits: map[int]string{50: "      usd_per_mwh: 58.00\n      negative_prices: zero"}, line: 51, want: []string{"price.negative_prices", `unknown negative-price rule "zero"`, "no_settlement"}},
	{name: "escalator first year", edits: map[int]string{50: "      usd_per_mwh: 58.00\n      escalator: {percent: 2, anniversary: 2029-01-01, first_year: twice}"}, line: 51, want: []string{"price.escalator.first_year", `unknown first_year "twice"`}},
	{name: "escalator percent", edits: map[int]string{50: "      usd_per_mwh: 58.00\n      escalator: {percent: 40, anniversary: 2029-01-01}"}, line: 51, want: []string{"price.escalator.percent", "not a plausible escalator"}},
	{name: "loss factor", edits: map[int]string{27: "        kind: generation_gross\n        loss_factor: 0.5"}, line: 28, want: []string{"meters[CFEC-GROSS].loss_factor", "not a plausible loss factor"}},
	{name: "empty file", src: "", line: 0, want: []string{"bad.yaml: the file is empty"}},
	{name: "only comments", src: "# nothing yet\n", line: 0, want: []string{"the file is empty"}},
	{name: "a list, not a mapping", src: "- id: x\n", line: 1, want: []string{"must be a mapping", "parties:, sites: and contracts:"}},
	{name: "defines nothing", src: "{}\n", line: 1, want: []string{"defines nothing"}},
}

func (c badCase) source(t testing.TB) string {
	if c.edits == nil {
		return c.src
	}
	edits := make(map[int]string, len(c.edits))
	for k, v := range c.edits {
		edits[k] = v
	}
	return edit(t, base(t), edits)
}

// userErrors checks that err is a non-empty offtake.Errors of well-formed entries.
func userErrors(t testing.TB, err error) offtake.Errors {
	t.Helper()
	var es offtake.Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("error %T %v is not a non-empty offtake.Errors", err, err)
	}
	if !offtake.IsUserError(err) {
		t.Fatalf("not a user error: %v", err)
	}
	for _, e := range es {
		if e == nil || e.Place == "" || e.Msg == "" {
			t.Fatalf("malformed error %#v", e)
		}
	}
	return es
}

func TestLoadBad(t *testing.T) {
	if len(badCases) < 15 {
		t.Fatal("too few cases")
	}
	for _, c := range badCases {
		t.Run(c.name, func(t *testing.T) {
			p, err := contracts.Load("bad.yaml", []byte(c.source(t)))
			if err == nil {
				t.Fatalf("loaded; want an error with %q", c.want)
			}
			if p != nil {
				t.Errorf("a portfolio came back with the error")
			}
			es := userErrors(t, err)
			place := "bad.yaml"
			if c.line > 0 {
				place = "bad.yaml:" + itoa(c.line)
			}
			for _, e := range es {
				if e.Place != place {
					continue
				}
				ok := true
				for _, w := range c.want {
					if !strings.Contains(e.Error(), w) {
						ok = false
					}
				}
				if ok {
					if e.Hint == "" {
						t.Errorf("no hint: %v", e)
					}
					return
				}
			}
			t.Errorf("no error at %s with %q; got:\n%v", place, c.want, err)
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestLoadMessage(t *testing.T) {
	src := edit(t, base(t), map[int]string{50: "      usd_per_mwh: 61,25"})
	_, err := contracts.Load("coyote-flats.yaml", []byte(src))
	want := `coyote-flats.yaml:50: contracts[ppa-northwind].price.usd_per_mwh: "61,25" is not a decimal number (write it like 61.25)`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestLoadReportsEverything(t *testing.T) {
	src := edit(t, base(t), map[int]string{
		8:  "    role: purchaser",
		19: "    time_zone: Mars/Olympus",
		42: "    priority: 0",
		48: "    prise:",
		50: "      usd_per_mwh: 61,25",
	})
	_, err := contracts.Load("bad.yaml", []byte(src))
	es := userErrors(t, err)
	var places []string
	for _, e := range es {
		places = append(places, e.Place)
	}
	// role, time zone, priority and the misspelt key, in file order; the
	// price under the misspelt key is not read, and not reported as missing.
	want := []string{"bad.yaml:8", "bad.yaml:19", "bad.yaml:42", "bad.yaml:48"}
	if strings.Join(places, " ") != strings.Join(want, " ") {
		t.Errorf("errors at %v, want %v:\n%v", places, want, err)
	}
}

func TestLoadShapes(t *testing.T) {
	want, err := contracts.Load("small.yaml", []byte(base(t)))
	if err != nil {
		t.Fatal(err)
	}
	// a byte-order mark and Windows line ends change nothing
	bom := "\ufeff" + strings.ReplaceAll(base(t), "\n", "\r\n")
	got, err := contracts.Load("small.yaml", []byte(bom))
	if err != nil {
		t.Fatal(err)
	}
	if summary(got) != summary(want) {
		t.Errorf("BOM and CRLF:\n%s\nwant\n%s", summary(got), summary(want))
	}
	// flow style, quoted values, a meter with its own price node, the bounds of every range
	flow := `{parties: [{id: s, name: S, role: seller}, {id: b, name: B, role: buyer}, {id: g, name: G, role: grid}],
sites: [{id: x, name: X, market: ERCOT, time_zone: UTC, interval_minutes: 5, owner: s, grid: g, capacity_mw: "0.000001",
  generator_node: N, load_node: L, meters: [{id: G, kind: generation_gross}, {id: P, kind: poi}, {id: L, kind: load, party: b, node: LZ}]}],
contracts: [{id: c, kind: physical, seller: s, buyer: b, site: x, meter: L, priority: "9", start: 1900-01-01, end: 9999-12-31,
  volume: {shape: load_following, capacity_mw: 0}, price: {kind: fixed, usd_per_mwh: 999999999.999999}, rounding: half_even, payment_terms_days: 365}]}
`
	p, err := contracts.Load("flow.yaml", []byte(flow))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Sites[0]
	if s.Location.String() != "UTC" || s.NodeOf(&s.Meters[2]) != "LZ" || s.NodeOf(&s.Meters[0]) != "L" || s.Line != 2 || s.Meters[2].Line != 3 {
		t.Errorf("site %+v", s)
	}
	c := p.Contracts[0]
	if c.Priority != 9 || c.PaymentTermsDays != 365 || c.Price.USDPerMWh.String() != "999999999.999999" || c.End.String() != "9999-12-31" || c.Line != 4 {
		t.Errorf("contract %+v", c)
	}
}

func TestLoadFiles(t *testing.T) {
	src := base(t)
	lines := strings.SplitAfter(src, "\n")
	parties := strings.Join(lines[:14], "")
	rest := strings.Join(lines[14:], "")
	fsys := fstest.MapFS{
		"parties.yaml":      {Data: []byte(parties)},
		"site.yaml":         {Data: []byte(rest)},
		"more/parties.yaml": {Data: []byte("parties:\n  - id: cedar\n    name: Cedar Labs Corp.\n    role: buyer\n")},
		"bad-site.yaml":     {Data: []byte(strings.Replace(rest, "interval_minutes: 15", "interval_minutes: 10", 1))},
		"dup.yaml":          {Data: []byte("parties:\n  - id: pjm\n    name: PJM\n    role: grid\n  - id: helios\n    name: Helios again\n    role: buyer\n")},
	}
	p, err := contracts.LoadFiles(fsys, "parties.yaml", "site.yaml", "more/parties.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Parties) != 5 || len(p.Sites) != 1 || len(p.Contracts) != 1 || p.Parties[4].ID != "cedar" {
		t.Fatalf("merged: %d parties, %d sites, %d contracts", len(p.Parties), len(p.Sites), len(p.Contracts))
	}
	if p.Sites[0].Line != 2 || p.Contracts[0].Line != 23 || p.Sites[0].Grid != "ercot" {
		t.Errorf("lines are per file: site %d, contract %d; grid %q", p.Sites[0].Line, p.Contracts[0].Line, p.Sites[0].Grid)
	}

	// a duplicate id across files, and a second grid party, so the site must name its grid.
	_, err = contracts.LoadFiles(fsys, "parties.yaml", "site.yaml", "dup.yaml")
	es := userErrors(t, err)
	found := false
	for _, e := range es {
		if e.Place == "dup.yaml:5" && strings.Contains(e.Error(), `duplicate party id "helios", first at parties.yaml:9`) {
			found = true
		}
	}
	if !found {
		t.Errorf("no duplicate error at dup.yaml:5:\n%v", err)
	}
	if !strings.Contains(err.Error(), "site.yaml:2: sites[coyote-flats].grid: there are 2 grid parties") {
		t.Errorf("no grid error:\n%v", err)
	}

	// files are reported in the order given, and a missing one is an error
	// too; what the missing file may have defined is not reported missing.
	_, err = contracts.LoadFiles(fsys, "nope.yaml", "bad-site.yaml")
	es = userErrors(t, err)
	if len(es) != 2 || es[0].Place != "nope.yaml" || !strings.Contains(es[0].Msg, "cannot read") ||
		es[1].Place != "bad-site.yaml:6" || !strings.Contains(es[1].Msg, "10 is not a settlement interval") {
		t.Errorf("got:\n%v", err)
	}

	if _, err := contracts.LoadFiles(fsys); !offtake.IsUserError(err) {
		t.Errorf("no files: %v", err)
	}
}
