package files

import (
	"bytes"
	"encoding/csv"
	"time"

	"github.com/offtake/offtake/settlement"
)

// EmissionsHeader is the header row of an emissions annex.
var EmissionsHeader = []string{"hour_start_utc", "hour_start_local", "delivered_mwh", "delivered_tco2e", "imported_mwh", "imported_tco2e", "total_tco2e", "kg_per_mwh"}

// EmissionsCSV is the buyer's hourly emissions annex of the period: for each
// hour, the energy the plant delivered to it (under all its contracts) and
// the plant's emissions attributed to it, the energy it imported and the
// grid's emissions on it, and the intensity of everything it took. nil when
// the site books no emissions: no annex file is written then.
func EmissionsCSV(st *settlement.Statement) ([]byte, error) {
	if st.Site.Emissions == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(EmissionsHeader); err != nil {
		return nil, err
	}
	loc := st.Site.Location
	if loc == nil {
		loc = time.UTC
	}
	var sum settlement.EmissionHour
	for _, h := range st.EmissionsAnnex {
		if err := w.Write(emissionRow(h.Start.UTC().Format(time.RFC3339), h.Start.In(loc).Format(time.RFC3339), h)); err != nil {
			return nil, err
		}
		sum.DeliveredMWh = sum.DeliveredMWh.Add(h.DeliveredMWh)
		sum.DeliveredT = sum.DeliveredT.Add(h.DeliveredT)
		sum.ImportedMWh = sum.ImportedMWh.Add(h.ImportedMWh)
		sum.ImportedT = sum.ImportedT.Add(h.ImportedT)
	}
	if err := w.Write(emissionRow("total", st.Period.String(), sum)); err != nil {
		return nil, err
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func emissionRow(a, b string, h settlement.EmissionHour) []string {
	return []string{a, b, fixed(h.DeliveredMWh, 6), fixed(h.DeliveredT, 6), fixed(h.ImportedMWh, 6), fixed(h.ImportedT, 6),
		fixed(h.DeliveredT.Add(h.ImportedT), 6), h.KgPerMWh().StringFixed(3)}
}
