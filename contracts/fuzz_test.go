package contracts_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	offtake "github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
)

// FuzzLoad feeds Load arbitrary files. It must never panic; what it accepts
// must be a consistent portfolio, and what it refuses must be refused as a
// user mistake with a place and a message. Seeds: the examples, the small
// file and every broken file of TestLoadBad (and testdata/fuzz/FuzzLoad).
func FuzzLoad(f *testing.F) {
	f.Add(readFile(f, "../examples/coyote-flats.yaml"))
	f.Add(readFile(f, "../examples/term-sheet.yaml"))
	f.Add(readFile(f, "testdata/small.yaml"))
	for _, c := range badCases {
		f.Add([]byte(c.source(f)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := contracts.Load("fuzz.yaml", data)
		p2, err2 := contracts.Load("fuzz.yaml", data)
		if fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("not deterministic:\n%v\n---\n%v", err, err2)
		}
		if err != nil {
			if p != nil {
				t.Fatal("a portfolio came back with an error")
			}
			checkUserErrors(t, err)
			return
		}
		if p == nil {
			t.Fatal("no portfolio and no error")
		}
		if summary(p) != summary(p2) {
			t.Fatalf("not deterministic:\n%s\n---\n%s", summary(p), summary(p2))
		}
		checkPortfolio(t, p)
	})
}

func checkUserErrors(t *testing.T, err error) {
	t.Helper()
	if !offtake.IsUserError(err) {
		t.Fatalf("not a user error: %T %v", err, err)
	}
	var es offtake.Errors
	if !errors.As(err, &es) || len(es) == 0 {
		t.Fatalf("not a non-empty offtake.Errors: %T %v", err, err)
	}
	for _, e := range es {
		if e == nil || !strings.HasPrefix(e.Place, "fuzz.yaml") || e.Msg == "" {
			t.Fatalf("malformed error %#v", e)
		}
	}
}

// checkTerms checks one version of a loaded contract's terms.
func checkTerms(t *contracts.Terms, c *contracts.Contract, fail func(string, ...any)) {
	v := t.Volume
	switch v.Shape {
	case contracts.ShapeLoadFollowing:
		if v.CapacityMW.Sign() < 0 {
			fail("contract %s volume %+v", c.ID, v)
		}
	case contracts.ShapeAsGenerated:
		if v.Percent.Sign() <= 0 || v.Percent.GreaterThan(decimal.NewFromInt(100)) {
			fail("contract %s percent %s", c.ID, v.Percent)
		}
	case contracts.ShapeBaseload:
		if v.MW.Sign() <= 0 {
			fail("contract %s block %s", c.ID, v.MW)
		}
	case contracts.ShapeShaped:
		if len(v.Profile) == 0 {
			fail("contract %s shaped without profile", c.ID)
		}
	default:
		fail("contract %s shape %q", c.ID, v.Shape)
	}
	if v.During != "" && (c.Calendar == nil || !slices.Contains(c.Calendar.BandNames(), v.During)) {
		fail("contract %s during %q not a band", c.ID, v.During)
	}
	p := t.Price
	switch p.Kind {
	case contracts.PriceFixed:
		if (c.Kind == contracts.KindPhysical && p.USDPerMWh.Sign() < 0) || p.USDPerMWh.Exponent() < -6 {
			fail("contract %s price %+v", c.ID, p)
		}
	case contracts.PriceTOU:
		if c.Calendar == nil || len(p.Rates) != len(c.Calendar.Bands) {
			fail("contract %s rates %v", c.ID, p.Rates)
		}
	case contracts.PriceGasIndexed:
		if p.Gas.Index == "" || p.Gas.HeatRate.Sign() <= 0 {
			fail("contract %s gas %+v", c.ID, p.Gas)
		}
	case contracts.PriceMarketLinked:
		if p.Market.Factor.Sign() <= 0 {
			fail("contract %s market %+v", c.ID, p.Market)
		}
	default:
		fail("contract %s price kind %q", c.ID, p.Kind)
	}
	if c.Kind == contracts.KindVirtual && (t.Virtual.Hub == "" || (t.Virtual.PositivePaidBy != contracts.RoleSeller && t.Virtual.PositivePaidBy != contracts.RoleBuyer)) {
		fail("contract %s virtual %+v", c.ID, t.Virtual)
	}
}

func summary(p *contracts.Portfolio) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%+v\n", p.Parties)
	for _, s := range p.Sites {
		s.Location = nil // compared by name below
		fmt.Fprintf(&b, "%s\n", pointer.ReplaceAllString(fmt.Sprintf("%+v", s), "ptr"))
		if e := s.Emissions; e != nil {
			fmt.Fprintf(&b, "emissions %s %s %s\n", e.HeatRate, e.FuelKgPerMMBtu, e.GridKgPerMWh)
		}
	}
	for _, c := range p.Contracts {
		c.Calendar = nil // compared by id
		// pointers compared by what they point to
		fmt.Fprintf(&b, "%s\n", pointer.ReplaceAllString(fmt.Sprintf("%+v", c), "ptr"))
		for _, t := range c.Versions() {
			if t.Price.Escalator != nil {
				e := t.Price.Escalator
				fmt.Fprintf(&b, "escalator v%d %s %s %v %d\n", t.Version, e.Percent, e.Anniversary, e.FirstYearEscalated, e.Decimals)
			}
			if m := t.Price.Market; m.Floor != nil || m.Cap != nil {
				fmt.Fprintf(&b, "market v%d %v %v\n", t.Version, m.Floor, m.Cap)
			}
		}
	}
	for _, c := range p.Calendars {
		fmt.Fprintf(&b, "%s %s %v %+v\n", c.ID, c.Holidays, c.Extra, c.Bands)
	}
	return b.String()
}

