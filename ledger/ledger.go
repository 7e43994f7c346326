package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/shopspring/decimal"
)

// Unit is what an amount counts.
type Unit string

// The units, each with its scale (decimal places kept exactly), declared once
// here and in the units table.
const (
	MWh Unit = "MWh" // energy, scale 6 (1 Wh)
	USD Unit = "USD" // money, scale 12 (MWh at scale 6 × $/MWh at scale 6, exact)
	// TCO2e is emissions in tonnes of CO2 equivalent, scale 6 (1 gram).
	TCO2e Unit = "tCO2e"
)

// Scale is the number of decimal places a unit's amounts are kept to.
func (u Unit) Scale() int32 {
	switch u {
	case MWh:
		return 6
	case USD:
		return 12
	case TCO2e:
		return 6
	}
	return 0
}

// AccountKind is what an account of a party holds.
type AccountKind string

// The account kinds.
const (
	Energy        AccountKind = "energy"     // MWh: credits received, debits delivered
	Settlement    AccountKind = "settlement" // USD: credits receivable, debits payable
	ShortfallMemo AccountKind = "shortfall"  // MWh memo: firm volume a seller owed and could not deliver (debit seller, credit buyer)
	Emissions     AccountKind = "emissions"  // tCO2e: emissions attributed to the party (credits attributed to it)
)

// AccountID is the id of a party's account of a kind: "party:kind".
func AccountID(party string, kind AccountKind) string { return party + ":" + string(kind) }

// UnitOf is the unit an account kind holds.
func UnitOf(kind AccountKind) Unit {
	switch kind {
	case Energy, ShortfallMemo:
		return MWh
	case Emissions:
		return TCO2e
	}
	return USD
}

// Leg is what a transfer books.
type Leg string

// The legs of an interval's allocation.
const (
	Delivery           Leg = "delivery"             // MWh seller → buyer under a contract
	DeliveryPayment    Leg = "delivery_payment"     // USD buyer → seller at the contract price
	Export             Leg = "export"               // MWh seller → grid
	ExportPayment      Leg = "export_payment"       // USD grid → seller at the generator node price
	Import             Leg = "import"               // MWh grid → buyer
	ImportPayment      Leg = "import_payment"       // USD buyer → grid at the load node price
	PlantImport        Leg = "plant_import"         // MWh grid → seller (station service when net < 0)
	PlantImportPayment Leg = "plant_import_payment" // USD seller → grid at the generator node price
	Shortfall          Leg = "shortfall"            // MWh memo seller:shortfall → buyer:shortfall: firm volume not delivered
	ShortfallPayment   Leg = "shortfall_payment"    // USD seller → buyer at the contract's shortfall price (damages)
	CFD                Leg = "cfd"                  // USD virtual PPA: (market − strike) × volume, payer by the contract's rule
	CFDBasis           Leg = "cfd_basis"            // USD virtual PPA basis: (node − hub) × volume, when the contract applies it
	EmissionsLeg       Leg = "emissions"            // tCO2e seller → buyer (or grid): its share of the plant's emissions
	ImportEmissions    Leg = "import_emissions"     // tCO2e grid → buyer: emissions of energy imported, at the grid's factor
)

// ReadingRef names a reading an allocation used.
type ReadingRef struct {
	Meter   string `json:"meter"`
	Version int    `json:"version"` // 0 for an estimate made by offtake
	Quality string `json:"quality"`
}

// Transfer is one double-entry movement of an amount of one unit.
type Transfer struct {
	ID            [16]byte
	Debit         string // account id: the amount leaves it
	Credit        string // account id: the amount arrives in it
	Unit          Unit
	Amount        decimal.Decimal // ≥ 0, at most Unit.Scale() places
	Leg           Leg
	Site          string
	IntervalStart time.Time
	IntervalEnd   time.Time
	Period        string // billing period YYYY-MM in the site's market time
	Revision      int
	Contract      string // "" for grid legs
	ContractVer   int
	QuantityMWh   decimal.Decimal // the energy a payment leg prices (the energy leg's own amount for energy)
	Price         decimal.Decimal // $/MWh behind a payment leg (signed: market prices can be negative)
	PriceNode     string
	PriceMarket   string
	PriceStart    time.Time
	PriceCarried  bool   // the price was carried forward from an earlier interval
	Band          string // time-of-use band of a contract payment ("peak", "off_peak"); "" when the price has no bands
	PriceBasis    string // how the price was formed, e.g. "fixed", "escalated year 3", "gas HENRY_HUB 3.12 × 7.2 + 3.5", "negative: adjusted"
	Readings      []ReadingRef
	// Reverses is the id of the transfer this one cancels (a correction:
	// the same unit and amount with the accounts swapped); zero for none.
	Reverses [16]byte
}

// TransferID derives a transfer's id from what it records.
func TransferID(site string, start time.Time, revision int, leg Leg, key string) [16]byte {
	h := sha256.New()
	var buf [16]byte
	h.Write([]byte(site))
	h.Write([]byte{0})
	binary.BigEndian.PutUint64(buf[:8], uint64(start.Unix()))
	binary.BigEndian.PutUint64(buf[8:], uint64(revision))
	h.Write(buf[:])
	h.Write([]byte(leg))
	h.Write([]byte{0})
	h.Write([]byte(key))
	var id [16]byte
	copy(id[:], h.Sum(nil))
	id[6] = (id[6] & 0x0f) | 0x80 // UUID version 8 (custom), variant RFC 4122
	id[8] = (id[8] & 0x3f) | 0x80
	return id
}

// Interval is the record of one allocated interval, kept beside its transfers
// so a restarted engine knows what it already booked.
type Interval struct {
	Site      string
	Start     time.Time
	End       time.Time
	Revision  int
	Period    string
	GrossMWh  decimal.Decimal
	NetMWh    decimal.Decimal
	ExportMWh decimal.Decimal
	ImportMWh decimal.Decimal // loads' imports plus plant import
	Estimated bool
}

// Offset is the next Kafka offset to read for a partition, stored in the same
// transaction as the transfers the messages before it produced.
type Offset struct {
	Consumer  string
	Topic     string
	Partition int
	Next      int64
}

// Batch is what one ledger transaction writes.
type Batch struct {
	Source    string // e.g. "engine", for the batches table
	Transfers []Transfer
	Intervals []Interval
	Prices    []MarketPrice
	Offsets   []Offset
}

// MarketPrice is a market price kept in the ledger database for trace and
// restart.
type MarketPrice struct {
	Node      string
	Market    string
	Start     time.Time
	End       time.Time
	USDPerMWh decimal.Decimal // USD per Unit
	Unit      string          // "" or "MWh" for power, "MMBtu" for a gas index (matching.UnitMMBtu)
}
