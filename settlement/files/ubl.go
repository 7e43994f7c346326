package files

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// The UBL 2.1 namespaces and the Peppol BIS Billing 3.0 identifiers.
const (
	NamespaceInvoice    = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
	NamespaceCreditNote = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
	NamespaceCAC        = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
	NamespaceCBC        = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
	CustomizationID     = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
	ProfileID           = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
)

// UnitLumpSum is the unit code (UN/ECE Rec. 20) of a line billed as one sum:
// a line with no single rate (a virtual PPA's differences, a prior-period
// correction) is quantity 1 LS at its amount.
const UnitLumpSum = "LS"

// The structs below marshal with literal prefixes (cbc:, cac:) declared on
// the root element: encoding/xml would otherwise repeat xmlns on every
// element. Field order is the order UBL's schema requires.

type ublAmount struct {
	Currency string `xml:"currencyID,attr"`
	Value    string `xml:",chardata"`
}

type ublQuantity struct {
	UnitCode string `xml:"unitCode,attr"`
	Value    string `xml:",chardata"`
}

type ublID struct {
	Scheme string `xml:"schemeID,attr,omitempty"`
	Value  string `xml:",chardata"`
}

type ublCode struct {
	Name  string `xml:"name,attr,omitempty"`
	Value string `xml:",chardata"`
}

type ublPeriod struct {
	StartDate string `xml:"cbc:StartDate"`
	EndDate   string `xml:"cbc:EndDate"`
}

type ublDocRef struct {
	ID          string `xml:"cbc:ID"`
	Description string `xml:"cbc:DocumentDescription,omitempty"`
}

type ublTaxScheme struct {
	ID string `xml:"cbc:ID"`
}

type ublAddressLine struct {
	Line string `xml:"cbc:Line"`
}

type ublNote struct {
	Note string `xml:"cbc:Note"`
}

type ublBranch struct {
	ID string `xml:"cbc:ID"`
}

type ublAddress struct {
	StreetName           string          `xml:"cbc:StreetName,omitempty"`
	AdditionalStreetName string          `xml:"cbc:AdditionalStreetName,omitempty"`
	CityName             string          `xml:"cbc:CityName,omitempty"`
	PostalZone           string          `xml:"cbc:PostalZone,omitempty"`
	CountrySubentity     string          `xml:"cbc:CountrySubentity,omitempty"`
	AddressLine          *ublAddressLine `xml:"cac:AddressLine"`
	Country              struct {
		IdentificationCode string `xml:"cbc:IdentificationCode"`
	} `xml:"cac:Country"`
}

type ublPartyTaxScheme struct {
	CompanyID string       `xml:"cbc:CompanyID"`
	TaxScheme ublTaxScheme `xml:"cac:TaxScheme"`
}

type ublLegalEntity struct {
	RegistrationName string `xml:"cbc:RegistrationName"`
	CompanyID        string `xml:"cbc:CompanyID,omitempty"`
}

type ublContact struct {
	ElectronicMail string `xml:"cbc:ElectronicMail"`
}

type ublParty struct {
	EndpointID          *ublID `xml:"cbc:EndpointID"`
	PartyIdentification struct {
		ID string `xml:"cbc:ID"`
	} `xml:"cac:PartyIdentification"`
	PartyName struct {
		Name string `xml:"cbc:Name"`
	} `xml:"cac:PartyName"`
	PostalAddress    ublAddress         `xml:"cac:PostalAddress"`
	PartyTaxScheme   *ublPartyTaxScheme `xml:"cac:PartyTaxScheme"`
	PartyLegalEntity ublLegalEntity     `xml:"cac:PartyLegalEntity"`
	Contact          *ublContact        `xml:"cac:Contact"`
}

type ublPartyWrap struct {
	Party ublParty `xml:"cac:Party"`
}

type ublFinancialAccount struct {
	ID     string     `xml:"cbc:ID"`
	Name   string     `xml:"cbc:Name,omitempty"`
	Branch *ublBranch `xml:"cac:FinancialInstitutionBranch"`
}

