package positions

import (
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// Point is one interval of a site for the live chart: generation, load,
// allocation to the PPAs and export, in MWh, at the interval's latest
// revision.
type Point struct {
	Site         string          `json:"site"`
	Start        time.Time       `json:"start"`
	End          time.Time       `json:"end"`
	Revision     int             `json:"revision"`
	GrossMWh     decimal.Decimal `json:"gross_mwh"`
	NetMWh       decimal.Decimal `json:"net_mwh"`
	LoadMWh      decimal.Decimal `json:"load_mwh"`      // Σ the loads
	DeliveredMWh decimal.Decimal `json:"delivered_mwh"` // Σ delivered under physical contracts
	ExportMWh    decimal.Decimal `json:"export_mwh"`
	ImportMWh    decimal.Decimal `json:"import_mwh"` // Σ the loads' imports
	Loads        []PointLoad     `json:"loads"`
}

// PointLoad is one party's load in an interval and the plant's share of it.
type PointLoad struct {
	Party        string          `json:"party"`
	LoadMWh      decimal.Decimal `json:"load_mwh"`
	FromPlantMWh decimal.Decimal `json:"from_plant_mwh"`
	// MatchedPercent is the share of the load the plant supplied.
	MatchedPercent decimal.Decimal `json:"matched_percent"`
}

// ForParty is the point as a counterparty may see it: its own load only,
// without the plant's figures.
func (pt Point) ForParty(party string) Point {
	out := Point{Site: pt.Site, Start: pt.Start, End: pt.End, Revision: pt.Revision, Loads: []PointLoad{}}
	for _, l := range pt.Loads {
		if l.Party == party {
			out.Loads = append(out.Loads, l)
			out.LoadMWh = out.LoadMWh.Add(l.LoadMWh)
			out.DeliveredMWh = out.DeliveredMWh.Add(l.FromPlantMWh)
			out.ImportMWh = out.ImportMWh.Add(l.LoadMWh.Sub(l.FromPlantMWh))
		}
	}
	return out
}

// PointOf is the chart point of an engine result.
func PointOf(r *matching.Result) Point {
	pt := Point{
		Site: r.Site, Start: r.Start.UTC(), End: r.End.UTC(), Revision: r.Revision,
		GrossMWh: r.Gross.MWh(), NetMWh: r.Net.MWh(), DeliveredMWh: r.Delivered().MWh(), ExportMWh: r.Export.Energy.MWh(),
		Loads: []PointLoad{},
	}
	byParty := map[string]*PointLoad{}
	var order []string
	add := func(party string, load, plant matching.Wh) {
		l := byParty[party]
		if l == nil {
			l = &PointLoad{Party: party}
			byParty[party] = l
			order = append(order, party)
		}
		l.LoadMWh = l.LoadMWh.Add(load.MWh())
		l.FromPlantMWh = l.FromPlantMWh.Add(plant.MWh())
	}
	for _, d := range r.Deliveries {
		add(d.Buyer, 0, d.Energy)
	}
	for _, im := range r.Imports {
		add(im.Party, 0, 0)
		pt.ImportMWh = pt.ImportMWh.Add(im.Energy.MWh())
	}
	// A load is what it was delivered plus what it imported.
	for _, im := range r.Imports {
		byParty[im.Party].LoadMWh = byParty[im.Party].LoadMWh.Add(im.Energy.MWh())
	}
	for _, d := range r.Deliveries {
		byParty[d.Buyer].LoadMWh = byParty[d.Buyer].LoadMWh.Add(d.Energy.MWh())
	}
	sort.Strings(order)
	for _, p := range order {
		l := byParty[p]
		l.MatchedPercent = percent(l.FromPlantMWh, l.LoadMWh)
		pt.Loads = append(pt.Loads, *l)
		pt.LoadMWh = pt.LoadMWh.Add(l.LoadMWh)
	}
	return pt
}

// Series holds the latest points of each site over a window of event time
// (the last 48 hours by default), for the live chart. It is safe for
// concurrent use. Memory is bounded: a site keeps at most the points of its
// window (192 at 15 minutes over 48 hours).
type Series struct {
	mu     sync.Mutex
	window time.Duration
	sites  map[string][]Point // by start, ascending
}

// NewSeries keeps window of event time per site.
func NewSeries(window time.Duration) *Series {
	return &Series{window: window, sites: map[string][]Point{}}
}

// Add files points (a later revision replaces an earlier one of the same
// interval) and drops those older than the window behind each site's latest.
func (s *Series) Add(points ...Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	touched := map[string]bool{}
	for _, pt := range points {
		ps := s.sites[pt.Site]
		i := sort.Search(len(ps), func(i int) bool { return !ps[i].Start.Before(pt.Start) })
		switch {
		case i < len(ps) && ps[i].Start.Equal(pt.Start):
			if pt.Revision >= ps[i].Revision {
				ps[i] = pt
			}
		default:
			ps = append(ps, Point{})
			copy(ps[i+1:], ps[i:])
			ps[i] = pt
		}
		s.sites[pt.Site] = ps
		touched[pt.Site] = true
	}
	for site := range touched {
		ps := s.sites[site]
		cut := ps[len(ps)-1].End.Add(-s.window)
		i := sort.Search(len(ps), func(i int) bool { return !ps[i].Start.Before(cut) })
		s.sites[site] = append([]Point(nil), ps[i:]...)
	}
}

// Site is a copy of the site's points, oldest first.
func (s *Series) Site(site string) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Point{}, s.sites[site]...)
}

