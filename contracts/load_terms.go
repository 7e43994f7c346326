package contracts

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"
)

// The keys of a contract's terms and of calendars.
var (
	volumeKeys    = []string{"shape", "capacity_mw", "percent", "mw", "profile", "during", "firm", "shortfall_usd_per_mwh"}
	profileKeys   = []string{"months", "mw"}
	priceKeys     = []string{"kind", "usd_per_mwh", "rates", "escalator", "gas", "market", "negative_prices"}
	escalatorKeys = []string{"percent", "anniversary", "first_year", "decimals"}
	gasKeys       = []string{"index", "heat_rate", "vom_usd_per_mwh"}
	marketKeys    = []string{"node", "factor", "adder", "floor", "cap"}
	virtualKeys   = []string{"hub", "positive_paid_by", "basis"}
	monthlyKeys   = []string{"capacity_usd_per_kw_month", "contracted_mw", "expected_mwh", "minimum_take", "excess"}
	minTakeKeys   = []string{"percent", "shortfall_usd_per_mwh"}
	excessKeys    = []string{"above_percent", "fraction_of_price"}
	amendmentKeys = []string{"version", "effective", "volume", "price", "virtual", "monthly"}
	calendarKeys  = []string{"id", "holidays", "extra_holidays", "bands"}
	bandKeys      = []string{"name", "days", "hours_ending"}
)

var monthNames = []string{"", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// optSub reads a nested mapping that may be absent (nil, nothing reported).
func (o *obj) optSub(key string, allowed []string, hint string) *obj {
	v := o.vals[key]
	if v == nil || isNull(v) {
		return nil
	}
	sub := o.l.object(o.f, v, join(o.path, key), key, allowed, hint)
	if sub != nil {
		sub.key = o.keys[key]
	}
	return sub
}

// boolean reads true or false.
func (o *obj) boolean(key string, example string) (value, set bool) {
	v, ok := o.scalar(key, false, example)
	if !ok {
		return false, false
	}
	switch strings.TrimSpace(v.Value) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("write `%s: true` or `%s: false`", key, key), "%s is not true or false", quote(v.Value))
	return false, false
}

// nonNeg reads an optional decimal that must not be negative.
func (o *obj) nonNeg(key, example, hint string) (decimal.Decimal, bool) {
	d, v, ok := o.dec(key, false, example)
	if !ok {
		return decimal.Zero, false
	}
	if d.Sign() < 0 {
		o.l.report(o.f, v, join(o.path, key), hint, "%s must not be negative, not %s", key, v.Value)
		return decimal.Zero, false
	}
	return d, true
}

// percent reads an optional percentage in (0, max].
func (o *obj) percent(key, example string, max int64, required bool) (decimal.Decimal, bool) {
	d, v, ok := o.dec(key, required, example)
	if !ok {
		return decimal.Zero, false
	}
	if d.Sign() <= 0 || d.GreaterThan(decimal.NewFromInt(max)) {
		o.l.report(o.f, v, join(o.path, key), fmt.Sprintf("a percentage here is more than 0 and at most %d, like %s", max, example), "%s is not a percentage in range", quote(v.Value))
		return decimal.Zero, false
	}
	return d, true
}

// terms reads the volume, price, virtual and monthly sections of a contract
// (version 1: volume and price required) or of an amendment (each section
// optional, inherited from the version before when absent).
func (l *loader) terms(c *contractIn, o *obj, t *Terms, first bool) {
	if vo := o.optSub("volume", volumeKeys, "add `volume:` with `shape: load_following` and `capacity_mw: 450` below it"); vo != nil {
		t.Volume = l.volume(c, vo)
	} else if first {
		o.sub("volume", volumeKeys, "add `volume:` with `shape: load_following` and `capacity_mw: 450` below it")
	}
	if po := o.optSub("price", priceKeys, "add `price:` with `kind: fixed` and `usd_per_mwh: 58.00` below it"); po != nil {
		t.Price = l.price(c, po)
	} else if first {
		o.sub("price", priceKeys, "add `price:` with `kind: fixed` and `usd_per_mwh: 58.00` below it")
	}
	if vo := o.optSub("virtual", virtualKeys, "add `virtual:` with `hub: HB_WEST` and `positive_paid_by: seller` below it"); vo != nil {
		if c.c.Kind != KindVirtual && c.kindOK {
			l.report(c.f, vo.key, vo.path, "only a contract with kind: virtual settles against a hub; remove virtual: or set kind: virtual", "virtual terms on a %s contract", c.c.Kind)
		}
		t.Virtual = l.virtual(c, vo)
	} else if first && c.c.Kind == KindVirtual {
		o.sub("virtual", virtualKeys, "a virtual contract settles (market − strike) × volume: add `virtual:` with `hub: HB_WEST` and `positive_paid_by: seller` below it")
	}
	if mo := o.optSub("monthly", monthlyKeys, "add `monthly:` with `capacity_usd_per_kw_month: 8.50` below it"); mo != nil {
		t.Monthly = l.monthly(c, mo)
	}
}

