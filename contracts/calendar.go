package contracts

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// DayType is what kind of day a date is for time-of-use bands: a weekday
// (Monday to Sunday) or a holiday of the calendar. A holiday is only a
// holiday, never also its weekday, so "weekdays" bands skip holidays.
type DayType uint8

// The day types.
const (
	Sunday DayType = iota
	Monday
	Tuesday
	Wednesday
	Thursday
	Friday
	Saturday
	Holiday
	numDayTypes
)

var dayTypeNames = [numDayTypes]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat", "holiday"}

func (d DayType) String() string {
	if d < numDayTypes {
		return dayTypeNames[d]
	}
	return fmt.Sprintf("DayType(%d)", d)
}

// DaySet is a set of day types.
type DaySet uint8

// Has reports whether d is in the set.
func (s DaySet) Has(d DayType) bool { return s&(1<<d) != 0 }

// The day sets a calendar file may name, besides single days.
var daySetNames = map[string]DaySet{
	"weekdays": 1<<Monday | 1<<Tuesday | 1<<Wednesday | 1<<Thursday | 1<<Friday,
	"weekends": 1<<Saturday | 1<<Sunday,
	"holidays": 1 << Holiday,
	"all":      1<<numDayTypes - 1,
}

// ParseDays reads a day set: "weekdays", "weekends", "holidays", "all", a
// day ("mon" … "sun", "holiday"), or several of those joined by commas.
func ParseDays(s string) (DaySet, error) {
	var set DaySet
	for _, part := range strings.Split(s, ",") {
		part = strings.ToLower(strings.TrimSpace(part))
		if ds, ok := daySetNames[part]; ok {
			set |= ds
			continue
		}
		found := false
		for d, name := range dayTypeNames {
			if name == part {
				set |= 1 << d
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%q is not a day: use weekdays, weekends, holidays, all, or mon, tue, wed, thu, fri, sat, sun, holiday", part)
		}
	}
	return set, nil
}

// HourSet is a set of hours ending 1 to 24 (bit he-1).
type HourSet uint32

// Has reports whether hour ending he (1..24) is in the set.
func (s HourSet) Has(he int) bool { return he >= 1 && he <= 24 && s&(1<<(he-1)) != 0 }

// ParseHours reads hours ending: "7-22", "1-6,23-24", "12" (1 to 24; hour
// ending 1 is the hour from local midnight to 01:00).
func ParseHours(s string) (HourSet, error) {
	var set HourSet
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi := part, part
		if i := strings.IndexByte(part, '-'); i >= 0 {
			lo, hi = strings.TrimSpace(part[:i]), strings.TrimSpace(part[i+1:])
		}
		a, errA := atoiHour(lo)
		b, errB := atoiHour(hi)
		if errA != nil || errB != nil || a > b {
			return 0, fmt.Errorf("%q is not hours ending 1 to 24 like 7-22 or 1-6,23-24", part)
		}
		for he := a; he <= b; he++ {
			set |= 1 << (he - 1)
		}
	}
	return set, nil
}

func atoiHour(s string) (int, error) {
	if len(s) == 0 || len(s) > 2 {
		return 0, fmt.Errorf("bad hour")
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("bad hour")
		}
		n = n*10 + int(r-'0')
	}
	if n < 1 || n > 24 {
		return 0, fmt.Errorf("bad hour")
	}
	return n, nil
}

// Band is one time-of-use band of a calendar.
type Band struct {
	Name  string
	Days  DaySet
	Hours HourSet
	Line  int
}

// Calendar names the hours of a market: its holidays and its time-of-use
// bands (peak, off-peak, …). Bands are matched in order; the first band
// whose days and hours include an hour is that hour's band, and every hour
// of every day type must fall in one (the loader checks it).
type Calendar struct {
	ID       string
	Holidays string // a holiday rule: "nerc" or "none"
	Extra    []Date // more holidays, e.g. a market's own
	Bands    []Band
	Line     int

	cache *holidayCache // holidays per year, built on first use; nil: computed each time
}

type holidayCache struct {
	mu    sync.Mutex
	years map[int]map[Date]bool
}

// Prepare readies the calendar for fast, concurrent lookups. The loader
// calls it; a Calendar built by hand works without it, only slower.
func (c *Calendar) Prepare() { c.cache = &holidayCache{years: map[int]map[Date]bool{}} }

// HolidayRules are the holiday rules a calendar may name.
var HolidayRules = []string{"nerc", "none"}

// IsHoliday reports whether d is a holiday of the calendar.
func (c *Calendar) IsHoliday(d Date) bool {
	if c == nil {
		return false
	}
	if c.cache == nil {
		return c.holidaysOf(d.Year)[d]
	}
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	y := c.cache.years[d.Year]
	if y == nil {
		y = c.holidaysOf(d.Year)
		c.cache.years[d.Year] = y
	}
	return y[d]
}

func (c *Calendar) holidaysOf(year int) map[Date]bool {
	y := map[Date]bool{}
	if c.Holidays == "nerc" {
		for _, h := range NERCHolidays(year) {
			y[h] = true
		}
	}
	for _, h := range c.Extra {
		if h.Year == year {
			y[h] = true
		}
	}
	return y
}

