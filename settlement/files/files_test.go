package files_test

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/shopspring/decimal"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./settlement/files -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./settlement/files -update rewrites it)\n--- got\n%s\n--- want\n%s", name, head(got, 60), head(want, 60))
	}
}

// head is the first n lines of data.
func head(data []byte, n int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[:n]
	}
	return bytes.Join(lines, nil)
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestGolden compares every format with testdata: CSV, JSON and XML whole;
// the intervals file's first lines whole and all of it by SHA-256; the PDF
// by SHA-256 (testdata/pdf.sha256.golden), with page 1's text whole.
func TestGolden(t *testing.T) {
	var sums bytes.Buffer
	for _, st := range fixture(t) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			for _, f := range []struct {
				suffix string
				encode func(*settlement.Statement) ([]byte, error)
			}{{".csv", files.CSV}, {".json", files.JSON}, {".xml", files.XML}} {
				data, err := f.encode(&st)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, st.InvoiceID+f.suffix+".golden", data)
			}
			iv, err := files.IntervalsCSV(&st)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, st.InvoiceID+"-intervals.head.csv.golden", head(iv, 12))
			pdf, err := files.PDF(&st)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&sums, "%s  %s-intervals.csv\n%s  %s.pdf\n", sha(iv), st.InvoiceID, sha(pdf), st.InvoiceID)
			text, err := files.PDFUncompressed(&st)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, st.InvoiceID+".pdf.txt.golden", []byte(strings.Join(pdfStrings(text), "\n")+"\n"))
		})
	}
	golden(t, "sha256.golden", sums.Bytes())
}

