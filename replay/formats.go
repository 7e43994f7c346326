package replay

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/offtake/offtake"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// table is a CSV file read whole, with each record's line.
type table struct {
	file   string
	header map[string]int
	names  []string
	recs   [][]string
	lines  []int
}

func readTable(src *Source) (*table, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(src.Data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1 // counted below, to say how many
	r.ReuseRecord = false
	t := &table{file: src.File, header: map[string]int{}}
	head, err := r.Read()
	if err != nil {
		return nil, &offtake.Error{Place: src.File + ":1", Msg: "no header row: " + csvMsg(err)}
	}
	for i, h := range head {
		h = strings.TrimSpace(h)
		t.names = append(t.names, h)
		t.header[strings.ToLower(h)] = i
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			line := 0
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, line), Msg: csvMsg(err)}
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != len(t.names) {
			return nil, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, line), Msg: fmt.Sprintf("%d fields where the header has %d", len(rec), len(t.names)), Hint: "a decimal comma or an unquoted comma in a field? write 12.5"}
		}
		t.recs = append(t.recs, rec)
		t.lines = append(t.lines, line)
		if len(t.recs) > maxRows {
			return nil, &offtake.Error{Place: src.File, Msg: fmt.Sprintf("more than %d rows", maxRows), Hint: "split the file"}
		}
	}
	return t, nil
}

