package contracts

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
)

// usd writes a price with at least two decimals.
func usd(d decimal.Decimal) string { return "$" + d.StringFixed(max(2, -d.Exponent())) }

// VolumeText describes the volume terms in a line.
func (t *Terms) VolumeText() string {
	v := &t.Volume
	var s string
	switch v.Shape {
	case ShapeLoadFollowing:
		s = "load-following"
		if v.CapacityMW.Sign() > 0 {
			s += ", up to " + v.CapacityMW.String() + " MW"
		} else {
			s += ", no cap"
		}
	case ShapeAsGenerated:
		s = "as-generated, " + v.Percent.String() + "% of net output"
	case ShapeBaseload:
		s = "baseload " + v.MW.String() + " MW"
	case ShapeShaped:
		s = fmt.Sprintf("shaped, %d profile row(s)", len(v.Profile))
	default:
		s = string(v.Shape)
	}
	if v.During != "" {
		s += " in " + v.During + " hours"
	}
	if v.Firm {
		s += ", firm"
		if v.ShortfallUSDPerMWh.Sign() > 0 {
			s += " (shortfall damages " + usd(v.ShortfallUSDPerMWh) + "/MWh)"
		}
	}
	return s
}

// PriceText describes the price terms in a line.
func (t *Terms) PriceText() string {
	p := &t.Price
	var s string
	switch p.Kind {
	case PriceFixed:
		s = "fixed " + usd(p.USDPerMWh) + "/MWh"
	case PriceTOU:
		var parts []string
		for band, r := range p.Rates {
			parts = append(parts, band+" "+usd(r))
		}
		slices.Sort(parts)
		s = "time-of-use " + strings.Join(parts, ", ") + " /MWh"
	case PriceGasIndexed:
		s = fmt.Sprintf("gas-indexed: %s × %s MMBtu/MWh + %s/MWh", p.Gas.Index, p.Gas.HeatRate, usd(p.Gas.VOMPerMWh))
	case PriceMarketLinked:
		node := p.Market.Node
		if node == "" {
			node = "generator node"
		}
		s = fmt.Sprintf("market-linked: %s × %s + %s", node, p.Market.Factor, usd(p.Market.Adder))
		if p.Market.Floor != nil {
			s += ", floor " + usd(*p.Market.Floor)
		}
		if p.Market.Cap != nil {
			s += ", cap " + usd(*p.Market.Cap)
		}
	default:
		s = string(p.Kind)
	}
	if e := p.Escalator; e != nil {
		first := "first year unescalated"
		if e.FirstYearEscalated {
			first = "first year escalated"
		}
		s += fmt.Sprintf("; escalates %s%% a year from %s (%s)", e.Percent, e.Anniversary, first)
	}
	if p.Negative != "" && p.Negative != NegativeNoFloor {
		s += "; negative prices: " + string(p.Negative)
	}
	return s
}

// VirtualText describes a virtual contract's settlement in a line.
func (t *Terms) VirtualText() string {
	v := &t.Virtual
	s := fmt.Sprintf("(%s − strike) × volume, a positive difference paid by the %s", v.Hub, v.PositivePaidBy)
	if v.Basis {
		s += "; basis (generator node − hub) settled too"
	}
	return s
}

// MonthlyText describes the monthly terms in a line, or "" when there are none.
func (t *Terms) MonthlyText() string {
	m := &t.Monthly
	var parts []string
	if m.CapacityUSDPerKWMonth.Sign() > 0 {
		parts = append(parts, "capacity "+usd(m.CapacityUSDPerKWMonth)+"/kW-month")
	}
	if m.ExpectedMWh.Sign() > 0 {
		parts = append(parts, "expected "+m.ExpectedMWh.String()+" MWh/month")
	}
	if m.MinimumTakePercent.Sign() > 0 {
		parts = append(parts, fmt.Sprintf("minimum take %s%% (shortfall %s/MWh)", m.MinimumTakePercent, usd(m.MinimumTakeUSDPerMWh)))
	}
	if m.ExcessAbovePercent.Sign() > 0 {
		parts = append(parts, fmt.Sprintf("excess above %s%% at min(market, %s × price)", m.ExcessAbovePercent, m.ExcessFractionOfPrice))
	}
	return strings.Join(parts, "; ")
}