// Window is how much event time the series keeps per site.
func (s *Series) Window() time.Duration { return s.window }

// ParseCurve reads a forward curve file: CSV with a header
// `node,start,end,usd_per_mwh`, instants in RFC 3339 (a month block is one
// row from its first instant to the next month's), prices exact decimals.
// Errors name the file and line.
func ParseCurve(name string, r io.Reader) (Curve, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = 4
	cr.TrimLeadingSpace = true
	var points []CurvePoint
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Curve{}, fmt.Errorf("%s: %w", name, err)
		}
		at, _ := cr.FieldPos(0)
		if strings.EqualFold(rec[0], "node") {
			continue
		}
		start, err1 := time.Parse(time.RFC3339, rec[1])
		end, err2 := time.Parse(time.RFC3339, rec[2])
		price, err3 := decimal.NewFromString(rec[3])
		switch {
		case rec[0] == "":
			return Curve{}, fmt.Errorf("%s:%d: node is empty", name, at)
		case err1 != nil:
			return Curve{}, fmt.Errorf("%s:%d: start %q is not an RFC 3339 instant (2028-03-01T06:00:00Z)", name, at, rec[1])
		case err2 != nil:
			return Curve{}, fmt.Errorf("%s:%d: end %q is not an RFC 3339 instant (2028-04-01T05:00:00Z)", name, at, rec[2])
		case err3 != nil:
			return Curve{}, fmt.Errorf("%s:%d: usd_per_mwh %q is not a decimal number", name, at, rec[3])
		case !end.After(start):
			return Curve{}, fmt.Errorf("%s:%d: end %s is not after start %s", name, at, rec[2], rec[1])
		}
		points = append(points, CurvePoint{Node: rec[0], Start: start.UTC(), End: end.UTC(), USDPerMWh: price})
	}
	return NewCurve(points)
}

// MonthCurve is a flat forward price per node over a billing period at a
// site: a convenience for tests and examples.
func MonthCurve(site *contracts.Site, period contracts.Period, usdPerMWh map[string]decimal.Decimal) Curve {
	from, to := period.Bounds(site.Location)
	var ps []CurvePoint
	for node, p := range usdPerMWh {
		ps = append(ps, CurvePoint{Node: node, Start: from, End: to, USDPerMWh: p})
	}
	c, _ := NewCurve(ps)
	return c
}
