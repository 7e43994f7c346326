package matching

import (
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/shopspring/decimal"
)

// The test site, built in Go like examples/coyote-flats.yaml: one gross meter,
// one station meter, three load meters, three load-following contracts with
// priorities 1, 2, 2 and caps of 450, 400 and 300 MW (112.5, 100 and 75 MWh
// over a 15-minute interval).
const (
	testSite      = "coyote-flats"
	testGross     = "CFEC-GROSS"
	testStation   = "CFEC-AUX"
	testNorthwind = "DC-NORTHWIND"
	testHelios    = "DC-HELIOS"
	testCedar     = "DC-CEDAR"
	testGenNode   = "CFEC_CC1_RN"
	testLoadNode  = "LZ_WEST"
)

// CoyoteFlats returns a fresh portfolio with the test site. It is exported so
// that the external tests (benchmarks) of this package can use it too.
func CoyoteFlats() *contracts.Portfolio {
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		panic(err)
	}
	start := contracts.Date{Year: 2028, Month: time.January, Day: 1}
	contract := func(id, buyer, meter string, priority int, capMW int64, usd string, end int) contracts.Contract {
		return contracts.Contract{
			ID: id, Kind: contracts.KindPhysical,
			Seller: "mesa-ridge", Buyer: buyer, Site: testSite, Meter: meter,
			Priority: priority, Start: start, End: contracts.Date{Year: end, Month: time.January, Day: 1},
			Terms: contracts.Terms{
				Version: 1, Effective: start,
				Volume: contracts.Volume{Shape: contracts.ShapeLoadFollowing, CapacityMW: decimal.NewFromInt(capMW)},
				Price:  contracts.Price{Kind: contracts.PriceFixed, USDPerMWh: decimal.RequireFromString(usd)},
			},
			Rounding: contracts.RoundHalfUp, PaymentTermsDays: 30,
		}
	}
	return &contracts.Portfolio{
		Parties: []contracts.Party{
			{ID: "mesa-ridge", Name: "Mesa Ridge Power LLC", Role: contracts.RoleSeller, InvoicePrefix: "MRP"},
			{ID: "northwind", Name: "Northwind Compute Inc.", Role: contracts.RoleBuyer},
			{ID: "helios", Name: "Helios AI Campus LLC", Role: contracts.RoleBuyer},
			{ID: "cedar", Name: "Cedar Labs Corp.", Role: contracts.RoleBuyer},
			{ID: "ercot", Name: "ERCOT (grid)", Role: contracts.RoleGrid},
		},
		Sites: []contracts.Site{{
			ID: testSite, Name: "Coyote Flats Energy Center", Market: "ERCOT",
			TimeZone: "America/Chicago", Location: loc, IntervalMinutes: 15,
			Owner: "mesa-ridge", Grid: "ercot", CapacityMW: decimal.NewFromInt(1200),
			GeneratorNode: testGenNode, LoadNode: testLoadNode,
			Emissions: &contracts.Emissions{HeatRate: decimal.RequireFromString("6.9"), FuelKgPerMMBtu: contracts.DefaultGasKgPerMMBtu, GridKgPerMWh: decimal.NewFromInt(380)},
			Meters: []contracts.Meter{
				{ID: testGross, Kind: contracts.MeterGross},
				{ID: testStation, Kind: contracts.MeterStationService},
				{ID: testNorthwind, Kind: contracts.MeterLoad, Party: "northwind"},
				{ID: testHelios, Kind: contracts.MeterLoad, Party: "helios"},
				{ID: testCedar, Kind: contracts.MeterLoad, Party: "cedar"},
			},
		}},
		// Out of priority order on purpose: the engine must sort them.
		Contracts: []contracts.Contract{
			contract("ppa-helios", "helios", testHelios, 2, 400, "61.25", 2038),
			contract("ppa-northwind", "northwind", testNorthwind, 1, 450, "58.00", 2043),
			contract("ppa-cedar", "cedar", testCedar, 2, 300, "64.80", 2033),
		},
	}
}
