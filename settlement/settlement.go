package settlement

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// LegTotal sums one contract's transfers of one leg at one price over a period.
type LegTotal struct {
	Contract        string
	ContractVersion int
	Leg             ledger.Leg
	USDPerMWh       decimal.Decimal // the price of a payment leg; zero for energy legs
	QuantityMWh     decimal.Decimal // Σ energy (energy legs) or Σ priced energy (payment legs)
	AmountUSD       decimal.Decimal // Σ exact money (payment legs), as booked (≥ 0)
	// Payer is the party whose account the money left (payment legs); ""
	// means the buyer. Money the buyer paid counts positive on its
	// statement, money the seller paid (a negative price, shortfall
	// damages, a virtual PPA difference) negative.
	Payer    string
	Band     string // time-of-use band of a payment ("" without bands)
	Adjusted bool   // priced by the adjusted negative-price rule (market below zero)
	// Of is the billing period the transfers' intervals belong to when it
	// is not the period settled: a correction to a finalized period booked
	// as a prior-period adjustment. "" otherwise.
	Of        string
	Transfers int
}

// GridTotal sums one party's grid legs over a period.
type GridTotal struct {
	Party       string
	Leg         ledger.Leg
	QuantityMWh decimal.Decimal
	// AmountUSD is the money the party received (positive) or paid (negative).
	AmountUSD decimal.Decimal
	Transfers int
}

// Source reads period totals from the ledger.
type Source interface {
	ContractTotals(ctx context.Context, period contracts.Period) ([]LegTotal, error)
	GridTotals(ctx context.Context, period contracts.Period) ([]GridTotal, error)
	// ContractIntervals lists the intervals behind each contract's lines
	// (buyers: contract id → the buyer, whose payments count positive).
	ContractIntervals(ctx context.Context, period contracts.Period, buyers map[string]string) (map[string][]IntervalRow, error)
	// AveragePrice is a node's time-weighted average market price over [from, to).
	AveragePrice(ctx context.Context, node string, from, to time.Time) (decimal.Decimal, bool, error)
	// EmissionsAnnex is each buyer's hourly emissions in the period.
	EmissionsAnnex(ctx context.Context, period contracts.Period, buyers []string) (map[string][]EmissionHour, error)
}

// Settle reads what the ledger holds for a period and builds its
// statements; progress (optional) is told of each contract read.
func Settle(ctx context.Context, p *contracts.Portfolio, period contracts.Period, src Source, progress func(done, total int)) ([]Statement, error) {
	// The totals and the interval rows are two passes over the period's
	// transfers: read them at once (a pool serves each on its own
	// connection). The rows are asked for every contract of the portfolio.
	buyers := map[string]string{}
	for _, c := range p.Contracts {
		buyers[c.ID] = c.Buyer
	}
	if progress != nil {
		progress(0, len(p.Contracts))
	}
	if pr, ok := src.(interface {
		Prepare(context.Context, contracts.Period)
	}); ok {
		pr.Prepare(ctx, period)
	}
	var totals []LegTotal
	var rows map[string][]IntervalRow
	var rowsErr error
	done := make(chan struct{})
	if concurrent, ok := src.(interface{ Concurrent() bool }); ok && concurrent.Concurrent() {
		go func() {
			defer close(done)
			rows, rowsErr = src.ContractIntervals(ctx, period, buyers)
		}()
	} else {
		rows, rowsErr = src.ContractIntervals(ctx, period, buyers)
		close(done)
	}
	totals, err := src.ContractTotals(ctx, period)
	<-done
	if err != nil {
		return nil, err
	}
	if rowsErr != nil {
		return nil, rowsErr
	}
	if progress != nil {
		progress(len(p.Contracts), len(p.Contracts))
	}
	in := Inputs{Totals: totals, Intervals: rows, Market: map[string]decimal.Decimal{}}
	for i := range p.Contracts {
		c := &p.Contracts[i]
		site, ok := p.Site(c.Site)
		if !ok {
			continue
		}
		from, to := period.Bounds(site.Location)
		t := c.TermsOn(contracts.DateOf(from, site.Location))
		if t.Monthly.ExcessAbovePercent.Sign() > 0 {
			node := c.ReferenceNode(t, site)
			if _, done := in.Market[node]; !done {
				avg, ok, err := src.AveragePrice(ctx, node, from, to)
				if err != nil {
					return nil, err
				}
				if ok {
					in.Market[node] = avg
				}
			}
		}
	}
	sts, err := BuildWith(p, period, in)
	if err != nil {
		return nil, err
	}
	var emitting []string
	seen := map[string]bool{}
	for _, st := range sts {
		if st.Site.Emissions != nil && !seen[st.Buyer.ID] {
			seen[st.Buyer.ID] = true
			emitting = append(emitting, st.Buyer.ID)
		}
	}
	if len(emitting) > 0 {
		annex, err := src.EmissionsAnnex(ctx, period, emitting)
		if err != nil {
			return nil, err
		}
		for i := range sts {
			if sts[i].Site.Emissions != nil {
				sts[i].EmissionsAnnex = annex[sts[i].Buyer.ID]
			}
		}
	}
	return sts, nil
}

