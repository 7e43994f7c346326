package files_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/shopspring/decimal"
)

// node is an element of a parsed XML document, with its namespace.
type node struct {
	name  xml.Name
	attrs []xml.Attr
	text  string
	kids  []*node
}

func parseXML(t *testing.T, data []byte) *node {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the XML does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name, attrs: tok.Attr}
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.kids = append(top.kids, n)
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tok)
			}
		}
	}
	return root
}

var prefixes = map[string]string{"cbc": files.NamespaceCBC, "cac": files.NamespaceCAC}

// all is every element down path ("cac:TaxTotal", "cbc:TaxAmount"), each
// step checked against its namespace.
func (n *node) all(path ...string) []*node {
	cur := []*node{n}
	for _, step := range path {
		prefix, local, _ := strings.Cut(step, ":")
		var next []*node
		for _, c := range cur {
			for _, k := range c.kids {
				if k.name.Space == prefixes[prefix] && k.name.Local == local {
					next = append(next, k)
				}
			}
		}
		cur = next
	}
	return cur
}

func (n *node) one(t *testing.T, path ...string) *node {
	t.Helper()
	all := n.all(path...)
	if len(all) != 1 {
		t.Fatalf("%d elements %s, want 1", len(all), strings.Join(path, "/"))
	}
	return all[0]
}

