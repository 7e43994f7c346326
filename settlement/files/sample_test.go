package files_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
)

// TestWriteSamples writes the fixture's files into $OFFTAKE_INVOICE_SAMPLES
// (skipped when unset), to look at them, e.g. with
// `pdftoppm -png -r 100 DIR/2028-03/atlas/PRP-2028-000041.pdf page`.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("OFFTAKE_INVOICE_SAMPLES")
	if dir == "" {
		t.Skip("OFFTAKE_INVOICE_SAMPLES is not set")
	}
	if _, err := files.Write(dir, fixture(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := files.Write(filepath.Join(dir, "empty"), []settlement.Statement{empty(t)}); err != nil {
		t.Fatal(err)
	}
}
