// Package files writes settlement statements as the invoice files a
// counterparty receives, in DIR/YYYY-MM/<buyer>/:
//
//	<invoice>.pdf            the invoice to read (US Letter), with a chart of the month
//	<invoice>.csv            its lines, with net, tax and total rows
//	<invoice>-intervals.csv  every interval behind the lines
//	<invoice>.json           the same data (schema "offtake.invoice/v2", documented in the README)
//	<invoice>.xml            a UBL 2.1 Invoice, or CreditNote when the total is negative (Peppol BIS 3.0)
//	MANIFEST.sha256          every file of the folder with its SHA-256, written last
//
// Output is deterministic: the same statements give the same bytes (no wall
// clock; the PDF's dates are the issue date). A folder holds only its own
// buyer's invoices.
package files

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/shopspring/decimal"
)

// Manifest is the name of the checksum file in each counterparty folder.
const Manifest = "MANIFEST.sha256"

// Written lists the files written, relative to the output directory.
type Written struct {
	Counterparty string
	InvoiceID    string
	Files        []string
}

// format is one file written per statement.
type format struct {
	suffix string // appended to the invoice id
	encode func(*settlement.Statement) ([]byte, error)
}

var formats = []format{
	{".pdf", PDF},
	{".csv", CSV},
	{"-intervals.csv", IntervalsCSV},
	{".json", JSON},
	{".xml", XML},
	{"-emissions.csv", EmissionsCSV}, // only where the site books emissions
}

// Write writes each statement's files under dir and returns what it wrote.
// Each counterparty's folder holds only its own invoices; its manifest is
// written after every invoice in it, and lists every file in the folder.
// Statements are encoded and written in parallel (one per CPU); the bytes do
// not depend on it.
func Write(dir string, statements []settlement.Statement) ([]Written, error) {
	seen := map[string]bool{}
	for i := range statements {
		st := &statements[i]
		if err := check(st); err != nil {
			return nil, fmt.Errorf("invoice %s: %w", st.InvoiceID, err)
		}
		if seen[st.InvoiceID] {
			return nil, fmt.Errorf("invoice %s: twice in one run", st.InvoiceID)
		}
		seen[st.InvoiceID] = true
	}
	results := make([]written, len(statements))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(statements)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				results[i] = writeStatement(dir, &statements[i])
			}
		}()
	}
	for i := range statements {
		work <- i
	}
	close(work)
	wg.Wait()

	var out []Written
	last := map[string]int{}    // folder → index in out of its last invoice
	sums := map[string]string{} // path → SHA-256 of what this call wrote there
	for _, r := range results {
		if r.err != nil {
			return out, r.err
		}
		for path, sum := range r.sums {
			sums[path] = sum
		}
		out = append(out, r.Written)
		last[filepath.Dir(r.Files[0])] = len(out) - 1
	}
	folders := make([]string, 0, len(last))
	for rel := range last {
		folders = append(folders, rel)
	}
	sort.Strings(folders)
	for _, rel := range folders {
		data, err := manifest(filepath.Join(dir, rel), sums)
		if err != nil {
			return out, err
		}
		name := filepath.Join(rel, Manifest)
		if err := writeFile(filepath.Join(dir, name), data); err != nil {
			return out, err
		}
		out[last[rel]].Files = append(out[last[rel]].Files, name)
	}
	return out, nil
}

// written is what writeStatement did.
type written struct {
	Written
	sums map[string]string // path → SHA-256 of the bytes written there
	err  error
}

// writeStatement writes one statement's files into its counterparty's folder.
func writeStatement(dir string, st *settlement.Statement) written {
	rel := filepath.Join(st.Period.String(), st.Buyer.ID)
	w := written{Written: Written{Counterparty: st.Buyer.ID, InvoiceID: st.InvoiceID}, sums: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
		w.err = fmt.Errorf("invoices: %w", err)
		return w
	}
	for _, f := range formats {
		data, err := f.encode(st)
		if err != nil {
			w.err = fmt.Errorf("invoice %s%s: %w", st.InvoiceID, f.suffix, err)
			return w
		}
		if data == nil {
			continue // the format does not apply to this statement
		}
		name := filepath.Join(rel, st.InvoiceID+f.suffix)
		if err := writeFile(filepath.Join(dir, name), data); err != nil {
			w.err = err
			return w
		}
		sum := sha256.Sum256(data)
		w.sums[filepath.Join(dir, name)] = hex.EncodeToString(sum[:])
		w.Files = append(w.Files, name)
	}
	w.err = removeDraft(filepath.Join(dir, rel), st)
	return w
}

// removeDraft deletes the files of a final invoice's draft, written by a
// preview before the period was finalized: the folder then holds the
// invoice once, under its number, and its manifest does not list the draft.
func removeDraft(folder string, st *settlement.Statement) error {
	if !st.Final {
		return nil
	}
	draft := settlement.DraftInvoiceID(st.Seller, st.Period, st.Contract.ID)
	if draft == st.InvoiceID {
		return nil
	}
	for _, f := range formats {
		err := os.Remove(filepath.Join(folder, draft+f.suffix))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("invoices: remove the draft of %s: %w", st.InvoiceID, err)
		}
	}
	return nil
}