type ublPaymentMeans struct {
	Code           ublCode              `xml:"cbc:PaymentMeansCode"`
	PaymentDueDate string               `xml:"cbc:PaymentDueDate,omitempty"` // CreditNote only
	PaymentID      string               `xml:"cbc:PaymentID"`
	Account        *ublFinancialAccount `xml:"cac:PayeeFinancialAccount"`
}

type ublTaxCategory struct {
	ID              string       `xml:"cbc:ID"`
	Percent         string       `xml:"cbc:Percent,omitempty"`
	ExemptionReason string       `xml:"cbc:TaxExemptionReason,omitempty"`
	TaxScheme       ublTaxScheme `xml:"cac:TaxScheme"`
}

type ublTaxSubtotal struct {
	TaxableAmount ublAmount      `xml:"cbc:TaxableAmount"`
	TaxAmount     ublAmount      `xml:"cbc:TaxAmount"`
	TaxCategory   ublTaxCategory `xml:"cac:TaxCategory"`
}

type ublTaxTotal struct {
	TaxAmount   ublAmount        `xml:"cbc:TaxAmount"`
	TaxSubtotal []ublTaxSubtotal `xml:"cac:TaxSubtotal"`
}

type ublMonetaryTotal struct {
	LineExtensionAmount ublAmount `xml:"cbc:LineExtensionAmount"`
	TaxExclusiveAmount  ublAmount `xml:"cbc:TaxExclusiveAmount"`
	TaxInclusiveAmount  ublAmount `xml:"cbc:TaxInclusiveAmount"`
	PayableAmount       ublAmount `xml:"cbc:PayableAmount"`
}

type ublItemProperty struct {
	Name  string `xml:"cbc:Name"`
	Value string `xml:"cbc:Value"`
}

type ublItem struct {
	Description           string            `xml:"cbc:Description,omitempty"`
	Name                  string            `xml:"cbc:Name"`
	ClassifiedTaxCategory ublTaxCategory    `xml:"cac:ClassifiedTaxCategory"`
	Properties            []ublItemProperty `xml:"cac:AdditionalItemProperty"`
}

type ublLine struct {
	ID                  string       `xml:"cbc:ID"`
	InvoicedQuantity    *ublQuantity `xml:"cbc:InvoicedQuantity"` // Invoice
	CreditedQuantity    *ublQuantity `xml:"cbc:CreditedQuantity"` // CreditNote
	LineExtensionAmount ublAmount    `xml:"cbc:LineExtensionAmount"`
	Item                ublItem      `xml:"cac:Item"`
	Price               struct {
		PriceAmount ublAmount `xml:"cbc:PriceAmount"`
	} `xml:"cac:Price"`
}

type ublDocument struct {
	XMLName                     xml.Name
	Xmlns                       string           `xml:"xmlns,attr"`
	XmlnsCAC                    string           `xml:"xmlns:cac,attr"`
	XmlnsCBC                    string           `xml:"xmlns:cbc,attr"`
	CustomizationID             string           `xml:"cbc:CustomizationID"`
	ProfileID                   string           `xml:"cbc:ProfileID"`
	ID                          string           `xml:"cbc:ID"`
	IssueDate                   string           `xml:"cbc:IssueDate"`
	DueDate                     string           `xml:"cbc:DueDate,omitempty"`            // Invoice
	InvoiceTypeCode             string           `xml:"cbc:InvoiceTypeCode,omitempty"`    // Invoice: 380
	CreditNoteTypeCode          string           `xml:"cbc:CreditNoteTypeCode,omitempty"` // CreditNote: 381
	Note                        []string         `xml:"cbc:Note"`
	DocumentCurrencyCode        string           `xml:"cbc:DocumentCurrencyCode"`
	BuyerReference              string           `xml:"cbc:BuyerReference"`
	InvoicePeriod               ublPeriod        `xml:"cac:InvoicePeriod"`
	ContractDocumentReference   ublDocRef        `xml:"cac:ContractDocumentReference"`
	AdditionalDocumentReference []ublDocRef      `xml:"cac:AdditionalDocumentReference"`
	AccountingSupplierParty     ublPartyWrap     `xml:"cac:AccountingSupplierParty"`
	AccountingCustomerParty     ublPartyWrap     `xml:"cac:AccountingCustomerParty"`
	PaymentMeans                ublPaymentMeans  `xml:"cac:PaymentMeans"`
	PaymentTerms                *ublNote         `xml:"cac:PaymentTerms"`
	TaxTotal                    ublTaxTotal      `xml:"cac:TaxTotal"`
	LegalMonetaryTotal          ublMonetaryTotal `xml:"cac:LegalMonetaryTotal"`
	InvoiceLines                []ublLine        `xml:"cac:InvoiceLine"`
	CreditNoteLines             []ublLine        `xml:"cac:CreditNoteLine"`
}

