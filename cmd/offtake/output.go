package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/ledger/postgres"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// usd formats money with thousands separators: 1234567.891 → $1,234,567.89.
func usd(d decimal.Decimal) string {
	if d.IsNegative() {
		return "-$" + grouped(d.Neg(), 2)
	}
	return "$" + grouped(d, 2)
}

// mwh formats energy to three decimals (kWh) with thousands separators.
func mwh(d decimal.Decimal) string {
	if d.IsNegative() {
		return "-" + grouped(d.Neg(), 3)
	}
	return grouped(d, 3)
}

// grouped formats a non-negative decimal to places decimals with commas
// between thousands.
func grouped(d decimal.Decimal, places int32) string {
	intPart, frac, _ := strings.Cut(d.StringFixed(places), ".")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

func printContracts(w io.Writer, p *contracts.Portfolio, format string) error {
	if format == "json" {
		type row struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Site     string `json:"site"`
			Seller   string `json:"seller"`
			Buyer    string `json:"buyer"`
			Meter    string `json:"meter,omitempty"`
			Priority int    `json:"priority,omitempty"`
			Start    string `json:"start"`
			End      string `json:"end"`
			Versions int    `json:"versions"`
			Volume   string `json:"volume"`
			Price    string `json:"price"`
		}
		var rows []row
		for _, c := range p.Contracts {
			rows = append(rows, row{c.ID, string(c.Kind), c.Site, c.Seller, c.Buyer, c.Meter, c.Priority, c.Start.String(), c.End.String(),
				len(c.Versions()), c.VolumeText(), c.PriceText()})
		}
		return printJSON(w, rows)
	}
	tw := table(w)
	fmt.Fprintln(tw, "contract	kind	buyer	meter	priority	volume	price	term	")
	for _, c := range p.Contracts {
		prio, meter := fmt.Sprint(c.Priority), c.Meter
		if c.Kind == contracts.KindVirtual {
			prio = "-"
		}
		if meter == "" {
			meter = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s – %s\t\n", c.ID, c.Kind, c.Buyer, meter, prio,
			c.VolumeText(), c.PriceText(), c.Start, c.End)
	}
	return tw.Flush()
}

func printContract(w io.Writer, p *contracts.Portfolio, c *contracts.Contract, format string) error {
	if format == "json" {
		return printJSON(w, c)
	}
	buyer, _ := p.Party(c.Buyer)
	seller, _ := p.Party(c.Seller)
	fmt.Fprintf(w, "contract      %s (%s, %d version(s))\n", c.ID, c.Kind, len(c.Versions()))
	fmt.Fprintf(w, "seller        %s (%s)\n", seller.Name, seller.ID)
	fmt.Fprintf(w, "buyer         %s (%s)\n", buyer.Name, buyer.ID)
	if c.Meter != "" {
		fmt.Fprintf(w, "site / meter  %s / %s\n", c.Site, c.Meter)
	} else {
		fmt.Fprintf(w, "site          %s\n", c.Site)
	}
	fmt.Fprintf(w, "term          %s to %s (exclusive, market time)\n", c.Start, c.End)
	if c.Kind == contracts.KindPhysical {
		fmt.Fprintf(w, "priority      %d\n", c.Priority)
	}
	if c.Calendar != nil {
		fmt.Fprintf(w, "calendar      %s (holidays: %s; bands: %s)\n", c.Calendar.ID, c.Calendar.Holidays, strings.Join(c.Calendar.BandNames(), ", "))
	}
	for _, t := range c.Versions() {
		fmt.Fprintf(w, "version %d     from %s\n", t.Version, t.Effective)
		fmt.Fprintf(w, "  volume      %s\n", t.VolumeText())
		label := "price"
		if c.Kind == contracts.KindVirtual {
			label = "strike"
		}
		fmt.Fprintf(w, "  %-11s %s\n", label, t.PriceText())
		if c.Kind == contracts.KindVirtual {
			fmt.Fprintf(w, "  settles     %s\n", t.VirtualText())
		}
		if m := t.MonthlyText(); m != "" {
			fmt.Fprintf(w, "  monthly     %s\n", m)
		}
	}
	fmt.Fprintf(w, "rounding      %s; payment %d days\n", c.Rounding, c.PaymentTermsDays)
	return nil
}

func printStatements(w io.Writer, sts []settlement.Statement) {
	if len(sts) == 0 {
		fmt.Fprintln(w, "settle: no statements for this period")
		return
	}
	for i, st := range sts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		status := "draft"
		if st.Final {
			status = "final"
		}
		fmt.Fprintf(w, "%s (%s)  %s → %s  period %s  due %s\n", st.InvoiceID, status, st.Seller.Name, st.Buyer.Name, st.Period, st.DueDate)
		tw := table(w)
		fmt.Fprintln(tw, "line\tdescription\tquantity\tunit\trate\tamount\t")
		for j, l := range st.Lines {
			qty, unit, rate := mwh(l.Quantity), l.UnitCode, ""
			if !l.RateUSD.IsZero() {
				rate = l.RateUSD.StringFixed(max(2, min(4, -l.RateUSD.Exponent())))
			}
			if l.Kind == settlement.LineTax {
				qty, unit, rate = usd(l.Quantity), "base", l.RateUSD.String()+"%"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t\n", j+1, l.Description, qty, unit, rate, usd(l.AmountUSD))
		}
		if !st.TaxUSD.IsZero() {
			fmt.Fprintf(tw, "\tnet\t\t\t\t%s\t\n", usd(st.NetUSD))
			fmt.Fprintf(tw, "\ttax\t\t\t\t%s\t\n", usd(st.TaxUSD))
		}
		fmt.Fprintf(tw, "\ttotal (%s MWh delivered)\t\t\t\t%s\t\n", mwh(st.EnergyMWh), usd(st.TotalUSD))
		tw.Flush()
	}
}

type statementJSON struct {
	InvoiceID string            `json:"invoice_id"`
	Period    string            `json:"period"`
	Contract  string            `json:"contract"`
	Seller    string            `json:"seller"`
	Buyer     string            `json:"buyer"`
	IssueDate string            `json:"issue_date"`
	DueDate   string            `json:"due_date"`
	Lines     []settlement.Line `json:"lines"`
	EnergyMWh decimal.Decimal   `json:"energy_mwh"`
	TotalUSD  string            `json:"total_usd"`
}

func statementsJSON(sts []settlement.Statement) []statementJSON {
	out := []statementJSON{}
	for _, st := range sts {
		out = append(out, statementJSON{
			InvoiceID: st.InvoiceID, Period: st.Period.String(), Contract: st.Contract.ID,
			Seller: st.Seller.ID, Buyer: st.Buyer.ID, IssueDate: st.IssueDate.String(), DueDate: st.DueDate.String(),
			Lines: st.Lines, EnergyMWh: st.EnergyMWh, TotalUSD: st.TotalUSD.StringFixed(2),
		})
	}
	return out
}

func printVerify(w io.Writer, rep postgres.Report) {
	for _, c := range rep.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s", mark, c.Name)
		if c.Detail != "" {
			fmt.Fprintf(w, ": %s", c.Detail)
		}
		fmt.Fprintln(w)
	}
	if rep.Violations == 0 {
		fmt.Fprintln(w, "ledger verify: every invariant holds")
	}
}

func printBalances(w io.Writer, bs []postgres.Balance) {
	tw := table(w)
	fmt.Fprintln(tw, "account\tparty\tkind\tunit\tbalance\t")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", b.Account, b.Party, b.Kind, b.Unit, b.Balance.String())
	}
	tw.Flush()
}