func csvMsg(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// col finds a column by name (case-insensitive), or says which exist.
func (t *table) col(name string) (int, *offtake.Error) {
	if i, ok := t.header[strings.ToLower(name)]; ok {
		return i, nil
	}
	return 0, &offtake.Error{Place: t.file + ":1", Field: name, Msg: "no such column", Hint: "the columns are " + strings.Join(t.names, ", ")}
}

func (t *table) place(i int) string { return fmt.Sprintf("%s:%d", t.file, t.lines[i]) }

func (t *table) cell(i, c int) string {
	if c < len(t.recs[i]) {
		return strings.TrimSpace(t.recs[i][c])
	}
	return ""
}

func (t *table) decimal(i, c int) (decimal.Decimal, *offtake.Error) {
	s := t.cell(i, c)
	d, err := decimal.NewFromString(s)
	if err != nil || s == "" || strings.ContainsAny(s, "eE") {
		what := fmt.Sprintf("%q is not a decimal number", s)
		if s == "" {
			what = "empty"
		}
		return d, &offtake.Error{Place: t.place(i), Field: t.names[c], Msg: what}
	}
	return d, nil
}

// The PJM Data Miner time format.
const pjmTime = "1/2/2006 3:04:05 PM"

var eastern = mustZone("America/New_York")

func mustZone(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// pjmHour reads row i's hour: datetime_beginning_utc, checked against
// datetime_beginning_ept when the file has it (PJM's prevailing Eastern time,
// which repeats 1:00 AM on the fall-back day: the UTC column tells them apart).
func pjmHour(t *table, i, utcCol, eptCol int) (time.Time, *offtake.Error) {
	s := t.cell(i, utcCol)
	start, err := time.Parse(pjmTime, s)
	if err != nil {
		return start, &offtake.Error{Place: t.place(i), Field: t.names[utcCol], Msg: fmt.Sprintf("%q is not a time like 1/31/2025 5:00:00 AM", s)}
	}
	if eptCol >= 0 {
		if want := start.In(eastern).Format(pjmTime); t.cell(i, eptCol) != want {
			return start, &offtake.Error{Place: t.place(i), Field: t.names[eptCol], Msg: fmt.Sprintf("%q is not %s UTC in Eastern time (%s)", t.cell(i, eptCol), s, want), Hint: "the two time columns disagree: the file was edited or mislabelled"}
		}
	}
	return start, nil
}

func (t *table) optCol(name string) int {
	if i, ok := t.header[name]; ok {
		return i
	}
	return -1
}

// notCurrent reports a PJM row superseded by a later version (row_is_current False).
func (t *table) notCurrent(i int) bool {
	c := t.optCol("row_is_current")
	return c >= 0 && strings.EqualFold(t.cell(i, c), "false")
}

// parsePJMLMP reads a PJM Data Miner hourly LMP export (da_hrl_lmps or
// rt_hrl_lmps): one price per pnode and hour.
func parsePJMLMP(src *Source) (parsed, error) {
	t, err := readTable(src)
	if err != nil {
		return parsed{}, err
	}
	utcCol, e := t.col("datetime_beginning_utc")
	if e != nil {
		return parsed{}, e
	}
	nodeCol, e := t.col("pnode_name")
	if e != nil {
		return parsed{}, e
	}
	column := src.Column
	if column == "" {
		_, da := t.header["total_lmp_da"]
		_, rt := t.header["total_lmp_rt"]
		switch {
		case da && rt:
			return parsed{}, &offtake.Error{Place: src.File + ":1", Field: "column", Msg: "the file has both total_lmp_da and total_lmp_rt", Hint: "pick one with --column"}
		case da:
			column = "total_lmp_da"
		case rt:
			column = "total_lmp_rt"
		default:
			return parsed{}, &offtake.Error{Place: src.File + ":1", Field: "column", Msg: "neither total_lmp_da nor total_lmp_rt is a column", Hint: "name the price column with --column; the columns are " + strings.Join(t.names, ", ")}
		}
	}
	valCol, e := t.col(column)
	if e != nil {
		return parsed{}, e
	}
	market := "RT"
	if strings.HasSuffix(strings.ToLower(column), "_da") {
		market = "DA"
	}
	out := parsed{market: market}
	var errs offtake.Errors
	old := 0
	for i := range t.recs {
		if t.notCurrent(i) {
			old++
			continue
		}
		start, e := pjmHour(t, i, utcCol, t.optCol("datetime_beginning_ept"))
		if e == nil {
			var v decimal.Decimal
			v, e = t.decimal(i, valCol)
			if e == nil {
				out.rows = append(out.rows, row{line: t.lines[i], series: t.cell(i, nodeCol), kind: price, start: start, end: start.Add(time.Hour), value: v})
			}
		}
		if e != nil {
			if errs = append(errs, e); len(errs) >= 20 {
				break
			}
		}
	}
	if old > 0 {
		out.notes = append(out.notes, fmt.Sprintf("%s: %d superseded rows (row_is_current False) left out", src.File, old))
	}
	out.rows = keepSeries(out.rows, src.Nodes)
	return out, errs.Err()
}

// keepSeries keeps, when the source maps series by name, only the rows of
// the series it maps (a 12-hub file replayed for one hub).
func keepSeries(rows []row, byName map[string]string) []row {
	if len(byName) == 0 {
		return rows
	}
	var out []row
	for _, r := range rows {
		if _, ok := byName[r.series]; ok {
			out = append(out, r)
		}
	}
	return out
}

// parsePJMLoad reads a PJM Data Miner hourly MW export: metered load
// (hrl_load_metered: load_area, mw) or generation by fuel (area,
// solar_generation_mw). The value is the hour's average MW.
func parsePJMLoad(src *Source) (parsed, error) {
	t, err := readTable(src)
	if err != nil {
		return parsed{}, err
	}
	utcCol, e := t.col("datetime_beginning_utc")
	if e != nil {
		return parsed{}, e
	}
	column := src.Column
	if column == "" {
		var mw []string
		for _, n := range t.names {
			if l := strings.ToLower(n); l == "mw" || strings.HasSuffix(l, "_mw") {
				mw = append(mw, n)
			}
		}
		if len(mw) != 1 {
			return parsed{}, &offtake.Error{Place: src.File + ":1", Field: "column", Msg: fmt.Sprintf("%d MW columns (%s)", len(mw), strings.Join(mw, ", ")), Hint: "name the value column with --column"}
		}
		column = mw[0]
	}
	valCol, e := t.col(column)
	if e != nil {
		return parsed{}, e
	}
	areaCol := t.optCol("load_area")
	if areaCol < 0 {
		areaCol = t.optCol("area")
	}
	out := parsed{unit: "MW"}
	var errs offtake.Errors
	for i := range t.recs {
		if t.notCurrent(i) {
			continue
		}
		area := column
		if areaCol >= 0 {
			area = t.cell(i, areaCol)
		}
		if src.Area != "" && area != src.Area {
			continue
		}
		start, e := pjmHour(t, i, utcCol, t.optCol("datetime_beginning_ept"))
		if e == nil {
			var v decimal.Decimal
			v, e = t.decimal(i, valCol)
			if e == nil {
				out.rows = append(out.rows, row{line: t.lines[i], series: area, kind: energy, start: start, end: start.Add(time.Hour), value: v, quality: matching.Actual})
			}
		}
		if e != nil {
			if errs = append(errs, e); len(errs) >= 20 {
				break
			}
		}
	}
	return out, errs.Err()
}

// zoneOf is the zone of a file's local times: the source's, else the site's.
func zoneOf(src *Source, site *contracts.Site) (*time.Location, *offtake.Error) {
	if src.TimeZone == "" {
		return site.Location, nil
	}
	l, err := time.LoadLocation(src.TimeZone)
	if err != nil {
		return nil, &offtake.Error{Place: src.File, Field: "time_zone", Msg: fmt.Sprintf("%q is not an IANA time zone", src.TimeZone), Hint: "like America/Chicago"}
	}
	return l, nil
}

// starts lists the instants a local wall-clock hour start can be in loc,
// in order: one on most hours, two for the repeated hour of the fall-back
// day (01:00 CDT and 01:00 CST), none for the hour skipped on the
// spring-forward day (02:00 in Chicago).
func starts(wall time.Time, loc *time.Location) []time.Time {
	w := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, time.UTC)
	_, before := w.Add(-26 * time.Hour).In(loc).Zone()
	_, after := w.Add(26 * time.Hour).In(loc).Zone()
	var out []time.Time
	for _, off := range []int{before, after} {
		t := w.Add(-time.Duration(off) * time.Second)
		lw := t.In(loc)
		if lw.Hour() == w.Hour() && lw.Minute() == w.Minute() && lw.Day() == w.Day() && (len(out) == 0 || !out[0].Equal(t)) {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// parseERCOT reads an hourly file in local time whose rows are labelled by
// hour ending, ERCOT's convention: hour ending 8 is the hour that starts at
// 07:00 local time, and hour ending 24 (or 00:00 of the next day) the last.
// The spring-forward day has no hour ending 03 (02:00 is not on the clock)
// and 23 hours; on the fall-back day hour ending 02 (from 01:00, which the
// clock shows twice) comes twice, 25 hours. A file with it once has merged the
// two hours (24 rows for a 25-hour day) and is refused unless
// RepairMergedHour.
//
// Two layouts: wide, one row per hour with a HOUR column (2023-07-06
// 08:00:00 = hour ending 8) and a column per series (NODE, HUB, WEST_LOAD);
// or ERCOT's own long layout, one row per settlement point and hour:
// DeliveryDate (MM/DD/YYYY), HourEnding (01:00 … 24:00), SettlementPoint,
// SettlementPointPrice, and DSTFlag (Y on the repeated hour).
func parseERCOT(src *Source, site *contracts.Site) (parsed, error) {
	t, err := readTable(src)
	if err != nil {
		return parsed{}, err
	}
	loc, e := zoneOf(src, site)
	if e != nil {
		return parsed{}, e
	}
	var hours []ercotHour
	var errs offtake.Errors
	if t.optCol("deliverydate") >= 0 && t.optCol("hourending") >= 0 {
		hours, errs = ercotLong(src, t)
	} else {
		hours, errs = ercotWide(src, t)
	}
	if len(errs) > 0 {
		return parsed{}, errs
	}
	// Count each series' rows per label, to tell a repeated hour from a merged one.
	type key struct {
		series string
		wall   time.Time
	}
	seen := map[key]int{}
	for _, h := range hours {
		seen[key{h.r.series, h.wall}]++
	}
	out := parsed{unit: "MW", market: "RT"}
	used := map[key]int{}
	for _, h := range hours {
		k := key{h.r.series, h.wall}
		place := fmt.Sprintf("%s:%d", src.File, h.r.line)
		ss := starts(h.wall.Add(-time.Hour), loc)
		n := 1
		var start time.Time
		switch {
		case len(ss) == 0:
			return parsed{}, &offtake.Error{Place: place, Field: h.field, Msg: fmt.Sprintf("hour ending %s does not exist in %s: the clock skips %s that day", h.wall.Format("2006-01-02 15:04"), loc, h.wall.Add(-time.Hour).Format("15:04")), Hint: "the spring-forward day has 23 hours; remove the row"}
		case len(ss) == 2 && seen[k] == 2:
			start = ss[used[k]]
			if h.dst != "" { // the file says which: Y is the repeated (second) hour
				start = ss[0]
				if h.dst == "Y" {
					start = ss[1]
				}
			}
			used[k]++
		case len(ss) == 2 && seen[k] == 1:
			day := h.wall.Add(-time.Hour).Format("2006-01-02")
			if !src.RepairMergedHour {
				return parsed{}, &offtake.Error{Place: place, Field: h.field,
					Msg:  fmt.Sprintf("%s is the fall-back day in %s: it has 25 hours and hour ending %s (from %s, which the clock shows twice) comes twice, but the file has it once (%d rows for the day%s) — the repeated hour was merged", day, loc, h.wall.Format("15:04"), h.wall.Add(-time.Hour).Format("15:04"), dayRows(hours, h.r.series, day), seriesNote(h.r.series)),
					Hint: "nothing was published; pass --repair-merged-hour to let this row's value stand for both hours, for prices and MW only"}
			}
			if h.r.kind == energy && src.Unit != "" && src.Unit != "MW" {
				return parsed{}, &offtake.Error{Place: place, Msg: "a merged hour of energy (" + src.Unit + ") cannot be repaired: how it splits between the two hours is unknown"}
			}
			start, n = ss[0], 2
			if used[key{"", h.wall}] == 0 {
				out.notes = append(out.notes, fmt.Sprintf("%s: repaired the merged fall-back hour of %s (line %d): its value stands for both hours ending %s", src.File, day, h.r.line, h.wall.Format("15:04")))
			}
			used[key{"", h.wall}]++
		case seen[k] > 2 || (len(ss) == 1 && seen[k] > 1):
			return parsed{}, &offtake.Error{Place: place, Field: h.field, Msg: fmt.Sprintf("%s appears %d times%s", h.wall.Format("2006-01-02 15:04"), seen[k], seriesNote(h.r.series)), Hint: "each hour once (twice only for the repeated fall-back hour)"}
		default:
			start = ss[0]
		}
		h.r.start, h.r.end = start, start.Add(time.Duration(n)*time.Hour)
		out.rows = append(out.rows, h.r)
	}
	return out, nil
}

func seriesNote(series string) string {
	if series == "" {
		return ""
	}
	return " of " + series
}

// ercotHour is one value of an ERCOT-style file with its hour-ending label
// (a wall-clock time: the hour's local start + 1 h) and DST flag.
type ercotHour struct {
	r     row
	wall  time.Time
	dst   string // "Y", "N" or "" (no DSTFlag column)
	field string // the column holding the label, for messages
}

var localLayouts = []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "01/02/2006 15:04"}

// ercotWide reads the wide layout: HOUR and one column per mapped series.
func ercotWide(src *Source, t *table) ([]ercotHour, offtake.Errors) {
	timeCol := -1
	for _, n := range []string{"hour", "hour_ending", "datetime", "timestamp"} {
		if c := t.optCol(n); c >= 0 {
			timeCol = c
			break
		}
	}
	if timeCol < 0 {
		return nil, offtake.Errors{{Place: src.File + ":1", Msg: "no HOUR column (the local hour ending of each row), nor DeliveryDate and HourEnding", Hint: "the columns are " + strings.Join(t.names, ", ")}}
	}
	cols, errs := ercotColumns(src, t)
	if len(errs) > 0 {
		return nil, errs
	}
	var out []ercotHour
	for i := range t.recs {
		s := t.cell(i, timeCol)
		var w time.Time
		var perr error = errors.New("bad")
		for _, layout := range localLayouts {
			if w, perr = time.Parse(layout, s); perr == nil {
				break
			}
		}
		if perr != nil || w.Minute() != 0 || w.Second() != 0 {
			if errs = append(errs, &offtake.Error{Place: t.place(i), Field: t.names[timeCol], Msg: fmt.Sprintf("%q is not an hour like 2023-07-06 08:00:00", s)}); len(errs) >= 20 {
				return nil, errs
			}
			continue
		}
		for _, c := range cols {
			v, e := t.decimal(i, c.idx)
			if e != nil {
				if errs = append(errs, e); len(errs) >= 20 {
					return nil, errs
				}
				continue
			}
			// The wide layout's hours are shared by every column: count them once.
			out = append(out, ercotHour{r: row{line: t.lines[i], series: c.name, kind: c.kind, value: v, quality: matching.Actual}, wall: w, field: t.names[timeCol]})
		}
	}
	return out, errs
}

type ercotCol struct {
	name string
	idx  int
	kind kind
}

// ercotColumns lists the value columns the source maps, in name order.
func ercotColumns(src *Source, t *table) ([]ercotCol, offtake.Errors) {
	var errs offtake.Errors
	byName := map[string]ercotCol{}
	add := func(name string, k kind) {
		c, e := t.col(name)
		if e != nil {
			errs = append(errs, e)
			return
		}
		byName[t.names[c]] = ercotCol{t.names[c], c, k}
	}
	for _, n := range sortedKeys(src.Nodes) {
		add(n, price)
	}
	for _, n := range sortedKeys(src.Meters) {
		add(n, energy)
	}
	if src.Column != "" {
		k := price
		if src.Meter != "" {
			k = energy
		}
		add(src.Column, k)
	}
	if len(errs) == 0 && len(byName) == 0 {
		errs = append(errs, &offtake.Error{Place: src.File, Field: "column", Msg: "no value column chosen", Hint: "--column NAME with --node or --meter, or nodes:/meters: in a mapping file"})
	}
	out := make([]ercotCol, 0, len(byName))
	for _, c := range byName {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, errs
}

// ercotLong reads ERCOT's own layout: DeliveryDate, HourEnding, a settlement
// point and its price per row, DSTFlag.
func ercotLong(src *Source, t *table) ([]ercotHour, offtake.Errors) {
	dateCol, _ := t.col("deliverydate")
	heCol, _ := t.col("hourending")
	pointCol := t.optCol("settlementpoint")
	if pointCol < 0 {
		pointCol = t.optCol("settlementpointname")
	}
	column := src.Column
	if column == "" {
		column = "SettlementPointPrice"
	}
	valCol, e := t.col(column)
	if e != nil {
		return nil, offtake.Errors{e}
	}
	dstCol := t.optCol("dstflag")
	k := price
	if src.Meter != "" || len(src.Meters) > 0 {
		k = energy
	}
	var out []ercotHour
	var errs offtake.Errors
	for i := range t.recs {
		if len(errs) >= 20 {
			break
		}
		d, err := time.Parse("01/02/2006", t.cell(i, dateCol))
		if err != nil {
			if d, err = time.Parse("2006-01-02", t.cell(i, dateCol)); err != nil {
				errs = append(errs, &offtake.Error{Place: t.place(i), Field: t.names[dateCol], Msg: fmt.Sprintf("%q is not a date like 11/05/2023", t.cell(i, dateCol))})
				continue
			}
		}
		he := strings.TrimSuffix(t.cell(i, heCol), ":00")
		h, err := strconv.Atoi(he)
		if err != nil || h < 1 || h > 24 {
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: t.names[heCol], Msg: fmt.Sprintf("%q is not an hour ending 01:00 to 24:00", t.cell(i, heCol))})
			continue
		}
		v, e := t.decimal(i, valCol)
		if e != nil {
			errs = append(errs, e)
			continue
		}
		series := column
		if pointCol >= 0 {
			series = t.cell(i, pointCol)
		}
		if len(src.Nodes) > 0 && k == price {
			if _, ok := src.Nodes[series]; !ok {
				continue // a point the mapping does not ask for
			}
		}
		dst := ""
		if dstCol >= 0 {
			dst = strings.ToUpper(t.cell(i, dstCol))
		}
		out = append(out, ercotHour{r: row{line: t.lines[i], series: series, kind: k, value: v, quality: matching.Actual},
			wall: d.Add(time.Duration(h) * time.Hour), dst: dst, field: t.names[heCol]})
	}
	return out, errs
}

// dayRows counts a series' rows of an operating day (hours ending after its
// midnight up to and including the next midnight).
func dayRows(hours []ercotHour, series, day string) int {
	n := 0
	for _, h := range hours {
		if h.r.series == series && h.wall.Add(-time.Hour).Format("2006-01-02") == day {
			n++
		}
	}
	return n
}

// parseEIAGas reads EIA daily spot prices (Date,Price in $/MMBtu): one price
// per operating day, local midnight to midnight in the site's zone.
func parseEIAGas(src *Source, site *contracts.Site) (parsed, error) {
	t, err := readTable(src)
	if err != nil {
		return parsed{}, err
	}
	loc, e := zoneOf(src, site)
	if e != nil {
		return parsed{}, e
	}
	dateCol, e := t.col("date")
	if e != nil {
		return parsed{}, e
	}
	col := "price"
	if src.Column != "" {
		col = src.Column
	}
	priceCol, e := t.col(col)
	if e != nil {
		return parsed{}, e
	}
	out := parsed{market: "GAS"}
	var errs offtake.Errors
	var skipped []string
	var days []contracts.Date
	for i := range t.recs {
		d, err := contracts.ParseDate(t.cell(i, dateCol))
		if err != nil {
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: t.names[dateCol], Msg: err.Error()})
			continue
		}
		if t.cell(i, priceCol) == "" {
			if src.SkipEmpty {
				skipped = append(skipped, fmt.Sprintf("%s (line %d)", d, t.lines[i]))
				continue
			}
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: t.names[priceCol], Msg: fmt.Sprintf("no price for %s", d), Hint: "pass --skip-empty to leave the day out; the engine then carries the day before's price forward, marked"})
			continue
		}
		v, e := t.decimal(i, priceCol)
		if e != nil {
			errs = append(errs, e)
			continue
		}
		if n := len(days); n > 0 && !days[n-1].Before(d) {
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: t.names[dateCol], Msg: fmt.Sprintf("%s does not come after %s", d, days[n-1]), Hint: "one row per day, in date order"})
			continue
		}
		days = append(days, d)
		out.rows = append(out.rows, row{line: t.lines[i], series: "HENRY_HUB", kind: gas, start: d.In(loc).UTC(), end: d.In(loc).AddDate(0, 0, 1).UTC(), value: v})
		if len(errs) >= 20 {
			break
		}
	}
	if len(skipped) > 0 {
		out.notes = append(out.notes, fmt.Sprintf("%s: %d row(s) with no price left out: %s", src.File, len(skipped), strings.Join(skipped, ", ")))
	}
	if src.FillDays && len(errs) == 0 {
		out.rows, out.notes = fillDays(src.File, out.rows, loc, out.notes, func(r row) bool { return inWindow(src, site, r.start, r.end) })
	}
	return out, errs.Err()
}