// The kinds of statement line.
const (
	LineEnergy      = "energy"       // energy delivered at one price (per time-of-use band)
	LineNegative    = "negative"     // energy at a price adjusted for a negative market price
	LineShortfall   = "shortfall"    // damages for firm volume the seller did not deliver (negative)
	LineVirtual     = "cfd"          // a virtual PPA's net settlement, (market − strike) × volume
	LineBasis       = "cfd_basis"    // a virtual PPA's basis, (node − hub) × volume
	LineCapacity    = "capacity"     // the monthly capacity charge, $/kW-month on contracted kW
	LineMinimumTake = "minimum_take" // take-or-pay true-up: energy short of the minimum take
	LineExcess      = "excess"       // the excess tier's adjustment on energy above the threshold
	LinePriorPeriod = "prior_period" // corrections to an earlier, finalized period (Of names it)
	LineTax         = "tax"          // a tax configured for the counterparty
)

// lineRank orders a statement's lines: energy first, then the other legs,
// corrections, monthly charges and taxes.
var lineRank = map[string]int{
	LineEnergy: 0, LineNegative: 1, LineShortfall: 2, LineVirtual: 3, LineBasis: 4, LinePriorPeriod: 5,
	LineCapacity: 6, LineMinimumTake: 7, LineExcess: 8, LineTax: 9,
}

// The unit codes of line quantities (UN/ECE Recommendation 20, as UBL uses).
const (
	UnitMWh   = "MWH" // megawatt-hours
	UnitKW    = "KWT" // kilowatts (capacity)
	UnitMonth = "MON" // months
)

// Line is one line of a statement.
type Line struct {
	Kind        string          `json:"kind"` // one of the Line… kinds
	Description string          `json:"description"`
	Band        string          `json:"band,omitempty"` // time-of-use band of an energy line
	Of          string          `json:"of,omitempty"`   // prior_period: the billing period corrected, YYYY-MM
	Quantity    decimal.Decimal `json:"quantity"`       // in UnitCode
	UnitCode    string          `json:"unit_code"`      // MWH, KWT or MON
	QuantityMWh decimal.Decimal `json:"quantity_mwh"`   // energy lines: = Quantity; others: 0
	RateUSD     decimal.Decimal `json:"rate_usd"`       // per unit; zero when the line has no single rate (cfd, tax)
	ExactUSD    decimal.Decimal `json:"exact_amount_usd"`
	AmountUSD   decimal.Decimal `json:"amount_usd"` // ExactUSD rounded to the cent once, by the contract's rule
	Taxable     bool            `json:"taxable"`    // counts toward the base of tax lines
}