func (l *loader) volume(c *contractIn, vo *obj) Volume {
	v := Volume{}
	shape, sv := vo.str("shape", true, "load_following")
	if sv != nil {
		if !containsShape(Shape(shape)) {
			l.report(c.f, sv, join(vo.path, "shape"), "a volume shape is load_following, as_generated, baseload or shaped", "unknown volume shape %s", quote(shape))
		} else {
			v.Shape = Shape(shape)
		}
	}
	only := func(key string, shapes ...Shape) {
		if n := vo.keys[key]; n != nil && v.Shape != "" {
			for _, s := range shapes {
				if v.Shape == s {
					return
				}
			}
			l.report(c.f, n, join(vo.path, key), fmt.Sprintf("%s belongs to a %s volume; remove it", key, shapeList(shapes)), "%s does not apply to a %s volume", key, v.Shape)
		}
	}
	only("capacity_mw", ShapeLoadFollowing)
	only("percent", ShapeAsGenerated)
	only("mw", ShapeBaseload)
	only("profile", ShapeShaped)
	only("during", ShapeBaseload, ShapeShaped)
	only("firm", ShapeBaseload, ShapeShaped)
	only("shortfall_usd_per_mwh", ShapeBaseload, ShapeShaped)
	switch v.Shape {
	case ShapeLoadFollowing:
		if mw, n, ok := vo.dec("capacity_mw", false, "450"); ok {
			if mw.Sign() < 0 {
				l.report(c.f, n, join(vo.path, "capacity_mw"), "give the most MW the buyer takes, or 0 for no cap", "capacity must not be negative, not %s", n.Value)
			} else {
				v.CapacityMW = mw
			}
		}
	case ShapeAsGenerated:
		v.Percent, _ = vo.percent("percent", "25", 100, true)
	case ShapeBaseload:
		if mw, n, ok := vo.dec("mw", true, "50"); ok {
			if mw.Sign() <= 0 {
				l.report(c.f, n, join(vo.path, "mw"), "a baseload block is more than 0 MW, like 50", "block must be more than 0 MW, not %s", n.Value)
			} else {
				v.MW = mw
			}
		}
	case ShapeShaped:
		v.Profile = l.profile(c, vo)
	}
	if v.Shape == ShapeBaseload || v.Shape == ShapeShaped {
		v.Firm = true
		if firm, set := vo.boolean("firm", "true"); set {
			v.Firm = firm
		}
		v.ShortfallUSDPerMWh, _ = vo.nonNeg("shortfall_usd_per_mwh", "25.00", "shortfall damages are 0 or more $/MWh")
		if d, dn := vo.str("during", false, "peak"); dn != nil {
			v.During = d
			c.refs = append(c.refs, bandRef{node: dn, path: join(vo.path, "during"), band: d})
		}
	}
	return v
}

func containsShape(s Shape) bool {
	for _, x := range Shapes {
		if x == s {
			return true
		}
	}
	return false
}

func shapeList(shapes []Shape) string {
	var s []string
	for _, x := range shapes {
		s = append(s, string(x))
	}
	return strings.Join(s, " or ")
}

