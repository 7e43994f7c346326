package files_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/offtake/offtake/contracts"
	"github.com/offtake/offtake/examples"
	"github.com/offtake/offtake/ledger"
	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
	"github.com/shopspring/decimal"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

// priced is one contract's energy at one price.
type priced struct{ contract, mwh, price string }

// statements builds the fixed statements of the example portfolio for 2028-03:
// northwind at two prices (one with four decimals), helios with the decimal
// trap, and cedar with no transfers (a zero statement).
func statements(t *testing.T) []settlement.Statement {
	t.Helper()
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	period, err := contracts.ParsePeriod("2028-03")
	if err != nil {
		t.Fatal(err)
	}
	var totals []settlement.LegTotal
	delivered := map[string]decimal.Decimal{}
	for _, pr := range []priced{
		{"ppa-northwind", "12000.5", "58.00"},
		{"ppa-northwind", "250.125", "61.2575"},
		{"ppa-helios", "18500", "14.55"},
	} {
		q, r := decimal.RequireFromString(pr.mwh), decimal.RequireFromString(pr.price)
		totals = append(totals, settlement.LegTotal{Contract: pr.contract, ContractVersion: 1, Leg: ledger.DeliveryPayment,
			USDPerMWh: r, QuantityMWh: q, AmountUSD: q.Mul(r), Transfers: 100})
		delivered[pr.contract] = delivered[pr.contract].Add(q)
	}
	for _, c := range []string{"ppa-helios", "ppa-northwind"} {
		totals = append(totals, settlement.LegTotal{Contract: c, ContractVersion: 1, Leg: ledger.Delivery,
			QuantityMWh: delivered[c], Transfers: 100})
	}
	sts, err := settlement.Build(p, period, totals)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 3 {
		t.Fatalf("%d statements, want 3", len(sts))
	}
	return sts
}

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
		t.Errorf("%s differs from the golden file (go test ./settlement/files -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, st := range statements(t) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			c, err := files.CSV(&st)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, st.InvoiceID+".csv.golden", c)
			j, err := files.JSON(&st)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, st.InvoiceID+".json.golden", j)
		})
	}
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
	w1, err := files.Write(dir, statements(t))
	if err != nil {
		t.Fatal(err)
	}
	first := tree(t, dir)
	w2, err := files.Write(dir, statements(t))
	if err != nil {
		t.Fatal(err)
	}
	second := tree(t, dir)
	other := t.TempDir()
	if _, err := files.Write(other, statements(t)); err != nil {
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
	want := []string{
		"2028-03/cedar/MRP-DRAFT-202803-ppa-cedar.csv", "2028-03/cedar/MRP-DRAFT-202803-ppa-cedar.json",
		"2028-03/helios/MRP-DRAFT-202803-ppa-helios.csv", "2028-03/helios/MRP-DRAFT-202803-ppa-helios.json",
		"2028-03/northwind/MRP-DRAFT-202803-ppa-northwind.csv", "2028-03/northwind/MRP-DRAFT-202803-ppa-northwind.json",
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("files = %v, want %v", names, want)
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

func TestWriteCounterpartyFolders(t *testing.T) {
	sts := statements(t)
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
	p, err := contracts.LoadFiles(examples.Files, examples.Default)
	if err != nil {
		t.Fatal(err)
	}
	var buyers []contracts.Party
	for _, party := range p.Parties {
		if party.Role == contracts.RoleBuyer {
			buyers = append(buyers, party)
		}
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
			if !strings.Contains(text, own.ID) {
				t.Errorf("%s/%s does not name its own buyer %s", folder.Name(), name, own.ID)
			}
			for _, other := range buyers {
				if other.ID == own.ID {
					continue
				}
				for _, s := range []string{other.ID, other.Name, other.TaxID, other.Email, other.Address} {
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

func TestRateKeepsDecimals(t *testing.T) {
	var st *settlement.Statement
	sts := statements(t)
	for i := range sts {
		if sts[i].Contract.ID == "ppa-northwind" {
			st = &sts[i]
		}
	}
	if st == nil {
		t.Fatal("no ppa-northwind statement")
	}
	data, err := files.CSV(st)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := index(t, rows[0], "rate_usd_per_mwh")
	var rates []string
	for _, r := range rows[1 : len(rows)-1] {
		rates = append(rates, r[col])
	}
	if strings.Join(rates, ",") != "58.00,61.2575" {
		t.Errorf("CSV rates = %v, want [58.00 61.2575]", rates)
	}
	jdata, err := files.JSON(st)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Lines []struct {
			Rate string `json:"rate_usd_per_mwh"`
		} `json:"lines"`
	}
	if err := json.Unmarshal(jdata, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Lines) != 2 || doc.Lines[0].Rate != "58.00" || doc.Lines[1].Rate != "61.2575" {
		t.Errorf("JSON rates = %+v, want 58.00, 61.2575", doc.Lines)
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
	for _, st := range statements(t) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			data, err := files.CSV(&st)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(st.Lines)+2 {
				t.Fatalf("%d rows, want header + %d lines + total", len(rows), len(st.Lines))
			}
			h := rows[0]
			amount, qty, kind, inv := index(t, h, "amount_usd"), index(t, h, "quantity"), index(t, h, "kind"), index(t, h, "invoice")
			sumUSD, sumMWh := decimal.Zero, decimal.Zero
			for i, r := range rows[1 : len(rows)-1] {
				if r[kind] != "energy" || r[inv] != st.InvoiceID {
					t.Errorf("row %d = %v", i+1, r)
				}
				a, err := decimal.NewFromString(r[amount])
				if err != nil {
					t.Fatal(err)
				}
				if !a.Equal(st.Lines[i].AmountUSD) {
					t.Errorf("row %d amount %s, line %s", i+1, a, st.Lines[i].AmountUSD)
				}
				q, err := decimal.NewFromString(r[qty])
				if err != nil {
					t.Fatal(err)
				}
				sumUSD, sumMWh = sumUSD.Add(a), sumMWh.Add(q)
			}
			total := rows[len(rows)-1]
			if total[kind] != "total" || total[inv] != st.InvoiceID {
				t.Errorf("total row = %v", total)
			}
			tot, err := decimal.NewFromString(total[amount])
			if err != nil {
				t.Fatal(err)
			}
			if !tot.Equal(sumUSD) || !tot.Equal(st.TotalUSD) {
				t.Errorf("total row %s, Σ lines %s, statement %s", tot, sumUSD, st.TotalUSD)
			}
			if e, _ := decimal.NewFromString(total[qty]); !e.Equal(sumMWh) {
				t.Errorf("total MWh %s, Σ lines %s", total[qty], sumMWh)
			}
		})
	}
}

func TestJSONParsesBack(t *testing.T) {
	for _, st := range statements(t) {
		t.Run(st.InvoiceID, func(t *testing.T) {
			data, err := files.JSON(&st)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if doc["schema"] != files.Schema || doc["invoice_id"] != st.InvoiceID || doc["period"] != "2028-03" ||
				doc["total_usd"] != st.TotalUSD.StringFixed(2) || doc["issue_date"] != st.IssueDate.String() ||
				doc["due_date"] != st.DueDate.String() {
				t.Errorf("doc = %v", doc)
			}
			lines, ok := doc["lines"].([]any)
			if !ok || len(lines) != len(st.Lines) {
				t.Errorf("lines = %#v, want %d lines (an array, never null)", doc["lines"], len(st.Lines))
			}
		})
	}
}