// XML is a statement as a UBL 2.1 e-invoice following EN 16931 and Peppol
// BIS Billing 3.0: an Invoice (type 380), or a CreditNote (type 381) with
// every amount negated when the total is negative. Tax lines become the tax
// breakdown; every other line is an invoice line whose amount is the line's
// rounded amount, so LineExtensionAmount = Σ line amounts exactly.
func XML(st *settlement.Statement) ([]byte, error) {
	credit := st.CreditNote()
	sign := decimal.NewFromInt(1)
	if credit {
		sign = sign.Neg()
	}
	usd := func(d decimal.Decimal) ublAmount { return ublAmount{"USD", d.Mul(sign).StringFixed(2)} }
	taxes := taxCategories(st)

	doc := ublDocument{
		Xmlns: NamespaceInvoice, XmlnsCAC: NamespaceCAC, XmlnsCBC: NamespaceCBC,
		CustomizationID: CustomizationID, ProfileID: ProfileID,
		ID: st.InvoiceID, IssueDate: st.IssueDate.String(), DocumentCurrencyCode: "USD",
		BuyerReference:            st.Contract.ID,
		InvoicePeriod:             periodOf(st.Period),
		ContractDocumentReference: ublDocRef{ID: st.Contract.ID},
		AdditionalDocumentReference: []ublDocRef{{ID: st.InvoiceID + "-intervals.csv",
			Description: fmt.Sprintf("Every interval behind the lines (%d intervals)", len(st.Intervals))}},
		AccountingSupplierParty: ublPartyWrap{ublPartyOf(st.Seller, true)},
		AccountingCustomerParty: ublPartyWrap{ublPartyOf(st.Buyer, false)},
	}
	if credit {
		doc.XMLName = xml.Name{Local: "CreditNote"}
		doc.Xmlns, doc.CreditNoteTypeCode = NamespaceCreditNote, "381"
	} else {
		doc.XMLName = xml.Name{Local: "Invoice"}
		doc.DueDate, doc.InvoiceTypeCode = st.DueDate.String(), "380"
	}
	if !st.Final {
		doc.Note = append(doc.Note, "Draft: numbered when the period is finalized; not for payment.")
	}
	doc.PaymentMeans, doc.PaymentTerms = payment(st, credit)

	// the breakdown: one subtotal per category the lines use
	net := map[string]decimal.Decimal{}
	var order []string
	var lines []ublLine
	for _, l := range st.Lines {
		if l.Kind == settlement.LineTax {
			continue
		}
		cat := taxes.of(l)
		if _, ok := net[cat.ID]; !ok {
			order = append(order, cat.ID)
		}
		net[cat.ID] = net[cat.ID].Add(l.AmountUSD)
		lines = append(lines, ublLineOf(st, l, len(lines)+1, sign, cat))
	}
	if len(lines) == 0 { // EN 16931 (BR-16) wants a line: say that nothing was delivered
		cat := taxes.of(settlement.Line{})
		order, net[cat.ID] = append(order, cat.ID), decimal.Zero
		l := settlement.Line{Kind: settlement.LineEnergy, Quantity: decimal.Zero, UnitCode: settlement.UnitMWh,
			Description: fmt.Sprintf("No energy delivered under %s in %s", st.Contract.ID, st.Period)}
		lines = append(lines, ublLineOf(st, l, 1, sign, cat))
	}
	doc.TaxTotal.TaxAmount = usd(st.TaxUSD)
	for _, id := range order {
		cat := taxes.category(id)
		tax := decimal.Zero
		if id == taxes.taxed.ID {
			tax = st.TaxUSD
		}
		doc.TaxTotal.TaxSubtotal = append(doc.TaxTotal.TaxSubtotal, ublTaxSubtotal{
			TaxableAmount: usd(net[id]), TaxAmount: usd(tax), TaxCategory: cat})
	}
	if credit {
		doc.CreditNoteLines = lines
	} else {
		doc.InvoiceLines = lines
	}
	doc.LegalMonetaryTotal = ublMonetaryTotal{
		LineExtensionAmount: usd(st.NetUSD), TaxExclusiveAmount: usd(st.NetUSD),
		TaxInclusiveAmount: usd(st.TotalUSD), PayableAmount: usd(st.TotalUSD),
	}
	data, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), data...), '\n'), nil
}

