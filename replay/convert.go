package replay

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// kind says what a row's value is.
type kind int

const (
	energy kind = iota // an amount of energy or an average power, in the parsed unit
	price              // $/MWh
	gas                // $/MMBtu for an operating day
)

// row is one value read from a file, before mapping.
type row struct {
	line       int
	series     string // the series name in the file: a pnode, column, load area or meter
	kind       kind
	start, end time.Time
	value      decimal.Decimal
	quality    matching.Quality
}

// parsed is what a parser read from a file.
type parsed struct {
	rows   []row
	unit   string // unit of energy rows: MW, MWh, kWh or Wh
	market string // market of price rows
	notes  []string
}

// The limits a value must respect to become a message.
var (
	maxPrice    = decimal.NewFromInt(100_000)
	maxGasPrice = decimal.NewFromInt(1_000)
	whPer       = map[string]decimal.Decimal{"Wh": decimal.NewFromInt(1), "kWh": decimal.NewFromInt(1_000), "MWh": decimal.NewFromInt(1_000_000)}
	million     = decimal.NewFromInt(1_000_000)
)

// maxSplit is the longest value split into intervals: a day.
const maxSplit = 24 * time.Hour

// maxRows bounds one file: a year of 5-minute values of 20 meters.
const maxRows = 2_200_000

func parse(src *Source, site *contracts.Site) (parsed, error) {
	switch src.Format {
	case PJMLMP:
		return parsePJMLMP(src)
	case PJMLoad:
		return parsePJMLoad(src)
	case ERCOTHourly:
		return parseERCOT(src, site)
	case EIAGas:
		return parseEIAGas(src, site)
	case ESPI:
		return parseESPI(src)
	case CSV:
		return parseCSV(src)
	case "":
		return parsed{}, &offtake.Error{Place: src.File, Field: "format", Msg: "no format given", Hint: "--format or format: one of " + formatList()}
	}
	return parsed{}, &offtake.Error{Place: src.File, Field: "format", Msg: fmt.Sprintf("%q is not a format offtake reads", src.Format), Hint: "one of " + formatList()}
}