// profile reads a shaped volume's rows: each names its months (all when
// absent) and gives 24 MW values, hour ending 1 to 24. Every month must be
// in some row.
func (l *loader) profile(c *contractIn, vo *obj) []ProfileRow {
	rows := vo.list("profile", true, "rows like `- months: [jun, jul, aug]` with `mw: [...24 values...]`")
	var out []ProfileRow
	var covered [13]bool
	known := true
	for i, rn := range rows {
		path := fmt.Sprintf("%s[%d]", join(vo.path, "profile"), i)
		ro := l.object(c.f, rn, path, "a profile row", profileKeys, "write a row like `- months: [jun, jul, aug]` with `mw: [...]`, 24 values for hours ending 1 to 24")
		if ro == nil {
			known = false
			continue
		}
		row := ProfileRow{Line: rn.Line}
		if mn := ro.vals["months"]; mn != nil && !isNull(mn) {
			months, ok := l.months(c.f, mn, join(path, "months"))
			known = known && ok
			row.Months = months
		} else {
			for m := 1; m <= 12; m++ {
				row.Months[m] = true
			}
		}
		mws, ok := l.decimals(c.f, ro.vals["mw"], join(path, "mw"), 24, "24 MW values, hour ending 1 to 24: `mw: [40, 40, ..., 40]`")
		if !ok {
			if ro.vals["mw"] == nil {
				ro.missing("mw", "add `mw: [...]` with 24 MW values, hour ending 1 to 24")
			}
			known = false
		} else {
			copy(row.MW[:], mws)
		}
		for m := 1; m <= 12; m++ {
			covered[m] = covered[m] || row.Months[m]
		}
		out = append(out, row)
	}
	if known && len(rows) > 0 {
		var missing []string
		for m := 1; m <= 12; m++ {
			if !covered[m] {
				missing = append(missing, monthNames[m])
			}
		}
		if len(missing) > 0 {
			l.report(c.f, vo.vals["profile"], join(vo.path, "profile"), "add a row for them, or a last row without months: for the rest of the year",
				"no profile row for %s", strings.Join(missing, ", "))
		}
	}
	return out
}

// months reads a list of months: names (jan … dec) or numbers 1 to 12.
func (l *loader) months(f int, n *yaml.Node, path string) ([13]bool, bool) {
	var set [13]bool
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.report(f, n, path, "write months as a list like [jun, jul, aug] or [6, 7, 8]", "months must be a list of months, not %s", describe(n))
		return set, false
	}
	ok := true
	for _, m := range n.Content {
		v := strings.ToLower(strings.TrimSpace(m.Value))
		found := 0
		for i := 1; i <= 12; i++ {
			if v == monthNames[i] || v == fmt.Sprint(i) {
				found = i
			}
		}
		if m.Kind != yaml.ScalarNode || found == 0 {
			l.report(f, m, path, "a month is jan, feb, …, dec or 1 to 12", "%s is not a month", describe(m))
			ok = false
			continue
		}
		set[found] = true
	}
	return set, ok
}

// decimals reads a list of exactly want non-negative decimals.
func (l *loader) decimals(f int, n *yaml.Node, path string, want int, hint string) ([]decimal.Decimal, bool) {
	if n == nil || isNull(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		l.report(f, n, path, hint, "must be a list, not %s", describe(n))
		return nil, false
	}
	if len(n.Content) != want {
		l.report(f, n, path, hint, "has %d values, not %d", len(n.Content), want)
		return nil, false
	}
	out := make([]decimal.Decimal, 0, want)
	ok := true
	for i, v := range n.Content {
		s := strings.TrimSpace(v.Value)
		d, err := decimal.NewFromString(s)
		if v.Kind != yaml.ScalarNode || !decimalPattern.MatchString(s) || err != nil || decimalPlaces(s) > maxDecimals || len(s) > maxDigits+maxDecimals+2 {
			l.report(f, v, fmt.Sprintf("%s[%d]", path, i), hint, "%s is not a decimal number of at most %d places", describe(v), maxDecimals)
			ok = false
			continue
		}
		if d.Sign() < 0 {
			l.report(f, v, fmt.Sprintf("%s[%d]", path, i), hint, "%s is negative", quote(s))
			ok = false
			continue
		}
		out = append(out, d)
	}
	return out, ok
}

