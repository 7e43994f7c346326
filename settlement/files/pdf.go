package files

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// The PDF's page: US Letter in millimetres (the parties and markets are
// American), with its margins.
const (
	pageW, pageH       = 215.9, 279.4
	marginL, marginR   = 16.0, 16.0
	marginT, marginB   = 14.0, 18.0
	contentW           = pageW - marginL - marginR
	lineH              = 4.3 // one line of 9-point text
	chartH, chartMinH  = 75.0, 55.0
	pdfCompressStreams = true
)

// Colours, as RGB.
var (
	ink    = [3]int{33, 37, 41}
	muted  = [3]int{108, 117, 125}
	rule   = [3]int{206, 212, 218}
	shade  = [3]int{241, 243, 245}
	accent = [3]int{31, 78, 121}   // headings, energy bars
	price  = [3]int{214, 104, 21}  // the price line
	alert  = [3]int{176, 42, 55}   // draft and credit-note marks
	barInk = [3]int{120, 160, 200} // energy bars
)

// cp1252 has no minus sign, arrows or comparison signs: the core fonts
// print these instead.
var pdfText = strings.NewReplacer("−", "-", "→", "->", "←", "<-", "≥", ">=", "≤", "<=", "≠", "!=", "Σ", "sum ", "×", "x")

// PDF is a statement as a printable invoice (US Letter, Helvetica): the
// issuer and buyer, the invoice's number, dates and terms, its lines and
// totals, how to pay, and a chart of the month's daily energy and average
// price. The bytes depend only on the statement: the document's dates are
// the issue date.
func PDF(st *settlement.Statement) ([]byte, error) {
	return renderPDF(st, pdfCompressStreams)
}

// PDFUncompressed is PDF with its content streams left uncompressed, so a
// test can read the text it prints.
func PDFUncompressed(st *settlement.Statement) ([]byte, error) {
	return renderPDF(st, false)
}

type invoicePDF struct {
	*fpdf.Fpdf
	st *settlement.Statement
	tr func(string) string
}

func renderPDF(st *settlement.Statement, compress bool) ([]byte, error) {
	f := fpdf.New("P", "mm", "Letter", "")
	issued := time.Date(st.IssueDate.Year, st.IssueDate.Month, st.IssueDate.Day, 0, 0, 0, 0, time.UTC)
	f.SetCreationDate(issued)
	f.SetModificationDate(issued)
	f.SetCatalogSort(true)
	f.SetCompression(compress)
	f.SetProducer("offtake", false)
	f.SetCreator("offtake", false)
	p := &invoicePDF{Fpdf: f, st: st}
	p.tr = f.UnicodeTranslatorFromDescriptor("")
	f.SetTitle(p.text(fmt.Sprintf("%s %s", title(st), st.InvoiceID)), false)
	f.SetAuthor(p.text(st.Seller.Name), false)
	f.SetSubject(p.text(fmt.Sprintf("%s %s, %s", st.Contract.ID, st.Period, st.Buyer.Name)), false)
	f.SetMargins(marginL, marginT, marginR)
	f.SetAutoPageBreak(false, marginB)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(p.footer)
	f.AddPage()

	p.header()
	p.parties()
	p.lines()
	p.totals()
	p.payment()
	p.notes()
	p.chart()

	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		return nil, fmt.Errorf("pdf: %w", err)
	}
	return buf.Bytes(), nil
}

func (p *invoicePDF) text(s string) string { return p.tr(pdfText.Replace(s)) }

func (p *invoicePDF) color(c [3]int) { p.SetTextColor(c[0], c[1], c[2]) }
func (p *invoicePDF) fill(c [3]int)  { p.SetFillColor(c[0], c[1], c[2]) }
func (p *invoicePDF) draw(c [3]int)  { p.SetDrawColor(c[0], c[1], c[2]) }
func (p *invoicePDF) font(style string, size float64) {
	p.SetFont("Helvetica", style, size)
}