func formatList() string {
	s := make([]string, len(Formats))
	for i, f := range Formats {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// convert reads one source and turns its rows into the site's readings and
// prices: mapped, in exact units, fitted to the site's interval, inside
// [From, To).
func convert(site *contracts.Site, src *Source) ([]item, []string, int, error) {
	p, err := parse(src, site)
	if err != nil {
		return nil, nil, 0, err
	}
	if len(p.rows) > maxRows {
		return nil, nil, 0, &offtake.Error{Place: src.File, Msg: fmt.Sprintf("%d rows is more than the %d one replay reads", len(p.rows), maxRows), Hint: "split the file, or replay a window with --from/--to"}
	}
	unit := p.unit
	if src.Unit != "" && src.Format != CSV { // a plain CSV names its unit on every row
		unit = src.Unit
	}
	if _, ok := whPer[unit]; !ok && unit != "MW" && hasKind(p.rows, energy) {
		return nil, nil, 0, &offtake.Error{Place: src.File, Field: "unit", Msg: fmt.Sprintf("%q is not an energy unit", unit), Hint: "MW (the hour's average), MWh, kWh or Wh"}
	}
	scale := src.Scale
	if scale.IsZero() {
		scale = decimal.NewFromInt(1)
	}
	market := p.market
	if src.Market != "" {
		market = src.Market
	}
	var errs offtake.Errors
	var items []item
	rounded := 0
	energyBy := map[string][]value{}
	var order []string
	unmapped := map[string]bool{} // a series without a meter or node is reported once, at its first row
	for _, r := range p.rows {
		place := fmt.Sprintf("%s:%d", src.File, r.line)
		switch r.kind {
		case energy:
			meter, e := meterFor(src, site, r, p.rows)
			if e != nil {
				if !unmapped[r.series] {
					errs = append(errs, e)
				}
				unmapped[r.series] = true
				continue
			}
			wh := r.value.Mul(scale)
			if unit == "MW" {
				wh = wh.Mul(million).Mul(decimal.NewFromInt(int64(r.end.Sub(r.start) / time.Second))).Div(decimal.NewFromInt(3600))
			} else {
				wh = wh.Mul(whPer[unit])
			}
			whole := wh.Round(0) // half away from zero: the engine counts whole Wh
			if !whole.Equal(wh) {
				rounded++
			}
			m, _ := site.Meter(meter)
			if whole.Sign() < 0 && m.Kind != contracts.MeterGross {
				errs = append(errs, &offtake.Error{Place: place, Field: "value", Msg: fmt.Sprintf("%s %s is negative, and meter %s is a %s meter", r.value, unit, meter, m.Kind), Hint: "only a generation_gross meter may read negative (station service when the plant is off)"})
				continue
			}
			if whole.Abs().GreaterThan(decimal.NewFromInt(int64(1) << 50)) {
				errs = append(errs, &offtake.Error{Place: place, Field: "value", Msg: fmt.Sprintf("%s %s (× %s) is beyond what a meter reads", r.value, unit, scale)})
				continue
			}
			if _, ok := energyBy[meter]; !ok {
				order = append(order, meter)
			}
			energyBy[meter] = append(energyBy[meter], value{line: r.line, start: r.start, end: r.end, wh: whole.IntPart(), quality: r.quality})
		case price, gas:
			node, e := nodeFor(src, r, p.rows)
			if e != nil {
				if !unmapped[r.series] {
					errs = append(errs, e)
				}
				unmapped[r.series] = true
				continue
			}
			if e := checkPrice(place, r); e != nil {
				errs = append(errs, e)
				continue
			}
			pr := &matching.Price{Node: node, Market: market, Start: r.start, End: r.end, USDPerMWh: r.value, Unit: matching.UnitMWh}
			if r.kind == gas {
				pr.Unit = matching.UnitMMBtu
			} else if msg := fitPrice(site, r); msg != "" {
				errs = append(errs, &offtake.Error{Place: place, Msg: msg, Hint: "a price must cover whole intervals of the site: its interval or a multiple of it"})
				continue
			}
			if inWindow(src, site, pr.Start, pr.End) {
				items = append(items, item{file: src.File, line: r.line, price: pr})
			}
		}
		if len(errs) >= 20 {
			break
		}
	}
	if len(errs) > 0 {
		return nil, nil, 0, errs
	}
	notes := p.notes
	for _, meter := range order {
		rs, note, e := fitEnergy(site, meter, src.File, energyBy[meter])
		if e != nil {
			errs = append(errs, e...)
			continue
		}
		if note != "" {
			notes = append(notes, note)
		}
		for i := range rs {
			if inWindow(src, site, rs[i].r.Start, rs[i].r.End) {
				items = append(items, item{file: src.File, line: rs[i].line, reading: &rs[i].r})
			}
		}
	}
	if rounded > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d values rounded to whole Wh (half away from zero)", src.File, rounded))
	}
	return items, notes, rounded, errs.Err()
}

func hasKind(rows []row, k kind) bool {
	for _, r := range rows {
		if r.kind == k {
			return true
		}
	}
	return false
}

func inWindow(src *Source, site *contracts.Site, start, end time.Time) bool {
	if !src.From.IsZero() && start.Before(src.From.In(site.Location)) {
		return false
	}
	if !src.To.IsZero() && end.After(src.To.In(site.Location)) {
		return false
	}
	return true
}

// seriesOf lists the distinct series of one kind, in file order.
func seriesOf(rows []row, k kind) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rows {
		if r.kind == k && !seen[r.series] {
			seen[r.series] = true
			out = append(out, r.series)
		}
	}
	return out
}