// fillDays gives each day with no row (weekends, holidays) the price of the
// latest earlier trading day, so every operating day has its own price.
func fillDays(file string, rows []row, loc *time.Location, notes []string, counted func(row) bool) ([]row, []string) {
	var out []row
	filled := 0
	for i, r := range rows {
		out = append(out, r)
		if i+1 == len(rows) {
			break
		}
		d := contracts.DateOf(r.start, loc)
		next := contracts.DateOf(rows[i+1].start, loc)
		for day := d.In(loc).AddDate(0, 0, 1); contracts.DateOf(day, loc).Before(next); day = day.AddDate(0, 0, 1) {
			f := r
			f.start, f.end = day.UTC(), day.AddDate(0, 0, 1).UTC()
			out = append(out, f)
			if counted(f) {
				filled++
			}
		}
	}
	if filled > 0 {
		notes = append(notes, fmt.Sprintf("%s: %d day(s) without a trading-day price took the latest earlier one (--fill-days)", file, filled))
	}
	return out, notes
}

// parseCSV reads plain readings: meter,start,end,value,unit[,quality], with
// RFC 3339 instants and units Wh, kWh or MWh.
func parseCSV(src *Source) (parsed, error) {
	t, err := readTable(src)
	if err != nil {
		return parsed{}, err
	}
	var idx [5]int
	for i, n := range []string{"meter", "start", "end", "value", "unit"} {
		c, e := t.col(n)
		if e != nil {
			return parsed{}, e
		}
		idx[i] = c
	}
	qualCol := t.optCol("quality")
	out := parsed{unit: "Wh"}
	var errs offtake.Errors
	for i := range t.recs {
		if len(errs) >= 20 {
			break
		}
		start, err1 := time.Parse(time.RFC3339, t.cell(i, idx[1]))
		end, err2 := time.Parse(time.RFC3339, t.cell(i, idx[2]))
		if err1 != nil || err2 != nil || !end.After(start) {
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: "start, end", Msg: fmt.Sprintf("[%s, %s) is not an interval of RFC 3339 instants", t.cell(i, idx[1]), t.cell(i, idx[2])), Hint: "like 2028-03-01T06:00:00Z"})
			continue
		}
		v, e := t.decimal(i, idx[3])
		if e != nil {
			errs = append(errs, e)
			continue
		}
		unit := t.cell(i, idx[4])
		f, ok := whPer[unit]
		if !ok {
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: "unit", Msg: fmt.Sprintf("%q is not Wh, kWh or MWh", unit)})
			continue
		}
		q := matching.Actual
		if qualCol >= 0 && t.cell(i, qualCol) != "" {
			q = matching.Quality(t.cell(i, qualCol))
			if !q.Valid() {
				errs = append(errs, &offtake.Error{Place: t.place(i), Field: "quality", Msg: fmt.Sprintf("%q is not actual, estimated or substituted", q)})
				continue
			}
		}
		meter := t.cell(i, idx[0])
		if meter == "" {
			errs = append(errs, &offtake.Error{Place: t.place(i), Field: "meter", Msg: "empty"})
			continue
		}
		out.rows = append(out.rows, row{line: t.lines[i], series: meter, kind: energy, start: start.UTC(), end: end.UTC(), value: v.Mul(f), quality: q})
	}
	return out, errs.Err()
}
