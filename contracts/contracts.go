package contracts

import (
	"fmt"
	"time"
	_ "time/tzdata" // market time zones must resolve on machines without zoneinfo

	"github.com/shopspring/decimal"
)

// Role is what a party does in a site's trade.
type Role string

// The roles a party can have.
const (
	RoleSeller Role = "seller" // the plant owner
	RoleBuyer  Role = "buyer"  // a data-center operator (an offtaker)
	RoleGrid   Role = "grid"   // the ISO / market that takes exports and supplies imports
)

// Party is a legal entity that appears on invoices and owns ledger accounts.
type Party struct {
	ID            string
	Name          string
	Role          Role
	Address       string
	TaxID         string
	Email         string
	InvoicePrefix string // e.g. "JPG": invoice numbers are PREFIX-YYYY-NNNNNN
}

// MeterKind says what a meter measures and so which topic carries it.
type MeterKind string

// The meter kinds.
const (
	MeterGross          MeterKind = "generation_gross" // the plant's gross generation
	MeterStationService MeterKind = "station_service"  // the plant's own auxiliary load
	MeterLoad           MeterKind = "load"             // a co-located load (a data center)
	MeterPOI            MeterKind = "poi"              // the revenue meter at the point of interconnection
)

// Generation reports whether readings of this kind belong on the generation
// topic (true) or the consumption topic (false).
func (k MeterKind) Generation() bool { return k != MeterLoad }

// Meter is one metering point of a site.
type Meter struct {
	ID    string
	Kind  MeterKind
	Party string // the load's owner, for MeterLoad
	Node  string // the price node a load buys at; empty = the site's load node
	Line  int    // line in the contract file, for messages
}

// Site is a plant and its co-located loads behind one point of interconnection.
type Site struct {
	ID              string
	Name            string
	Market          string // ERCOT, PJM, ...
	TimeZone        string // IANA name of the market time zone
	Location        *time.Location
	IntervalMinutes int
	Owner           string // the seller party that owns the plant
	Grid            string // the grid party (the ISO)
	GeneratorNode   string // price node where the plant sells exports
	LoadNode        string // default price node where loads buy imports
	CapacityMW      decimal.Decimal
	Meters          []Meter
	Line            int
}

// Interval is the site's settlement interval.
func (s *Site) Interval() time.Duration { return time.Duration(s.IntervalMinutes) * time.Minute }

// Meter returns the meter with the given id.
func (s *Site) Meter(id string) (*Meter, bool) {
	for i := range s.Meters {
		if s.Meters[i].ID == id {
			return &s.Meters[i], true
		}
	}
	return nil, false
}

// MetersOfKind lists the meters of one kind, in file order.
func (s *Site) MetersOfKind(kind MeterKind) []*Meter {
	var out []*Meter
	for i := range s.Meters {
		if s.Meters[i].Kind == kind {
			out = append(out, &s.Meters[i])
		}
	}
	return out
}

// NodeOf returns the price node a meter's energy is bought at.
func (s *Site) NodeOf(m *Meter) string {
	if m.Node != "" {
		return m.Node
	}
	return s.LoadNode
}

// CheckInterval reports what is wrong with [start, end) as one of this site's
// intervals, or "" when it is a whole, aligned interval.
func (s *Site) CheckInterval(start, end time.Time) string {
	d := s.Interval()
	switch {
	case !end.After(start):
		return fmt.Sprintf("end %s is not after start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	case end.Sub(start) != d:
		return fmt.Sprintf("interval is %s long; site %s settles every %s", end.Sub(start), s.ID, d)
	case !start.Truncate(d).Equal(start):
		return fmt.Sprintf("start %s is not aligned to the site's %s intervals", start.UTC().Format(time.RFC3339), d)
	}
	return ""
}

// Shape is how a contract's volume is set each interval.
type Shape string

// The volume shapes.
const (
	ShapeLoadFollowing Shape = "load_following" // what the buyer consumes, up to a capacity
)

// Volume is a contract's volume terms.
type Volume struct {
	Shape      Shape
	CapacityMW decimal.Decimal // 0 = no cap
}

// PriceKind is how a contract's energy price is set.
type PriceKind string

// The price kinds.
const (
	PriceFixed PriceKind = "fixed"
)

// Price is a contract's price terms.
type Price struct {
	Kind      PriceKind
	USDPerMWh decimal.Decimal
}

// Rounding is the rule an invoice line's amount is rounded to the cent by.
type Rounding string

// The rounding rules.
const (
	RoundHalfUp   Rounding = "half_up"   // 0.005 → 0.01, -0.005 → -0.01 (away from zero at half)
	RoundHalfEven Rounding = "half_even" // banker's rounding
)

// Round rounds amount to places decimals by the rule.
func (r Rounding) Round(amount decimal.Decimal, places int32) decimal.Decimal {
	if r == RoundHalfEven {
		return amount.RoundBank(places)
	}
	return amount.Round(places)
}

// Kind is a contract's financial kind.
type Kind string

// The financial kinds.
const (
	KindPhysical Kind = "physical" // energy delivered behind the meter
)

// Contract is a power purchase agreement between a seller and a buyer at a site.
type Contract struct {
	ID               string
	Version          int // terms version, recorded with every allocation
	Kind             Kind
	Seller           string
	Buyer            string
	Site             string
	Meter            string // the buyer's load meter
	Priority         int    // 1 is served first
	Start            Date   // first day (site local), inclusive
	End              Date   // last day (site local), exclusive
	Volume           Volume
	Price            Price
	Rounding         Rounding
	PaymentTermsDays int
	Line             int
}

// ActiveAt reports whether the contract covers the interval starting at t,
// reading its dates in loc.
func (c *Contract) ActiveAt(t time.Time, loc *time.Location) bool {
	d := DateOf(t, loc)
	return !d.Before(c.Start) && d.Before(c.End)
}

// Portfolio is everything one or more contract files define.
type Portfolio struct {
	Parties   []Party
	Sites     []Site
	Contracts []Contract
}

// Party returns the party with the given id.
func (p *Portfolio) Party(id string) (*Party, bool) {
	for i := range p.Parties {
		if p.Parties[i].ID == id {
			return &p.Parties[i], true
		}
	}
	return nil, false
}

// Site returns the site with the given id.
func (p *Portfolio) Site(id string) (*Site, bool) {
	for i := range p.Sites {
		if p.Sites[i].ID == id {
			return &p.Sites[i], true
		}
	}
	return nil, false
}

// Contract returns the contract with the given id.
func (p *Portfolio) Contract(id string) (*Contract, bool) {
	for i := range p.Contracts {
		if p.Contracts[i].ID == id {
			return &p.Contracts[i], true
		}
	}
	return nil, false
}

// ContractsAt lists the contracts of a site, in priority then id order.
func (p *Portfolio) ContractsAt(site string) []*Contract {
	var out []*Contract
	for i := range p.Contracts {
		if p.Contracts[i].Site == site {
			out = append(out, &p.Contracts[i])
		}
	}
	sortContracts(out)
	return out
}

func sortContracts(cs []*Contract) {
	// insertion sort: a site has a handful of contracts
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && less(cs[j], cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func less(a, b *Contract) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	return a.ID < b.ID
}