func (l *loader) price(c *contractIn, po *obj) Price {
	p := Price{Negative: NegativeNoFloor}
	kind, kv := po.str("kind", true, "fixed")
	if kv != nil {
		ok := false
		for _, k := range PriceKinds {
			ok = ok || PriceKind(kind) == k
		}
		if !ok {
			l.report(c.f, kv, join(po.path, "kind"), "a price kind is fixed, tou, gas_indexed or market_linked", "unknown price kind %s", quote(kind))
		} else {
			p.Kind = PriceKind(kind)
		}
	}
	only := func(key string, kinds ...PriceKind) {
		if n := po.keys[key]; n != nil && p.Kind != "" {
			for _, k := range kinds {
				if p.Kind == k {
					return
				}
			}
			l.report(c.f, n, join(po.path, key), fmt.Sprintf("remove it, or use a price kind it belongs to (%v)", kinds), "%s does not apply to a %s price", key, p.Kind)
		}
	}
	only("usd_per_mwh", PriceFixed)
	only("rates", PriceTOU)
	only("escalator", PriceFixed, PriceTOU)
	only("gas", PriceGasIndexed)
	only("market", PriceMarketLinked)
	switch p.Kind {
	case PriceFixed:
		if usd, v, ok := po.dec("usd_per_mwh", true, "58.00"); ok {
			if usd.Sign() < 0 && c.c.Kind != KindVirtual {
				l.report(c.f, v, join(po.path, "usd_per_mwh"), "a fixed price is 0 or more $/MWh", "price must not be negative, not %s", v.Value)
			} else {
				p.USDPerMWh = usd
			}
		}
	case PriceTOU:
		p.Rates = l.rates(c, po)
	case PriceGasIndexed:
		if g := po.sub("gas", gasKeys, "add `gas:` with `index: HENRY_HUB`, `heat_rate: 7.2` (MMBtu/MWh) and `vom_usd_per_mwh: 3.50`"); g != nil {
			p.Gas.Index, _ = g.str("index", true, "HENRY_HUB")
			if hr, v, ok := g.dec("heat_rate", true, "7.2"); ok {
				if hr.Sign() <= 0 || hr.GreaterThan(decimal.NewFromInt(30)) {
					l.report(c.f, v, join(g.path, "heat_rate"), "a heat rate is MMBtu per MWh, about 6 to 12 for a gas plant", "%s is not a plausible heat rate", quote(v.Value))
				} else {
					p.Gas.HeatRate = hr
				}
			}
			p.Gas.VOMPerMWh, _ = g.nonNeg("vom_usd_per_mwh", "3.50", "variable O&M is 0 or more $/MWh")
		}
	case PriceMarketLinked:
		if m := po.sub("market", marketKeys, "add `market:` with `factor: 0.95`, `adder: 2.00` and optional `node:`, `floor:`, `cap:`"); m != nil {
			p.Market.Node, _ = m.str("node", false, "LZ_WEST")
			p.Market.Factor = decimal.NewFromInt(1)
			if f, v, ok := m.dec("factor", false, "0.95"); ok {
				if f.Sign() <= 0 {
					l.report(c.f, v, join(m.path, "factor"), "a factor is more than 0, like 0.95", "factor must be more than 0, not %s", v.Value)
				} else {
					p.Market.Factor = f
				}
			}
			if a, _, ok := m.dec("adder", false, "2.00"); ok {
				p.Market.Adder = a
			}
			if fl, _, ok := m.dec("floor", false, "0"); ok {
				p.Market.Floor = &fl
			}
			if cp, v, ok := m.dec("cap", false, "150"); ok {
				if p.Market.Floor != nil && cp.LessThan(*p.Market.Floor) {
					l.report(c.f, v, join(m.path, "cap"), "the cap must be at least the floor", "cap %s is below floor %s", cp, *p.Market.Floor)
				} else {
					p.Market.Cap = &cp
				}
			}
		}
	}
	if eo := po.optSub("escalator", escalatorKeys, "add `escalator:` with `percent: 2.5` and `anniversary: 2029-01-01`"); eo != nil && (p.Kind == PriceFixed || p.Kind == PriceTOU) {
		e := &Escalator{Decimals: PriceDecimals}
		if pct, v, ok := eo.dec("percent", true, "2.5"); ok {
			if pct.Sign() < 0 || pct.GreaterThan(decimal.NewFromInt(25)) {
				l.report(c.f, v, join(eo.path, "percent"), "an escalator is a yearly percentage from 0 to 25, like 2.5", "%s is not a plausible escalator", quote(v.Value))
			} else {
				e.Percent = pct
			}
		}
		if d, _, ok := eo.date("anniversary", "2029-01-01"); ok {
			e.Anniversary = d
		}
		if fy, v := eo.str("first_year", false, "unescalated"); v != nil {
			switch fy {
			case "unescalated":
			case "escalated":
				e.FirstYearEscalated = true
			default:
				l.report(c.f, v, join(eo.path, "first_year"), "first_year is unescalated (the default: the exponent is the anniversaries passed) or escalated (one more)", "unknown first_year %s", quote(fy))
			}
		}
		if d, v, ok := eo.integer("decimals", false, "6"); ok {
			if d < 0 || d > PriceDecimals {
				l.report(c.f, v, join(eo.path, "decimals"), fmt.Sprintf("the escalated price is rounded to 0 to %d decimal places", PriceDecimals), "%d decimal places is out of range", d)
			} else {
				e.Decimals = int32(d)
			}
		}
		p.Escalator = e
	}
	if neg, v := po.str("negative_prices", false, "no_settlement"); v != nil {
		switch NegativeRule(neg) {
		case NegativeNoFloor, NegativeAdjusted, NegativeNoSettlement:
			p.Negative = NegativeRule(neg)
		default:
			l.report(c.f, v, join(po.path, "negative_prices"), "negative_prices is no_floor (the default), adjusted or no_settlement", "unknown negative-price rule %s", quote(neg))
		}
	}
	return p
}