func meterFor(src *Source, site *contracts.Site, r row, rows []row) (string, *offtake.Error) {
	place := fmt.Sprintf("%s:%d", src.File, r.line)
	meter, ok := src.Meters[r.series]
	switch {
	case ok:
	case src.Meter != "":
		if s := seriesOf(rows, energy); len(s) > 1 {
			return "", &offtake.Error{Place: place, Field: "meter", Msg: fmt.Sprintf("the file has %d series (%s), so one --meter cannot take them all", len(s), strings.Join(s, ", ")), Hint: "map each: --meter NAME=METER or meters: in a mapping file"}
		}
		meter = src.Meter
	case src.Format == CSV:
		meter = r.series
	case r.series == "":
		return "", &offtake.Error{Place: place, Field: "meter", Msg: "no meter for the file's readings", Hint: "--meter METER or meter: in a mapping file"}
	default:
		return "", &offtake.Error{Place: place, Field: "meter", Msg: fmt.Sprintf("no meter for %q", r.series), Hint: "--meter METER or meters: {" + r.series + ": METER}"}
	}
	if _, ok := site.Meter(meter); !ok {
		ids := make([]string, len(site.Meters))
		for i, m := range site.Meters {
			ids[i] = m.ID
		}
		return "", &offtake.Error{Place: place, Field: "meter", Msg: fmt.Sprintf("%q is not a meter of site %s", meter, site.ID), Hint: "one of " + strings.Join(ids, ", ")}
	}
	return meter, nil
}

func nodeFor(src *Source, r row, rows []row) (string, *offtake.Error) {
	if n, ok := src.Nodes[r.series]; ok {
		return n, nil
	}
	if src.Node != "" {
		if s := seriesOf(rows, r.kind); len(s) > 1 {
			return "", &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, r.line), Field: "node", Msg: fmt.Sprintf("the file has %d price series (%s), so one --node cannot name them all", len(s), strings.Join(s, ", ")), Hint: "map each: --node NAME=NODE or nodes: in a mapping file"}
		}
		return src.Node, nil
	}
	if len(src.Nodes) > 0 {
		return "", &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, r.line), Field: "node", Msg: fmt.Sprintf("%q is not mapped to a node", r.series), Hint: "add it to nodes:, or filter the file"}
	}
	return r.series, nil
}

func checkPrice(place string, r row) *offtake.Error {
	switch {
	case r.value.Exponent() < -6 && !r.value.Equal(r.value.Round(6)):
		return &offtake.Error{Place: place, Field: "price", Msg: fmt.Sprintf("%s has more than 6 decimal places", r.value), Hint: "prices are exact to 6 decimals"}
	case r.kind == price && r.value.Abs().GreaterThan(maxPrice):
		return &offtake.Error{Place: place, Field: "price", Msg: fmt.Sprintf("%s $/MWh is beyond any market's price cap", r.value)}
	case r.kind == gas && (r.value.Sign() < 0 || r.value.GreaterThan(maxGasPrice)):
		return &offtake.Error{Place: place, Field: "price", Msg: fmt.Sprintf("%s $/MMBtu is not a plausible gas price (0 to 1000)", r.value)}
	}
	return nil
}

// fitPrice says what keeps a price from covering whole intervals of the site.
func fitPrice(site *contracts.Site, r row) string {
	d, step := r.end.Sub(r.start), site.Interval()
	switch {
	case d < step:
		return fmt.Sprintf("a %s price cannot price the site's %s intervals exactly (offtake does not average prices)", d, step)
	case d%step != 0:
		return fmt.Sprintf("a %s price does not cover a whole number of the site's %s intervals", d, step)
	case !r.start.Truncate(step).Equal(r.start):
		return fmt.Sprintf("the price starts at %s, not on one of the site's %s intervals", utc(r.start), step)
	}
	return ""
}

// value is one meter's energy over [start, end) in whole Wh.
type value struct {
	line       int
	start, end time.Time
	wh         int64
	quality    matching.Quality
}

type lined struct {
	line int
	r    matching.Reading
}

