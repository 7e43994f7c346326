package files

import (
	"encoding/json"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
)

// Schema names the JSON invoice format.
const Schema = "offtake.invoice/v2"

type partyJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	TaxID   string `json:"tax_id,omitempty"`
	Email   string `json:"email,omitempty"`
}

type siteJSON struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Market          string `json:"market"`
	TimeZone        string `json:"time_zone"`
	IntervalMinutes int    `json:"interval_minutes"`
}

type lineJSON struct {
	Line        int    `json:"line"`
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Band        string `json:"band,omitempty"`
	Of          string `json:"of,omitempty"`
	Quantity    string `json:"quantity"`
	UnitCode    string `json:"unit_code"`
	QuantityMWh string `json:"quantity_mwh"`
	Rate        string `json:"rate_usd,omitempty"`
	Amount      string `json:"amount_usd"`
	ExactAmount string `json:"exact_amount_usd"`
	Taxable     bool   `json:"taxable"`
}

type taxJSON struct {
	Line     int    `json:"line"`
	Name     string `json:"name"`
	Category string `json:"category"`
	Percent  string `json:"percent"`
	Base     string `json:"base_usd"`
	Amount   string `json:"amount_usd"`
}

type dayJSON struct {
	Date         string `json:"date"`
	MWh          string `json:"mwh"`
	Amount       string `json:"amount_usd"`
	AveragePrice string `json:"average_usd_per_mwh"`
}

type invoiceJSON struct {
	Schema         string     `json:"schema"`
	InvoiceID      string     `json:"invoice_id"`
	Status         string     `json:"status"`
	Document       string     `json:"document"`
	CreditNote     bool       `json:"credit_note"`
	Period         string     `json:"period"`
	IssueDate      string     `json:"issue_date"`
	DueDate        string     `json:"due_date"`
	PaymentTerms   int        `json:"payment_terms_days"`
	Currency       string     `json:"currency"`
	Seller         partyJSON  `json:"seller"`
	Buyer          partyJSON  `json:"buyer"`
	Remittance     string     `json:"remittance,omitempty"`
	Contract       string     `json:"contract"`
	Version        int        `json:"contract_version"`
	Site           siteJSON   `json:"site"`
	Lines          []lineJSON `json:"lines"`
	Taxes          []taxJSON  `json:"taxes"`
	EnergyMWh      string     `json:"energy_mwh"`
	Net            string     `json:"net_usd"`
	Tax            string     `json:"tax_usd"`
	Total          string     `json:"total_usd"`
	ExactTotal     string     `json:"exact_total_usd"`
	Daily          []dayJSON  `json:"daily"`
	IntervalsFile  string     `json:"intervals_file"`
	IntervalsCount int        `json:"intervals"`
	Transfers      int        `json:"ledger_transfers"`
	// The plant's emissions attributed to the energy billed, where the site
	// books emissions; the hourly detail is in EmissionsFile.
	EmissionsT        string `json:"emissions_tco2e,omitempty"`
	EmissionsKgPerMWh string `json:"emissions_kg_per_mwh,omitempty"`
	EmissionsFile     string `json:"emissions_file,omitempty"`
}

func party(p *contracts.Party) partyJSON {
	return partyJSON{ID: p.ID, Name: p.Name, Address: p.Address, TaxID: p.TaxID, Email: p.Email}
}

// document names the kind of document: "invoice", or "credit_note" when the
// total is negative.
func document(st *settlement.Statement) string {
	if st.CreditNote() {
		return "credit_note"
	}
	return "invoice"
}

// JSON is a statement as an invoice document (schema offtake.invoice/v2).
// Decimals are strings, written exactly.
func JSON(st *settlement.Statement) ([]byte, error) {
	doc := invoiceJSON{
		Schema: Schema, InvoiceID: st.InvoiceID, Status: status(st), Document: document(st), CreditNote: st.CreditNote(),
		Period: st.Period.String(), IssueDate: st.IssueDate.String(), DueDate: st.DueDate.String(),
		PaymentTerms: st.Contract.PaymentTermsDays, Currency: "USD",
		Seller: party(st.Seller), Buyer: party(st.Buyer), Remittance: st.Seller.Remittance,
		Contract: st.Contract.ID, Version: st.ContractVersion,
		Site:  siteJSON{ID: st.Site.ID, Name: st.Site.Name, Market: st.Site.Market, TimeZone: st.Site.TimeZone, IntervalMinutes: st.Site.IntervalMinutes},
		Lines: []lineJSON{}, Taxes: []taxJSON{}, Daily: []dayJSON{},
		EnergyMWh: fixed(st.EnergyMWh, 6), Net: st.NetUSD.StringFixed(2), Tax: st.TaxUSD.StringFixed(2),
		Total: st.TotalUSD.StringFixed(2), ExactTotal: fixed(st.ExactUSD, 2),
		IntervalsFile: st.InvoiceID + "-intervals.csv", IntervalsCount: len(st.Intervals), Transfers: st.Transfers,
	}
	if st.Site.Emissions != nil {
		doc.EmissionsT, doc.EmissionsKgPerMWh = fixed(st.EmissionsT, 6), st.EmissionsKgPerMWh.StringFixed(3)
		doc.EmissionsFile = st.InvoiceID + "-emissions.csv"
	}
	for i, l := range st.Lines {
		doc.Lines = append(doc.Lines, lineJSON{Line: i + 1, Kind: l.Kind, Description: l.Description, Band: l.Band, Of: l.Of,
			Quantity: quantity(l), UnitCode: l.UnitCode, QuantityMWh: fixed(l.QuantityMWh, 6), Rate: lineRate(l),
			Amount: l.AmountUSD.StringFixed(2), ExactAmount: fixed(l.ExactUSD, 2), Taxable: l.Taxable})
		if l.Kind == settlement.LineTax {
			t := taxOf(st, i)
			doc.Taxes = append(doc.Taxes, taxJSON{Line: i + 1, Name: t.Name, Category: t.Category, Percent: t.Percent.String(),
				Base: l.Quantity.StringFixed(2), Amount: l.AmountUSD.StringFixed(2)})
		}
	}
	for _, d := range st.Daily {
		doc.Daily = append(doc.Daily, dayJSON{Date: d.Date.String(), MWh: fixed(d.MWh, 6), Amount: fixed(d.AmountUSD, 2),
			AveragePrice: rate(d.AveragePrice())})
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}