// IntervalRow is one interval behind a contract's lines, for the
// intervals file and the daily chart: the net of every revision booked for
// the interval in the period.
type IntervalRow struct {
	Start, End time.Time
	MWh        decimal.Decimal // delivered (physical) or the virtual volume
	USDPerMWh  decimal.Decimal // the price booked for the interval (a virtual PPA: market − strike); a correction prices it alike
	AmountUSD  decimal.Decimal // exact, positive when the buyer pays
	Band       string
	Quality    string // "actual", or "estimated" when any reading behind it was
	Of         string // set when the interval belongs to an earlier period (a prior-period adjustment)
}

// DayTotal is one local day of a contract's month, for the invoice chart.
type DayTotal struct {
	Date      contracts.Date
	MWh       decimal.Decimal
	AmountUSD decimal.Decimal
}

// AveragePrice is the average price of energy on the day (zero when none was delivered).
func (d DayTotal) AveragePrice() decimal.Decimal {
	if d.MWh.IsZero() {
		return decimal.Zero
	}
	return d.AmountUSD.DivRound(d.MWh, 6)
}

// Statement is what one contract owes for one period.
type Statement struct {
	InvoiceID       string // the invoice number once finalized (PREFIX-YYYY-NNNNNN), else a draft id
	Final           bool   // numbered by a finalized settlement run
	Period          contracts.Period
	Contract        *contracts.Contract
	Site            *contracts.Site
	Seller          *contracts.Party
	Buyer           *contracts.Party
	IssueDate       contracts.Date // the first day after the period
	DueDate         contracts.Date // IssueDate + the contract's payment terms
	Lines           []Line
	EnergyMWh       decimal.Decimal // Σ delivered in the period (prior-period corrections excluded)
	NetUSD          decimal.Decimal // Σ rounded amounts of the lines other than tax
	TaxUSD          decimal.Decimal // Σ rounded tax lines
	TotalUSD        decimal.Decimal // NetUSD + TaxUSD: Σ rounded line amounts
	ExactUSD        decimal.Decimal // Σ exact line amounts, for reconciliation
	Transfers       int             // ledger transfers behind the lines
	ContractVersion int             // the version in force on the period's first day
	Intervals       []IntervalRow   // every interval behind the lines, in time order
	Daily           []DayTotal      // the period's local days, in order

	// EmissionsT is the plant's emissions attributed to the energy this
	// contract delivered in the period, tCO2e (zero where the site books
	// none); EmissionsKgPerMWh the intensity (rounded to 0.001 kg).
	EmissionsT        decimal.Decimal
	EmissionsKgPerMWh decimal.Decimal
	// EmissionsAnnex is the buyer's hourly emissions report for the period
	// (all its contracts and its imports), when the site books emissions.
	EmissionsAnnex []EmissionHour
}

// EmissionHour is one hour of a buyer's emissions report.
type EmissionHour struct {
	Start        time.Time       // the hour, UTC
	DeliveredMWh decimal.Decimal // energy from the plant under its contracts
	DeliveredT   decimal.Decimal // tCO2e attributed to it
	ImportedMWh  decimal.Decimal // energy imported from the grid
	ImportedT    decimal.Decimal // tCO2e at the grid's factor
}

// KgPerMWh is the hour's emission intensity of all the energy the buyer
// took (plant and grid), rounded to 0.001 kg/MWh; zero when it took none.
func (h EmissionHour) KgPerMWh() decimal.Decimal {
	mwh := h.DeliveredMWh.Add(h.ImportedMWh)
	if mwh.IsZero() {
		return decimal.Zero
	}
	return h.DeliveredT.Add(h.ImportedT).Shift(3).DivRound(mwh, 3)
}

// CreditNote reports whether the statement's total is negative: the seller
// owes the buyer, and the document is a credit note.
func (st *Statement) CreditNote() bool { return st.TotalUSD.IsNegative() }

