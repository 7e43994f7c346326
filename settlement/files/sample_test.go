package files_test

import (
	"os"
	"testing"

	"github.com/offtake/offtake/settlement/files"
)

func TestZZDump(t *testing.T) {
	dir := os.Getenv("DUMP")
	if dir == "" {
		t.Skip()
	}
	sts := append(fixture(t), empty(t))
	if _, err := files.Write(dir, sts); err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		b, _ := files.PDFUncompressed(&st)
		os.WriteFile(dir+"/"+st.InvoiceID+".raw.pdf", b, 0o644)
	}
}
