package files

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"time"

	"github.com/offtake/offtake/settlement"
)

// CSVHeader is the header of the lines file.
var CSVHeader = []string{"invoice", "line", "kind", "description", "band", "of", "quantity", "unit",
	"rate_usd", "amount_usd", "exact_amount_usd", "taxable"}

// CSV is a statement's lines as CSV: a header, one row per line in the
// statement's order (tax lines included), then net, tax and total rows.
// Quantity, unit and rate are the line's own (MWh, kW or months; a tax line's
// quantity is its base in USD and its rate the percent).
func CSV(st *settlement.Statement) ([]byte, error) {
	rows := [][]string{CSVHeader}
	for i, l := range st.Lines {
		rows = append(rows, []string{st.InvoiceID, strconv.Itoa(i + 1), l.Kind, l.Description, l.Band, l.Of,
			quantity(l), l.UnitCode, lineRate(l), l.AmountUSD.StringFixed(2), fixed(l.ExactUSD, 2),
			strconv.FormatBool(l.Taxable)})
	}
	total := "Total due (USD)"
	if st.CreditNote() {
		total = "Total credit to the buyer (USD, negative)"
	}
	rows = append(rows,
		[]string{st.InvoiceID, "", "net", "Net of tax (USD)", "", "", "", "", "", st.NetUSD.StringFixed(2), "", ""},
		[]string{st.InvoiceID, "", "tax", "Tax (USD)", "", "", "", "", "", st.TaxUSD.StringFixed(2), "", ""},
		[]string{st.InvoiceID, "", "total", total, "", "", fixed(st.EnergyMWh, 6), settlement.UnitMWh, "",
			st.TotalUSD.StringFixed(2), fixed(st.ExactUSD, 2), ""})
	return writeCSV(rows)
}

// IntervalsHeader is the header of the intervals file.
var IntervalsHeader = []string{"start", "end", "local_start", "band", "mwh", "usd_per_mwh", "amount_usd", "quality", "of"}

// IntervalsCSV lists every interval behind a statement's lines: start and
// end in UTC (RFC 3339), the start in the site's time zone, the time-of-use
// band, energy, price, the exact amount, the reading quality and, for a
// prior-period correction, the period it corrects.
func IntervalsCSV(st *settlement.Statement) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(120 * (len(st.Intervals) + 1))
	w := csv.NewWriter(&buf)
	if err := w.Write(IntervalsHeader); err != nil {
		return nil, err
	}
	loc := st.Site.Location
	if loc == nil {
		loc = time.UTC
	}
	row := make([]string, len(IntervalsHeader))
	for _, r := range st.Intervals {
		row[0], row[1] = r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339)
		row[2], row[3] = r.Start.In(loc).Format(time.RFC3339), r.Band
		row[4], row[5], row[6] = fixed(r.MWh, 6), rate(r.USDPerMWh), fixed(r.AmountUSD, 2)
		row[7], row[8] = r.Quality, r.Of
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func writeCSV(rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