// fitEnergy turns one meter's values into readings of the site's interval:
//   - a value of the site's interval is one reading;
//   - a value of k intervals (hourly into 15 minutes: k = 4) is split evenly,
//     floor(Wh / k) each and the remainder (0 to k−1 Wh) to the last, so the
//     parts sum to the value exactly;
//   - k values of 1/k of the interval (15 minutes into an hour) are summed,
//     only when all k are present; the sum is estimated or substituted if any
//     part is.
//
// Any other combination cannot be exact and is refused.
func fitEnergy(site *contracts.Site, meter, file string, vs []value) ([]lined, string, offtake.Errors) {
	step := site.Interval()
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].start.Before(vs[j].start) })
	var out []lined
	var errs offtake.Errors
	splits, sums := 0, 0
	for i := 0; i < len(vs) && len(errs) < 20; i++ {
		v := vs[i]
		place := fmt.Sprintf("%s:%d", file, v.line)
		d := v.end.Sub(v.start)
		switch {
		case d > maxSplit:
			errs = append(errs, &offtake.Error{Place: place, Msg: fmt.Sprintf("meter %s: a value of %s is longer than a day; offtake splits values of at most a day into intervals", meter, d), Hint: "replay interval data: hourly, 15-minute, 5-minute"})
		case d >= step && d%step == 0:
			if !v.start.Truncate(step).Equal(v.start) {
				errs = append(errs, &offtake.Error{Place: place, Msg: fmt.Sprintf("meter %s: the value starts at %s, not on one of the site's %s intervals", meter, utc(v.start), step)})
				continue
			}
			k := int64(d / step)
			q := floorDiv(v.wh, k)
			rem := v.wh - q*k
			for j := int64(0); j < k; j++ {
				wh := q
				if j == k-1 {
					wh += rem
				}
				s := v.start.Add(time.Duration(j) * step)
				out = append(out, lined{v.line, matching.Reading{Site: site.ID, Meter: meter, Start: s, End: s.Add(step), Energy: matching.Wh(wh), Quality: v.quality, Version: 1}})
			}
			if k > 1 {
				splits++
			}
		case d > 0 && d < step && step%d == 0:
			k := int(step / d)
			start := v.start.Truncate(step)
			if !start.Equal(v.start) || i+k > len(vs) {
				errs = append(errs, sumErr(place, meter, start, step, d, k))
				continue
			}
			total, q := int64(0), matching.Actual
			for j := 0; j < k; j++ {
				w := vs[i+j]
				if !w.start.Equal(start.Add(time.Duration(j)*d)) || w.end.Sub(w.start) != d {
					errs = append(errs, sumErr(fmt.Sprintf("%s:%d", file, w.line), meter, start, step, d, k))
					break
				}
				total += w.wh
				q = worse(q, w.quality)
			}
			if len(errs) > 0 {
				continue
			}
			out = append(out, lined{v.line, matching.Reading{Site: site.ID, Meter: meter, Start: start, End: start.Add(step), Energy: matching.Wh(total), Quality: q, Version: 1}})
			i += k - 1
			sums++
		default:
			errs = append(errs, &offtake.Error{Place: place, Msg: fmt.Sprintf("meter %s: a %s value cannot be fitted exactly to the site's %s intervals", meter, d, step), Hint: "the value's length must be a multiple of the interval (split evenly) or divide it (summed)"})
		}
	}
	note := ""
	switch {
	case splits > 0:
		note = fmt.Sprintf("%s: meter %s: %d values split evenly into %s readings (remainder Wh to the last)", file, meter, splits, minutes(step))
	case sums > 0:
		note = fmt.Sprintf("%s: meter %s: %d %s readings summed from shorter values", file, meter, sums, minutes(step))
	}
	return out, note, errs
}

// minutes names an interval the way the contract files do: "15-minute".
func minutes(d time.Duration) string { return fmt.Sprintf("%d-minute", int(d/time.Minute)) }

func sumErr(place, meter string, start time.Time, step, d time.Duration, k int) *offtake.Error {
	return &offtake.Error{Place: place, Msg: fmt.Sprintf("meter %s: the %s interval from %s needs all %d of its %s values, in order, to be summed", meter, step, utc(start), k, d),
		Hint: "a missing or misaligned value cannot be summed exactly: complete the data or replay to a site with the file's interval"}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func worse(a, b matching.Quality) matching.Quality {
	rank := map[matching.Quality]int{matching.Actual: 0, matching.Estimated: 1, matching.Substituted: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