// rates reads a time-of-use price: band name → $/MWh.
func (l *loader) rates(c *contractIn, po *obj) map[string]decimal.Decimal {
	n := po.vals["rates"]
	if n == nil || isNull(n) {
		po.missing("rates", "add `rates:` with a $/MWh for each band of the contract's calendar, like `peak: 72.00` and `off_peak: 41.00`")
		return nil
	}
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		l.report(c.f, n, join(po.path, "rates"), "write rates as band: price lines, like `peak: 72.00`", "rates must be a mapping of band names to prices, not %s", describe(n))
		return nil
	}
	out := map[string]decimal.Decimal{}
	names := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		names = append(names, n.Content[i].Value)
	}
	ro := l.object(c.f, n, join(po.path, "rates"), "rates", names, "")
	if ro == nil {
		return nil
	}
	for _, name := range names {
		if d, v, ok := ro.dec(name, true, "72.00"); ok {
			if d.Sign() < 0 {
				l.report(c.f, v, join(ro.path, name), "a band's price is 0 or more $/MWh", "price must not be negative, not %s", v.Value)
				continue
			}
			out[name] = d
		}
	}
	c.rates = append(c.rates, rateRef{node: n, path: join(po.path, "rates"), names: names, keys: ro.keys})
	return out
}

func (l *loader) virtual(c *contractIn, vo *obj) Virtual {
	v := Virtual{}
	v.Hub, _ = vo.str("hub", true, "HB_WEST")
	if who, n := vo.str("positive_paid_by", true, "seller"); n != nil {
		switch Role(who) {
		case RoleSeller, RoleBuyer:
			v.PositivePaidBy = Role(who)
		default:
			l.report(c.f, n, join(vo.path, "positive_paid_by"), "who pays when market − strike is positive: seller (the usual virtual PPA) or buyer", "%s is not seller or buyer", quote(who))
		}
	}
	v.Basis, _ = vo.boolean("basis", "false")
	return v
}

