package bench

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/offtake/offtake/pgserver"
)

func TestMain(m *testing.M) { os.Exit(pgserver.Main(m)) }

// The ledger measurement runs end to end on a small scale and reports its
// rates, rows per reading and the ratio against raw COPY. Its figures are
// not judged here: a test never holds a timing.
func TestLedgerMeasurement(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	url := pgserver.NewTestDatabase(t)
	res, err := Run(ctx, Env{DatabaseURL: url, Readings: 2000}, []string{"ledger"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Figures) != 5 || len(res[0].Ratios) != 1 {
		t.Fatalf("result %+v, want 5 figures and a ratio", res)
	}
	for _, f := range res[0].Figures {
		if !(f.Value > 0) {
			t.Errorf("figure %q = %v, want a positive value", f.Name, f.Value)
		}
	}
	if perReading := res[0].Figures[2].Value; perReading < 1 || perReading > 3 {
		t.Errorf("%v ledger rows per reading, want between 1 and 3 for the example site", perReading)
	}
	if r := res[0].Ratios[0]; r.Target != 0.6 || !(r.Value > 0) {
		t.Errorf("ratio %+v, want a positive value against target 0.6", r)
	}
	t.Logf("%+v", res[0])
}
