package positions

import (
	"time"

	"github.com/shopspring/decimal"
)

// Report is the positions of one billing period: every site and every
// contract of the portfolio the ledger has booked anything for, or that is
// in force in the period.
type Report struct {
	Period    string     `json:"period"` // YYYY-MM in each site's market time
	Sites     []Site     `json:"sites"`
	Contracts []Contract `json:"contracts"`
}

// Site is a plant and its co-located loads over the period to date.
type Site struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Market   string `json:"market"`
	TimeZone string `json:"time_zone"`
	Owner    string `json:"owner"`
	// AsOf is the end of the latest interval booked in the period: what
	// "to date" means (event time, not the wall clock). Nil: nothing booked.
	AsOf              *time.Time      `json:"as_of,omitempty"`
	IntervalsBooked   int             `json:"intervals_booked"`
	IntervalsInPeriod int             `json:"intervals_in_period"`
	ElapsedPercent    decimal.Decimal `json:"elapsed_percent"` // of the period's intervals, up to AsOf

	GrossMWh       decimal.Decimal `json:"gross_mwh"`
	NetMWh         decimal.Decimal `json:"net_mwh"`      // gross − station service
	SoldPPAMWh     decimal.Decimal `json:"sold_ppa_mwh"` // delivered under physical contracts
	PPARevenueUSD  decimal.Decimal `json:"ppa_revenue_usd"`
	ExportMWh      decimal.Decimal `json:"export_mwh"`
	ExportUSD      decimal.Decimal `json:"export_usd"` // revenue at the generator node's price
	PlantImportMWh decimal.Decimal `json:"plant_import_mwh"`
	PlantImportUSD decimal.Decimal `json:"plant_import_usd"` // station service bought when net < 0
	// ExportUSDPerMWh is the average export price; nil without exports.
	ExportUSDPerMWh *decimal.Decimal `json:"export_usd_per_mwh,omitempty"`
	// CapacityFactorPercent is net generation over capacity × the hours booked.
	CapacityFactorPercent decimal.Decimal `json:"capacity_factor_percent"`

	// Fuel: gross output × the site's heat rate × the gas index of the
	// operating day (the latest index price at or before each interval).
	// Nil when the site has no heat rate or no index price is known.
	FuelIndex       string           `json:"fuel_index,omitempty"`
	HeatRate        *decimal.Decimal `json:"heat_rate_mmbtu_per_mwh,omitempty"`
	FuelMMBtu       *decimal.Decimal `json:"fuel_mmbtu,omitempty"`
	FuelUSD         *decimal.Decimal `json:"fuel_usd,omitempty"`
	FuelUSDPerMMBtu *decimal.Decimal `json:"fuel_usd_per_mmbtu,omitempty"` // average, weighted by fuel burnt
	FuelUnpricedMWh decimal.Decimal  `json:"fuel_unpriced_mwh"`            // gross output no index price covered
	// SparkSpreadUSD is the plant's margin over fuel: PPA revenue + export
	// revenue − station service bought − fuel. Nil when the fuel cost is.
	SparkSpreadUSD       *decimal.Decimal `json:"spark_spread_usd,omitempty"`
	SparkSpreadUSDPerMWh *decimal.Decimal `json:"spark_spread_usd_per_mwh,omitempty"` // per net MWh

	MTMUSD decimal.Decimal `json:"mtm_usd"` // Σ of the site's contracts' mark-to-market
	// EmissionsT is the plant's emissions attributed to buyers and the
	// grid (tCO2e), where the site books emissions.
	EmissionsT decimal.Decimal `json:"emissions_tco2e"`
	Loads      []Load          `json:"loads"`
}

// Load is a data center's consumption over the period to date.
type Load struct {
	Party        string          `json:"party"`
	Name         string          `json:"name"`
	LoadMWh      decimal.Decimal `json:"load_mwh"`       // delivered by the plant + imported
	FromPlantMWh decimal.Decimal `json:"from_plant_mwh"` // delivered under its PPAs
	ImportedMWh  decimal.Decimal `json:"imported_mwh"`
	ImportUSD    decimal.Decimal `json:"import_usd"` // at the load's node price
	// PlantSharePercent is FromPlant / Load over the period.
	PlantSharePercent decimal.Decimal `json:"plant_share_percent"`
	// HourlyMatchedPercent is Σ over hours of min(load, from plant) / Σ
	// load: energy matched hour by hour, never across hours.
	HourlyMatchedPercent decimal.Decimal `json:"hourly_matched_percent"`
	HoursFullyMatched    int             `json:"hours_fully_matched"`
	Hours                int             `json:"hours"`
	// Emissions where the site books them: the plant's attributed to the
	// energy it took, the grid's on what it imported, and the intensity of
	// all of it (kg CO2e per MWh of load).
	EmissionsT        decimal.Decimal  `json:"emissions_tco2e"`
	ImportEmissionsT  decimal.Decimal  `json:"import_emissions_tco2e"`
	EmissionsKgPerMWh *decimal.Decimal `json:"emissions_kg_per_mwh,omitempty"`
}