func (l *loader) monthly(c *contractIn, mo *obj) Monthly {
	m := Monthly{}
	m.CapacityUSDPerKWMonth, _ = mo.nonNeg("capacity_usd_per_kw_month", "8.50", "a capacity charge is 0 or more $/kW-month")
	m.ContractedMW, _ = mo.nonNeg("contracted_mw", "450", "contracted capacity is 0 or more MW")
	m.ExpectedMWh, _ = mo.nonNeg("expected_mwh", "250000", "expected energy is 0 or more MWh a month")
	if t := mo.optSub("minimum_take", minTakeKeys, "add `percent: 80` and `shortfall_usd_per_mwh: 20.00`"); t != nil {
		m.MinimumTakePercent, _ = t.percent("percent", "80", 100, true)
		if d, v, ok := t.dec("shortfall_usd_per_mwh", true, "20.00"); ok {
			if d.Sign() < 0 {
				l.report(c.f, v, join(t.path, "shortfall_usd_per_mwh"), "the take-or-pay price is 0 or more $/MWh", "must not be negative, not %s", v.Value)
			} else {
				m.MinimumTakeUSDPerMWh = d
			}
		}
	}
	if x := mo.optSub("excess", excessKeys, "add `above_percent: 110` and `fraction_of_price: 0.75`"); x != nil {
		if d, v, ok := x.dec("above_percent", true, "110"); ok {
			if d.LessThan(decimal.NewFromInt(100)) || d.GreaterThan(decimal.NewFromInt(1000)) {
				l.report(c.f, v, join(x.path, "above_percent"), "excess starts at 100% of expected energy or more, like 110", "%s is not a percentage from 100 to 1000", quote(v.Value))
			} else {
				m.ExcessAbovePercent = d
			}
		}
		if d, v, ok := x.dec("fraction_of_price", true, "0.75"); ok {
			if d.Sign() < 0 || d.GreaterThan(decimal.NewFromInt(1)) {
				l.report(c.f, v, join(x.path, "fraction_of_price"), "a fraction from 0 to 1, like 0.75", "%s is not a fraction from 0 to 1", quote(v.Value))
			} else {
				m.ExcessFractionOfPrice = d
			}
		}
	}
	return m
}

// amendments reads a contract's later versions.
func (l *loader) amendments(c *contractIn, o *obj) {
	prev := c.c.Terms
	prevEffective, prevNode := c.c.Start, c.nodeOr("start")
	for i, an := range o.list("amendments", false, "a list of amendments, each like `- version: 2` with `effective: 2030-01-01` and the sections that change") {
		path := fmt.Sprintf("%s[%d]", join(c.path, "amendments"), i)
		ao := l.object(c.f, an, path, "an amendment", amendmentKeys, "write an amendment like `- version: 2` with `effective: 2030-01-01` and the sections that change (volume, price, virtual, monthly)")
		if ao == nil {
			continue
		}
		t := prev // sections not given are inherited
		t.Line = an.Line
		want := prev.Version + 1
		if v, vn, ok := ao.integer("version", true, fmt.Sprint(want)); ok {
			if v != want {
				l.report(c.f, vn, join(path, "version"), fmt.Sprintf("versions count up from 1 (the contract's own terms) without gaps: this one is version %d", want), "version %d out of order", v)
			}
		}
		t.Version = want
		if d, dn, ok := ao.date("effective", "2030-01-01"); ok {
			switch {
			case !prevEffective.Before(d):
				l.report(c.f, dn, join(path, "effective"), fmt.Sprintf("each version starts after the one before (which starts %s at %s); one day has one set of terms", prevEffective, l.where(c.f, prevNode)),
					"version %d overlaps the version before it: effective %s is not after %s", want, d, prevEffective)
			case !d.Before(c.c.End):
				l.report(c.f, dn, join(path, "effective"), fmt.Sprintf("an amendment takes effect before the contract ends on %s", c.c.End), "effective %s is not within the term", d)
			}
			t.Effective, prevEffective, prevNode = d, d, dn
		}
		if len(ao.vals) <= 2 && !ao.bad {
			l.report(c.f, an, path, "add the sections that change: volume, price, virtual or monthly", "amendment changes nothing")
		}
		l.terms(c, ao, &t, false)
		c.c.Amendments = append(c.c.Amendments, t)
		prev = t
	}
}

