package matching

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Wh is energy in watt-hours, the engine's minimum unit (1 Wh = 0.000001 MWh).
type Wh int64

// MWh is w as an exact decimal number of megawatt-hours.
func (w Wh) MWh() decimal.Decimal { return decimal.New(int64(w), -6) }

// WhPerMWh is the number of minimum units in one MWh.
const WhPerMWh = 1_000_000

// maxWh bounds any single reading: 1 TWh in one interval is absurd for any
// site, and keeping values far below 2^63 lets sums of thousands of readings
// and the 128-bit pro-rata arithmetic stay exact.
const maxWh = Wh(1_000_000_000_000)

// FromMWh converts an exact decimal MWh to Wh, refusing values finer than 1 Wh
// or beyond the engine's bound.
func FromMWh(mwh decimal.Decimal) (Wh, error) {
	wh := mwh.Shift(6)
	if !wh.Equal(wh.Truncate(0)) {
		return 0, fmt.Errorf("%s MWh is finer than 1 Wh", mwh)
	}
	if wh.Abs().GreaterThan(decimal.NewFromInt(int64(maxWh))) {
		return 0, fmt.Errorf("%s MWh is beyond the %d MWh a reading may hold", mwh, int64(maxWh)/WhPerMWh)
	}
	return Wh(wh.IntPart()), nil
}

// Quality says how a reading was obtained.
type Quality string

// The reading qualities.
const (
	Actual      Quality = "actual"      // read from the meter
	Estimated   Quality = "estimated"   // estimated by offtake or the meter data agent
	Substituted Quality = "substituted" // replaced by a validated substitute
)

// Valid reports whether q is one of the known qualities.
func (q Quality) Valid() bool { return q == Actual || q == Estimated || q == Substituted }

// Reading is one meter's energy over one interval [Start, End).
type Reading struct {
	Site    string
	Meter   string
	Start   time.Time
	End     time.Time
	Energy  Wh
	Quality Quality
	Version int
}

// Price is a market price at a node over [Start, End).
type Price struct {
	Node      string
	Market    string // "RT", "DA", ...
	Start     time.Time
	End       time.Time
	USDPerMWh decimal.Decimal // USD per Unit
	// Unit is what the price is per: "" or "MWh" for power, "MMBtu" for a
	// gas index (Node is then the index, e.g. HENRY_HUB, and the price is
	// for the operating day that holds the middle of [Start, End)).
	Unit string
}

// The price units.
const (
	UnitMWh   = "MWh"
	UnitMMBtu = "MMBtu"
	// UnitKgCO2e is a grid emission factor's unit: Node is the site's
	// grid_factor_node and the value is kg CO2e per MWh imported.
	UnitKgCO2e = "kgCO2e/MWh"
)

// PriceRef is the price an interval's leg was valued at and where it came from.
type PriceRef struct {
	Node        string
	Market      string
	Start       time.Time // start of the price's own interval
	USDPerMWh   decimal.Decimal
	CarriedFrom bool // true when no price covered the interval and the node's latest earlier price was used
}

// ReadingRef records a reading that an interval's allocation used.
type ReadingRef struct {
	Meter   string
	Energy  Wh
	Quality Quality
	Version int
}

// Delivery is energy a physical contract delivered to its buyer in one
// interval, and what the buyer pays for it.
type Delivery struct {
	Contract        string
	ContractVersion int
	Seller          string
	Buyer           string
	Meter           string
	Energy          Wh
	USDPerMWh       decimal.Decimal
	Band            string // time-of-use band, when the contract has a calendar
	PriceBasis      string // how the price was formed (contracts.Quote.Basis)
	Volume          Wh     // what the contract called for (its claim); -1: no cap
	// Shortfall is firm volume the buyer could have taken (up to its load)
	// that the plant did not supply; paid at ShortfallUSDPerMWh.
	Shortfall          Wh
	ShortfallUSDPerMWh decimal.Decimal
}

// CFD is the money a virtual contract moves in one interval:
// (market − strike) × volume, and the basis (node − hub) × volume when the
// contract applies it. A positive difference is paid by PositivePaidBy.
type CFD struct {
	Contract        string
	ContractVersion int
	Seller          string
	Buyer           string
	Volume          Wh
	Strike          decimal.Decimal
	Band            string
	PriceBasis      string
	Market          PriceRef  // the hub's price
	Node            *PriceRef // the generator node's price, when basis applies
	PositivePaidBy  string    // the party id that pays a positive difference
}

// GridFlow is energy exchanged with the grid by one party in one interval.
type GridFlow struct {
	Party  string
	Meter  string // the load meter for an import, the gross meter for the plant
	Energy Wh
	Price  PriceRef
}

// Result is the allocation of one closed interval of one site.
type Result struct {
	Site     string
	Start    time.Time
	End      time.Time
	Revision int // 1 for the first allocation of the interval, then 2, 3, … for each correction
	// Reverses is the allocation this one replaces (revision − 1), whose
	// transfers the ledger reverses before booking this one; nil for the
	// first allocation.
	Reverses *Result
	Seller   string
	Grid     string

	Gross   Wh
	Station Wh
	Net     Wh // Gross − Station

	Deliveries  []Delivery // physical contracts, in priority, then contract id, order
	CFDs        []CFD      // virtual contracts, in the same order
	Export      GridFlow   // net output no contract took, sold at the generator node
	PlantImport GridFlow   // station service the plant drew from the grid when Net < 0
	Imports     []GridFlow // per load meter, what the plant did not cover, bought at the load's node
	Loads       []ReadingRef
	Readings    []ReadingRef // every meter of the site, in site meter order

	Emissions *Emissions // nil when the site books no emissions
}

// The kinds of emission attribution.
const (
	EmissionDelivery = "delivery" // a buyer's share of the plant's emissions, for energy delivered
	EmissionExport   = "export"   // the grid's share, for energy exported
	EmissionPlant    = "plant"    // the owner's, when the plant delivered and exported nothing
	EmissionImport   = "import"   // energy imported from the grid, at the grid's factor
)

// Emission is CO2e attributed to a party in one interval.
type Emission struct {
	Party    string
	Kind     string // one of the Emission… kinds
	Contract string // for a delivery
	Version  int    // the contract's terms version, for a delivery
	Energy   Wh     // the energy the emissions are attributed for
	Grams    int64
}

// Emissions are an interval's plant emissions and who they are attributed
// to. Conserved like energy: PlantGrams = Σ Attributed grams.
type Emissions struct {
	PlantGrams int64      // gross output × heat rate × fuel factor, rounded half-up to the gram
	Attributed []Emission // in proportion to energy delivered and exported
	Imports    []Emission // per load that imported, at the grid's factor
}

// Delivered is the sum of all deliveries.
func (r *Result) Delivered() Wh {
	var sum Wh
	for _, d := range r.Deliveries {
		sum += d.Energy
	}
	return sum
}

// Estimated reports whether any reading the result used was not actual.
func (r *Result) Estimated() bool {
	for _, rr := range r.Readings {
		if rr.Quality != Actual {
			return true
		}
	}
	return false
}