// Contract is one contract's position over the period to date.
type Contract struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"` // physical or virtual
	Site      string `json:"site"`
	Seller    string `json:"seller"`
	Buyer     string `json:"buyer"`
	BuyerName string `json:"buyer_name"`
	Version   int    `json:"version"` // terms in force on the period's first day (or the contract's start)
	Volume    string `json:"volume"`  // the volume terms, in words
	Price     string `json:"price"`   // the price terms, in words

	DeliveredMWh decimal.Decimal `json:"delivered_mwh"` // physical: energy delivered; virtual: the settled volume
	// AmountUSD is what the buyer owes for the period's own intervals,
	// exact: delivery payments (physical) or the difference payments
	// (virtual; negative when the seller pays). Positive: the buyer pays.
	AmountUSD decimal.Decimal `json:"amount_usd"`
	// AvgUSDPerMWh is AmountUSD / DeliveredMWh, to 6 places; nil without energy.
	AvgUSDPerMWh *decimal.Decimal `json:"avg_usd_per_mwh,omitempty"`
	// PriorPeriodUSD is corrections to earlier, finalized periods booked
	// in this one (settlement's prior_period lines).
	PriorPeriodUSD decimal.Decimal `json:"prior_period_usd"`

	// The contracted volume: a baseload or shaped block summed interval by
	// interval, else the terms' expected_mwh spread evenly over the
	// period's intervals. Nil when the terms give no figure.
	ContractedMWh       *decimal.Decimal `json:"contracted_mwh,omitempty"`
	ContractedToDateMWh *decimal.Decimal `json:"contracted_to_date_mwh,omitempty"` // the part up to AsOf
	// PaceMWh is delivered − contracted to date: positive, ahead.
	PaceMWh *decimal.Decimal `json:"pace_mwh,omitempty"`
	// Minimum take (take-or-pay): percent of the expected volume; the pace
	// is delivered − the minimum pro rata to date (negative: behind).
	MinimumTakeMWh       *decimal.Decimal `json:"minimum_take_mwh,omitempty"`
	MinimumTakeToDateMWh *decimal.Decimal `json:"minimum_take_to_date_mwh,omitempty"`
	MinimumTakePaceMWh   *decimal.Decimal `json:"minimum_take_pace_mwh,omitempty"`

	ShortfallMWh decimal.Decimal `json:"shortfall_mwh"` // firm volume not delivered, booked
	// EmissionsT is the plant's emissions attributed to the energy
	// delivered (tCO2e), and EmissionsKgPerMWh its intensity.
	EmissionsT        decimal.Decimal  `json:"emissions_tco2e"`
	EmissionsKgPerMWh *decimal.Decimal `json:"emissions_kg_per_mwh,omitempty"`
	ShortfallUSD      decimal.Decimal  `json:"shortfall_usd"` // damages the seller owes for it

	MTM *MTM `json:"mtm,omitempty"` // nil when nothing is contracted for the rest of the period
}

// MTM is the mark-to-market of the rest of the period's contracted volume:
// each remaining interval's volume valued at the contract price against the
// forward curve at the reference node (the generator node for a physical
// contract, the hub for a virtual one), from the seller's side: positive
// means the contract sells above the curve.
type MTM struct {
	Node              string           `json:"node"`
	RemainingMWh      decimal.Decimal  `json:"remaining_mwh"`
	PricedMWh         decimal.Decimal  `json:"priced_mwh"` // the part the curve and the terms could price
	ContractUSDPerMWh *decimal.Decimal `json:"contract_usd_per_mwh,omitempty"`
	ForwardUSDPerMWh  *decimal.Decimal `json:"forward_usd_per_mwh,omitempty"`
	ValueUSD          decimal.Decimal  `json:"value_usd"`
}

// Site returns the report's site with the given id.
func (r *Report) Site(id string) (*Site, bool) {
	for i := range r.Sites {
		if r.Sites[i].ID == id {
			return &r.Sites[i], true
		}
	}
	return nil, false
}

// Contract returns the report's contract with the given id.
func (r *Report) Contract(id string) (*Contract, bool) {
	for i := range r.Contracts {
		if r.Contracts[i].ID == id {
			return &r.Contracts[i], true
		}
	}
	return nil, false
}

// Only is the report restricted to one site and/or one contract ("" = all):
// a contract filter keeps the contract's site, a site filter its contracts.
func (r *Report) Only(site, contract string) *Report {
	out := &Report{Period: r.Period, Sites: []Site{}, Contracts: []Contract{}}
	for _, c := range r.Contracts {
		if (site == "" || c.Site == site) && (contract == "" || c.ID == contract) {
			out.Contracts = append(out.Contracts, c)
		}
	}
	for _, s := range r.Sites {
		if site != "" && s.ID != site {
			continue
		}
		if contract != "" {
			if c, ok := r.Contract(contract); !ok || c.Site != s.ID {
				continue
			}
		}
		out.Sites = append(out.Sites, s)
	}
	return out
}

// ForParty is what a counterparty may see of the report: the contracts it
// is a party to, and of each site only its own loads — the plant's figures
// only at a site it owns.
func (r *Report) ForParty(party string) *Report {
	out := &Report{Period: r.Period, Sites: []Site{}, Contracts: []Contract{}}
	sites := map[string]bool{}
	for _, c := range r.Contracts {
		if c.Buyer == party || c.Seller == party {
			out.Contracts = append(out.Contracts, c)
			sites[c.Site] = true
		}
	}
	for _, s := range r.Sites {
		if s.Owner == party {
			out.Sites = append(out.Sites, s)
			continue
		}
		var own []Load
		for _, l := range s.Loads {
			if l.Party == party {
				own = append(own, l)
			}
		}
		if len(own) == 0 && !sites[s.ID] {
			continue
		}
		out.Sites = append(out.Sites, Site{
			ID: s.ID, Name: s.Name, Market: s.Market, TimeZone: s.TimeZone, Owner: s.Owner, AsOf: s.AsOf,
			IntervalsBooked: s.IntervalsBooked, IntervalsInPeriod: s.IntervalsInPeriod, ElapsedPercent: s.ElapsedPercent,
			Loads: append([]Load{}, own...),
		})
	}
	return out
}