// lineName is the short item name (BT-153) of a line's kind.
var lineName = map[string]string{
	settlement.LineEnergy:      "Energy",
	settlement.LineNegative:    "Energy in negative-price intervals",
	settlement.LineShortfall:   "Shortfall damages",
	settlement.LineVirtual:     "Virtual PPA settlement",
	settlement.LineBasis:       "Virtual PPA basis",
	settlement.LineCapacity:    "Capacity charge",
	settlement.LineMinimumTake: "Minimum take true-up",
	settlement.LineExcess:      "Excess energy adjustment",
	settlement.LinePriorPeriod: "Prior-period adjustment",
}

// itemName names a line for a reader: its kind, band and period corrected.
func itemName(l settlement.Line) string {
	name := lineName[l.Kind]
	if name == "" {
		name = l.Kind
	}
	if l.Band != "" {
		name += ", " + strings.ReplaceAll(l.Band, "_", "-")
	}
	if l.Of != "" {
		name += " " + l.Of
	}
	return name
}

// priced reports whether a line is its quantity at its single rate, to
// within the 0.02 Peppol allows (PEPPOL-EN16931-R120); other lines are
// written as one lump sum.
func priced(l settlement.Line) bool {
	if l.RateUSD.IsZero() || l.Quantity.IsZero() || l.UnitCode == "" {
		return false
	}
	return l.Quantity.Mul(l.RateUSD).Sub(l.AmountUSD).Abs().LessThanOrEqual(decimal.RequireFromString("0.02"))
}

func ublLineOf(st *settlement.Statement, l settlement.Line, n int, sign decimal.Decimal, cat ublTaxCategory) ublLine {
	amount := l.AmountUSD.Mul(sign)
	out := ublLine{ID: fmt.Sprint(n), LineExtensionAmount: ublAmount{"USD", amount.StringFixed(2)}}
	cat.ExemptionReason = "" // the reason belongs to the breakdown (EN 16931 has none per line)
	out.Item = ublItem{Description: l.Description, Name: itemName(l), ClassifiedTaxCategory: cat}
	// a price is never negative (BR-27): the sign goes on the quantity
	var q ublQuantity
	var price decimal.Decimal
	if priced(l) || (l.Quantity.IsZero() && l.AmountUSD.IsZero()) {
		price = l.RateUSD.Abs()
		qty := l.Quantity.Mul(sign)
		if l.RateUSD.IsNegative() {
			qty = qty.Neg()
		}
		q = ublQuantity{l.UnitCode, qtyString(qty, l.UnitCode)}
	} else {
		price = amount.Abs()
		one := "1"
		if amount.IsNegative() {
			one = "-1"
		}
		q = ublQuantity{UnitLumpSum, one}
		if !l.Quantity.IsZero() && l.UnitCode != "" {
			out.Item.Properties = append(out.Item.Properties, ublItemProperty{"Quantity",
				qtyString(l.Quantity, l.UnitCode) + " " + unitName(l.UnitCode)})
		}
	}
	if l.Band != "" {
		out.Item.Properties = append(out.Item.Properties, ublItemProperty{"Time-of-use band", l.Band})
	}
	if st.CreditNote() {
		out.CreditedQuantity = &q
	} else {
		out.InvoicedQuantity = &q
	}
	out.Price.PriceAmount = ublAmount{"USD", rate(price)}
	if l.Of != "" {
		// not a line InvoicePeriod: Peppol wants it inside the invoice's
		// period (PEPPOL-EN16931-R110, R111), and a correction is of an earlier one
		out.Item.Properties = append(out.Item.Properties, ublItemProperty{"Corrected period", l.Of})
	}
	return out
}