// calendar reads a calendar: holidays and time-of-use bands.
func (l *loader) calendar(f int, n *yaml.Node, i int) {
	path := itemPath("calendars", n, i)
	o := l.object(f, n, path, "a calendar", calendarKeys, "write a calendar like `- id: ercot-5x16` with holidays: and bands:")
	if o == nil {
		l.calendarsIncomplete = true
		return
	}
	ci := &calendarIn{item: item{f: f, node: n, path: path, at: o.vals}}
	ci.c.Line = n.Line
	ci.c.ID, _ = o.id("ercot-5x16")
	if ci.c.ID == "" {
		l.calendarsIncomplete = true
	}
	ci.c.Holidays = "none"
	if h, v := o.str("holidays", false, "nerc"); v != nil {
		if !slices.Contains(HolidayRules, h) {
			l.report(f, v, join(path, "holidays"), "holidays is nerc (New Year's, Memorial Day, July 4, Labor Day, Thanksgiving, Christmas; Sunday → Monday) or none; list others under extra_holidays", "unknown holiday calendar %s", quote(h))
		} else {
			ci.c.Holidays = h
		}
	}
	for j, dn := range o.list("extra_holidays", false, "dates like 2028-11-24") {
		d, err := ParseDate(strings.TrimSpace(dn.Value))
		if dn.Kind != yaml.ScalarNode || err != nil {
			l.report(f, dn, fmt.Sprintf("%s[%d]", join(path, "extra_holidays"), j), "write dates as YYYY-MM-DD, like 2028-11-24", "%s is not a date", describe(dn))
			continue
		}
		ci.c.Extra = append(ci.c.Extra, d)
	}
	complete := true
	names := map[string]int{}
	for j, bn := range o.list("bands", true, "bands like `- name: peak` with `days: weekdays` and `hours_ending: 7-22`") {
		bpath := fmt.Sprintf("%s[%d]", join(path, "bands"), j)
		bo := l.object(f, bn, bpath, "a band", bandKeys, "write a band like `- name: peak` with `days: weekdays` and `hours_ending: 7-22`")
		if bo == nil {
			complete = false
			continue
		}
		b := Band{Line: bn.Line}
		name, nv := bo.str("name", true, "peak")
		if nv != nil {
			if !idPattern.MatchString(name) {
				l.report(f, nv, join(bpath, "name"), idHint, "%s is not a valid band name", quote(name))
			} else if first, dup := names[name]; dup {
				l.report(f, nv, join(bpath, "name"), "band names are unique within a calendar; merge the two bands' days and hours, or rename one", "band %s is already defined at line %d", quote(name), first)
			} else {
				names[name] = bn.Line
			}
		}
		b.Name = name
		if d, dv := bo.str("days", true, "weekdays"); dv != nil {
			set, err := ParseDays(d)
			if err != nil {
				l.report(f, dv, join(bpath, "days"), "days are weekdays, weekends, holidays, all, or mon … sun, holiday, comma-separated", "%s", err)
				complete = false
			}
			b.Days = set
		} else {
			complete = false
		}
		if h, hv := bo.str("hours_ending", true, "7-22"); hv != nil {
			set, err := ParseHours(h)
			if err != nil {
				l.report(f, hv, join(bpath, "hours_ending"), "hours ending run 1 (midnight to 01:00) to 24, like 7-22 or 1-6,23-24", "%s", err)
				complete = false
			}
			b.Hours = set
		} else {
			complete = false
		}
		ci.c.Bands = append(ci.c.Bands, b)
	}
	if complete && len(ci.c.Bands) > 0 {
		uncovered, shadowed := ci.c.coverage()
		if ci.c.Holidays == "none" && len(ci.c.Extra) == 0 {
			uncovered = dropHoliday(uncovered) // a calendar without holidays has no holiday hours to cover
		}
		if len(uncovered) > 0 {
			l.report(f, o.vals["bands"], join(path, "bands"), "every hour must fall in a band: add a last band like `- name: off_peak` with `days: all` and `hours_ending: 1-24`",
				"the bands leave hours uncovered: %s", strings.Join(uncovered, "; "))
		}
		for _, i := range shadowed {
			b := ci.c.Bands[i]
			l.report(f, o.vals["bands"].Content[i], fmt.Sprintf("%s[%d]", join(path, "bands"), i), "bands are matched in order; move it up or narrow the bands before it",
				"band %s never applies: earlier bands take all its hours", quote(b.Name))
		}
	}
	l.calendars = append(l.calendars, ci)
}

func dropHoliday(uncovered []string) []string {
	var out []string
	for _, u := range uncovered {
		if !strings.HasPrefix(u, Holiday.String()+" ") {
			out = append(out, u)
		}
	}
	return out
}

