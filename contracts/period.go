package contracts

import (
	"fmt"
	"time"
)

// Date is a civil date (no time zone): contract terms start and end on dates
// read in the site's market time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date like 2028-01-31", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// DateOf is the civil date of instant t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d.Year == 0 }

// In is local midnight of d in loc, as an instant.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Period is a billing period: a calendar month in the market's time zone.
type Period struct {
	Year  int
	Month time.Month
}

// ParsePeriod reads YYYY-MM.
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Period{}, fmt.Errorf("period %q is not a month like 2028-07", s)
	}
	return Period{t.Year(), t.Month()}, nil
}

// PeriodOf is the billing period holding the interval that starts at t, in loc.
func PeriodOf(t time.Time, loc *time.Location) Period {
	y, m, _ := t.In(loc).Date()
	return Period{y, m}
}

// Bounds is [start, end) of the period as UTC instants, in loc.
func (p Period) Bounds(loc *time.Location) (time.Time, time.Time) {
	start := time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, loc)
	end := start.AddDate(0, 1, 0)
	return start.UTC(), end.UTC()
}

// Next is the following month.
func (p Period) Next() Period {
	if p.Month == time.December {
		return Period{p.Year + 1, time.January}
	}
	return Period{p.Year, p.Month + 1}
}

func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, p.Month) }