func (n *node) attr(name string) string {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var amountRe = regexp.MustCompile(`^-?\d+\.\d\d$`)

// amount reads an amount element: USD, two decimals (EN 16931 BR-DEC).
func (n *node) amount(t *testing.T) decimal.Decimal {
	t.Helper()
	v := strings.TrimSpace(n.text)
	if n.attr("currencyID") != "USD" || !amountRe.MatchString(v) {
		t.Errorf("%s = %q currency %q, want USD with two decimals", n.name.Local, v, n.attr("currencyID"))
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (n *node) decimal(t *testing.T) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(strings.TrimSpace(n.text))
	if err != nil {
		t.Fatalf("%s = %q: %v", n.name.Local, n.text, err)
	}
	return d
}

// negated is a statement with every line's sign turned, taxes recomputed:
// a credit note with a tax.
func negated(st settlement.Statement) settlement.Statement {
	var lines []settlement.Line
	for _, l := range st.Lines {
		if l.Kind == settlement.LineTax {
			continue
		}
		l.RateUSD, l.ExactUSD = l.RateUSD.Neg(), l.ExactUSD.Neg()
		lines = append(lines, l)
	}
	st.Lines = lines
	st.InvoiceID += "-CN"
	finish(&st)
	return st
}

// TestXMLRules parses each e-invoice back and checks the EN 16931 and
// Peppol BIS 3.0 rules offtake's invoices touch.
func TestXMLRules(t *testing.T) {
	sts := append(fixture(t), empty(t), negated(*byContract(t, fixture(t), "ppa-cirrus")))
	credits := 0
	for _, st := range sts {
		t.Run(st.InvoiceID, func(t *testing.T) {
			data, err := files.XML(&st)
			if err != nil {
				t.Fatal(err)
			}
			doc := parseXML(t, data)
			credit := st.CreditNote()
			wantRoot, lineName, qtyName, typeName, typeCode := xml.Name{Space: files.NamespaceInvoice, Local: "Invoice"}, "cac:InvoiceLine", "cbc:InvoicedQuantity", "cbc:InvoiceTypeCode", "380"
			if credit {
				credits++
				wantRoot, lineName, qtyName, typeName, typeCode = xml.Name{Space: files.NamespaceCreditNote, Local: "CreditNote"}, "cac:CreditNoteLine", "cbc:CreditedQuantity", "cbc:CreditNoteTypeCode", "381"
			}
			if doc.name != wantRoot {
				t.Fatalf("root %v, want %v", doc.name, wantRoot)
			}
			for path, want := range map[string]string{
				"cbc:CustomizationID": files.CustomizationID, "cbc:ProfileID": files.ProfileID, "cbc:ID": st.InvoiceID,
				typeName: typeCode, "cbc:DocumentCurrencyCode": "USD", "cbc:IssueDate": st.IssueDate.String(),
			} {
				if got := doc.one(t, path).text; got != want {
					t.Errorf("%s = %q, want %q", path, got, want)
				}
			}
			// BR-16: at least one line; BR-CO-10: Σ line amounts = LineExtensionAmount
			lines := doc.all(lineName)
			if len(lines) == 0 {
				t.Fatal("no invoice line (BR-16)")
			}
			sum := decimal.Zero
			byCategory := map[string]decimal.Decimal{}
			for _, l := range lines {
				amount := l.one(t, "cbc:LineExtensionAmount").amount(t)
				sum = sum.Add(amount)
				q := l.one(t, qtyName)
				if u := q.attr("unitCode"); !map[string]bool{"MWH": true, "KWT": true, "MON": true, "LS": true}[u] {
					t.Errorf("line %s unit %q", l.one(t, "cbc:ID").text, u)
				}
				price := l.one(t, "cac:Price", "cbc:PriceAmount")
				p := price.decimal(t)
				if p.IsNegative() || price.attr("currencyID") != "USD" {
					t.Errorf("line %s price %s (BR-27: never negative)", l.one(t, "cbc:ID").text, p)
				}
				if diff := q.decimal(t).Mul(p).Sub(amount).Abs(); diff.GreaterThan(d("0.02")) {
					t.Errorf("line %s: %s × %s is %s off its amount %s (PEPPOL-EN16931-R120)", l.one(t, "cbc:ID").text, q.text, p, diff, amount)
				}
				if l.one(t, "cac:Item", "cbc:Name").text == "" {
					t.Errorf("line without an item name (BT-153)")
				}
				// PEPPOL-EN16931-R110, R111: a line's period lies within the invoice's
				start, end := doc.one(t, "cac:InvoicePeriod", "cbc:StartDate").text, doc.one(t, "cac:InvoicePeriod", "cbc:EndDate").text
				for _, p := range l.all("cac:InvoicePeriod") {
					if s, e := p.one(t, "cbc:StartDate").text, p.one(t, "cbc:EndDate").text; s < start || e > end {
						t.Errorf("line period %s..%s outside the invoice's %s..%s (PEPPOL-EN16931-R110, R111)", s, e, start, end)
					}
				}
				cat := l.one(t, "cac:Item", "cac:ClassifiedTaxCategory", "cbc:ID").text
				byCategory[cat] = byCategory[cat].Add(amount)
			}
			total := doc.one(t, "cac:LegalMonetaryTotal")
			lineExt := total.one(t, "cbc:LineExtensionAmount").amount(t)
			taxExcl := total.one(t, "cbc:TaxExclusiveAmount").amount(t)
			taxIncl := total.one(t, "cbc:TaxInclusiveAmount").amount(t)
			payable := total.one(t, "cbc:PayableAmount").amount(t)
			if !sum.Equal(lineExt) {
				t.Errorf("Σ line amounts %s ≠ LineExtensionAmount %s (BR-CO-10)", sum, lineExt)
			}
			if !taxExcl.Equal(lineExt) {
				t.Errorf("TaxExclusiveAmount %s ≠ LineExtensionAmount %s with no allowances or charges (BR-CO-13)", taxExcl, lineExt)
			}
			taxTotals := doc.all("cac:TaxTotal")
			if len(taxTotals) != 1 {
				t.Fatalf("%d TaxTotal, want 1 (PEPPOL-EN16931-R053)", len(taxTotals))
			}
			tax := taxTotals[0].one(t, "cbc:TaxAmount").amount(t)
			if !taxIncl.Equal(taxExcl.Add(tax)) {
				t.Errorf("TaxInclusiveAmount %s ≠ %s + %s (BR-CO-15)", taxIncl, taxExcl, tax)
			}
			if !payable.Equal(taxIncl) {
				t.Errorf("PayableAmount %s ≠ TaxInclusiveAmount %s (BR-CO-16)", payable, taxIncl)
			}
			if want := st.TotalUSD.Abs(); !payable.Equal(want) || (!credit && !payable.Equal(st.TotalUSD)) {
				t.Errorf("PayableAmount %s, statement total %s", payable, st.TotalUSD)
			}
			if want := st.NetUSD; credit {
				if !lineExt.Equal(want.Neg()) {
					t.Errorf("credit note LineExtensionAmount %s, net %s", lineExt, want)
				}
			} else if !lineExt.Equal(want) {
				t.Errorf("LineExtensionAmount %s, net %s", lineExt, want)
			}
			// the breakdown (BR-CO-14, BR-S-08, BR-E-08, BR-O-08, BR-CO-17)
			subs := taxTotals[0].all("cac:TaxSubtotal")
			if len(subs) == 0 {
				t.Fatal("no TaxSubtotal (BR-CO-18)")
			}
			subTax, subBase := decimal.Zero, decimal.Zero
			cats := map[string]bool{}
			for _, s := range subs {
				base, amount := s.one(t, "cbc:TaxableAmount").amount(t), s.one(t, "cbc:TaxAmount").amount(t)
				subTax, subBase = subTax.Add(amount), subBase.Add(base)
				cat := s.one(t, "cac:TaxCategory", "cbc:ID").text
				cats[cat] = true
				if !base.Equal(byCategory[cat]) {
					t.Errorf("category %s taxable %s, Σ its lines %s", cat, base, byCategory[cat])
				}
				percent := s.all("cac:TaxCategory", "cbc:Percent")
				reason := s.all("cac:TaxCategory", "cbc:TaxExemptionReason")
				switch cat {
				case "O":
					if len(percent) != 0 || !amount.IsZero() || len(reason) != 1 {
						t.Errorf("category O: percent %d, tax %s, reasons %d (BR-O-09, BR-O-10)", len(percent), amount, len(reason))
					}
				case "E":
					if len(percent) != 1 || !percent[0].decimal(t).IsZero() || !amount.IsZero() || len(reason) != 1 {
						t.Errorf("category E: tax %s, reasons %d (BR-E-09, BR-E-10)", amount, len(reason))
					}
				case "S":
					if len(percent) != 1 || !percent[0].decimal(t).IsPositive() {
						t.Fatalf("category S without a rate (BR-S-05)")
					}
					want := base.Mul(percent[0].decimal(t)).Shift(-2).Round(2)
					if amount.Sub(want).Abs().GreaterThan(d("0.01").Mul(decimal.NewFromInt(int64(len(st.Buyer.Taxes))))) {
						t.Errorf("category S tax %s, %s × %s%% = %s (BR-CO-17)", amount, base, percent[0].text, want)
					}
				default:
					t.Errorf("category %q", cat)
				}
				if s.one(t, "cac:TaxCategory", "cac:TaxScheme", "cbc:ID").text != "VAT" {
					t.Errorf("tax scheme is not VAT")
				}
			}
			if !subTax.Equal(tax) || !subBase.Equal(lineExt) {
				t.Errorf("Σ subtotals tax %s base %s; TaxAmount %s, LineExtensionAmount %s (BR-CO-14)", subTax, subBase, tax, lineExt)
			}
			if cats["O"] && len(cats) > 1 {
				t.Errorf("category O beside others (BR-O-11..14): %v", cats)
			}
			// BR-O-02: no VAT identifier when not subject
			for _, p := range [][]string{{"cac:AccountingSupplierParty", "cac:Party", "cac:PartyTaxScheme"}, {"cac:AccountingCustomerParty", "cac:Party", "cac:PartyTaxScheme"}} {
				for _, pts := range doc.all(p...) {
					if pts.one(t, "cac:TaxScheme", "cbc:ID").text == "VAT" && cats["O"] {
						t.Errorf("a VAT identifier on an invoice not subject to VAT (BR-O-02)")
					}
				}
			}
			// the parties: names, countries, endpoints (BR-6, BR-7, BR-9, BR-11, PEPPOL-EN16931-R010, R020)
			for side, party := range map[string]string{"cac:AccountingSupplierParty": st.Seller.Name, "cac:AccountingCustomerParty": st.Buyer.Name} {
				p := doc.one(t, side, "cac:Party")
				if p.one(t, "cac:PartyLegalEntity", "cbc:RegistrationName").text != party ||
					p.one(t, "cac:PostalAddress", "cac:Country", "cbc:IdentificationCode").text != "US" ||
					p.one(t, "cbc:EndpointID").attr("schemeID") == "" {
					t.Errorf("%s incomplete", side)
				}
			}
			if doc.one(t, "cbc:BuyerReference").text == "" {
				t.Errorf("no buyer reference (PEPPOL-EN16931-R003)")
			}
			// BR-CO-25: a positive amount due has a due date or payment terms
			if payable.IsPositive() && len(doc.all("cbc:DueDate"))+len(doc.all("cac:PaymentTerms", "cbc:Note")) == 0 {
				t.Errorf("no due date or payment terms (BR-CO-25)")
			}
			// BR-61: a credit transfer names the account
			for _, pm := range doc.all("cac:PaymentMeans") {
				if code := pm.one(t, "cbc:PaymentMeansCode").text; (code == "30" || code == "58") && len(pm.all("cac:PayeeFinancialAccount", "cbc:ID")) != 1 {
					t.Errorf("credit transfer without an account (BR-61)")
				}
			}
		})
	}
	if credits != 2 {
		t.Errorf("%d credit notes tested, want 2", credits)
	}
}

// TestXMLNegativeLines: in an invoice a negative line keeps a positive
// price and carries the sign on its quantity.
func TestXMLNegativeLines(t *testing.T) {
	st := byContract(t, fixture(t), "ppa-atlas")
	data, err := files.XML(st)
	if err != nil {
		t.Fatal(err)
	}
	doc := parseXML(t, data)
	var found bool
	for _, l := range doc.all("cac:InvoiceLine") {
		if l.one(t, "cac:Item", "cbc:Name").text == "Shortfall damages" {
			found = true
			if q := l.one(t, "cbc:InvoicedQuantity").text; q != "-450.000000" {
				t.Errorf("shortfall quantity %s, want -450.000000", q)
			}
			if p := l.one(t, "cac:Price", "cbc:PriceAmount").text; p != "15.00" {
				t.Errorf("shortfall price %s, want 15.00", p)
			}
			if a := l.one(t, "cbc:LineExtensionAmount").text; a != "-6750.00" {
				t.Errorf("shortfall amount %s, want -6750.00", a)
			}
		}
		if l.one(t, "cac:Item", "cbc:Name").text == "Prior-period adjustment 2028-02" {
			var of string
			for _, p := range l.all("cac:Item", "cac:AdditionalItemProperty") {
				if p.one(t, "cbc:Name").text == "Corrected period" {
					of = p.one(t, "cbc:Value").text
				}
			}
			if of != "2028-02" {
				t.Errorf("prior-period line corrects %q, want 2028-02", of)
			}
		}
	}
	if !found {
		t.Error("no shortfall line")
	}
}
