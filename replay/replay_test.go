package replay

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/offtake/offtake/stream"
	"github.com/shopspring/decimal"
)

var topics = stream.DefaultTopics()

func portfolio(t *testing.T) *contracts.Portfolio {
	t.Helper()
	p, err := loadSites()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadSites() (*contracts.Portfolio, error) {
	return contracts.LoadFiles(os.DirFS("testdata"), "sites.yaml")
}

func file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustBuild(t *testing.T, srcs ...Source) *Plan {
	t.Helper()
	plan, err := Build(portfolio(t), topics, srcs)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// decoded splits a plan back into readings and prices through the wire
// format's own decoders, so the tests check what the engine will read.
func decoded(t *testing.T, plan *Plan) ([]matching.Reading, []matching.Price) {
	t.Helper()
	var rs []matching.Reading
	var ps []matching.Price
	for _, m := range plan.Messages {
		if m.Topic == topics.Prices {
			p, err := messages.DecodePrice(m.Value)
			if err != nil {
				t.Fatalf("%s: %v", m.Value, err)
			}
			ps = append(ps, p)
			continue
		}
		r, err := messages.DecodeReading(m.Value)
		if err != nil {
			t.Fatalf("%s: %v", m.Value, err)
		}
		rs = append(rs, r)
	}
	return rs, ps
}

var newYork = mustZone("America/New_York")

func localDate(ts time.Time, loc *time.Location) string { return ts.In(loc).Format("2006-01-02") }

// Known answers of the Green Button 15-minute sample (OpenESPI-Common-java
// test_usage_data.xml, excerpt in testdata): 92 intervals on the
// spring-forward day 2012-03-11 and 93,026 Wh on 2012-03-14, New York time.
func TestGreenButtonKnownAnswers(t *testing.T) {
	src := Source{File: "espi.xml", Data: file(t, "espi_15min_2012-03-11_and_14.xml"), Format: ESPI, Site: "ny15", Meter: "LOAD"}
	rs, _ := decoded(t, mustBuild(t, src))
	count := map[string]int{}
	wh := map[string]int64{}
	for _, r := range rs {
		d := localDate(r.Start, newYork)
		count[d]++
		wh[d] += int64(r.Energy)
		if r.Quality != matching.Actual || r.End.Sub(r.Start) != 15*time.Minute {
			t.Fatalf("reading %+v: want actual 15-minute", r)
		}
	}
	if count["2012-03-11"] != 92 {
		t.Errorf("2012-03-11: %d intervals, want 92", count["2012-03-11"])
	}
	if wh["2012-03-14"] != 93_026 {
		t.Errorf("2012-03-14: %d Wh, want 93026", wh["2012-03-14"])
	}

	// The same file into an hourly site: four quarters summed per hour; the
	// spring-forward day has 23 hours, and the day's energy is unchanged.
	src.Site, src.Meter = "ny60", "LOAD60"
	rs, _ = decoded(t, mustBuild(t, src))
	count, wh = map[string]int{}, map[string]int64{}
	for _, r := range rs {
		d := localDate(r.Start, newYork)
		count[d]++
		wh[d] += int64(r.Energy)
	}
	if count["2012-03-11"] != 23 || count["2012-03-14"] != 24 || wh["2012-03-14"] != 93_026 {
		t.Errorf("hourly: %v hours, %v Wh; want 23 and 24 hours, 93026 Wh on 03-14", count, wh)
	}
}

// Known answers of the PJM 2025 hourly files (PJM Data Miner 2 via
// rroyucsd/ECE228_Proj, excerpts in testdata): 23 rows on 2025-03-09 and 25
// on 2025-11-02, where 1:00 AM EPT comes twice and the UTC column tells the
// two apart.
func TestPJMDSTDays(t *testing.T) {
	plan := mustBuild(t, Source{File: "lmp.csv", Data: file(t, "pjm_rto_da_hrl_lmps_2025_dst_days.csv"), Format: PJMLMP, Site: "ny15"})
	_, ps := decoded(t, plan)
	count := map[string]int{}
	for _, p := range ps {
		count[localDate(p.Start, newYork)]++
		if p.Market != "DA" || p.Node != "PJM-RTO" || p.End.Sub(p.Start) != time.Hour || p.Unit != matching.UnitMWh {
			t.Fatalf("price %+v: want an hourly DA price at PJM-RTO", p)
		}
	}
	if count["2025-03-09"] != 23 || count["2025-11-02"] != 25 {
		t.Errorf("prices per day %v, want 23 on 2025-03-09 and 25 on 2025-11-02", count)
	}
	if want := time.Date(2025, 3, 9, 5, 0, 0, 0, time.UTC); !ps[0].Start.Equal(want) || ps[0].USDPerMWh.String() != "39.997912" {
		t.Errorf("first price %s at %s, want 39.997912 at %s", ps[0].USDPerMWh, ps[0].Start, want)
	}

	// Hourly load into a 15-minute site: four readings per hour, 92 and 100 a
	// day, each hour's four summing to its MW × 1 h exactly.
	plan = mustBuild(t, Source{File: "load.csv", Data: file(t, "pjm_rto_hrl_load_metered_2025_dst_days.csv"), Format: PJMLoad, Site: "ny15", Meter: "LOAD", Scale: dec("0.002")})
	rs, _ := decoded(t, plan)
	count = map[string]int{}
	byHour := map[time.Time]int64{}
	for _, r := range rs {
		count[localDate(r.Start, newYork)]++
		byHour[r.Start.Truncate(time.Hour)] += int64(r.Energy)
	}
	if count["2025-03-09"] != 92 || count["2025-11-02"] != 100 {
		t.Errorf("readings per day %v, want 92 and 100", count)
	}
	// first row: 3/9/2025 5:00:00 AM UTC, 86,320.256 MW × 0.002 = 172.640512 MW
	if got := byHour[time.Date(2025, 3, 9, 5, 0, 0, 0, time.UTC)]; got != 172_640_512 {
		t.Errorf("first hour %d Wh, want 172640512", got)
	}
}

func TestSplitRemainderToLast(t *testing.T) {
	csv := "meter,start,end,value,unit\nLOAD,2028-03-01T05:00:00Z,2028-03-01T06:00:00Z,1000.003,kWh\n"
	rs, _ := decoded(t, mustBuild(t, Source{File: "r.csv", Data: []byte(csv), Format: CSV, Site: "ny15"}))
	var got []int64
	for _, r := range rs {
		got = append(got, int64(r.Energy))
	}
	if len(got) != 4 || got[0] != 250_000 || got[1] != 250_000 || got[2] != 250_000 || got[3] != 250_003 {
		t.Errorf("split %v, want [250000 250000 250000 250003]", got)
	}
}

func TestPlainCSVQualities(t *testing.T) {
	csv := "meter,start,end,value,unit,quality\n" +
		"GROSS60,2028-03-01T05:00:00Z,2028-03-01T06:00:00Z,-1.5,MWh,estimated\n" +
		"LOAD60,2028-03-01T05:00:00Z,2028-03-01T06:00:00Z,2500,Wh,\n" +
		"LOAD60,2028-03-01T06:00:00Z,2028-03-01T07:00:00Z,0.25,MWh,substituted\n"
	plan := mustBuild(t, Source{File: "r.csv", Data: []byte(csv), Format: CSV, Site: "ny60"})
	rs, _ := decoded(t, plan)
	want := []struct {
		meter string
		wh    int64
		q     matching.Quality
	}{{"GROSS60", -1_500_000, matching.Estimated}, {"LOAD60", 2500, matching.Actual}, {"LOAD60", 250_000, matching.Substituted}}
	if len(rs) != len(want) {
		t.Fatalf("%d readings, want %d", len(rs), len(want))
	}
	for i, w := range want {
		if rs[i].Meter != w.meter || int64(rs[i].Energy) != w.wh || rs[i].Quality != w.q {
			t.Errorf("reading %d: %+v, want %+v", i, rs[i], w)
		}
	}
	if plan.Summary.ByTopic[topics.Generation] != 1 || plan.Summary.ByTopic[topics.Consumption] != 2 {
		t.Errorf("topics %v", plan.Summary.ByTopic)
	}
	// GROSS60 has one hour of the two LOAD60 has: the summary says so
	if g := strings.Join(plan.Summary.Gaps, "\n"); g != "" {
		t.Errorf("gaps %q: each meter is whole within its own span", g)
	}
	plan = mustBuild(t, Source{File: "r.csv", Data: []byte(csv[:strings.Index(csv, "GROSS60")] + csv[strings.Index(csv, "LOAD60"):strings.LastIndex(csv, "LOAD60")] + "LOAD60,2028-03-01T07:00:00Z,2028-03-01T08:00:00Z,1,kWh,\n"), Format: CSV, Site: "ny60"})
	if g := strings.Join(plan.Summary.Gaps, "\n"); g != "site ny60: meter GROSS60 has no readings in this replay\nsite ny60: meter LOAD60 has 2 readings from 2028-03-01T05:00Z to 2028-03-01T08:00Z, where the site has 3 intervals" {
		t.Errorf("gaps %q", g)
	}
}

// The ERCOT-style file (thewanderingbearkat/ercot-basis-tracker nbohr_hourly.csv,
// excerpt in testdata) labels each hour by its local end and merged the
// repeated hour of the fall-back day 2023-11-05 (24 rows for 25 hours).
func TestERCOTFallBackMerged(t *testing.T) {
	src := Source{File: "ercot.csv", Data: file(t, "ercot_nbohr_hbwest_2023-11-05_2024-03-10.csv"), Format: ERCOTHourly, Site: "tx15",
		Nodes: map[string]string{"NODE": "NBOHR_RN", "HUB": "HB_WEST"}}
	_, err := Build(portfolio(t), topics, []Source{src})
	if err == nil || !strings.Contains(err.Error(), "ercot.csv:3: HOUR: 2023-11-05 is the fall-back day") ||
		!strings.Contains(err.Error(), "24 rows for the day") || !strings.Contains(err.Error(), "--repair-merged-hour") {
		t.Fatalf("want the merged hour refused at ercot.csv:3, got %v", err)
	}

	src.RepairMergedHour = true
	plan := mustBuild(t, src)
	_, ps := decoded(t, plan)
	chicago := mustZone("America/Chicago")
	span := map[string]time.Duration{}
	count := map[string]int{}
	var prev time.Time
	for _, p := range ps {
		if p.Node != "HB_WEST" {
			continue
		}
		d := localDate(p.Start, chicago)
		span[d] += p.End.Sub(p.Start)
		count[d]++
		if !prev.IsZero() && localDate(prev, chicago) == d && !p.Start.Equal(prev) {
			t.Errorf("gap or overlap: price at %s after one ending %s", p.Start, prev)
		}
		prev = p.End
	}
	if count["2023-11-05"] != 24 || span["2023-11-05"] != 25*time.Hour {
		t.Errorf("fall-back day: %d prices over %s, want 24 over 25h", count["2023-11-05"], span["2023-11-05"])
	}
	if count["2024-03-10"] != 23 || span["2024-03-10"] != 23*time.Hour {
		t.Errorf("spring-forward day: %d prices over %s, want 23 over 23h", count["2024-03-10"], span["2024-03-10"])
	}
	// the merged row (line 3, "2023-11-05 02:00:00", HUB 23.9775) covers both 01:00 hours: 06:00Z–08:00Z
	for _, p := range ps {
		if p.Node == "HB_WEST" && p.Start.Equal(time.Date(2023, 11, 5, 6, 0, 0, 0, time.UTC)) {
			if !p.End.Equal(time.Date(2023, 11, 5, 8, 0, 0, 0, time.UTC)) || p.USDPerMWh.String() != "23.9775" {
				t.Errorf("repaired hour %+v", p)
			}
		}
	}
	if !strings.Contains(strings.Join(plan.Summary.Notes, "\n"), "repaired the merged fall-back hour of 2023-11-05 (line 3)") {
		t.Errorf("notes %q do not say what was repaired", plan.Summary.Notes)
	}
}

// EIA Henry Hub daily (datasets/natural-gas daily.csv, excerpt in testdata):
// 2018-01-05 has no price.
func TestEIAGas(t *testing.T) {
	src := Source{File: "hh.csv", Data: file(t, "henry_hub_daily_eia_2018-01.csv"), Format: EIAGas, Site: "tx15"}
	_, err := Build(portfolio(t), topics, []Source{src})
	if err == nil || !strings.Contains(err.Error(), "hh.csv:5: Price: no price for 2018-01-05") {
		t.Fatalf("want the empty price refused at hh.csv:5, got %v", err)
	}
	src.SkipEmpty = true
	plan := mustBuild(t, src)
	_, ps := decoded(t, plan)
	if len(ps) != 8 || ps[0].Unit != matching.UnitMMBtu || ps[0].Node != "HENRY_HUB" || ps[0].Market != "GAS" ||
		!ps[0].Start.Equal(time.Date(2018, 1, 2, 6, 0, 0, 0, time.UTC)) || !ps[0].End.Equal(time.Date(2018, 1, 3, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("%d prices, first %+v: want 8, HENRY_HUB $/MMBtu for the Chicago day", len(ps), ps[0])
	}
	if !strings.Contains(strings.Join(plan.Summary.Notes, "\n"), "2018-01-05 (line 5)") {
		t.Errorf("notes %q do not name the skipped day", plan.Summary.Notes)
	}
	if len(plan.Summary.MissingPrices) != 2 { // NBOHR_RN and HB_WEST: this replay has only gas
		t.Errorf("missing prices %v", plan.Summary.MissingPrices)
	}
	src.FillDays = true
	_, ps = decoded(t, mustBuild(t, src))
	if len(ps) != 11 { // 2018-01-02 … 2018-01-12, every day
		t.Fatalf("%d prices with --fill-days, want 11", len(ps))
	}
	src.From, src.To = contracts.Date{Year: 2018, Month: 1, Day: 6}, contracts.Date{Year: 2018, Month: 1, Day: 9}
	plan = mustBuild(t, src)
	if plan.Summary.Prices != 3 || !strings.Contains(strings.Join(plan.Summary.Notes, "\n"), "2 day(s) without a trading-day price took the latest earlier one") {
		t.Errorf("window 01-06…01-08: %d prices, notes %q; want 3 and the weekend's 2 days filled", plan.Summary.Prices, plan.Summary.Notes)
	}
	for _, p := range ps[2:6] { // 01-04 and the empty 01-05, the weekend 01-06/07: 4.65
		if p.USDPerMWh.String() != "4.65" {
			t.Errorf("%s: %s, want 4.65 carried from 2018-01-04", p.Start, p.USDPerMWh)
		}
	}
}

func TestESPIQualities(t *testing.T) {
	for _, c := range []struct {
		codes string
		want  matching.Quality
		err   string
	}{
		{"", matching.Actual, ""},
		{"<quality>0</quality>", matching.Actual, ""},
		{"<quality>19</quality>", matching.Actual, ""},
		{"<quality>8</quality>", matching.Estimated, ""},
		{"<quality>9</quality>", matching.Estimated, ""},
		{"<quality>7</quality>", matching.Substituted, ""},
		{"<quality>11</quality>", matching.Substituted, ""},
		{"<quality>10</quality>", "", "quality 10"},
		{"<quality>16</quality>", "", "quality 16"},
	} {
		xml := espiDoc("72", "-3", `<IntervalReading><ReadingQuality>`+c.codes+`</ReadingQuality><timePeriod><duration>900</duration><start>1330578000</start></timePeriod><value>282000</value></IntervalReading>`)
		plan, err := Build(portfolio(t), topics, []Source{{File: "q.xml", Data: []byte(xml), Format: ESPI, Site: "ny15", Meter: "LOAD"}})
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "q.xml:3") {
				t.Errorf("%s: want an error naming q.xml:3 and %q, got %v", c.codes, c.err, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.codes, err)
		}
		rs, _ := decoded(t, plan)
		if rs[0].Quality != c.want || rs[0].Energy != 282 { // 282000 × 10^-3 Wh
			t.Errorf("%s: %+v, want %s 282 Wh", c.codes, rs[0], c.want)
		}
	}
}

func espiDoc(uom, pow, readings string) string {
	return `<feed xmlns="http://www.w3.org/2005/Atom"><entry><content><ReadingType xmlns="http://naesb.org/espi"><powerOfTenMultiplier>` + pow + `</powerOfTenMultiplier><uom>` + uom + `</uom></ReadingType></content></entry>
<entry><content><IntervalBlock xmlns="http://naesb.org/espi">
` + readings + `
</IntervalBlock></content></entry></feed>`
}

// Bad input: each is refused whole with file:line and what is wrong.
func TestBadInput(t *testing.T) {
	pjmHead := "datetime_beginning_utc,datetime_beginning_ept,nerc_region,mkt_region,zone,load_area,mw,is_verified\n"
	csvHead := "meter,start,end,value,unit\n"
	for _, c := range []struct {
		name string
		src  Source
		want string
	}{
		{"unknown format", Source{Format: "xlsx"}, `f: format: "xlsx" is not a format offtake reads`},
		{"pjm not a number", Source{Format: PJMLoad, Meter: "LOAD", Data: []byte(pjmHead + "3/9/2025 5:00:00 AM,3/9/2025 12:00:00 AM,RTO,RTO,RTO,RTO,8x,False\n")}, `f:2: mw: "8x" is not a decimal number`},
		{"pjm bad time", Source{Format: PJMLoad, Meter: "LOAD", Data: []byte(pjmHead + "2025-03-09 05:00,3/9/2025 12:00:00 AM,RTO,RTO,RTO,RTO,1,False\n")}, `f:2: datetime_beginning_utc: "2025-03-09 05:00" is not a time`},
		{"pjm ept disagrees", Source{Format: PJMLoad, Meter: "LOAD", Data: []byte(pjmHead + "3/9/2025 5:00:00 AM,3/9/2025 1:00:00 AM,RTO,RTO,RTO,RTO,1,False\n")}, `f:2: datetime_beginning_ept: "3/9/2025 1:00:00 AM" is not 3/9/2025 5:00:00 AM UTC in Eastern time`},
		{"pjm no column", Source{Format: PJMLMP, Data: []byte("datetime_beginning_utc,pnode_name,price\n")}, `f:1: column: neither total_lmp_da nor total_lmp_rt`},
		{"unknown meter", Source{Format: CSV, Data: []byte(csvHead + "GT9,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,1,kWh\n")}, `f:2: meter: "GT9" is not a meter of site ny15`},
		{"negative load", Source{Format: CSV, Data: []byte(csvHead + "LOAD,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,-1,kWh\n")}, `f:2: value: -1000 Wh is negative, and meter LOAD is a load meter`},
		{"bad unit", Source{Format: CSV, Data: []byte(csvHead + "LOAD,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,1,kW\n")}, `f:2: unit: "kW" is not Wh, kWh or MWh`},
		{"duplicate", Source{Format: CSV, Data: []byte(csvHead + "LOAD,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,1,kWh\nLOAD,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,2,kWh\n")}, `f:3: ny15 meter LOAD: [2028-03-01T05:00Z, 2028-03-01T05:15Z) overlaps`},
		{"10 into 15 minutes", Source{Format: CSV, Data: []byte(csvHead + "LOAD,2028-03-01T05:00:00Z,2028-03-01T05:10:00Z,1,kWh\n")}, `f:2: meter LOAD: a 10m0s value cannot be fitted exactly to the site's 15m0s intervals`},
		{"a value of 20 years", Source{Format: CSV, Data: []byte(csvHead + "LOAD,2008-03-01T05:00:00Z,2028-03-01T06:00:00Z,1,kWh\n")}, `f:2: meter LOAD: a value of 175321h0m0s is longer than a day`},
		{"misaligned", Source{Format: CSV, Data: []byte(csvHead + "LOAD,2028-03-01T05:05:00Z,2028-03-01T05:20:00Z,1,kWh\n")}, `f:2: meter LOAD: the value starts at 2028-03-01T05:05Z, not on one of the site's 15m0s intervals`},
		{"hour missing a quarter", Source{Site: "ny60", Format: CSV, Data: []byte(csvHead +
			"LOAD60,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,1,kWh\nLOAD60,2028-03-01T05:15:00Z,2028-03-01T05:30:00Z,1,kWh\nLOAD60,2028-03-01T05:45:00Z,2028-03-01T06:00:00Z,1,kWh\n")},
			`meter LOAD60: the 1h0m0s interval from 2028-03-01T05:00Z needs all 4 of its 15m0s values`},
		{"pjm without the ept column", Source{Format: PJMLMP, Data: []byte("datetime_beginning_utc,pnode_name,total_lmp_rt\n3/9/2025 5:00:00 AM,X,1\n")}, ``},
		{"price with 7 decimals", Source{Format: PJMLMP, Data: []byte("datetime_beginning_utc,pnode_name,total_lmp_rt\n3/9/2025 5:00:00 AM,X,1.0000001\n")}, `f:2: price: 1.0000001 has more than 6 decimal places`},
		{"csv without its columns", Source{Format: CSV, Data: []byte("x\n")}, `f:1: meter: no such column`},
		{"espi not Wh", Source{Format: ESPI, Meter: "LOAD", Data: []byte(espiDoc("38", "0", ""))}, `f:1: ReadingType.uom: uom 38 is not 72 (Wh)`},
		{"espi not xml", Source{Format: ESPI, Meter: "LOAD", Data: []byte("<feed><entry></feed>")}, `f:1: not well-formed XML`},
		{"eia out of order", Source{Site: "tx15", Format: EIAGas, Data: []byte("Date,Price\n2018-01-03,3\n2018-01-02,3\n")}, `f:3: Date: 2018-01-02 does not come after 2018-01-03`},
		{"eia implausible", Source{Site: "tx15", Format: EIAGas, Data: []byte("Date,Price\n2018-01-03,3000\n")}, `f:2: price: 3000 $/MMBtu is not a plausible gas price`},
		{"two series one meter", Source{Site: "tx15", Format: ERCOTHourly, Meter: "TXLOAD", Meters: map[string]string{"A": "TXLOAD", "B": "TXGROSS"}, Column: "C",
			Data: []byte("HOUR,A,B,C\n2024-01-02 01:00:00,1,2,3\n")}, `f:2: meter: the file has 3 series`},
		{"ercot hour twice", Source{Site: "tx15", Format: ERCOTHourly, Nodes: map[string]string{"A": "HB_WEST"},
			Data: []byte("HOUR,A\n2024-01-02 01:00:00,1\n2024-01-02 01:00:00,2\n")}, `f:2: HOUR: 2024-01-02 01:00 appears 2 times`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.src.File == "" {
				c.src.File = "f"
			}
			if c.src.Site == "" {
				c.src.Site = "ny15"
			}
			plan, err := Build(portfolio(t), topics, []Source{c.src})
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if plan != nil {
				t.Fatal("a plan came back with the error: nothing may be published")
			}
		})
	}
}

// A bad row in any file refuses the whole replay: nothing is published.
func TestOneBadFileRefusesAll(t *testing.T) {
	good := Source{File: "lmp.csv", Data: file(t, "pjm_rto_da_hrl_lmps_2025_dst_days.csv"), Format: PJMLMP, Site: "ny15"}
	bad := Source{File: "r.csv", Format: CSV, Site: "ny15", Data: []byte("meter,start,end,value,unit\nLOAD,2028-03-01T05:00:00Z,2028-03-01T05:15:00Z,NaN,kWh\n")}
	plan, err := Build(portfolio(t), topics, []Source{good, bad})
	if err == nil || plan != nil || !strings.Contains(err.Error(), `r.csv:2: value: "NaN" is not a decimal number`) {
		t.Fatalf("got plan %v, err %v", plan != nil, err)
	}
}

func TestMapping(t *testing.T) {
	files := map[string][]byte{"m/load.csv": file(t, "pjm_rto_hrl_load_metered_2025_dst_days.csv"), "m/lmp.csv": file(t, "pjm_rto_da_hrl_lmps_2025_dst_days.csv")}
	read := func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}
	mapping := "site: ny15\nfrom: 2025-11-01\nfiles:\n  - file: load.csv\n    format: pjm-load\n    meter: LOAD\n    scale: 0.002\n  - file: lmp.csv\n    format: pjm-lmp\n    nodes: {PJM-RTO: PJM_RTO}\n"
	srcs, err := LoadMapping("m/replay.yaml", []byte(mapping), read)
	if err != nil {
		t.Fatal(err)
	}
	plan := mustBuild(t, srcs...)
	if plan.Summary.Readings != 100 || plan.Summary.Prices != 25 { // 2025-11-02 only: from 2025-11-01
		t.Errorf("%d readings, %d prices; want 100 and 25", plan.Summary.Readings, plan.Summary.Prices)
	}
	for _, c := range []struct{ yaml, want string }{
		{"site: ny15\nfiles:\n  - file: load.csv\n    formt: pjm-load\n", "m/replay.yaml:4: field formt not found"},
		{"site: ny15\nfiles:\n  - file: nope.csv\n    format: csv\n", "m/replay.yaml:3: files[0].file: cannot read m/nope.csv"},
		{"site: ny15\nfiles:\n  - file: load.csv\n    format: pjm-load\n    scale: -2\n", `m/replay.yaml:5: files[0].scale: "-2" is not a positive decimal`},
		{"site: ny15\n", "m/replay.yaml: files: no files to replay"},
	} {
		if _, err := LoadMapping("m/replay.yaml", []byte(c.yaml), read); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.yaml, err, c.want)
		}
	}
}