func qtyString(q decimal.Decimal, unit string) string {
	if unit == settlement.UnitMWh {
		return fixed(q, 6)
	}
	return fixed(q, 0)
}

// unitName is a unit code as a reader says it.
func unitName(code string) string {
	switch code {
	case settlement.UnitMWh:
		return "MWh"
	case settlement.UnitKW:
		return "kW"
	case settlement.UnitMonth:
		return "month"
	}
	return code
}

func periodOf(p contracts.Period) ublPeriod {
	first := time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, time.UTC)
	return ublPeriod{first.Format(time.DateOnly), first.AddDate(0, 1, -1).Format(time.DateOnly)}
}

// taxSet decides the EN 16931 tax category of each line from the buyer's
// taxes. Without taxes every line is "not subject" (O). With taxes the
// taxable lines carry the taxes' category (S when any is standard rated, its
// percent the sum of the standard-rated percents: EN 16931 allows one
// category per line) and the lines the contract does not tax are exempt (E).
type taxSet struct {
	taxed, untaxed ublTaxCategory
}

func taxCategories(st *settlement.Statement) taxSet {
	notSubject := ublTaxCategory{ID: "O", ExemptionReason: "Not subject to tax", TaxScheme: ublTaxScheme{"VAT"}}
	hasTax := false
	for _, l := range st.Lines {
		hasTax = hasTax || l.Kind == settlement.LineTax
	}
	if !hasTax || len(st.Buyer.Taxes) == 0 {
		return taxSet{notSubject, notSubject}
	}
	id := st.Buyer.Taxes[0].Category
	for _, t := range st.Buyer.Taxes {
		if t.Category == "S" {
			id = "S"
		}
	}
	if id == "" || id == "O" {
		return taxSet{notSubject, notSubject}
	}
	percent := decimal.Zero
	for _, t := range st.Buyer.Taxes {
		if t.Category == id {
			percent = percent.Add(t.Percent)
		}
	}
	taxed := ublTaxCategory{ID: id, Percent: percent.String(), TaxScheme: ublTaxScheme{"VAT"}}
	exempt := ublTaxCategory{ID: "E", Percent: "0", ExemptionReason: "Not taxable under the contract", TaxScheme: ublTaxScheme{"VAT"}}
	if id == "E" {
		taxed.ExemptionReason = exempt.ExemptionReason
		return taxSet{taxed, taxed}
	}
	return taxSet{taxed, exempt}
}

func (t taxSet) of(l settlement.Line) ublTaxCategory {
	if l.Taxable {
		return t.taxed
	}
	return t.untaxed
}

func (t taxSet) category(id string) ublTaxCategory {
	if id == t.taxed.ID {
		return t.taxed
	}
	return t.untaxed
}