// fit sets the size of the current font down from size until s fits in w
// millimetres (to 5 points at least): numbers are never cut.
func (p *invoicePDF) fit(s string, w, size float64) {
	for p.SetFontSize(size); p.GetStringWidth(p.text(s)) > w && size > 5; {
		size -= 0.5
		p.SetFontSize(size)
	}
}

// clip shortens text (already translated) with "..." until it fits in w
// millimetres in the current font.
func (p *invoicePDF) clip(text string, w float64) string {
	if p.GetStringWidth(text) <= w {
		return text
	}
	for len(text) > 0 && p.GetStringWidth(text+"...") > w {
		text = text[:len(text)-1]
	}
	return text + "..."
}

// lineQty is a line's quantity for a reader: MWh with at least three
// decimals, kW and months whole, every significant decimal kept.
func lineQty(l settlement.Line) string {
	if l.UnitCode == settlement.UnitMWh {
		return qtyText(l.Quantity, 3)
	}
	return qtyText(l.Quantity, 0)
}

// ensure starts a new page when h millimetres do not fit on this one, and
// reports whether it did.
func (p *invoicePDF) ensure(h float64) bool {
	if p.GetY()+h <= pageH-marginB {
		return false
	}
	p.AddPage()
	return true
}

// title is what the document is.
func title(st *settlement.Statement) string {
	if st.CreditNote() {
		return "Credit note"
	}
	return "Invoice"
}

func (p *invoicePDF) header() {
	st := p.st
	top := p.GetY()
	p.color(accent)
	p.font("B", 17)
	p.fit(st.Seller.Name, contentW*0.58-2, 17)
	p.CellFormat(contentW*0.58, 8, p.text(st.Seller.Name), "", 2, "L", false, 0, "")
	p.color(muted)
	p.font("", 8.5)
	for _, s := range []string{st.Seller.Address, taxLine(st.Seller), st.Seller.Email} {
		if s != "" {
			p.CellFormat(contentW*0.58, 4, p.text(s), "", 2, "L", false, 0, "")
		}
	}
	left := p.GetY()

	// the document box, right
	x := marginL + contentW*0.58
	w := contentW - contentW*0.58
	p.SetXY(x, top)
	p.font("B", 18)
	if st.CreditNote() {
		p.color(alert)
	} else {
		p.color(ink)
	}
	p.CellFormat(w, 8, strings.ToUpper(title(st)), "", 2, "R", false, 0, "")
	if !st.Final {
		p.color(alert)
		p.font("B", 8.5)
		p.CellFormat(w, 4, "DRAFT - NOT FOR PAYMENT", "", 2, "R", false, 0, "")
	}
	rows := [][2]string{
		{"Number", st.InvoiceID},
		{"Issue date", longDate(st.IssueDate)},
		{"Due date", longDate(st.DueDate)},
		{"Terms", fmt.Sprintf("Net %d days", st.Contract.PaymentTermsDays)},
		{"Period", periodName(st.Period)},
	}
	p.SetY(p.GetY() + 1)
	for _, r := range rows {
		p.SetX(x)
		p.color(muted)
		p.font("", 8.5)
		p.CellFormat(w*0.32, 4.6, r[0], "", 0, "L", false, 0, "")
		p.color(ink)
		p.font("B", 8.5)
		p.fit(r[1], w*0.68, 8.5)
		p.CellFormat(w*0.68, 4.6, p.text(r[1]), "", 1, "R", false, 0, "")
	}
	p.SetY(math.Max(left, p.GetY()) + 3)
	p.draw(rule)
	p.SetLineWidth(0.3)
	p.Line(marginL, p.GetY(), pageW-marginR, p.GetY())
	p.SetY(p.GetY() + 3)
}

func taxLine(party *contracts.Party) string {
	if party.TaxID == "" {
		return ""
	}
	return "Tax ID " + party.TaxID
}

func longDate(d contracts.Date) string {
	return fmt.Sprintf("%s %d, %d", d.Month, d.Day, d.Year)
}