var pointer = regexp.MustCompile(`0x[0-9a-f]+`)

var fuzzID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkPortfolio checks what every loaded portfolio must hold.
func checkPortfolio(t *testing.T, p *contracts.Portfolio) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format, args...)
	}
	seen := map[string]bool{}
	prefixes := map[string]bool{}
	for _, pa := range p.Parties {
		if !fuzzID.MatchString(pa.ID) || seen[pa.ID] || pa.Name == "" {
			fail("party id %q bad or repeated, or no name", pa.ID)
		}
		seen[pa.ID] = true
		switch pa.Role {
		case contracts.RoleSeller, contracts.RoleBuyer, contracts.RoleGrid:
		default:
			fail("party %s role %q", pa.ID, pa.Role)
		}
		if pa.InvoicePrefix != "" {
			if prefixes[pa.InvoicePrefix] {
				fail("invoice prefix %q repeated", pa.InvoicePrefix)
			}
			prefixes[pa.InvoicePrefix] = true
		}
	}
	role := func(id string) contracts.Role {
		pa, ok := p.Party(id)
		if !ok {
			fail("no party %q", id)
		}
		return pa.Role
	}
	seen = map[string]bool{}
	for i := range p.Sites {
		s := &p.Sites[i]
		if !fuzzID.MatchString(s.ID) || seen[s.ID] || s.Line <= 0 {
			fail("site id %q bad or repeated, or line %d", s.ID, s.Line)
		}
		seen[s.ID] = true
		if s.Location == nil || s.Location.String() != s.TimeZone || s.TimeZone == "" {
			fail("site %s location %v for %q", s.ID, s.Location, s.TimeZone)
		}
		switch s.IntervalMinutes {
		case 5, 15, 30, 60:
		default:
			fail("site %s interval %d", s.ID, s.IntervalMinutes)
		}
		if s.CapacityMW.Sign() <= 0 || s.Name == "" || s.Market == "" || s.GeneratorNode == "" || s.LoadNode == "" {
			fail("site %s: %+v", s.ID, s)
		}
		if role(s.Owner) != contracts.RoleSeller || role(s.Grid) != contracts.RoleGrid {
			fail("site %s owner %q grid %q", s.ID, s.Owner, s.Grid)
		}
		if len(s.MetersOfKind(contracts.MeterGross)) < 1 || len(s.MetersOfKind(contracts.MeterPOI)) > 1 {
			fail("site %s meters %+v", s.ID, s.Meters)
		}
		meters := map[string]bool{}
		for _, m := range s.Meters {
			if !fuzzID.MatchString(m.ID) || meters[m.ID] || m.Line <= 0 {
				fail("site %s meter id %q bad or repeated, or line %d", s.ID, m.ID, m.Line)
			}
			meters[m.ID] = true
			switch m.Kind {
			case contracts.MeterLoad:
				if role(m.Party) != contracts.RoleBuyer {
					fail("load meter %s party %q", m.ID, m.Party)
				}
			case contracts.MeterGross, contracts.MeterStationService, contracts.MeterPOI:
				if m.Party != "" || m.Node != "" {
					fail("meter %s of kind %s has party %q node %q", m.ID, m.Kind, m.Party, m.Node)
				}
			default:
				fail("meter %s kind %q", m.ID, m.Kind)
			}
		}
	}
	seen = map[string]bool{}
	for i := range p.Contracts {
		c := &p.Contracts[i]
		if !fuzzID.MatchString(c.ID) || seen[c.ID] || c.Line <= 0 {
			fail("contract id %q bad or repeated, or line %d", c.ID, c.Line)
		}
		seen[c.ID] = true
		s, ok := p.Site(c.Site)
		if !ok {
			fail("contract %s: no site %q", c.ID, c.Site)
		}
		if role(c.Seller) != contracts.RoleSeller || s.Owner != c.Seller || role(c.Buyer) != contracts.RoleBuyer {
			fail("contract %s seller %q buyer %q", c.ID, c.Seller, c.Buyer)
		}
		if c.Kind == contracts.KindPhysical || c.Meter != "" {
			m, ok := s.Meter(c.Meter)
			if !ok || (c.Kind == contracts.KindPhysical && (m.Kind != contracts.MeterLoad || m.Party != c.Buyer)) {
				fail("contract %s meter %q: %+v", c.ID, c.Meter, m)
			}
		}
		if (c.Kind == contracts.KindPhysical && c.Priority < 1) || !c.Start.Before(c.End) || c.Start.IsZero() || c.Version != 1 ||
			(c.Kind != contracts.KindPhysical && c.Kind != contracts.KindVirtual) {
			fail("contract %s terms %+v", c.ID, c)
		}
		if c.CalendarID != "" && (c.Calendar == nil || c.Calendar.ID != c.CalendarID) {
			fail("contract %s calendar %q not resolved", c.ID, c.CalendarID)
		}
		prev := c.Start
		for i, t := range c.Versions() {
			if t.Version != i+1 || (i > 0 && !prev.Before(t.Effective)) || !t.Effective.Before(c.End) {
				fail("contract %s version %d effective %s", c.ID, t.Version, t.Effective)
			}
			prev = t.Effective
			checkTerms(t, c, fail)
		}
		if c.Rounding != contracts.RoundHalfUp && c.Rounding != contracts.RoundHalfEven || c.PaymentTermsDays < 0 || c.PaymentTermsDays > 365 {
			fail("contract %s rounding %q terms %d", c.ID, c.Rounding, c.PaymentTermsDays)
		}
	}
}
