package contracts_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func date(s string) contracts.Date {
	d, err := contracts.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func chicago(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// termSheet loads examples/term-sheet.yaml, the example of every term.
func termSheet(t *testing.T) *contracts.Portfolio {
	t.Helper()
	p, err := contracts.LoadFiles(os.DirFS("../examples"), "term-sheet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Source: NERC's "Additional Off-Peak Days" (the six holidays, with a
// Sunday holiday observed on the Monday after and a Saturday one not moved),
// checked against the 2022, 2023 and 2028 calendars.
func TestNERCHolidays(t *testing.T) {
	for year, want := range map[int]string{
		2022: "2022-01-01 2022-05-30 2022-07-04 2022-09-05 2022-11-24 2022-12-26", // Christmas on a Sunday → Monday 26th
		2023: "2023-01-02 2023-05-29 2023-07-04 2023-09-04 2023-11-23 2023-12-25", // New Year's Day on a Sunday → Monday 2nd
		2028: "2028-01-01 2028-05-29 2028-07-04 2028-09-04 2028-11-23 2028-12-25", // New Year's Day on a Saturday: not moved
	} {
		var got []string
		for _, d := range contracts.NERCHolidays(year) {
			got = append(got, d.String())
		}
		if strings.Join(got, " ") != want {
			t.Errorf("NERC holidays %d = %v, want %s", year, got, want)
		}
	}
}

func TestParseDaysAndHours(t *testing.T) {
	days, err := contracts.ParseDays("weekdays")
	if err != nil || !days.Has(contracts.Monday) || days.Has(contracts.Saturday) || days.Has(contracts.Holiday) {
		t.Fatalf("weekdays = %b, %v", days, err)
	}
	if d, err := contracts.ParseDays("sat, sun,holiday"); err != nil || !d.Has(contracts.Holiday) || d.Has(contracts.Friday) {
		t.Fatalf("sat,sun,holiday = %b, %v", d, err)
	}
	hours, err := contracts.ParseHours("1-6,23-24")
	if err != nil || !hours.Has(1) || !hours.Has(6) || hours.Has(7) || !hours.Has(24) {
		t.Fatalf("hours = %b, %v", hours, err)
	}
	for _, bad := range []string{"0-5", "7-25", "22-7", "x", "", "1--2"} {
		if _, err := contracts.ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) took it", bad)
		}
	}
	for _, bad := range []string{"weekday", "monday", ""} {
		if _, err := contracts.ParseDays(bad); err == nil {
			t.Errorf("ParseDays(%q) took it", bad)
		}
	}
}

// peakCalendar is a calendar whose peak is 12 hours (hours ending 9 to 20) on
// weekdays, off-peak otherwise.
func peakCalendar(t *testing.T, holidays string) *contracts.Calendar {
	t.Helper()
	wd, _ := contracts.ParseDays("weekdays")
	all, _ := contracts.ParseDays("all")
	peak, _ := contracts.ParseHours("9-20")
	day, _ := contracts.ParseHours("1-24")
	c := &contracts.Calendar{ID: "peak-12", Holidays: holidays, Bands: []contracts.Band{
		{Name: "peak", Days: wd, Hours: peak}, {Name: "off_peak", Days: all, Hours: day},
	}}
	c.Prepare()
	return c
}

// Known answer (issue 3): February 2025 has 28 days, 672 hours and no DST
// change in America/Chicago. A 50 MW baseload block is 50 × 672 = 33,600
// MWh; a 30 MW block in the 12 peak hours of each of the month's 20 weekdays
// (no NERC holiday falls in February) is 30 × 12 × 20 = 7,200 MWh; 40,800 MWh
// in all. Computed here from 15-minute and from hourly intervals.
func TestBlockVolumesFebruary2025(t *testing.T) {
	loc := chicago(t)
	cal := peakCalendar(t, "nerc")
	for _, minutes := range []int{15, 60} {
		site := &contracts.Site{ID: "s", Location: loc, IntervalMinutes: minutes, GeneratorNode: "N"}
		block := func(mw string, during string) *contracts.Contract {
			return &contracts.Contract{
				ID: "c", Kind: contracts.KindPhysical, Start: date("2025-01-01"), End: date("2026-01-01"), Calendar: cal,
				Terms: contracts.Terms{Version: 1, Volume: contracts.Volume{Shape: contracts.ShapeBaseload, MW: dec(mw), During: during, Firm: true}},
			}
		}
		feb := contracts.Period{Year: 2025, Month: time.February}
		base, ok := block("50", "").ContractedMWh(feb, site)
		if !ok || !base.Equal(dec("33600")) {
			t.Errorf("%d-minute: 50 MW baseload = %s MWh, want 33600", minutes, base)
		}
		peak, ok := block("30", "peak").ContractedMWh(feb, site)
		if !ok || !peak.Equal(dec("7200")) {
			t.Errorf("%d-minute: 30 MW peak block = %s MWh, want 7200", minutes, peak)
		}
		if total := base.Add(peak); !total.Equal(dec("40800")) {
			t.Errorf("total %s, want 40800", total)
		}
	}
}

// DST (issue 3): a March day in America/Chicago has 92 fifteen-minute
// intervals and a November day 100, and peak hours follow local hour ending.
// With a peak of hours ending 7 to 22 every day, 2028-03-12 (spring forward:
// local 02:00-03:00 does not exist) still has 16 peak hours and 7 off-peak
// hours; 2028-11-05 (fall back: 01:00-02:00 happens twice, both hour ending
// 2) has 16 peak hours and 9 off-peak hours.
func TestDSTDaysFollowLocalHourEnding(t *testing.T) {
	loc := chicago(t)
	all, _ := contracts.ParseDays("all")
	peakHours, _ := contracts.ParseHours("7-22")
	day, _ := contracts.ParseHours("1-24")
	cal := &contracts.Calendar{ID: "x", Holidays: "none", Bands: []contracts.Band{{Name: "peak", Days: all, Hours: peakHours}, {Name: "off", Days: all, Hours: day}}}
	for _, tc := range []struct {
		day                  string
		intervals, peak, off int
		he2                  int
	}{
		{"2028-03-12", 92, 64, 28, 4},
		{"2028-03-13", 96, 64, 32, 4},
		{"2028-11-05", 100, 64, 36, 8},
	} {
		d := date(tc.day)
		from := d.In(loc)
		to := time.Date(d.Year, d.Month, d.Day+1, 0, 0, 0, 0, loc)
		n, peak, off, he2 := 0, 0, 0, 0
		for t0 := from; t0.Before(to); t0 = t0.Add(15 * time.Minute) {
			s := contracts.SlotOf(t0, t0.Add(15*time.Minute), loc, cal)
			n++
			switch cal.BandOf(s.Day, s.HourEnding) {
			case "peak":
				peak++
			case "off":
				off++
			}
			if s.HourEnding == 2 {
				he2++
			}
			if s.HourEnding == 3 && tc.day == "2028-03-12" {
				t.Errorf("%s: hour ending 3 does not exist on the spring-forward day", t0)
			}
		}
		if n != tc.intervals || peak != tc.peak || off != tc.off || he2 != tc.he2 {
			t.Errorf("%s: %d intervals (%d peak, %d off, %d in HE2), want %d (%d, %d, %d)", tc.day, n, peak, off, he2, tc.intervals, tc.peak, tc.off, tc.he2)
		}
	}
}

func TestHolidayIsItsOwnDayType(t *testing.T) {
	loc := chicago(t)
	cal := peakCalendar(t, "nerc")
	// 2028-07-04 is a Tuesday and a NERC holiday: no peak hours.
	noon := time.Date(2028, 7, 4, 12, 0, 0, 0, loc)
	s := contracts.SlotOf(noon, noon.Add(time.Hour), loc, cal)
	if s.Day != contracts.Holiday || cal.BandOf(s.Day, s.HourEnding) != "off_peak" {
		t.Fatalf("July 4th noon: day %s band %q", s.Day, cal.BandOf(s.Day, s.HourEnding))
	}
	s = contracts.SlotOf(noon.AddDate(0, 0, 1), noon.AddDate(0, 0, 1).Add(time.Hour), loc, cal)
	if s.Day != contracts.Wednesday || cal.BandOf(s.Day, s.HourEnding) != "peak" {
		t.Fatalf("July 5th noon: day %s band %q", s.Day, cal.BandOf(s.Day, s.HourEnding))
	}
	// Without the calendar the same slot is a plain Tuesday.
	if s := contracts.SlotOf(noon, noon.Add(time.Hour), loc, nil); s.Day != contracts.Tuesday {
		t.Fatalf("no calendar: %s", s.Day)
	}
}

func TestEscalatorExponent(t *testing.T) {
	e := &contracts.Escalator{Percent: dec("2"), Anniversary: date("2029-01-01"), Decimals: 6}
	for _, tc := range []struct {
		day  string
		n    int
		want string
	}{
		{"2028-01-01", 0, "50"},
		{"2028-12-31", 0, "50"},
		{"2029-01-01", 1, "51"},
		{"2030-12-31", 2, "52.02"},
		{"2031-01-01", 3, "53.0604"},
		{"2040-06-15", 12, "63.412090"}, // 50 × 1.02^12 = 63.41209006…, rounded half-up to 6 places
	} {
		if n := e.Exponent(date(tc.day)); n != tc.n {
			t.Errorf("%s: exponent %d, want %d", tc.day, n, tc.n)
		}
		if got := e.Apply(dec("50"), e.Exponent(date(tc.day))); !got.Equal(dec(tc.want)) && tc.n > 0 {
			t.Errorf("%s: 50 escalated = %s, want %s", tc.day, got, tc.want)
		}
	}
	first := &contracts.Escalator{Percent: dec("2"), Anniversary: date("2029-01-01"), FirstYearEscalated: true, Decimals: 2}
	if n := first.Exponent(date("2028-06-01")); n != 1 {
		t.Errorf("first year escalated: exponent %d, want 1", n)
	}
	if got := first.Apply(dec("44.44"), 1); !got.Equal(dec("45.33")) { // 45.3288 → 45.33
		t.Errorf("44.44 × 1.02 to cents = %s", got)
	}
}

// market is a fixed set of prices for Quote.
type market struct {
	nodes map[string]string
	gas   map[string]string
}

func (m market) NodePrice(node string) (decimal.Decimal, bool) {
	s, ok := m.nodes[node]
	if !ok {
		return decimal.Zero, false
	}
	return dec(s), true
}

func (m market) GasPrice(index string, d contracts.Date) (decimal.Decimal, bool) {
	s, ok := m.gas[index+" "+d.String()]
	if !ok {
		return decimal.Zero, false
	}
	return dec(s), true
}

func TestQuoteEveryPriceKind(t *testing.T) {
	p := termSheet(t)
	site, _ := p.Site("permian-ridge")
	loc := site.Location
	at := func(s string) contracts.Slot {
		t0, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return contracts.SlotOf(t0, t0.Add(15*time.Minute), loc, nil)
	}
	m := market{
		nodes: map[string]string{"LZ_WEST": "40", "HB_WEST": "36", "PRE_CC1_RN": "35"},
		gas:   map[string]string{"HENRY_HUB 2028-03-01": "3.12"},
	}
	quote := func(id string, s contracts.Slot, m market) contracts.Quote {
		t.Helper()
		c, _ := p.Contract(id)
		q, ok := c.Quote(c.TermsOn(s.Date), site, s.For(c.Calendar), m)
		if !ok {
			t.Fatalf("%s: no quote at %s", id, s.Local)
		}
		return q
	}
	for _, tc := range []struct {
		id, at, price, band string
		skip                bool
	}{
		{"ppa-atlas", "2028-03-01 12:00", "68", "peak", false},         // Wednesday, hour ending 13, first year
		{"ppa-atlas", "2028-03-04 12:00", "47.5", "off_peak", false},   // Saturday
		{"ppa-atlas", "2028-07-04 12:00", "47.5", "off_peak", false},   // NERC holiday
		{"ppa-atlas", "2029-03-01 12:00", "69.36", "peak", false},      // 68 × 1.02
		{"ppa-atlas", "2030-03-01 05:00", "49.419", "off_peak", false}, // 47.5 × 1.02² = 49.419
		{"ppa-borealis", "2028-03-01 12:00", "25.402", "", false},      // 3.12 × 7.1 + 3.25
		{"ppa-cirrus", "2028-03-01 12:00", "41", "peak", false},        // 40 × 0.9 + 5
		{"vppa-atlas-hedge", "2028-03-01 12:00", "44", "peak", false},  // the strike
	} {
		q := quote(tc.id, at(tc.at), m)
		if !q.USDPerMWh.Equal(dec(tc.price)) || q.Band != tc.band || q.Skip != tc.skip || q.Basis == "" {
			t.Errorf("%s at %s: %+v, want %s band %q", tc.id, tc.at, q, tc.price, tc.band)
		}
	}
	// Floor and cap of the market-linked price.
	low := market{nodes: map[string]string{"LZ_WEST": "10", "HB_WEST": "10", "PRE_CC1_RN": "10"}}
	if q := quote("ppa-cirrus", at("2028-03-01 12:00"), low); !q.USDPerMWh.Equal(dec("20")) || !strings.Contains(q.Basis, "floor") {
		t.Errorf("floor: %+v", q)
	}
	high := market{nodes: map[string]string{"LZ_WEST": "500", "HB_WEST": "500", "PRE_CC1_RN": "500"}}
	if q := quote("ppa-cirrus", at("2028-03-01 12:00"), high); !q.USDPerMWh.Equal(dec("120")) || !strings.Contains(q.Basis, "cap") {
		t.Errorf("cap: %+v", q)
	}
	// Negative-price rules: no_settlement skips, adjusted adds the market
	// price, no_floor changes nothing.
	neg := market{nodes: map[string]string{"LZ_WEST": "-8", "HB_WEST": "-3", "PRE_CC1_RN": "-12.5"}, gas: m.gas}
	if q := quote("ppa-cirrus", at("2028-03-01 12:00"), neg); !q.Skip {
		t.Errorf("no_settlement below zero: %+v", q)
	}
	if q := quote("vppa-atlas-hedge", at("2028-03-01 12:00"), neg); !q.Skip {
		t.Errorf("virtual no_settlement below zero: %+v", q)
	}
	if q := quote("ppa-borealis", at("2028-03-01 12:00"), neg); q.Skip || !q.USDPerMWh.Equal(dec("12.902")) { // 25.402 − 12.5
		t.Errorf("adjusted: %+v", q)
	}
	if q := quote("ppa-atlas", at("2028-03-01 12:00"), neg); q.Skip || !q.USDPerMWh.Equal(dec("68")) {
		t.Errorf("no_floor: %+v", q)
	}
	// A missing gas price or market price means no quote yet.
	c, _ := p.Contract("ppa-borealis")
	if _, ok := c.Quote(&c.Terms, site, at("2028-03-02 12:00"), m); ok {
		t.Error("gas-indexed quote without the day's gas price")
	}
}

func TestAmendmentsTakeEffectOnTheirDate(t *testing.T) {
	p := termSheet(t)
	c, _ := p.Contract("ppa-atlas")
	if v := c.TermsOn(date("2029-06-30")); v.Version != 1 || !v.Volume.MW.Equal(dec("200")) {
		t.Errorf("2029-06-30: version %d, %s MW", v.Version, v.Volume.MW)
	}
	v := c.TermsOn(date("2029-07-01"))
	if v.Version != 2 || !v.Volume.MW.Equal(dec("250")) || v.Price.Kind != contracts.PriceTOU || v.Monthly.CapacityUSDPerKWMonth.IsZero() {
		t.Errorf("2029-07-01: %+v (price and monthly terms are inherited)", v)
	}
}

func TestAsGeneratedShare(t *testing.T) {
	tm := &contracts.Terms{Volume: contracts.Volume{Shape: contracts.ShapeAsGenerated, Percent: dec("20")}}
	for net, want := range map[int64]int64{1_000_000: 200_000, 7: 1, 4: 0, 0: 0, -500: 0} {
		if got := tm.AsGeneratedWh(net); got != want {
			t.Errorf("20%% of %d Wh = %d, want %d", net, got, want)
		}
	}
	if got := contracts.WhOf(dec("450"), 15); got != 112_500_000 {
		t.Errorf("450 MW over 15 minutes = %d Wh", got)
	}
	if got := contracts.WhOf(dec("0.000001"), 5); got != 0 { // 1 W for 5 minutes is 0.083 Wh: rounded down
		t.Errorf("1 W over 5 minutes = %d Wh", got)
	}
}

func TestShapedProfile(t *testing.T) {
	p := termSheet(t)
	c, _ := p.Contract("vppa-atlas-hedge")
	site, _ := p.Site("permian-ridge")
	loc := site.Location
	at := func(s string) contracts.Slot {
		t0, _ := time.ParseInLocation("2006-01-02 15:04", s, loc)
		return contracts.SlotOf(t0, t0.Add(15*time.Minute), loc, c.Calendar)
	}
	for when, want := range map[string]string{
		"2028-07-15 14:00": "80", // summer row, hour ending 15
		"2028-07-15 00:00": "40", // summer, hour ending 1
		"2028-01-15 14:00": "50", // the last row: the rest of the year
		"2028-12-31 23:45": "30",
	} {
		mw, ok := c.TermsOn(at(when).Date).BlockMW(at(when), c.Calendar)
		if !ok || !mw.Equal(dec(want)) {
			t.Errorf("%s: %s MW, want %s", when, mw, want)
		}
	}
}
