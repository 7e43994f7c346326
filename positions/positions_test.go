package positions

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// Hourly matching never carries energy across hours: a load of 5 every
// hour supplied [5, 0, 5, 0] is matched 50%, whatever the month's total.
func TestHourlyMatched(t *testing.T) {
	h := func(i int) time.Time { return time.Date(2028, 3, 1, 6+i, 0, 0, 0, time.UTC) }
	var hours []HourSum
	for i, sup := range []string{"5", "0", "5", "0"} {
		imp := d("5").Sub(d(sup))
		hours = append(hours, HourSum{Hour: h(i), DeliveredMWh: d(sup), ImportedMWh: imp})
	}
	// Two 15-minute intervals of one hour arrive as two sums: they add up.
	hours = append(hours, HourSum{Hour: h(4), DeliveredMWh: d("1.25"), ImportedMWh: d("1.25")},
		HourSum{Hour: h(4), DeliveredMWh: d("2.5")})
	var l Load
	l.hourly(hours)
	// matched 5 + 0 + 5 + 0 + 3.75 of 25 MWh = 55%
	if !l.HourlyMatchedPercent.Equal(d("55")) || l.Hours != 5 || l.HoursFullyMatched != 2 {
		t.Errorf("hourly matched %s%% over %d hours (%d full)", l.HourlyMatchedPercent, l.Hours, l.HoursFullyMatched)
	}
}

func TestCurve(t *testing.T) {
	c, err := ParseCurve("curve.csv", strings.NewReader(
		"node,start,end,usd_per_mwh\n"+
			"# a month block and an hour that overrides it\n"+
			"HB_WEST,2028-03-01T06:00:00Z,2028-04-01T05:00:00Z,41.25\n"+
			"HB_WEST,2028-03-10T20:00:00Z,2028-03-10T21:00:00Z,95.10\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Time
		want string
		ok   bool
	}{
		{time.Date(2028, 3, 10, 20, 15, 0, 0, time.UTC), "95.1", true},
		{time.Date(2028, 3, 10, 21, 0, 0, 0, time.UTC), "41.25", true},
		{time.Date(2028, 4, 1, 5, 0, 0, 0, time.UTC), "", false},
	} {
		got, ok := c.At("HB_WEST", tc.at)
		if ok != tc.ok || (ok && !got.Equal(d(tc.want))) {
			t.Errorf("%s: %s %v, want %s %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
	// A file's price replaces the ledger's for the same interval; other intervals stay.
	file, _ := NewCurve([]CurvePoint{{Node: "HB_WEST", Start: time.Date(2028, 3, 1, 6, 0, 0, 0, time.UTC), End: time.Date(2028, 4, 1, 5, 0, 0, 0, time.UTC), USDPerMWh: d("44")}})
	m := c.Merge(file)
	if got, _ := m.At("HB_WEST", time.Date(2028, 3, 2, 0, 0, 0, 0, time.UTC)); !got.Equal(d("44")) || m.Len() != 2 {
		t.Errorf("merged: %s, %d points", got, m.Len())
	}
	if got, _ := m.At("HB_WEST", time.Date(2028, 3, 10, 20, 0, 0, 0, time.UTC)); !got.Equal(d("95.1")) {
		t.Errorf("merged hour: %s", got)
	}
	for _, bad := range []struct{ text, want string }{
		{"HB_WEST,2028-03-01,2028-04-01T05:00:00Z,41", "curve.csv:1: start"},
		{"node,start,end,usd_per_mwh\nHB_WEST,2028-03-01T06:00:00Z,2028-04-01T05:00:00Z,4x1", "curve.csv:2: usd_per_mwh"},
		{"HB_WEST,2028-04-01T05:00:00Z,2028-03-01T06:00:00Z,41", "not after start"},
		{",2028-03-01T06:00:00Z,2028-04-01T05:00:00Z,41", "node is empty"},
	} {
		if _, err := ParseCurve("curve.csv", strings.NewReader(bad.text)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want %q", bad.text, err, bad.want)
		}
	}
}

func TestForPartyKeepsOnlyItsOwn(t *testing.T) {
	rep := &Report{Period: "2028-03",
		Sites: []Site{{ID: "s", Owner: "gen", NetMWh: d("100"), ExportUSD: d("5"),
			Loads: []Load{{Party: "a", LoadMWh: d("10")}, {Party: "b", LoadMWh: d("20")}}}},
		Contracts: []Contract{{ID: "ppa-a", Site: "s", Seller: "gen", Buyer: "a"}, {ID: "ppa-b", Site: "s", Seller: "gen", Buyer: "b"}}}
	a := rep.ForParty("a")
	if len(a.Contracts) != 1 || a.Contracts[0].ID != "ppa-a" || len(a.Sites) != 1 || len(a.Sites[0].Loads) != 1 ||
		a.Sites[0].Loads[0].Party != "a" || !a.Sites[0].NetMWh.IsZero() || !a.Sites[0].ExportUSD.IsZero() {
		t.Errorf("a sees %+v", a)
	}
	if g := rep.ForParty("gen"); len(g.Contracts) != 2 || !g.Sites[0].NetMWh.Equal(d("100")) {
		t.Errorf("the owner sees %+v", g)
	}
	if x := rep.ForParty("stranger"); len(x.Contracts) != 0 || len(x.Sites) != 0 {
		t.Errorf("a stranger sees %+v", x)
	}
}

func TestSeriesWindow(t *testing.T) {
	s := NewSeries(2 * time.Hour)
	t0 := time.Date(2028, 3, 1, 6, 0, 0, 0, time.UTC)
	for i := range 20 {
		st := t0.Add(time.Duration(i) * 15 * time.Minute)
		s.Add(Point{Site: "s", Start: st, End: st.Add(15 * time.Minute), Revision: 1})
	}
	// A later revision replaces the interval; an older one does not.
	s.Add(Point{Site: "s", Start: t0.Add(19 * 15 * time.Minute), End: t0.Add(20 * 15 * time.Minute), Revision: 2, NetMWh: d("7")})
	s.Add(Point{Site: "s", Start: t0.Add(19 * 15 * time.Minute), End: t0.Add(20 * 15 * time.Minute), Revision: 1})
	pts := s.Site("s")
	if len(pts) != 8 || !pts[7].NetMWh.Equal(d("7")) || pts[7].Revision != 2 {
		t.Fatalf("%d points, last %+v", len(pts), pts[len(pts)-1])
	}
}