// manifest lists every regular file of folder (but itself and half-written
// files) with its SHA-256, in name order, in the format of `sha256sum -c`.
// Files this run wrote are not read back: known holds their sums.
func manifest(folder string, known map[string]string) ([]byte, error) {
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil, fmt.Errorf("invoices: manifest: %w", err)
	}
	var buf bytes.Buffer
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if !e.Type().IsRegular() || name == Manifest || strings.HasSuffix(name, ".tmp") {
			continue
		}
		sum, ok := known[filepath.Join(folder, name)]
		if !ok {
			data, err := os.ReadFile(filepath.Join(folder, name))
			if err != nil {
				return nil, fmt.Errorf("invoices: manifest: %w", err)
			}
			s := sha256.Sum256(data)
			sum = hex.EncodeToString(s[:])
		}
		fmt.Fprintf(&buf, "%s  %s\n", sum, name)
	}
	return buf.Bytes(), nil
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

// check asserts what every format relies on: amounts in cents, net and tax
// the sums of their rounded lines, the total their sum, and one tax line per
// tax of the buyer. A statement that breaks them is a bug upstream: no file
// is written for it.
func check(st *settlement.Statement) error {
	if st.Buyer == nil || st.Seller == nil || st.Contract == nil || st.Site == nil {
		return fmt.Errorf("statement without buyer, seller, contract or site")
	}
	net, tax, taxLines := decimal.Zero, decimal.Zero, 0
	for i, l := range st.Lines {
		if !l.AmountUSD.Equal(l.AmountUSD.Round(2)) {
			return fmt.Errorf("line %d amount %s is not in cents", i+1, l.AmountUSD)
		}
		if l.Kind == settlement.LineTax {
			tax, taxLines = tax.Add(l.AmountUSD), taxLines+1
		} else {
			net = net.Add(l.AmountUSD)
		}
	}
	if !net.Equal(st.NetUSD) || !tax.Equal(st.TaxUSD) || !st.NetUSD.Add(st.TaxUSD).Equal(st.TotalUSD) {
		return fmt.Errorf("net %s + tax %s ≠ total %s, or not the sums of the lines (Σ net lines %s, Σ tax lines %s)",
			st.NetUSD, st.TaxUSD, st.TotalUSD, net, tax)
	}
	if taxLines != 0 && taxLines != len(st.Buyer.Taxes) {
		return fmt.Errorf("%d tax lines for the buyer's %d taxes", taxLines, len(st.Buyer.Taxes))
	}
	return nil
}

// fixed writes d with at least min decimals and every significant decimal
// it has, so nothing is rounded away (trailing zeros past min are dropped).
func fixed(d decimal.Decimal, min int32) string {
	return trimZeros(d.StringFixed(max(min, -d.Exponent())), min)
}

// trimZeros drops trailing zeros past min decimals.
func trimZeros(s string, min int32) string {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s
	}
	keep := dot + 1 + int(min)
	if min == 0 {
		keep = dot
	}
	end := len(s)
	for end > keep && (s[end-1] == '0' || end-1 == dot) {
		end--
	}
	return s[:end]
}

// rate writes a price with at least two decimals and all the ones it has.
func rate(d decimal.Decimal) string { return fixed(d, 2) }

// lineRate is a line's rate, or nothing when it has no single rate (a
// virtual PPA's differences, a correction, an indexed price: zero in the
// model).
func lineRate(l settlement.Line) string {
	if l.RateUSD.IsZero() {
		return ""
	}
	return rate(l.RateUSD)
}

// quantity writes a line quantity: MWh with six decimals like the meters, a
// tax line's base in dollars with cents, other units as they are.
func quantity(l settlement.Line) string {
	switch {
	case l.UnitCode == settlement.UnitMWh:
		return fixed(l.Quantity, 6)
	case l.Kind == settlement.LineTax: // the base, in dollars
		return fixed(l.Quantity, 2)
	}
	return fixed(l.Quantity, 0)
}

// taxOf is the buyer's tax a tax line charges: tax lines come in the order
// of the buyer's taxes (check makes sure there is one per tax).
func taxOf(st *settlement.Statement, line int) contracts.Tax {
	n := 0
	for i := 0; i < line; i++ {
		if st.Lines[i].Kind == settlement.LineTax {
			n++
		}
	}
	var t contracts.Tax
	if n < len(st.Buyer.Taxes) {
		t = st.Buyer.Taxes[n]
	}
	if t.Category == "" {
		t.Category = "S"
	}
	if t.Name == "" {
		t.Name = st.Lines[line].Description
	}
	if t.Percent.IsZero() {
		t.Percent = st.Lines[line].RateUSD
	}
	return t
}

// status says whether the invoice is numbered by a finalized run.
func status(st *settlement.Statement) string {
	if st.Final {
		return "final"
	}
	return "draft"
}
