package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/pgserver"
)

// runDemo runs `offtake demo` with args, in a database of its own and an
// output folder of its own, and returns what it printed and the folder.
func runDemo(t *testing.T, args ...string) (stdout, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := pgserver.Find(ctx, pgserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	db := fmt.Sprintf("offtake_test_demo_%08x", rand.Uint32())
	out = t.TempDir()
	t.Setenv("DATABASE_URL", "")
	t.Setenv("OFFTAKE_DATABASE_URL", "")
	code, stdout, stderr := runCLI(t, nil, append([]string{"demo", "--database", db, "--out", out}, args...)...)
	defer srv.DropDatabase(context.Background(), db)
	if code != exitOK {
		t.Fatalf("demo exit %d\n%s\n%s", code, stdout, stderr)
	}
	return stdout, out
}

// TestDemoCommand runs `offtake demo` itself, in a database of its own, and
// checks what a user sees and gets.
func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo settles a whole month")
	}
	stdout, out := runDemo(t)
	for _, want := range []string{
		"2972 intervals closed", "1 duplicate(s), 1 dead letter(s) (invalid_value: 1)",
		"ledger verify: every invariant holds", "ppa-northwind", "ppa-helios", "ppa-cedar", "mesa-ridge",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	files, _ := filepath.Glob(filepath.Join(out, "2028-03", "*", "*"))
	if len(files) != 21 { // per buyer: pdf, csv, intervals csv, json, xml, emissions annex and MANIFEST.sha256
		t.Fatalf("%d invoice files: %v", len(files), files)
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// TestDemoTermSheet runs the demo on examples/term-sheet.yaml: every volume
// shape, price kind, a virtual PPA, monthly terms, taxes, losses and an
// amendment, through the broker, the engine, the ledger and settlement.
func TestDemoTermSheet(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo settles a whole month")
	}
	stdout, out := runDemo(t, "--contracts", "../../examples/term-sheet.yaml")
	for _, want := range []string{
		"2972 intervals closed", "ledger verify: every invariant holds",
		"ppa-atlas", "ppa-borealis", "ppa-cirrus", "vppa-atlas-hedge",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, stdout)
		}
	}
	for _, buyer := range []string{"atlas", "borealis", "cirrus"} {
		if files, _ := filepath.Glob(filepath.Join(out, "2028-03", buyer, "*")); len(files) == 0 {
			t.Errorf("no invoice files for %s", buyer)
		}
	}
}
