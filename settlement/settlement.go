package settlement

import (
	"context"
	"fmt"
	"sort"
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
	Payer     string
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
}

// Line is one line of a statement.
type Line struct {
	Kind        string          `json:"kind"` // "energy"
	Description string          `json:"description"`
	QuantityMWh decimal.Decimal `json:"quantity_mwh"`
	RateUSD     decimal.Decimal `json:"rate_usd_per_mwh"`
	ExactUSD    decimal.Decimal `json:"exact_amount_usd"` // Σ of the ledger's exact amounts
	AmountUSD   decimal.Decimal `json:"amount_usd"`       // ExactUSD rounded to the cent by Rounding
}

// Statement is what one contract owes for one period.
type Statement struct {
	InvoiceID       string
	Period          contracts.Period
	Contract        *contracts.Contract
	Site            *contracts.Site
	Seller          *contracts.Party
	Buyer           *contracts.Party
	IssueDate       contracts.Date // the first day after the period
	DueDate         contracts.Date // IssueDate + the contract's payment terms
	Lines           []Line
	EnergyMWh       decimal.Decimal // Σ delivered
	TotalUSD        decimal.Decimal // Σ rounded line amounts
	ExactUSD        decimal.Decimal // Σ exact line amounts, for reconciliation
	Transfers       int             // ledger transfers behind the lines
	ContractVersion int
}

// Build makes the statements of a period, one per contract with transfers or
// active in the period, in contract id order.
func Build(p *contracts.Portfolio, period contracts.Period, totals []LegTotal) ([]Statement, error) {
	byContract := map[string][]LegTotal{}
	for _, t := range totals {
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
		st, err := statement(p, c, period, legs)
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

func statement(p *contracts.Portfolio, c *contracts.Contract, period contracts.Period, legs []LegTotal) (Statement, error) {
	site, _ := p.Site(c.Site)
	seller, _ := p.Party(c.Seller)
	buyer, _ := p.Party(c.Buyer)
	_, end := period.Bounds(site.Location)
	issue := contracts.DateOf(end, site.Location)
	st := Statement{
		InvoiceID: DraftInvoiceID(seller, period, c.ID), Period: period,
		Contract: c, Site: site, Seller: seller, Buyer: buyer, ContractVersion: c.Version,
		IssueDate: issue, DueDate: addDays(issue, c.PaymentTermsDays, site.Location),
		EnergyMWh: decimal.Zero, TotalUSD: decimal.Zero, ExactUSD: decimal.Zero,
	}
	var energyMWh, pricedMWh decimal.Decimal
	sort.SliceStable(legs, func(i, j int) bool { return legs[i].USDPerMWh.LessThan(legs[j].USDPerMWh) })
	var cfd = map[ledger.Leg]*Line{}
	for _, l := range legs {
		st.Transfers += l.Transfers
		signed := l.AmountUSD
		if l.Payer != "" && l.Payer != c.Buyer {
			signed = signed.Neg()
		}
		switch l.Leg {
		case ledger.Delivery:
			energyMWh = energyMWh.Add(l.QuantityMWh)
		case ledger.Shortfall: // a memo of energy owed; its money is the shortfall payment
		case ledger.DeliveryPayment, ledger.ShortfallPayment:
			if want := l.QuantityMWh.Mul(l.USDPerMWh).Abs(); !want.Equal(l.AmountUSD) {
				return st, fmt.Errorf("settle %s %s: ledger holds $%s for %s MWh at $%s/MWh, expected $%s", period, c.ID, l.AmountUSD, l.QuantityMWh, l.USDPerMWh, want)
			}
			if l.Leg == ledger.DeliveryPayment {
				pricedMWh = pricedMWh.Add(l.QuantityMWh)
			}
			st.Lines = append(st.Lines, priceLine(c, l, signed))
		case ledger.CFD, ledger.CFDBasis:
			// one line per leg: the difference changes every interval
			line := cfd[l.Leg]
			if line == nil {
				desc := fmt.Sprintf("Virtual PPA %s: (market − strike) × volume", c.ID)
				if l.Leg == ledger.CFDBasis {
					desc = fmt.Sprintf("Virtual PPA %s basis: (node − hub) × volume", c.ID)
				}
				st.Lines = append(st.Lines, Line{Kind: string(l.Leg), Description: desc, QuantityMWh: decimal.Zero, ExactUSD: decimal.Zero})
				line = &st.Lines[len(st.Lines)-1]
				cfd[l.Leg] = line
			}
			line.QuantityMWh = line.QuantityMWh.Add(l.QuantityMWh)
			line.ExactUSD = line.ExactUSD.Add(signed)
		default:
			return st, fmt.Errorf("settle %s %s: unexpected leg %q on a contract", period, c.ID, l.Leg)
		}
	}
	for i := range st.Lines {
		if k := ledger.Leg(st.Lines[i].Kind); k == ledger.CFD || k == ledger.CFDBasis {
			st.Lines[i].AmountUSD = c.Rounding.Round(st.Lines[i].ExactUSD, 2)
		}
	}
	if !energyMWh.Equal(pricedMWh) {
		return st, fmt.Errorf("settle %s %s: %s MWh delivered but %s MWh priced", period, c.ID, energyMWh, pricedMWh)
	}
	st.EnergyMWh = energyMWh
	for _, l := range st.Lines {
		st.TotalUSD = st.TotalUSD.Add(l.AmountUSD)
		st.ExactUSD = st.ExactUSD.Add(l.ExactUSD)
	}
	return st, nil
}

// priceLine is a line of energy (or shortfall) at one price.
func priceLine(c *contracts.Contract, l LegTotal, signed decimal.Decimal) Line {
	if l.Leg == ledger.ShortfallPayment {
		return Line{
			Kind:        "shortfall",
			Description: fmt.Sprintf("Shortfall damages under %s at $%s/MWh not delivered", c.ID, l.USDPerMWh.StringFixed(max(2, -l.USDPerMWh.Exponent()))),
			QuantityMWh: l.QuantityMWh, RateUSD: l.USDPerMWh.Neg(), ExactUSD: signed,
			AmountUSD: c.Rounding.Round(signed, 2),
		}
	}
	line := energyLine(c, l)
	line.ExactUSD, line.AmountUSD = signed, c.Rounding.Round(signed, 2)
	return line
}

func energyLine(c *contracts.Contract, l LegTotal) Line {
	return Line{
		Kind:        "energy",
		Description: fmt.Sprintf("Energy delivered under %s at $%s/MWh", c.ID, l.USDPerMWh.StringFixed(max(2, -l.USDPerMWh.Exponent()))),
		QuantityMWh: l.QuantityMWh, RateUSD: l.USDPerMWh, ExactUSD: l.AmountUSD,
		AmountUSD: c.Rounding.Round(l.AmountUSD, 2),
	}
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