// bandRef is a reference to a calendar band from a contract, checked once
// the calendars of every file are read.
type bandRef struct {
	node *yaml.Node
	path string
	band string
}

// rateRef is a time-of-use price's band names, checked against the calendar.
type rateRef struct {
	node  *yaml.Node
	path  string
	names []string
	keys  map[string]*yaml.Node
}

type calendarIn struct {
	item
	c Calendar
}

// checkTerms checks what a contract's terms refer to: its calendar and the
// bands named in rates and during:, the meter a contract needs, and the
// monthly terms' basis.
func (l *loader) checkTerms(c *contractIn, calendars map[string]*calendarIn) {
	var cal *Calendar
	if c.c.CalendarID != "" {
		ci, ok := calendars[c.c.CalendarID]
		if !ok {
			if !l.calendarsIncomplete {
				var ids []string
				for _, x := range l.calendars {
					if x.c.ID != "" {
						ids = append(ids, x.c.ID)
					}
				}
				hint := "there is no calendar defined: add one under calendars:"
				if len(ids) > 0 {
					hint = "calendars: " + strings.Join(ids, ", ")
				}
				l.report(c.f, c.nodeOr("calendar"), join(c.path, "calendar"), hint, "no calendar %s", quote(c.c.CalendarID))
			}
			return
		}
		cal = &ci.c
	}
	needCal := func(n *yaml.Node, path, what string) {
		l.report(c.f, n, path, "add `calendar: ID` to the contract, naming a calendar under calendars: that defines its bands", "%s needs a calendar, and the contract names none", what)
	}
	for _, r := range c.refs {
		if cal == nil {
			needCal(r.node, r.path, "during: "+r.band)
			continue
		}
		if !slices.Contains(cal.BandNames(), r.band) {
			l.report(c.f, r.node, r.path, fmt.Sprintf("calendar %s has bands %s", cal.ID, strings.Join(cal.BandNames(), ", ")), "no band %s in calendar %s", quote(r.band), quote(cal.ID))
		}
	}
	for _, r := range c.rates {
		if cal == nil {
			needCal(r.node, r.path, "a tou price")
			continue
		}
		for _, name := range r.names {
			if !slices.Contains(cal.BandNames(), name) {
				l.report(c.f, r.keys[name], join(r.path, name), fmt.Sprintf("calendar %s has bands %s", cal.ID, strings.Join(cal.BandNames(), ", ")), "no band %s in calendar %s", quote(name), quote(cal.ID))
			}
		}
		for _, b := range cal.BandNames() {
			if !slices.Contains(r.names, b) {
				l.report(c.f, r.node, r.path, fmt.Sprintf("add `%s: PRICE`; every band of calendar %s needs a price", b, cal.ID), "no rate for band %s", quote(b))
			}
		}
	}
	for _, t := range c.c.Versions() {
		mo := t.Monthly
		where := c.nodeOr("monthly")
		if t.Version > 1 && t.Line > 0 {
			where = &yaml.Node{Line: t.Line}
		}
		firm := t.Volume.Shape == ShapeBaseload || t.Volume.Shape == ShapeShaped
		if (mo.MinimumTakePercent.Sign() > 0 || mo.ExcessAbovePercent.Sign() > 0) && mo.ExpectedMWh.Sign() == 0 && !firm && t.Volume.Shape != "" {
			l.report(c.f, where, join(c.path, "monthly.expected_mwh"), "a minimum take or excess tier is a percentage of the month's expected energy: add `expected_mwh: 250000` under monthly:",
				"version %d of a %s contract has no expected energy to take a percentage of", t.Version, t.Volume.Shape)
		}
		if mo.CapacityUSDPerKWMonth.Sign() > 0 && mo.ContractedMW.Sign() == 0 && t.Volume.CapacityMW.Sign() == 0 && t.Volume.MW.Sign() == 0 && t.Volume.Shape != "" {
			l.report(c.f, where, join(c.path, "monthly.contracted_mw"), "a capacity charge is $/kW-month on contracted capacity: add `contracted_mw: 450` under monthly:",
				"version %d has a capacity charge but no contracted MW", t.Version)
		}
	}
	c.c.Calendar = cal
}