// The pjm-2025 example covers July 2025 whole: every meter has a reading
// and every node the site needs a price in every interval, so the engine
// closes every interval on its own.
func TestExamplePJM2025(t *testing.T) {
	name, p, plan, period, err := Example("pjm-2025", topics)
	if err != nil {
		t.Fatal(err)
	}
	site, _ := p.Site("laurel-run")
	start, end := period.Bounds(site.Location)
	intervals := int(end.Sub(start) / site.Interval())
	if name != "pjm-2025.yaml" || intervals != 2976 || len(plan.Summary.MissingPrices) != 0 {
		t.Fatalf("%s: %d intervals, missing %v", name, intervals, plan.Summary.MissingPrices)
	}
	rs, ps := decoded(t, plan)
	seen := map[string]map[time.Time]bool{}
	for _, r := range rs {
		if seen[r.Meter] == nil {
			seen[r.Meter] = map[time.Time]bool{}
		}
		seen[r.Meter][r.Start] = true
	}
	for _, m := range site.Meters {
		for ts := start; ts.Before(end); ts = ts.Add(site.Interval()) {
			if !seen[m.ID][ts] {
				t.Fatalf("meter %s has no reading at %s", m.ID, ts)
			}
		}
	}
	covered := 0
	for _, pr := range ps {
		if pr.Node == site.GeneratorNode && pr.Market == "RT" {
			covered += int(pr.End.Sub(pr.Start) / site.Interval())
		}
	}
	if len(rs) != 2*intervals || covered != intervals {
		t.Errorf("%d readings, prices covering %d intervals; want %d and %d", len(rs), covered, 2*intervals, intervals)
	}
	if len(plan.Summary.Gaps) != 0 {
		t.Errorf("gaps %v", plan.Summary.Gaps)
	}
	if !plan.Summary.First.Equal(start) || !plan.Summary.Last.Equal(end) {
		t.Errorf("summary %s – %s, want the period %s – %s", plan.Summary.First, plan.Summary.Last, start, end)
	}
}