// ublPartyOf writes a party. Tax ids are US-style registrations, not VAT
// identifiers: the seller's is its tax registration (BT-32, a PartyTaxScheme
// whose scheme is not VAT), the buyer's its legal registration (BT-47).
// A VAT identifier (BT-31, BT-48) is never written: EN 16931 forbids it on
// invoices that are not subject to tax (BR-O-02).
func ublPartyOf(p *contracts.Party, seller bool) ublParty {
	var out ublParty
	if p.Email != "" {
		out.EndpointID = &ublID{Scheme: "EM", Value: p.Email}
		out.Contact = &ublContact{ElectronicMail: p.Email}
	}
	out.PartyIdentification.ID = p.ID
	out.PartyName.Name = p.Name
	out.PostalAddress = address(p.Address)
	out.PartyLegalEntity.RegistrationName = p.Name
	if p.TaxID != "" {
		if seller {
			out.PartyTaxScheme = &ublPartyTaxScheme{CompanyID: p.TaxID, TaxScheme: ublTaxScheme{"TAX"}}
		} else {
			out.PartyLegalEntity.CompanyID = p.TaxID
		}
	}
	return out
}

var (
	countryRe  = regexp.MustCompile(`^[A-Z]{2}$`)
	stateZipRe = regexp.MustCompile(`^([A-Z]{2})\s+(\d{5}(?:-\d{4})?)$`)
)

// address reads a one-line postal address, "street[, more], city, ST
// 12345, CC", into UBL's parts. An address it cannot read goes whole into
// an address line, in the United States (the country of every market
// offtake knows).
func address(s string) ublAddress {
	var a ublAddress
	a.Country.IdentificationCode = "US"
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if n := len(parts); n >= 4 && countryRe.MatchString(parts[n-1]) && stateZipRe.MatchString(parts[n-2]) {
		m := stateZipRe.FindStringSubmatch(parts[n-2])
		a.Country.IdentificationCode = parts[n-1]
		a.CountrySubentity, a.PostalZone, a.CityName = m[1], m[2], parts[n-3]
		a.StreetName = parts[0]
		a.AdditionalStreetName = strings.Join(parts[1:n-3], ", ")
		return a
	}
	if s != "" {
		a.AddressLine = &ublAddressLine{s}
	}
	return a
}

var (
	accountRe = regexp.MustCompile(`(?i)\baccount\s+(?:no\.?\s*|number\s+)?([0-9A-Z][0-9A-Z-]{3,33})`)
	abaRe     = regexp.MustCompile(`(?i)\bABA\s+(?:no\.?\s*)?(\d{9})\b`)
)

// payment is how the invoice is paid. The seller's remittance text is its
// payment terms (BT-20); the account number read from it, when there is one,
// makes the means a credit transfer to that account (BR-61). A credit note
// is paid by the seller, as the contract says.
func payment(st *settlement.Statement, credit bool) (ublPaymentMeans, *ublNote) {
	pm := ublPaymentMeans{PaymentID: st.InvoiceID}
	terms := fmt.Sprintf("Net %d days, due %s.", st.Contract.PaymentTermsDays, st.DueDate)
	if credit {
		pm.Code = ublCode{Name: "Mutually defined", Value: "ZZZ"}
		pm.PaymentDueDate = st.DueDate.String()
		terms = fmt.Sprintf("Credit note: %s credits %s USD %s by %s, quoting %s.", st.Seller.Name, st.Buyer.Name,
			st.TotalUSD.Neg().StringFixed(2), st.DueDate, st.InvoiceID)
		return pm, &ublNote{terms}
	}
	if st.Seller.Remittance != "" {
		terms += " " + strings.TrimSuffix(st.Seller.Remittance, ".") + "."
	}
	if m := accountRe.FindStringSubmatch(st.Seller.Remittance); m != nil {
		pm.Code = ublCode{Name: "Credit transfer", Value: "30"}
		pm.Account = &ublFinancialAccount{ID: m[1], Name: st.Seller.Name}
		if b := abaRe.FindStringSubmatch(st.Seller.Remittance); b != nil {
			pm.Account.Branch = &ublBranch{b[1]}
		}
	} else {
		pm.Code = ublCode{Name: "Instrument not defined", Value: "1"}
	}
	return pm, &ublNote{terms}
}
