// Package files writes settlement statements as the invoice files a
// counterparty receives: DIR/YYYY-MM/<counterparty>/<invoice>.csv (the lines)
// and <invoice>.json (the same data; schema "offtake.invoice/v1", documented in
// the README). Output is deterministic: the same statements give the same
// bytes, with no timestamps.
package files

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// Schema names the JSON invoice format.
const Schema = "offtake.invoice/v1"

// Written lists the files written, relative to the output directory.
type Written struct {
	Counterparty string
	InvoiceID    string
	Files        []string
}

// Write writes each statement's files under dir and returns what it wrote.
// Each counterparty's folder holds only its own invoices.
func Write(dir string, statements []settlement.Statement) ([]Written, error) {
	var out []Written
	for i := range statements {
		st := &statements[i]
		rel := filepath.Join(st.Period.String(), st.Buyer.ID)
		if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
			return out, fmt.Errorf("invoices: %w", err)
		}
		w := Written{Counterparty: st.Buyer.ID, InvoiceID: st.InvoiceID}
		for _, f := range []struct {
			ext    string
			encode func(*settlement.Statement) ([]byte, error)
		}{{".csv", CSV}, {".json", JSON}} {
			data, err := f.encode(st)
			if err != nil {
				return out, fmt.Errorf("invoice %s: %w", st.InvoiceID, err)
			}
			name := filepath.Join(rel, st.InvoiceID+f.ext)
			if err := writeFile(filepath.Join(dir, name), data); err != nil {
				return out, err
			}
			w.Files = append(w.Files, name)
		}
		out = append(out, w)
	}
	return out, nil
}

// writeFile writes through a temporary file and a rename, so a reader never
// sees half an invoice.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("invoices: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("invoices: %w", err)
	}
	return nil
}

// CSV is a statement's lines as CSV, with a header and a total row.
func CSV(st *settlement.Statement) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rows := [][]string{{"invoice", "line", "kind", "description", "quantity", "unit", "rate_usd_per_mwh", "amount_usd"}}
	for i, l := range st.Lines {
		rows = append(rows, []string{st.InvoiceID, strconv.Itoa(i + 1), l.Kind, l.Description,
			l.QuantityMWh.StringFixed(6), "MWh", rate(l.RateUSD), l.AmountUSD.StringFixed(2)})
	}
	rows = append(rows, []string{st.InvoiceID, "", "total", "Total due (USD)", st.EnergyMWh.StringFixed(6), "MWh", "", st.TotalUSD.StringFixed(2)})
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type partyJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	TaxID   string `json:"tax_id,omitempty"`
	Email   string `json:"email,omitempty"`
}

type lineJSON struct {
	Line        int    `json:"line"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Quantity    string `json:"quantity"`
	Unit        string `json:"unit"`
	Rate        string `json:"rate_usd_per_mwh"`
	Amount      string `json:"amount_usd"`
	ExactAmount string `json:"exact_amount_usd"`
}

type invoiceJSON struct {
	Schema    string     `json:"schema"`
	InvoiceID string     `json:"invoice_id"`
	Status    string     `json:"status"`
	Period    string     `json:"period"`
	IssueDate string     `json:"issue_date"`
	DueDate   string     `json:"due_date"`
	Currency  string     `json:"currency"`
	Seller    partyJSON  `json:"seller"`
	Buyer     partyJSON  `json:"buyer"`
	Contract  string     `json:"contract"`
	Version   int        `json:"contract_version"`
	Site      string     `json:"site"`
	Lines     []lineJSON `json:"lines"`
	EnergyMWh string     `json:"energy_mwh"`
	Total     string     `json:"total_usd"`
	Transfers int        `json:"ledger_transfers"`
}

func party(p *contracts.Party) partyJSON {
	return partyJSON{ID: p.ID, Name: p.Name, Address: p.Address, TaxID: p.TaxID, Email: p.Email}
}

// JSON is a statement as an invoice document (schema offtake.invoice/v1).
func JSON(st *settlement.Statement) ([]byte, error) {
	doc := invoiceJSON{
		Schema: Schema, InvoiceID: st.InvoiceID, Status: "draft", Period: st.Period.String(),
		IssueDate: st.IssueDate.String(), DueDate: st.DueDate.String(), Currency: "USD",
		Seller: party(st.Seller), Buyer: party(st.Buyer), Contract: st.Contract.ID, Version: st.ContractVersion,
		Site: st.Site.ID, Lines: []lineJSON{}, EnergyMWh: st.EnergyMWh.StringFixed(6), Total: st.TotalUSD.StringFixed(2),
		Transfers: st.Transfers,
	}
	for i, l := range st.Lines {
		doc.Lines = append(doc.Lines, lineJSON{Line: i + 1, Kind: l.Kind, Description: l.Description,
			Quantity: l.QuantityMWh.StringFixed(6), Unit: "MWh", Rate: rate(l.RateUSD),
			Amount: l.AmountUSD.StringFixed(2), ExactAmount: l.ExactUSD.String()})
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// rate writes a price with at least two decimals and all the ones it has.
func rate(d decimal.Decimal) string {
	return d.StringFixed(max(2, -d.Exponent()))
}