func TestFitPrice(t *testing.T) {
	p := portfolio(t)
	s15, _ := p.Site("ny15")
	s60, _ := p.Site("ny60")
	at := time.Date(2028, 3, 1, 5, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		site       *contracts.Site
		start, end time.Time
		want       string
	}{
		{s15, at, at.Add(time.Hour), ""},                    // an hourly price covers four intervals
		{s60, at, at.Add(2 * time.Hour), ""},                // a repaired fall-back hour covers two
		{s60, at, at.Add(15 * time.Minute), "cannot price"}, // no averaging
		{s15, at, at.Add(10 * time.Minute), "cannot price"},
		{s15, at, at.Add(50 * time.Minute), "whole number"}, // not a multiple
		{s15, at.Add(5 * time.Minute), at.Add(65 * time.Minute), "not on one of"},
	} {
		got := fitPrice(c.site, row{start: c.start, end: c.end})
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s %s–%s: %q, want %q", c.site.ID, c.start, c.end, got, c.want)
		}
	}
}

type recorder struct{ batches [][]stream.Message }

func (r *recorder) Publish(_ context.Context, msgs []stream.Message) error {
	r.batches = append(r.batches, append([]stream.Message(nil), msgs...))
	return nil
}

func TestPublishPace(t *testing.T) {
	plan := mustBuild(t, Source{File: "lmp.csv", Data: file(t, "pjm_rto_da_hrl_lmps_2025_dst_days.csv"), Format: PJMLMP, Site: "ny15"})
	n := len(plan.Messages)
	for _, c := range []struct {
		pace    Pace
		batches int
	}{
		{Pace{}, 1},                   // full speed: one chunk
		{Pace{Speed: 3600 * 3600}, n}, // one batch per interval start (one price each)
		{Pace{Rate: 100_000}, (n + 9999) / 10_000},
	} {
		var rec recorder
		var last int
		if err := Publish(context.Background(), &rec, plan, c.pace, func(done int, _ time.Time) { last = done }); err != nil {
			t.Fatal(err)
		}
		if len(rec.batches) != c.batches || last != n {
			t.Errorf("%+v: %d batches, progress %d; want %d batches, %d", c.pace, len(rec.batches), last, c.batches, n)
		}
	}
	for _, s := range []string{"3600x", "60"} {
		if _, err := ParseSpeed(s); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []string{"0x", "fast", "-1"} {
		if _, err := ParseSpeed(s); err == nil {
			t.Errorf("speed %q accepted", s)
		}
	}
	if r, err := ParseRate("500/s"); err != nil || r != 500 {
		t.Errorf("rate 500/s: %v %v", r, err)
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// ERCOT's own layout (DAM settlement point prices): DeliveryDate, HourEnding,
// SettlementPoint, SettlementPointPrice, DSTFlag. Synthetic rows in that
// layout for the fall-back day 2023-11-05 and the spring-forward day 2024-03-10.
func TestERCOTLongLayout(t *testing.T) {
	day := func(date string, hes []string, flagged string) string {
		var b strings.Builder
		for i, he := range hes {
			flag := "N"
			if he == flagged && i > 0 && hes[i-1] == he {
				flag = "Y"
			}
			b.WriteString(date + "," + he + ",HB_WEST," + fmtInt(20+i) + "," + flag + "\n")
		}
		return b.String()
	}
	head := "DeliveryDate,HourEnding,SettlementPoint,SettlementPointPrice,DSTFlag\n"
	var fall, merged, spring []string
	for h := 1; h <= 24; h++ {
		he := twoDigits(h) + ":00"
		fall = append(fall, he)
		merged = append(merged, he)
		if h == 2 {
			fall = append(fall, he)
		}
		if h != 3 {
			spring = append(spring, he)
		}
	}
	src := Source{File: "dam.csv", Format: ERCOTHourly, Site: "tx15", Nodes: map[string]string{"HB_WEST": "HB_WEST"},
		Data: []byte(head + day("11/05/2023", fall, "02:00") + day("03/10/2024", spring, ""))}
	_, ps := decoded(t, mustBuild(t, src))
	chicago := mustZone("America/Chicago")
	span := map[string]time.Duration{}
	for _, p := range ps {
		span[localDate(p.Start, chicago)] += p.End.Sub(p.Start)
	}
	if len(ps) != 25+23 || span["2023-11-05"] != 25*time.Hour || span["2024-03-10"] != 23*time.Hour {
		t.Fatalf("%d prices, spans %v; want 48 over 25h and 23h", len(ps), span)
	}
	// the DSTFlag Y row (hour ending 02, second time) is 01:00–02:00 CST = 07:00Z
	if p := ps[2]; !p.Start.Equal(time.Date(2023, 11, 5, 7, 0, 0, 0, time.UTC)) || p.USDPerMWh.String() != "22" {
		t.Errorf("repeated hour %+v", p)
	}

	src.Data = []byte(head + day("11/05/2023", merged, ""))
	if _, err := Build(portfolio(t), topics, []Source{src}); err == nil || !strings.Contains(err.Error(), "dam.csv:3: HourEnding: 2023-11-05 is the fall-back day") || !strings.Contains(err.Error(), "24 rows for the day of HB_WEST") {
		t.Errorf("merged hour: %v", err)
	}
	src.Data = []byte(head + "03/10/2024,03:00,HB_WEST,20,N\n")
	if _, err := Build(portfolio(t), topics, []Source{src}); err == nil || !strings.Contains(err.Error(), "dam.csv:2: HourEnding: hour ending 2024-03-10 03:00 does not exist in America/Chicago") {
		t.Errorf("hour ending 03 on the spring-forward day: %v", err)
	}
}

func twoDigits(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

func fmtInt(n int) string { return dec("0").Add(decimal.NewFromInt(int64(n))).String() }

// A file of prices only may be replayed without naming a site when it fits
// every site: hourly PJM prices do; gas days need one zone.
func TestPricesWithoutSite(t *testing.T) {
	plan, err := Build(portfolio(t), topics, []Source{{File: "lmp.csv", Data: file(t, "pjm_rto_da_hrl_lmps_2025_dst_days.csv"), Format: PJMLMP}})
	if err != nil || plan.Summary.Prices != 48 || len(plan.Summary.MissingPrices) != 0 {
		t.Fatalf("pjm-lmp without a site: %v", err)
	}
	gas := Source{File: "hh.csv", Data: file(t, "henry_hub_daily_eia_2018-01.csv"), Format: EIAGas, SkipEmpty: true}
	if _, err := Build(portfolio(t), topics, []Source{gas}); err == nil || !strings.Contains(err.Error(), "hh.csv: site: the contract files have 3 sites; say which one the file is for") {
		t.Errorf("eia-gas without a site or zone over sites in two zones: %v", err)
	}
	gas.TimeZone = "America/Chicago"
	if plan, err := Build(portfolio(t), topics, []Source{gas}); err != nil || plan.Summary.Prices != 8 {
		t.Errorf("eia-gas with its zone: %v", err)
	}
	load := Source{File: "load.csv", Data: file(t, "pjm_rto_hrl_load_metered_2025_dst_days.csv"), Format: PJMLoad, Meter: "LOAD"}
	if _, err := Build(portfolio(t), topics, []Source{load}); err == nil || !strings.Contains(err.Error(), "say which one") {
		t.Errorf("readings without a site: %v", err)
	}
}
