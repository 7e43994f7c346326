package contracts

import (
	"fmt"
	"sync"
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
	Remittance    string // how to pay the party: bank, account, reference (printed on its invoices)
	Taxes         []Tax  // taxes added to this party's invoices, when it is the buyer
	Line          int
}

// Tax is a tax charged on a counterparty's invoices: Percent of the taxable
// lines (energy and monthly charges), as its own line.
type Tax struct {
	Name     string          // e.g. "Texas state sales tax"
	Percent  decimal.Decimal // e.g. 6.25
	Category string          // UBL tax category code: S (standard), Z (zero rated), E (exempt), O (not subject)
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
	// LossFactor refers the meter's readings to the point of
	// interconnection: generation × (1 − f), loads and station service
	// × (1 + f). Zero: the meter is at the POI.
	LossFactor decimal.Decimal
	Line       int // line in the contract file, for messages
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
	Emissions       *Emissions // nil: the site does not book emissions
	Line            int
}

// DefaultGasKgPerMMBtu is the emission factor of natural gas: 53.06 kg CO2
// per MMBtu (US EPA, 40 CFR 98 Table C-1).
var DefaultGasKgPerMMBtu = decimal.RequireFromString("53.06")

// Emissions are a site's emission terms: the plant's emissions per interval
// are gross output × heat rate × fuel factor, attributed to whoever took the
// energy; energy imported from the grid carries the grid's factor.
type Emissions struct {
	HeatRate       decimal.Decimal // MMBtu of fuel per MWh of gross output
	FuelKgPerMMBtu decimal.Decimal // default 53.06 (natural gas)
	GridKgPerMWh   decimal.Decimal // imports from the grid, per MWh
	// GridFactorNode, when set, names the feed of grid emission factors
	// (messages on the prices topic with unit kgCO2e/MWh) that prices
	// imports interval by interval instead of GridKgPerMWh; an interval
	// waits for its factor as for a price.
	GridFactorNode string
}

// PlantKgPerMWh is the plant's emission intensity per MWh of gross output.
func (e *Emissions) PlantKgPerMWh() decimal.Decimal { return e.HeatRate.Mul(e.FuelKgPerMMBtu) }

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
	ShapeLoadFollowing Shape = "load_following" // what the buyer consumes, up to a capacity (pay-as-consumed)
	ShapeAsGenerated   Shape = "as_generated"   // a percentage of the plant's net output (pay-as-produced)
	ShapeBaseload      Shape = "baseload"       // a fixed MW block every interval (or every interval of one band)
	ShapeShaped        Shape = "shaped"         // MW per hour ending, per month or season
)

// Shapes lists the volume shapes, for messages.
var Shapes = []Shape{ShapeLoadFollowing, ShapeAsGenerated, ShapeBaseload, ShapeShaped}

// ProfileRow is one row of a shaped volume: the MW of each hour ending
// (1..24) in the months it names.
type ProfileRow struct {
	Months [13]bool            // index 1..12; a row with no months set is never used
	MW     [24]decimal.Decimal // hour ending 1 at index 0
	Line   int
}

// Volume is a contract's volume terms.
type Volume struct {
	Shape      Shape
	CapacityMW decimal.Decimal // load_following: the most MW the buyer takes under the contract; 0 = no cap
	Percent    decimal.Decimal // as_generated: percent of net output, 0 < p ≤ 100
	MW         decimal.Decimal // baseload: the block
	Profile    []ProfileRow    // shaped: first row naming the month wins
	During     string          // baseload, shaped: only in this band of the contract's calendar ("" = every hour)
	// Firm volumes (baseload and shaped, unless firm: false) that the plant
	// cannot meet are shortfalls, booked on their own leg and paid at
	// ShortfallUSDPerMWh when that is set.
	Firm               bool
	ShortfallUSDPerMWh decimal.Decimal
}

// PriceKind is how a contract's energy price is set.
type PriceKind string

// The price kinds.
const (
	PriceFixed        PriceKind = "fixed"         // one $/MWh, optionally escalated each year
	PriceTOU          PriceKind = "tou"           // a $/MWh per time-of-use band of the contract's calendar
	PriceGasIndexed   PriceKind = "gas_indexed"   // gas index $/MMBtu × heat rate + variable O&M (tolling)
	PriceMarketLinked PriceKind = "market_linked" // market price × factor + adder, with floor and cap
)

// PriceKinds lists the price kinds, for messages.
var PriceKinds = []PriceKind{PriceFixed, PriceTOU, PriceGasIndexed, PriceMarketLinked}

// NegativeRule is what a contract does in an interval whose reference market
// price is below zero.
type NegativeRule string

// The negative-price rules.
const (
	NegativeNoFloor      NegativeRule = "no_floor"      // nothing changes: the contract price applies
	NegativeAdjusted     NegativeRule = "adjusted"      // the buyer pays the contract price plus the (negative) market price
	NegativeNoSettlement NegativeRule = "no_settlement" // the contract takes and pays nothing that interval
)

