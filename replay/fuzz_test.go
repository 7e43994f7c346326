package replay

import (
	"os"
	"testing"

	"github.com/offtake/offtake/messages"
)

// FuzzBuild feeds arbitrary bytes to every format: a replay never panics,
// and whatever it accepts decodes through the wire format's own decoders
// (so the engine never dead-letters a replayed message).
func FuzzBuild(f *testing.F) {
	for _, name := range []string{"pjm_rto_da_hrl_lmps_2025_dst_days.csv", "pjm_rto_hrl_load_metered_2025_dst_days.csv", "henry_hub_daily_eia_2018-01.csv", "ercot_nbohr_hbwest_2023-11-05_2024-03-10.csv"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		for i := range Formats {
			f.Add(uint8(i), b[:min(len(b), 2000)])
		}
	}
	f.Add(uint8(5), []byte("meter,start,end,value,unit,quality\nLOAD,2028-03-01T05:00:00Z,2028-03-01T06:00:00Z,1000.003,kWh,estimated\n"))
	f.Add(uint8(4), []byte(espiDoc("72", "-3", `<IntervalReading><timePeriod><duration>900</duration><start>1330578000</start></timePeriod><value>282000</value></IntervalReading>`)))
	p, err := loadSites()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, format uint8, data []byte) {
		src := Source{File: "fuzz", Data: data, Format: Formats[int(format)%len(Formats)], Site: "ny15", Meter: "LOAD"}
		switch src.Format {
		case ERCOTHourly:
			src.Site, src.Meter, src.Nodes = "tx15", "", map[string]string{"HUB": "HB_WEST"}
		case EIAGas:
			src.Site = "tx15"
		case PJMLMP, CSV:
			src.Meter = ""
		}
		plan, err := Build(p, topics, []Source{src})
		if err != nil {
			return
		}
		for _, m := range plan.Messages {
			var derr error
			if m.Topic == topics.Prices {
				_, derr = messages.DecodePrice(m.Value)
			} else {
				_, derr = messages.DecodeReading(m.Value)
			}
			if derr != nil {
				t.Fatalf("accepted %q but published %s: %v", data, m.Value, derr)
			}
		}
	})
}