// pdfStrings are the text strings an uncompressed PDF shows, in order.
func pdfStrings(pdf []byte) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\(((?:[^\\)]|\\.)*)\)Tj`).FindAllSubmatch(pdf, -1) {
		s := strings.NewReplacer(`\(`, "(", `\)`, ")", `\\`, `\`).Replace(string(m[1]))
		out = append(out, s)
	}
	return out
}

// pdfText is every content stream of a PDF, inflated, and its other bytes.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	var b strings.Builder
	b.Write(pdf)
	for _, m := range regexp.MustCompile(`(?s)stream\r?\n(.*?)\r?\nendstream`).FindAllSubmatch(pdf, -1) {
		r, err := zlib.NewReader(bytes.NewReader(m[1]))
		if err != nil {
			continue // not compressed
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("inflate a PDF stream: %v", err)
		}
		b.Write(data)
	}
	// fpdf escapes parentheses and backslashes in strings
	return strings.NewReplacer(`\(`, "(", `\)`, ")", `\\`, `\`).Replace(b.String())
}

// tree reads every file under dir, by slash path relative to dir.
func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteDeterministic(t *testing.T) {
	dir := t.TempDir()
	w1, err := files.Write(dir, fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	first := tree(t, dir)
	w2, err := files.Write(dir, fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	second := tree(t, dir)
	other := t.TempDir()
	if _, err := files.Write(other, fixture(t)); err != nil {
		t.Fatal(err)
	}
	third := tree(t, other)

	var listed []string
	for _, w := range w1 {
		for _, f := range w.Files {
			listed = append(listed, filepath.ToSlash(f))
		}
	}
	sort.Strings(listed)
	var names []string
	for name := range first {
		names = append(names, name)
	}
	sort.Strings(names)
	if strings.Join(names, "\n") != strings.Join(listed, "\n") {
		t.Errorf("files on disk:\n%s\nfiles Write listed:\n%s", strings.Join(names, "\n"), strings.Join(listed, "\n"))
	}
	var want []string
	for _, inv := range []string{"atlas/PRP-2028-000041", "atlas/PRP-2028-000042", "borealis/PRP-DRAFT-202803-ppa-borealis", "cirrus/PRP-DRAFT-202803-ppa-cirrus"} {
		for _, suffix := range []string{".csv", ".json", ".pdf", ".xml", "-intervals.csv"} {
			want = append(want, "2028-03/"+inv+suffix)
		}
	}
	for _, buyer := range []string{"atlas", "borealis", "cirrus"} {
		want = append(want, "2028-03/"+buyer+"/"+files.Manifest)
	}
	sort.Strings(want)
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Errorf("files =\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if len(w1) != len(w2) {
		t.Errorf("second Write listed %d invoices, first %d", len(w2), len(w1))
	}
	for _, set := range []map[string][]byte{second, third} {
		if len(set) != len(first) {
			t.Errorf("%d files vs %d", len(set), len(first))
		}
		for name, data := range first {
			if !bytes.Equal(set[name], data) {
				t.Errorf("%s differs between writes", name)
			}
		}
	}
}

// TestManifest checks every folder's manifest: it lists every other file
// of the folder with its SHA-256, and `sha256sum -c` agrees when it is
// installed.
func TestManifest(t *testing.T) {
	dir := t.TempDir()
	written, err := files.Write(dir, fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	folders := map[string]bool{}
	for _, w := range written {
		folders[filepath.Join(dir, "2028-03", w.Counterparty)] = true
	}
	if len(folders) != 3 {
		t.Fatalf("%d folders, want 3", len(folders))
	}
	for folder := range folders {
		data, err := os.ReadFile(filepath.Join(folder, files.Manifest))
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			sum, name, ok := strings.Cut(sc.Text(), "  ")
			if !ok || len(sum) != 64 {
				t.Errorf("%s: manifest line %q is not \"<sha256>  <name>\"", folder, sc.Text())
				continue
			}
			file, err := os.ReadFile(filepath.Join(folder, name))
			if err != nil {
				t.Errorf("%s: %v", folder, err)
				continue
			}
			if sha(file) != sum {
				t.Errorf("%s/%s: manifest says %s, file is %s", folder, name, sum, sha(file))
			}
			listed[name] = true
		}
		entries, err := os.ReadDir(folder)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != files.Manifest && !listed[e.Name()] {
				t.Errorf("%s: %s is not in the manifest", folder, e.Name())
			}
		}
		if len(listed) != len(entries)-1 {
			t.Errorf("%s: manifest lists %d files, folder holds %d besides it", folder, len(listed), len(entries)-1)
		}
		if _, err := exec.LookPath("sha256sum"); err == nil {
			cmd := exec.Command("sha256sum", "--strict", "-c", files.Manifest)
			cmd.Dir = folder
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sha256sum -c in %s: %v\n%s", folder, err, out)
			}
		}
	}
}

// TestCounterpartyFolders checks that a folder holds only its own buyer's
// invoices and no word of any other buyer: id, name, tax id, email, address,
// invoice ids or contracts, PDF text included.
func TestCounterpartyFolders(t *testing.T) {
	sts := fixture(t)
	dir := t.TempDir()
	written, err := files.Write(dir, sts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range written {
		for _, f := range w.Files {
			if got := filepath.Base(filepath.Dir(f)); got != w.Counterparty {
				t.Errorf("%s is in folder %s, not %s", f, got, w.Counterparty)
			}
		}
	}
	p := portfolio(t)
	var buyers []contracts.Party
	for _, party := range p.Parties {
		if party.Role == contracts.RoleBuyer {
			buyers = append(buyers, party)
		}
	}
	secrets := func(buyer string) []string { // what a folder must not show of buyer
		var out []string
		for _, st := range sts {
			if st.Buyer.ID == buyer {
				out = append(out, st.InvoiceID, st.Contract.ID)
			}
		}
		return out
	}
	folders, err := os.ReadDir(filepath.Join(dir, "2028-03"))
	if err != nil {
		t.Fatal(err)
	}
	if len(folders) != len(buyers) {
		t.Errorf("%d counterparty folders, want %d", len(folders), len(buyers))
	}
	for _, folder := range folders {
		own, ok := p.Party(folder.Name())
		if !ok || own.Role != contracts.RoleBuyer {
			t.Errorf("folder %s is not a buyer", folder.Name())
			continue
		}
		for name, data := range tree(t, filepath.Join(dir, "2028-03", folder.Name())) {
			text := string(data)
			if strings.HasSuffix(name, ".pdf") {
				text = pdfText(t, data)
				if !strings.Contains(text, own.Name) || !strings.Contains(text, own.TaxID) {
					t.Errorf("%s/%s: the check cannot see the PDF's text (no %q in it)", folder.Name(), name, own.Name)
				}
			}
			if name != files.Manifest && !strings.HasSuffix(name, "-intervals.csv") && !strings.Contains(text, own.ID) {
				t.Errorf("%s/%s does not name its own buyer %s", folder.Name(), name, own.ID)
			}
			for _, other := range buyers {
				if other.ID == own.ID {
					continue
				}
				for _, s := range append([]string{other.ID, other.Name, other.TaxID, other.Email, other.Address}, secrets(other.ID)...) {
					if s != "" && strings.Contains(text, s) {
						t.Errorf("%s/%s mentions %q of %s", folder.Name(), name, s, other.ID)
					}
				}
			}
			if strings.HasSuffix(name, ".json") {
				var doc struct {
					Buyer struct{ ID string } `json:"buyer"`
				}
				if err := json.Unmarshal(data, &doc); err != nil {
					t.Fatal(err)
				}
				if doc.Buyer.ID != own.ID {
					t.Errorf("%s/%s is for buyer %s", folder.Name(), name, doc.Buyer.ID)
				}
			}
		}
	}
}

func index(t *testing.T, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %s in %v", name, header)
	return -1
}

func TestCSVParsesBack(t *testing.T) {
	for _, st := range append(fixture(t), empty(t)) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			data, err := files.CSV(&st)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(st.Lines)+4 {
				t.Fatalf("%d rows, want header + %d lines + net, tax, total", len(rows), len(st.Lines))
			}
			h := rows[0]
			amount, qty, unit, rt, kind, inv := index(t, h, "amount_usd"), index(t, h, "quantity"), index(t, h, "unit"), index(t, h, "rate_usd"), index(t, h, "kind"), index(t, h, "invoice")
			band, of := index(t, h, "band"), index(t, h, "of")
			net, tax := decimal.Zero, decimal.Zero
			for i, r := range rows[1 : len(rows)-3] {
				l := st.Lines[i]
				if r[kind] != l.Kind || r[inv] != st.InvoiceID || r[unit] != l.UnitCode || r[band] != l.Band || r[of] != l.Of {
					t.Errorf("row %d = %v, line %+v", i+1, r, l)
				}
				for col, want := range map[int]decimal.Decimal{amount: l.AmountUSD, qty: l.Quantity, rt: l.RateUSD} {
					if col == rt && r[col] == "" && want.IsZero() {
						continue // no single rate
					}
					got, err := decimal.NewFromString(r[col])
					if err != nil || !got.Equal(want) {
						t.Errorf("row %d %s = %q, want %s", i+1, h[col], r[col], want)
					}
				}
				a, _ := decimal.NewFromString(r[amount])
				if l.Kind == settlement.LineTax {
					tax = tax.Add(a)
				} else {
					net = net.Add(a)
				}
			}
			sums := rows[len(rows)-3:]
			for i, want := range []struct {
				kind string
				sum  decimal.Decimal
			}{{"net", net}, {"tax", tax}, {"total", net.Add(tax)}} {
				got, err := decimal.NewFromString(sums[i][amount])
				if sums[i][kind] != want.kind || err != nil || !got.Equal(want.sum) {
					t.Errorf("%s row = %v, Σ lines %s", want.kind, sums[i], want.sum)
				}
			}
			if tot, _ := decimal.NewFromString(sums[2][amount]); !tot.Equal(st.TotalUSD) {
				t.Errorf("total row %s, statement %s", tot, st.TotalUSD)
			}
		})
	}
}

func TestRateKeepsDecimals(t *testing.T) {
	st := byContract(t, fixture(t), "ppa-cirrus")
	data, err := files.CSV(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(",29800.125000,MWH,36.4475,")) || !bytes.Contains(data, []byte(",500.000000,MWH,-9.8765,")) {
		t.Errorf("CSV lost a rate's or quantity's decimals:\n%s", data)
	}
	j, err := files.JSON(st)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(j, []byte(`"rate_usd": "36.4475"`)) {
		t.Errorf("JSON lost a rate's decimals")
	}
}

// TestDecimalTrap: 18,500 MWh at $14.55 is $269,175.00, in every format.
func TestDecimalTrap(t *testing.T) {
	st := byContract(t, fixture(t), "ppa-borealis")
	for name, f := range map[string]func(*settlement.Statement) ([]byte, error){"csv": files.CSV, "json": files.JSON, "xml": files.XML} {
		data, err := f(st)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(data, []byte("269175.00")) {
			t.Errorf("%s has no 269175.00", name)
		}
	}
	pdf, err := files.PDFUncompressed(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pdfText(t, pdf), "269,175.00") {
		t.Errorf("PDF has no 269,175.00")
	}
}

func TestIntervalsCSV(t *testing.T) {
	for _, st := range fixture(t) {
		data, err := files.IntervalsCSV(&st)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(st.Intervals)+1 {
			t.Fatalf("%s: %d rows for %d intervals", st.InvoiceID, len(rows)-1, len(st.Intervals))
		}
		if st.Contract.ID != "ppa-cirrus" && len(st.Intervals) != 2972 { // March in Chicago: 743 hours
			t.Errorf("%s: %d intervals, want 2972", st.InvoiceID, len(st.Intervals))
		}
		h := rows[0]
		mwh, amt := index(t, h, "mwh"), index(t, h, "amount_usd")
		sumMWh, sumUSD := decimal.Zero, decimal.Zero
		for _, r := range rows[1:] {
			m, err1 := decimal.NewFromString(r[mwh])
			a, err2 := decimal.NewFromString(r[amt])
			if err1 != nil || err2 != nil {
				t.Fatalf("row %v", r)
			}
			sumMWh, sumUSD = sumMWh.Add(m), sumUSD.Add(a)
		}
		wantMWh, wantUSD := decimal.Zero, decimal.Zero
		for _, r := range st.Intervals {
			wantMWh, wantUSD = wantMWh.Add(r.MWh), wantUSD.Add(r.AmountUSD)
		}
		if !sumMWh.Equal(wantMWh) || !sumUSD.Equal(wantUSD) {
			t.Errorf("%s: Σ file %s MWh $%s, Σ intervals %s MWh $%s (amounts must be exact)", st.InvoiceID, sumMWh, sumUSD, wantMWh, wantUSD)
		}
	}
	// the DST day: local start times step from 01:45 -06:00 to 03:00 -05:00
	st := byContract(t, fixture(t), "ppa-atlas")
	data, _ := files.IntervalsCSV(st)
	if !bytes.Contains(data, []byte("2028-03-12T07:45:00Z,2028-03-12T08:00:00Z,2028-03-12T01:45:00-06:00,")) ||
		!bytes.Contains(data, []byte("2028-03-12T08:00:00Z,2028-03-12T08:15:00Z,2028-03-12T03:00:00-05:00,")) {
		t.Errorf("the DST day's local times are wrong")
	}
}

func TestJSONParsesBack(t *testing.T) {
	for _, st := range append(fixture(t), empty(t)) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			data, err := files.JSON(&st)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Schema, InvoiceID, Status, Document, Period, IssueDate, DueDate string
				CreditNote                                                      bool `json:"credit_note"`
				Lines                                                           []struct {
					Kind, Amount, Rate, Quantity, UnitCode string
					Taxable                                bool
				}
				Taxes []struct{ Name, Percent, Base, Amount string }
				Net   string `json:"net_usd"`
				Tax   string `json:"tax_usd"`
				Total string `json:"total_usd"`
				Daily []struct{ Date, MWh, Amount string }
			}
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			var raw map[string]any
			_ = json.Unmarshal(data, &raw)
			if raw["schema"] != files.Schema || raw["invoice_id"] != st.InvoiceID || raw["period"] != "2028-03" ||
				raw["issue_date"] != st.IssueDate.String() || raw["due_date"] != st.DueDate.String() ||
				raw["credit_note"] != st.CreditNote() || raw["status"] != map[bool]string{true: "final", false: "draft"}[st.Final] {
				t.Errorf("doc = %v", raw)
			}
			for _, k := range []string{"lines", "taxes", "daily"} {
				if _, ok := raw[k].([]any); !ok {
					t.Errorf("%s = %#v, want an array (never null)", k, raw[k])
				}
			}
			lines := raw["lines"].([]any)
			if len(lines) != len(st.Lines) {
				t.Errorf("%d lines, want %d", len(lines), len(st.Lines))
			}
			net, tax := decimal.Zero, decimal.Zero
			for _, l := range lines {
				m := l.(map[string]any)
				a := decimal.RequireFromString(m["amount_usd"].(string))
				if m["kind"] == settlement.LineTax {
					tax = tax.Add(a)
				} else {
					net = net.Add(a)
				}
			}
			if raw["net_usd"] != net.StringFixed(2) || raw["tax_usd"] != tax.StringFixed(2) || raw["total_usd"] != net.Add(tax).StringFixed(2) {
				t.Errorf("net %v tax %v total %v; Σ lines %s, %s", raw["net_usd"], raw["tax_usd"], raw["total_usd"], net, tax)
			}
			if days := raw["daily"].([]any); len(days) != 31 {
				t.Errorf("%d days, want 31", len(days))
			}
		})
	}
}

// pages counts the pages of a PDF.
func pages(pdf []byte) int {
	return len(regexp.MustCompile(`/Type /Page\b[^s]`).FindAll(pdf, -1))
}

func TestPDF(t *testing.T) {
	long := byContract(t, fixture(t), "ppa-cirrus")
	var lines []settlement.Line
	for i := 0; i < 25; i++ { // a statement with many lines still fits in three pages
		l := long.Lines[0]
		l.Description = fmt.Sprintf("Energy delivered under ppa-cirrus at $%d.25/MWh in a longer description that wraps onto a second line of the table", 40+i)
		lines = append(lines, l)
	}
	for _, l := range long.Lines {
		if l.Kind != settlement.LineTax {
			lines = append(lines, l)
		}
	}
	long.Lines = lines
	finish(long)
	for _, st := range append(fixture(t), empty(t), *long) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			a, err := files.PDF(&st)
			if err != nil {
				t.Fatal(err)
			}
			b, err := files.PDF(&st)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Errorf("two renders differ")
			}
			if n := pages(a); n < 1 || n > 3 {
				t.Errorf("%d pages, want 1 to 3", n)
			}
			if !bytes.HasPrefix(a, []byte("%PDF-1.")) || !bytes.Contains(a, []byte("/CreationDate (D:20280401000000)")) {
				t.Errorf("not a PDF dated its issue date")
			}
			text := pdfText(t, a)
			for _, s := range []string{st.InvoiceID, st.Seller.Name, st.Buyer.Name, st.Seller.TaxID, st.Buyer.TaxID, "March 2028"} {
				if !strings.Contains(text, s) {
					t.Errorf("the PDF does not show %q", s)
				}
			}
			if st.CreditNote() && !strings.Contains(text, "CREDIT NOTE") {
				t.Errorf("a negative total is not called a credit note")
			}
		})
	}
}

// TestPDFPlainText checks that no character outside cp1252 reaches the
// PDF: fpdf would print it as a dot.
func TestPDFPlainText(t *testing.T) {
	st := byContract(t, fixture(t), "ppa-cirrus")
	pdf, err := files.PDFUncompressed(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pdfStrings(pdf) {
		if strings.Contains(s, "(market . strike)") || strings.ContainsRune(s, '−') {
			t.Errorf("PDF text %q lost a character", s)
		}
	}
}

// TestFinalReplacesDraft: files written for a preview are replaced by the
// numbered invoice once the period is finalized, and the manifest follows.
func TestFinalReplacesDraft(t *testing.T) {
	dir := t.TempDir()
	st := *byContract(t, fixture(t), "ppa-atlas")
	final := st.InvoiceID
	draft := st
	draft.Final, draft.InvoiceID = false, settlement.DraftInvoiceID(st.Seller, st.Period, st.Contract.ID)
	if _, err := files.Write(dir, []settlement.Statement{draft}); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Write(dir, []settlement.Statement{st}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range tree(t, dir) {
		names = append(names, name)
	}
	sort.Strings(names)
	want := []string{"2028-03/atlas/" + files.Manifest}
	for _, suffix := range []string{".csv", ".json", ".pdf", ".xml", "-intervals.csv"} {
		want = append(want, "2028-03/atlas/"+final+suffix)
	}
	sort.Strings(want)
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("files = %v, want %v", names, want)
	}
	manifest, _ := os.ReadFile(filepath.Join(dir, "2028-03", "atlas", files.Manifest))
	if bytes.Contains(manifest, []byte("DRAFT")) {
		t.Errorf("the manifest lists the draft:\n%s", manifest)
	}
}

// TestMinimalParties: parties with nothing but an id and a name still give
// every file (the address falls back to one line in the US, the payment to
// "not defined").
func TestMinimalParties(t *testing.T) {
	st := *byContract(t, fixture(t), "ppa-borealis")
	st.Seller = &contracts.Party{ID: "s", Name: "Seller (no details) & Co", Role: contracts.RoleSeller}
	st.Buyer = &contracts.Party{ID: "b", Name: "Buyer <b>", Role: contracts.RoleBuyer}
	st.Daily, st.Intervals = nil, nil
	written, err := files.Write(t.TempDir(), []settlement.Statement{st})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 || len(written[0].Files) != 6 {
		t.Fatalf("written = %+v", written)
	}
	data, err := files.XML(&st)
	if err != nil {
		t.Fatal(err)
	}
	doc := parseXML(t, data)
	if got := doc.one(t, "cac:AccountingCustomerParty", "cac:Party", "cac:PartyLegalEntity", "cbc:RegistrationName").text; got != "Buyer <b>" {
		t.Errorf("buyer name %q", got)
	}
	if got := doc.one(t, "cac:PaymentMeans", "cbc:PaymentMeansCode").text; got != "1" {
		t.Errorf("payment means %q without an account, want 1", got)
	}
	pdf, err := files.PDF(&st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pdfText(t, pdf), "Seller (no details) & Co") {
		t.Errorf("the PDF does not show the seller's name")
	}
}

// TestPDFLongNames: a long seller name shrinks to fit, a long buyer name
// wraps, the footer is cut short, instead of running into the next column
// (checked by eye with OFFTAKE_INVOICE_SAMPLES set; here: the words are all
// there).
func TestPDFLongNames(t *testing.T) {
	st := *byContract(t, fixture(t), "ppa-atlas")
	seller, buyer := *st.Seller, *st.Buyer
	seller.Name = "Permian Ridge Power Generation and Energy Marketing Holdings LLC"
	buyer.Name = "Atlas Training Cloud Infrastructure and Hyperscale Compute Services Inc."
	st.Seller, st.Buyer = &seller, &buyer
	pdf, err := files.PDF(&st)
	if err != nil {
		t.Fatal(err)
	}
	text := pdfText(t, pdf)
	for _, s := range []string{seller.Name, "Atlas Training Cloud Infrastructure and Hyperscale", "Compute Services Inc."} {
		if !strings.Contains(text, s) {
			t.Errorf("the PDF does not show %q whole", s)
		}
	}
	if dir := os.Getenv("OFFTAKE_INVOICE_SAMPLES"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "long-names.pdf"), pdf, 0o644)
	}
}

// TestWriteRefuses: a statement whose totals are not the sums of its lines,
// or an invoice id given twice, writes nothing.
func TestWriteRefuses(t *testing.T) {
	sts := fixture(t)
	bad := sts[0]
	bad.TotalUSD = bad.TotalUSD.Add(d("0.01"))
	for name, in := range map[string][]settlement.Statement{
		"total": {sts[1], bad},
		"twice": {sts[1], sts[1]},
	} {
		dir := t.TempDir()
		if _, err := files.Write(dir, in); err == nil {
			t.Errorf("%s: no error", name)
		}
		if got := tree(t, dir); len(got) != 0 {
			t.Errorf("%s: wrote %d files", name, len(got))
		}
	}
}