func periodName(p contracts.Period) string {
	last := time.Date(p.Year, p.Month+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return fmt.Sprintf("%s %d (%s 1-%d)", p.Month, p.Year, p.Month.String()[:3], last)
}

// parties prints the buyer (bill to) and what the invoice settles.
func (p *invoicePDF) parties() {
	st := p.st
	top := p.GetY()
	colW := contentW / 2
	block := func(x float64, heading string, bold string, rows []string) float64 {
		p.SetXY(x, top)
		p.color(accent)
		p.font("B", 8)
		p.CellFormat(colW-4, 4.5, strings.ToUpper(heading), "", 2, "L", false, 0, "")
		p.color(ink)
		p.font("B", 10)
		for _, l := range p.SplitLines([]byte(p.text(bold)), colW-4) {
			p.CellFormat(colW-4, 5, string(l), "", 2, "L", false, 0, "")
		}
		p.font("", 8.5)
		for _, r := range rows {
			if r == "" {
				continue
			}
			for _, l := range p.SplitLines([]byte(p.text(r)), colW-4) {
				p.CellFormat(colW-4, 4, string(l), "", 2, "L", false, 0, "")
			}
		}
		return p.GetY()
	}
	y1 := block(marginL, "Bill to", st.Buyer.Name, []string{st.Buyer.Address, taxLine(st.Buyer), st.Buyer.Email})
	kind := "Physical PPA"
	if st.Contract.Kind == contracts.KindVirtual {
		kind = "Virtual PPA (contract for differences)"
	}
	y2 := block(marginL+colW, "Contract and site", fmt.Sprintf("%s, version %d", st.Contract.ID, st.ContractVersion), []string{
		kind,
		fmt.Sprintf("%s (%s, %s)", st.Site.Name, st.Site.Market, st.Site.TimeZone),
		volume(st),
	})
	p.SetY(math.Max(y1, y2) + 5)
}

// volume says how much energy the period settled.
func volume(st *settlement.Statement) string {
	if st.Contract.Kind == contracts.KindVirtual {
		mwh := decimal.Zero
		for _, d := range st.Daily {
			mwh = mwh.Add(d.MWh)
		}
		return fmt.Sprintf("Volume settled in the period: %s MWh", qtyText(mwh, 3))
	}
	return fmt.Sprintf("Energy delivered in the period: %s MWh", qtyText(st.EnergyMWh, 3))
}

// The lines table's columns.
var columns = []struct {
	name  string
	w     float64
	align string
}{
	{"#", 6, "L"}, {"Description", 90, "L"}, {"Quantity", 27, "R"}, {"Unit", 12, "L"}, {"Rate", 21, "R"}, {"Amount (USD)", 27.9, "R"},
}

func (p *invoicePDF) tableHeader() {
	p.fill(shade)
	p.color(muted)
	p.font("B", 8)
	for _, c := range columns {
		p.CellFormat(c.w, 6, c.name, "", 0, c.align, true, 0, "")
	}
	p.Ln(6)
}

// lines prints every line but the taxes (they are in the totals), wrapping
// descriptions and repeating the header on a new page.
func (p *invoicePDF) lines() {
	p.ensure(20)
	p.tableHeader()
	n := 0
	for _, l := range p.st.Lines {
		if l.Kind == settlement.LineTax {
			continue
		}
		n++
		p.font("", 8.5)
		desc := p.SplitLines([]byte(p.text(l.Description)), columns[1].w-2)
		extra := ""
		if l.Of != "" && !strings.Contains(l.Description, l.Of) {
			extra = "Corrects " + l.Of
		}
		if extra != "" {
			desc = append(desc, []byte(extra))
		}
		h := float64(len(desc))*4 + 2.4
		if p.ensure(h) {
			p.tableHeader()
			p.font("", 8.5)
		}
		y := p.GetY()
		qty, unit, rt := "", "", ""
		if !l.Quantity.IsZero() || l.UnitCode != "" {
			qty, unit = lineQty(l), unitName(l.UnitCode)
		}
		if !l.RateUSD.IsZero() {
			rt = moneyRate(l.RateUSD)
		}
		cells := []string{fmt.Sprint(n), "", qty, unit, rt, money(l.AmountUSD)}
		x := marginL
		for i, c := range columns {
			p.SetXY(x, y+1.2)
			p.color(ink)
			if i == 1 {
				for j, d := range desc {
					if extra != "" && j == len(desc)-1 {
						p.color(muted)
					}
					p.CellFormat(c.w-2, 4, string(d), "", 2, "L", false, 0, "")
				}
			} else {
				p.fit(cells[i], c.w-0.5, 8.5)
				p.CellFormat(c.w, 4, p.text(cells[i]), "", 0, c.align, false, 0, "")
				p.font("", 8.5)
			}
			x += c.w
		}
		p.SetY(y + h)
		p.draw(rule)
		p.SetLineWidth(0.2)
		p.Line(marginL, p.GetY(), pageW-marginR, p.GetY())
	}
	if n == 0 {
		p.color(muted)
		p.font("I", 8.5)
		p.CellFormat(contentW, 7, p.text(fmt.Sprintf("No energy delivered and no charges under %s in %s.", p.st.Contract.ID, p.st.Period)), "", 1, "L", false, 0, "")
	}
	p.SetY(p.GetY() + 2)
}

// totals prints net, each tax and the total, right, and the amount due.
func (p *invoicePDF) totals() {
	st := p.st
	type row struct {
		label, amount string
		bold          bool
	}
	rows := []row{{"Net amount", money(st.NetUSD), false}}
	for i, l := range st.Lines {
		if l.Kind == settlement.LineTax {
			t := taxOf(st, i)
			rows = append(rows, row{fmt.Sprintf("%s (%s%% of %s)", t.Name, t.Percent, money(l.Quantity)), money(l.AmountUSD), false})
		}
	}
	if len(st.Buyer.Taxes) == 0 {
		rows = append(rows, row{"Tax", money(st.TaxUSD), false})
	}
	total := "Total due (USD)"
	if st.CreditNote() {
		total = "Total (USD): credit to the buyer"
	}
	rows = append(rows, row{total, money(st.TotalUSD), true})
	p.ensure(float64(len(rows))*5.5 + 16)
	labelW, amountW := 125.0, columns[5].w
	x := pageW - marginR - labelW - amountW
	for _, r := range rows {
		p.SetX(x)
		style := ""
		if r.bold {
			style = "B"
			p.draw(ink)
			p.SetLineWidth(0.3)
			p.Line(x, p.GetY()+0.3, pageW-marginR, p.GetY()+0.3)
			p.SetY(p.GetY() + 1)
			p.SetX(x)
		}
		p.color(ink)
		p.font(style, 9)
		p.CellFormat(labelW, 5.5, p.clip(p.text(r.label), labelW-2), "", 0, "R", false, 0, "")
		p.fit(r.amount, amountW-0.5, 9)
		p.CellFormat(amountW, 5.5, p.text(r.amount), "", 1, "R", false, 0, "")
	}
	// the amount due, boxed
	p.SetY(p.GetY() + 3)
	p.fill(shade)
	p.font("B", 11)
	var due string
	if st.CreditNote() {
		p.color(alert)
		due = fmt.Sprintf("Credit to %s: USD %s, to be paid by %s by %s", st.Buyer.Name, money(st.TotalUSD.Neg()), st.Seller.Name, longDate(st.DueDate))
	} else {
		p.color(accent)
		due = fmt.Sprintf("Amount due: USD %s by %s", money(st.TotalUSD), longDate(st.DueDate))
	}
	lines := p.SplitLines([]byte(p.text(due)), contentW-8)
	p.SetX(marginL)
	p.CellFormat(contentW, 2, "", "", 2, "L", true, 0, "")
	for _, l := range lines {
		p.CellFormat(contentW, 6, "   "+string(l), "", 2, "L", true, 0, "")
	}
	p.CellFormat(contentW, 2, "", "", 2, "L", true, 0, "")
	p.SetY(p.GetY() + 4)
}

// payment prints the seller's remittance details.
func (p *invoicePDF) payment() {
	st := p.st
	var text string
	switch {
	case st.CreditNote():
		text = fmt.Sprintf("%s pays this credit to %s as the contract provides, quoting %s.", st.Seller.Name, st.Buyer.Name, st.InvoiceID)
	case st.Seller.Remittance != "":
		text = strings.TrimSuffix(st.Seller.Remittance, ".") + ". Invoice number: " + st.InvoiceID + "."
	default:
		text = fmt.Sprintf("Pay %s as the contract provides, quoting invoice number %s.", st.Seller.Name, st.InvoiceID)
	}
	p.font("", 8.5)
	lines := p.SplitLines([]byte(p.text(text)), contentW)
	p.ensure(float64(len(lines))*4 + 7)
	p.color(accent)
	p.font("B", 8)
	p.CellFormat(contentW, 4.5, "PAYMENT", "", 2, "L", false, 0, "")
	p.color(ink)
	p.font("", 8.5)
	for _, l := range lines {
		p.CellFormat(contentW, 4, string(l), "", 2, "L", false, 0, "")
	}
	p.SetY(p.GetY() + 5)
}

// notes prints where the detail is and how the amounts were made.
func (p *invoicePDF) notes() {
	st := p.st
	rounding := "half up"
	if st.Contract.Rounding != "" {
		rounding = strings.ReplaceAll(string(st.Contract.Rounding), "_", " ")
	}
	text := fmt.Sprintf("Every interval behind these lines is in %s-intervals.csv (%s intervals); the same invoice is in %s.csv, %s.json and %s.xml (UBL 2.1). "+
		"Each line is its exact amount rounded to the cent once (%s); the totals are sums of the rounded lines. %d ledger transfers.",
		st.InvoiceID, qtyText(decimal.NewFromInt(int64(len(st.Intervals))), 0), st.InvoiceID, st.InvoiceID, st.InvoiceID, rounding, st.Transfers)
	p.font("", 7.5)
	lines := p.SplitLines([]byte(p.text(text)), contentW)
	p.ensure(float64(len(lines))*3.6 + 2)
	p.color(muted)
	for _, l := range lines {
		p.CellFormat(contentW, 3.6, string(l), "", 2, "L", false, 0, "")
	}
	p.SetY(p.GetY() + 5)
}

func (p *invoicePDF) footer() {
	st := p.st
	p.SetY(pageH - marginB + 6)
	p.draw(rule)
	p.SetLineWidth(0.2)
	p.Line(marginL, p.GetY()-1.5, pageW-marginR, p.GetY()-1.5)
	p.color(muted)
	p.font("", 7.5)
	left := fmt.Sprintf("%s %s - %s to %s - %s", title(st), st.InvoiceID, st.Seller.Name, st.Buyer.Name, st.Period)
	if !st.Final {
		left = "DRAFT - " + left
	}
	p.CellFormat(contentW*0.8, 4, p.clip(p.text(left), contentW*0.8-2), "", 0, "L", false, 0, "")
	p.CellFormat(contentW*0.2, 4, fmt.Sprintf("Page %d of {nb}", p.PageNo()), "", 0, "R", false, 0, "")
}

// money writes an amount of dollars with thousands separators.
func money(d decimal.Decimal) string {
	return group(d.StringFixed(2))
}

// moneyRate writes a rate with every decimal it has.
func moneyRate(d decimal.Decimal) string {
	return group(rate(d))
}

// qtyText writes a quantity with thousands separators and at least places
// decimals (every decimal it has).
func qtyText(d decimal.Decimal, places int32) string {
	return group(fixed(d, places))
}

// group puts thousands separators in a decimal string.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, dot := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if dot {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return sign + b.String()
}