// DayTypeOf is the day type of a date.
func (c *Calendar) DayTypeOf(d Date) DayType {
	if c.IsHoliday(d) {
		return Holiday
	}
	return DayType(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday())
}

// BandOf is the band of an hour ending on a day type, or "" if none has it.
func (c *Calendar) BandOf(day DayType, he int) string {
	if c == nil {
		return ""
	}
	for i := range c.Bands {
		if c.Bands[i].Days.Has(day) && c.Bands[i].Hours.Has(he) {
			return c.Bands[i].Name
		}
	}
	return ""
}

// BandNames lists the calendar's band names in order.
func (c *Calendar) BandNames() []string {
	var out []string
	for _, b := range c.Bands {
		out = append(out, b.Name)
	}
	return out
}

// uncovered lists "day HE n" for hours no band takes, and the bands that
// never win an hour because earlier bands take all of theirs.
func (c *Calendar) coverage() (uncovered []string, shadowed []int) {
	won := make([]bool, len(c.Bands))
	for d := Sunday; d < numDayTypes; d++ {
		var missing []int
		for he := 1; he <= 24; he++ {
			hit := -1
			for i := range c.Bands {
				if c.Bands[i].Days.Has(d) && c.Bands[i].Hours.Has(he) {
					hit = i
					break
				}
			}
			if hit < 0 {
				missing = append(missing, he)
			} else {
				won[hit] = true
			}
		}
		if len(missing) > 0 {
			uncovered = append(uncovered, fmt.Sprintf("%s hours ending %s", d, hourRanges(missing)))
		}
	}
	for i, w := range won {
		if !w {
			shadowed = append(shadowed, i)
		}
	}
	return uncovered, shadowed
}

// hourRanges writes sorted hours as "1-6,23".
func hourRanges(hs []int) string {
	var parts []string
	for i := 0; i < len(hs); {
		j := i
		for j+1 < len(hs) && hs[j+1] == hs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(hs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", hs[i], hs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// NERCHolidays are the NERC off-peak holidays of a year: New Year's Day,
// Memorial Day (last Monday of May), Independence Day, Labor Day (first
// Monday of September), Thanksgiving (fourth Thursday of November) and
// Christmas Day. A fixed-date holiday on a Sunday is observed on the Monday
// after; one on a Saturday is not moved (NERC's rule).
func NERCHolidays(year int) []Date {
	fixed := func(m time.Month, d int) Date {
		t := time.Date(year, m, d, 12, 0, 0, 0, time.UTC)
		if t.Weekday() == time.Sunday {
			t = t.AddDate(0, 0, 1)
		}
		return Date{t.Year(), t.Month(), t.Day()}
	}
	out := []Date{
		fixed(time.January, 1),
		nthWeekday(year, time.May, time.Monday, -1),
		fixed(time.July, 4),
		nthWeekday(year, time.September, time.Monday, 1),
		nthWeekday(year, time.November, time.Thursday, 4),
		fixed(time.December, 25),
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// nthWeekday is the n-th (1-based; -1 = last) weekday wd of a month.
func nthWeekday(year int, m time.Month, wd time.Weekday, n int) Date {
	if n < 0 {
		t := time.Date(year, m+1, 0, 12, 0, 0, 0, time.UTC) // last day of m
		for t.Weekday() != wd {
			t = t.AddDate(0, 0, -1)
		}
		return Date{t.Year(), t.Month(), t.Day()}
	}
	t := time.Date(year, m, 1, 12, 0, 0, 0, time.UTC)
	for t.Weekday() != wd {
		t = t.AddDate(0, 0, 1)
	}
	t = t.AddDate(0, 0, 7*(n-1))
	return Date{t.Year(), t.Month(), t.Day()}
}

// Slot is where an interval falls in local market time: what time-of-use
// bands, shaped volumes, escalators and gas days are read from.
type Slot struct {
	Start, End time.Time // the interval, UTC
	Minutes    int       // its length
	Local      time.Time // Start in the market time zone
	Date       Date      // the local (operating) day
	HourEnding int       // 1..24: local hour of Start + 1 (both fall-back hours 1:00-2:00 are hour ending 2)
	Day        DayType   // of the contract's calendar (weekday when it has none)
}

// For is the slot with its day type read from cal: Holiday on one of its
// holidays, else the weekday.
func (s Slot) For(cal *Calendar) Slot {
	if cal != nil && cal.IsHoliday(s.Date) {
		s.Day = Holiday
	} else {
		s.Day = DayType(s.Local.Weekday())
	}
	return s
}

// SlotOf places the interval [start, end) in loc, with day types from cal
// (nil: no holidays).
func SlotOf(start, end time.Time, loc *time.Location, cal *Calendar) Slot {
	local := start.In(loc)
	y, m, d := local.Date()
	date := Date{y, m, d}
	s := Slot{Start: start, End: end, Minutes: int(end.Sub(start) / time.Minute), Local: local, Date: date, HourEnding: local.Hour() + 1}
	if cal != nil && cal.IsHoliday(date) {
		s.Day = Holiday
	} else {
		s.Day = DayType(local.Weekday())
	}
	return s
}
