package files_test

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/shopspring/decimal"
)

func TestEmissionsAnnex(t *testing.T) {
	loc, _ := time.LoadLocation("America/Chicago")
	d := decimal.RequireFromString
	st := &settlement.Statement{
		Period: contracts.Period{Year: 2028, Month: time.March},
		Site:   &contracts.Site{ID: "s", Location: loc, Emissions: &contracts.Emissions{HeatRate: d("6.9"), FuelKgPerMMBtu: contracts.DefaultGasKgPerMMBtu}},
		EmissionsAnnex: []settlement.EmissionHour{
			{Start: time.Date(2028, 3, 1, 6, 0, 0, 0, time.UTC), DeliveredMWh: d("100"), DeliveredT: d("36.6114"), ImportedMWh: d("10"), ImportedT: d("3.8")},
			{Start: time.Date(2028, 3, 1, 7, 0, 0, 0, time.UTC), DeliveredMWh: d("0"), DeliveredT: d("0"), ImportedMWh: d("0"), ImportedT: d("0")},
		},
	}
	data, err := files.EmissionsCSV(st)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("%d rows, %v:\n%s", len(rows), err, data)
	}
	// (36.6114 + 3.8) t × 1000 / 110 MWh = 367.376 kg/MWh
	if r := rows[1]; r[1] != "2028-03-01T00:00:00-06:00" || r[6] != "40.411400" || r[7] != "367.376" {
		t.Errorf("first hour %v", r)
	}
	if r := rows[2]; r[7] != "0.000" {
		t.Errorf("an hour with no energy: %v", r)
	}
	if r := rows[3]; r[0] != "total" || r[3] != "36.611400" || r[5] != "3.800000" {
		t.Errorf("total %v", r)
	}
	st.Site.Emissions = nil
	if data, err := files.EmissionsCSV(st); data != nil || err != nil {
		t.Errorf("a site without emissions got an annex: %q %v", data, err)
	}
}