// Inputs is what the ledger says about a period, for Build.
type Inputs struct {
	Totals []LegTotal
	// Intervals per contract id: the rows behind its lines (for the
	// intervals file and the daily chart); optional.
	Intervals map[string][]IntervalRow
	// Market is the period's average market price per node, for excess
	// tiers; a contract with an excess tier needs its reference node's.
	Market map[string]decimal.Decimal
}

// Build makes the statements of a period from its leg totals alone.
func Build(p *contracts.Portfolio, period contracts.Period, totals []LegTotal) ([]Statement, error) {
	return BuildWith(p, period, Inputs{Totals: totals})
}

// BuildWith makes the statements of a period, one per contract with
// transfers or active in the period, in contract id order.
func BuildWith(p *contracts.Portfolio, period contracts.Period, in Inputs) ([]Statement, error) {
	byContract := map[string][]LegTotal{}
	for _, t := range in.Totals {
		byContract[t.Contract] = append(byContract[t.Contract], t)
	}
	var out []Statement
	ids := make([]string, 0, len(p.Contracts))
	for _, c := range p.Contracts {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	for id := range byContract {
		if _, ok := p.Contract(id); !ok {
			return nil, fmt.Errorf("settle %s: the ledger has transfers for contract %q, which no contract file defines", period, id)
		}
	}
	for _, id := range ids {
		c, _ := p.Contract(id)
		legs := byContract[id]
		if len(legs) == 0 && !activeIn(c, p, period) {
			continue
		}
		st, err := statement(p, c, period, legs, in)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func activeIn(c *contracts.Contract, p *contracts.Portfolio, period contracts.Period) bool {
	s, ok := p.Site(c.Site)
	if !ok {
		return false
	}
	start, end := period.Bounds(s.Location)
	return contracts.DateOf(start, s.Location).Before(c.End) && c.Start.Before(contracts.DateOf(end, s.Location))
}

// lineKey groups ledger totals into one statement line.
type lineKey struct {
	kind, band, of string
	price          string
}

func statement(p *contracts.Portfolio, c *contracts.Contract, period contracts.Period, legs []LegTotal, in Inputs) (Statement, error) {
	site, _ := p.Site(c.Site)
	seller, _ := p.Party(c.Seller)
	buyer, _ := p.Party(c.Buyer)
	start, end := period.Bounds(site.Location)
	issue := contracts.DateOf(end, site.Location)
	first := contracts.DateOf(start, site.Location)
	terms := c.TermsOn(first)
	st := Statement{
		InvoiceID: DraftInvoiceID(seller, period, c.ID), Period: period,
		Contract: c, Site: site, Seller: seller, Buyer: buyer, ContractVersion: terms.Version,
		IssueDate: issue, DueDate: addDays(issue, c.PaymentTermsDays, site.Location),
		EnergyMWh: decimal.Zero, NetUSD: decimal.Zero, TaxUSD: decimal.Zero, TotalUSD: decimal.Zero, ExactUSD: decimal.Zero,
	}
	var energyMWh, pricedMWh, energyUSD decimal.Decimal
	sort.SliceStable(legs, func(i, j int) bool {
		a, b := legs[i], legs[j]
		if a.Of != b.Of {
			return a.Of < b.Of
		}
		if a.Band != b.Band {
			return a.Band > b.Band // peak before off_peak, named bands before none
		}
		return a.USDPerMWh.LessThan(b.USDPerMWh)
	})
	lines := map[lineKey]int{} // index into st.Lines
	indexed := false           // the price changes with the market: lines by band, not by price
	for _, t := range c.Versions() {
		indexed = indexed || t.Price.Kind == contracts.PriceGasIndexed || t.Price.Kind == contracts.PriceMarketLinked
	}
	add := func(k lineKey, mk func() Line, qty, exact decimal.Decimal) {
		i, ok := lines[k]
		if !ok {
			st.Lines = append(st.Lines, mk())
			i = len(st.Lines) - 1
			lines[k] = i
		}
		l := &st.Lines[i]
		l.Quantity = l.Quantity.Add(qty)
		if l.UnitCode == UnitMWh && l.Kind != LineVirtual && l.Kind != LineBasis {
			l.QuantityMWh = l.Quantity
		}
		l.ExactUSD = l.ExactUSD.Add(exact)
	}
	for _, l := range legs {
		st.Transfers += l.Transfers
		signed := l.AmountUSD
		if l.Payer != "" && l.Payer != c.Buyer {
			signed = signed.Neg()
		}
		if l.Of != "" {
			// a correction to an earlier, finalized period: one line per period corrected
			var qty decimal.Decimal
			switch l.Leg {
			case ledger.Delivery:
				qty = l.QuantityMWh
			case ledger.Shortfall, ledger.EmissionsLeg:
				continue
			}
			add(lineKey{kind: LinePriorPeriod, of: l.Of}, func() Line {
				return Line{Kind: LinePriorPeriod, Of: l.Of, UnitCode: UnitMWh, Taxable: true,
					Description: fmt.Sprintf("Corrections to %s under %s (meter data received after that period was finalized)", l.Of, c.ID)}
			}, qty, signed)
			continue
		}
		switch l.Leg {
		case ledger.Delivery:
			energyMWh = energyMWh.Add(l.QuantityMWh)
		case ledger.Shortfall: // a memo of energy owed; its money is the shortfall payment
		case ledger.EmissionsLeg:
			st.EmissionsT = st.EmissionsT.Add(l.AmountUSD) // the amount is tCO2e on this leg
		case ledger.DeliveryPayment, ledger.ShortfallPayment:
			if want := l.QuantityMWh.Mul(l.USDPerMWh).Abs(); !want.Equal(l.AmountUSD) {
				return st, fmt.Errorf("settle %s %s: ledger holds $%s for %s MWh at $%s/MWh, expected $%s", period, c.ID, l.AmountUSD, l.QuantityMWh, l.USDPerMWh, want)
			}
			kind := LineEnergy
			switch {
			case l.Leg == ledger.ShortfallPayment:
				kind = LineShortfall
			case l.Adjusted:
				kind = LineNegative
			default:
				pricedMWh = pricedMWh.Add(l.QuantityMWh)
				energyUSD = energyUSD.Add(signed)
			}
			if kind == LineNegative {
				pricedMWh = pricedMWh.Add(l.QuantityMWh)
				energyUSD = energyUSD.Add(signed)
			}
			k := lineKey{kind: kind, band: l.Band, price: l.USDPerMWh.String()}
			if kind == LineNegative || (kind == LineEnergy && indexed) {
				k.price = "" // a price per interval: one line per band, at the average
			}
			add(k, func() Line {
				line := priceLine(c, kind, l)
				if k.price == "" {
					line.RateUSD = decimal.Zero
				}
				return line
			}, l.QuantityMWh, signed)
		case ledger.CFD, ledger.CFDBasis:
			kind, desc := LineVirtual, fmt.Sprintf("Virtual PPA %s: (market − strike) × volume", c.ID)
			if l.Leg == ledger.CFDBasis {
				kind, desc = LineBasis, fmt.Sprintf("Virtual PPA %s basis: (node − hub) × volume", c.ID)
			}
			add(lineKey{kind: kind}, func() Line { return Line{Kind: kind, Description: desc, UnitCode: UnitMWh} }, l.QuantityMWh, signed)
		default:
			return st, fmt.Errorf("settle %s %s: unexpected leg %q on a contract", period, c.ID, l.Leg)
		}
	}
	if !energyMWh.Equal(pricedMWh) {
		return st, fmt.Errorf("settle %s %s: %s MWh delivered but %s MWh priced", period, c.ID, energyMWh, pricedMWh)
	}
	st.EnergyMWh = energyMWh
	if energyMWh.Sign() > 0 && !st.EmissionsT.IsZero() {
		st.EmissionsKgPerMWh = st.EmissionsT.Shift(3).DivRound(energyMWh, 3)
	}
	// Lines a correction cancelled whole say nothing.
	kept := st.Lines[:0]
	for _, l := range st.Lines {
		if !(l.Quantity.IsZero() && l.ExactUSD.IsZero()) {
			kept = append(kept, l)
		}
	}
	st.Lines = kept
	for i := range st.Lines {
		l := &st.Lines[i]
		if (l.Kind == LineEnergy || l.Kind == LineNegative) && l.RateUSD.IsZero() && !l.Quantity.IsZero() {
			l.Description = averageDescription(c, l)
		}
	}
	sort.SliceStable(st.Lines, func(i, j int) bool { return lineRank[st.Lines[i].Kind] < lineRank[st.Lines[j].Kind] })
	if activeIn(c, p, period) {
		st.Lines = append(st.Lines, monthlyLines(c, terms, site, period, energyMWh, energyUSD, in.Market)...)
	}
	for i := range st.Lines {
		st.Lines[i].AmountUSD = c.Rounding.Round(st.Lines[i].ExactUSD, 2)
	}
	st.Lines = append(st.Lines, taxLines(c, buyer, st.Lines)...)
	for _, l := range st.Lines {
		if l.Kind == LineTax {
			st.TaxUSD = st.TaxUSD.Add(l.AmountUSD)
		} else {
			st.NetUSD = st.NetUSD.Add(l.AmountUSD)
		}
		st.ExactUSD = st.ExactUSD.Add(l.ExactUSD)
	}
	st.TotalUSD = st.NetUSD.Add(st.TaxUSD)
	st.Intervals = in.Intervals[c.ID]
	st.Daily = daily(site, period, st.Intervals)
	return st, nil
}

// priceLine is a line of energy (or shortfall damages) at one price.
func priceLine(c *contracts.Contract, kind string, l LegTotal) Line {
	price := l.USDPerMWh.StringFixed(max(2, -l.USDPerMWh.Exponent()))
	band := ""
	if l.Band != "" {
		band = ", " + strings.ReplaceAll(l.Band, "_", "-")
	}
	line := Line{Kind: kind, Band: l.Band, UnitCode: UnitMWh, RateUSD: l.USDPerMWh, Taxable: true}
	switch kind {
	case LineShortfall:
		line.Description = fmt.Sprintf("Shortfall damages under %s: firm energy not delivered, at $%s/MWh", c.ID, price)
		line.RateUSD, line.Taxable = l.USDPerMWh.Neg(), false
	case LineNegative:
		line.Description = fmt.Sprintf("Energy delivered under %s%s in negative-price intervals, adjusted, at $%s/MWh", c.ID, band, price)
	default:
		line.Description = fmt.Sprintf("Energy delivered under %s%s at $%s/MWh", c.ID, band, price)
	}
	return line
}

// averageDescription describes an energy line priced per interval.
func averageDescription(c *contracts.Contract, l *Line) string {
	band := ""
	if l.Band != "" {
		band = ", " + strings.ReplaceAll(l.Band, "_", "-")
	}
	avg := l.ExactUSD.DivRound(l.Quantity, 2).StringFixed(2)
	if l.Kind == LineNegative {
		return fmt.Sprintf("Energy delivered under %s%s in negative-price intervals, price adjusted by the market price (average $%s/MWh)", c.ID, band, avg)
	}
	return fmt.Sprintf("Energy delivered under %s%s at the indexed price of each interval (average $%s/MWh)", c.ID, band, avg)
}

// monthlyLines are the period's capacity charge, minimum-take true-up and
// excess-tier adjustment, under the terms in force on its first day.
func monthlyLines(c *contracts.Contract, t *contracts.Terms, site *contracts.Site, period contracts.Period, deliveredMWh, energyUSD decimal.Decimal, market map[string]decimal.Decimal) []Line {
	m := t.Monthly
	var out []Line
	if m.CapacityUSDPerKWMonth.Sign() > 0 {
		mw := m.ContractedMW
		if mw.IsZero() {
			mw = t.Volume.CapacityMW
		}
		if mw.IsZero() {
			mw = t.Volume.MW
		}
		kw := mw.Shift(3)
		out = append(out, Line{Kind: LineCapacity, UnitCode: UnitKW, Quantity: kw, RateUSD: m.CapacityUSDPerKWMonth,
			ExactUSD: kw.Mul(m.CapacityUSDPerKWMonth), Taxable: true,
			Description: fmt.Sprintf("Capacity charge under %s: %s kW at $%s/kW-month for %s", c.ID, kw, m.CapacityUSDPerKWMonth.StringFixed(2), period)})
	}
	if m.MinimumTakePercent.Sign() == 0 && m.ExcessAbovePercent.Sign() == 0 {
		return out
	}
	expected, ok := c.ContractedMWh(period, site)
	if !ok || expected.Sign() <= 0 {
		return out
	}
	if m.MinimumTakePercent.Sign() > 0 {
		minimum := expected.Mul(m.MinimumTakePercent).Shift(-2)
		if short := minimum.Sub(deliveredMWh); short.Sign() > 0 {
			out = append(out, Line{Kind: LineMinimumTake, UnitCode: UnitMWh, Quantity: short, QuantityMWh: short,
				RateUSD: m.MinimumTakeUSDPerMWh, ExactUSD: short.Mul(m.MinimumTakeUSDPerMWh), Taxable: true,
				Description: fmt.Sprintf("Minimum take under %s: %s%% of %s MWh expected, %s MWh short, at $%s/MWh",
					c.ID, m.MinimumTakePercent, expected, short, m.MinimumTakeUSDPerMWh.StringFixed(2))})
		}
	}
	if m.ExcessAbovePercent.Sign() > 0 && deliveredMWh.Sign() > 0 {
		threshold := expected.Mul(m.ExcessAbovePercent).Shift(-2)
		mkt, haveMarket := market[c.ReferenceNode(t, site)]
		if excess := deliveredMWh.Sub(threshold); excess.Sign() > 0 && haveMarket {
			// the month's average contract price, rounded at a named point (6 places)
			paid := energyUSD.DivRound(deliveredMWh, contracts.PriceDecimals)
			excessPrice := decimal.Min(mkt, m.ExcessFractionOfPrice.Mul(paid)).Round(contracts.PriceDecimals)
			rate := excessPrice.Sub(paid)
			if !rate.IsZero() {
				out = append(out, Line{Kind: LineExcess, UnitCode: UnitMWh, Quantity: excess, QuantityMWh: excess,
					RateUSD: rate, ExactUSD: excess.Mul(rate), Taxable: true,
					Description: fmt.Sprintf("Excess above %s%% of %s MWh expected under %s: %s MWh repriced from $%s to $%s/MWh (the lesser of market $%s and %s × price)",
						m.ExcessAbovePercent, expected, c.ID, excess, paid.StringFixed(2), excessPrice.StringFixed(2), mkt.StringFixed(2), m.ExcessFractionOfPrice)})
			}
		}
	}
	return out
}

// taxLines are the buyer's taxes on the taxable lines' rounded amounts.
func taxLines(c *contracts.Contract, buyer *contracts.Party, lines []Line) []Line {
	if len(buyer.Taxes) == 0 {
		return nil
	}
	base := decimal.Zero
	for _, l := range lines {
		if l.Taxable {
			base = base.Add(l.AmountUSD)
		}
	}
	var out []Line
	for _, t := range buyer.Taxes {
		exact := base.Mul(t.Percent).Shift(-2)
		out = append(out, Line{Kind: LineTax, Quantity: base, RateUSD: t.Percent, ExactUSD: exact, AmountUSD: c.Rounding.Round(exact, 2),
			Description: fmt.Sprintf("%s, %s%% of $%s", t.Name, t.Percent, base.StringFixed(2))})
	}
	return out
}

// daily sums a contract's intervals of the period by local day, every day
// of the period present.
func daily(site *contracts.Site, period contracts.Period, rows []IntervalRow) []DayTotal {
	start, end := period.Bounds(site.Location)
	var out []DayTotal
	index := map[contracts.Date]int{}
	for t := start; t.Before(end); t = t.In(site.Location).AddDate(0, 0, 1) { // local midnights, across DST
		d := contracts.DateOf(t, site.Location)
		index[d] = len(out)
		out = append(out, DayTotal{Date: d, MWh: decimal.Zero, AmountUSD: decimal.Zero})
	}
	for _, r := range rows {
		if r.Of != "" {
			continue
		}
		if i, ok := index[contracts.DateOf(r.Start, site.Location)]; ok {
			out[i].MWh = out[i].MWh.Add(r.MWh)
			out[i].AmountUSD = out[i].AmountUSD.Add(r.AmountUSD)
		}
	}
	return out
}

// Issuer is the prefix of a seller's invoice numbers ("INV" when it has none).
func Issuer(seller *contracts.Party) string {
	if seller.InvoicePrefix == "" {
		return "INV"
	}
	return seller.InvoicePrefix
}

// InvoiceNumber formats an issued invoice number: PREFIX-YYYY-NNNNNN.
func InvoiceNumber(issuer string, year, seq int) string {
	return fmt.Sprintf("%s-%04d-%06d", issuer, year, seq)
}

// Number gives statements the invoice numbers a finalizing run issued (by
// contract id) and marks them final; statements without a number keep their
// draft id.
func Number(sts []Statement, numbers map[string]string) []Statement {
	for i := range sts {
		if n, ok := numbers[sts[i].Contract.ID]; ok {
			sts[i].InvoiceID, sts[i].Final = n, true
		}
	}
	return sts
}

// DraftInvoiceID names a statement before finalization assigns it a number.
func DraftInvoiceID(seller *contracts.Party, period contracts.Period, contract string) string {
	prefix := seller.InvoicePrefix
	if prefix == "" {
		prefix = "INV"
	}
	return fmt.Sprintf("%s-DRAFT-%04d%02d-%s", prefix, period.Year, period.Month, contract)
}

func addDays(d contracts.Date, days int, loc *time.Location) contracts.Date {
	return contracts.DateOf(d.In(loc).AddDate(0, 0, days), loc)
}

// GridSummary is a period's exchange with the grid, per party.
type GridSummary struct {
	Party     string
	ExportMWh decimal.Decimal
	ExportUSD decimal.Decimal // received for exports
	ImportMWh decimal.Decimal
	ImportUSD decimal.Decimal // paid for imports (positive = paid)
}

// SummarizeGrid folds grid totals into one summary per party, in party order.
func SummarizeGrid(totals []GridTotal) []GridSummary {
	by := map[string]*GridSummary{}
	for _, t := range totals {
		s := by[t.Party]
		if s == nil {
			s = &GridSummary{Party: t.Party}
			by[t.Party] = s
		}
		switch t.Leg {
		case ledger.Export:
			s.ExportMWh = s.ExportMWh.Add(t.QuantityMWh)
		case ledger.ExportPayment:
			s.ExportUSD = s.ExportUSD.Add(t.AmountUSD)
		case ledger.Import, ledger.PlantImport:
			s.ImportMWh = s.ImportMWh.Add(t.QuantityMWh)
		case ledger.ImportPayment, ledger.PlantImportPayment:
			s.ImportUSD = s.ImportUSD.Sub(t.AmountUSD)
		}
	}
	out := make([]GridSummary, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Party < out[j].Party })
	return out
}
