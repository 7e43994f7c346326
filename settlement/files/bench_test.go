package files_test

import (
	"testing"

	"github.com/offtake/offtake/settlement"
	"github.com/offtake/offtake/settlement/files"
)

// BenchmarkWrite writes the fixture's four statements (each with a month of
// 15-minute intervals) per iteration: every format and the manifests.
func BenchmarkWrite(b *testing.B) {
	sts := fixture(b)
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := files.Write(dir, sts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(sts))/1000, "ms/statement")
}

// BenchmarkFormats measures each format alone on the statement with every
// kind of line.
func BenchmarkFormats(b *testing.B) {
	st := byContract(b, fixture(b), "ppa-cirrus")
	for name, f := range map[string]func(*settlement.Statement) ([]byte, error){
		"pdf": files.PDF, "csv": files.CSV, "intervals": files.IntervalsCSV, "json": files.JSON, "xml": files.XML,
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := f(st); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