// Escalator raises a price by a percentage each contract year.
type Escalator struct {
	Percent     decimal.Decimal // per year, e.g. 2.5
	Anniversary Date            // first date the price escalates
	// FirstYear says whether the first contract year (before Anniversary)
	// is already escalated once. By default it is not: the exponent is the
	// number of anniversaries passed.
	FirstYearEscalated bool
	Decimals           int32 // the escalated price is rounded half-up to this many places (≤ 6)

	memo sync.Map // memoKey → memoValue; an Escalator is used through a pointer, never copied
}

// GasIndex prices energy from a gas index (tolling).
type GasIndex struct {
	Index     string          // the index's node name on the prices topic, e.g. HENRY_HUB
	HeatRate  decimal.Decimal // MMBtu per MWh
	VOMPerMWh decimal.Decimal // variable O&M adder, $/MWh
}

// MarketLink prices energy from a market price.
type MarketLink struct {
	Node   string // price node; "" = the site's generator node
	Factor decimal.Decimal
	Adder  decimal.Decimal
	Floor  *decimal.Decimal
	Cap    *decimal.Decimal
}

// Price is a contract's price terms. For a virtual contract the price is the
// strike.
type Price struct {
	Kind      PriceKind
	USDPerMWh decimal.Decimal            // fixed
	Rates     map[string]decimal.Decimal // tou: band name → $/MWh
	Escalator *Escalator                 // fixed, tou
	Gas       GasIndex                   // gas_indexed
	Market    MarketLink                 // market_linked
	Negative  NegativeRule               // default no_floor
}

// Virtual is the settlement of a virtual PPA (a contract for differences).
type Virtual struct {
	Hub string // the node whose market price settles the difference
	// PositivePaidBy is who pays when market − strike is positive: the
	// seller (the usual virtual PPA: the buyer is hedged against high
	// prices) or the buyer.
	PositivePaidBy Role
	// Basis adds (generator node − hub) × volume, paid the same way, so the
	// buyer rather than the seller carries the basis.
	Basis bool
}

// Monthly is what settlement charges once a month. Percentages are of the
// contracted energy: ExpectedMWh when given, else the month's firm volume.
type Monthly struct {
	CapacityUSDPerKWMonth decimal.Decimal // on ContractedMW; 0 = none
	ContractedMW          decimal.Decimal // default: the volume's capacity_mw or mw
	ExpectedMWh           decimal.Decimal // per month; 0 = derived from a firm volume

	MinimumTakePercent    decimal.Decimal // take-or-pay: 0 = none
	MinimumTakeUSDPerMWh  decimal.Decimal // paid per MWh short of the minimum take
	ExcessAbovePercent    decimal.Decimal // 0 = no excess tier
	ExcessFractionOfPrice decimal.Decimal // excess paid at min(market, fraction × contract price)
}

// Terms are one version of a contract's commercial terms.
type Terms struct {
	Version   int
	Effective Date // first day (site local) the terms apply
	Volume    Volume
	Price     Price
	Virtual   Virtual // kind: virtual only
	Monthly   Monthly
	Line      int
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
	KindVirtual  Kind = "virtual"  // money only: (market − strike) × volume
)

// Contract is a power purchase agreement between a seller and a buyer at a site.
type Contract struct {
	ID               string
	Kind             Kind
	Seller           string
	Buyer            string
	Site             string
	Meter            string // the buyer's load meter ("" for a virtual contract that does not follow a load)
	Priority         int    // 1 is served first
	Start            Date   // first day (site local), inclusive
	End              Date   // last day (site local), exclusive
	Rounding         Rounding
	PaymentTermsDays int
	CalendarID       string    // the calendar of its bands and holidays; "" = none
	Calendar         *Calendar // resolved by the loader
	Line             int

	Terms              // version 1: the terms from Start
	Amendments []Terms // versions 2, 3, …, each from its Effective date

	memo *quoteMemo // see Prepare
}

// TermsOn returns the terms in force on local date d.
func (c *Contract) TermsOn(d Date) *Terms {
	for i := len(c.Amendments) - 1; i >= 0; i-- {
		if !d.Before(c.Amendments[i].Effective) {
			return &c.Amendments[i]
		}
	}
	return &c.Terms
}

// Versions lists every version of the terms, in order.
func (c *Contract) Versions() []*Terms {
	out := []*Terms{&c.Terms}
	for i := range c.Amendments {
		out = append(out, &c.Amendments[i])
	}
	return out
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
	Calendars []Calendar
	Sites     []Site
	Contracts []Contract
}

// Calendar returns the calendar with the given id.
func (p *Portfolio) Calendar(id string) (*Calendar, bool) {
	for i := range p.Calendars {
		if p.Calendars[i].ID == id {
			return &p.Calendars[i], true
		}
	}
	return nil, false
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
