package postgres

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// Random valid transfers among a few accounts, split into batches committed
// in random order, some batches replayed, some transfers repeated in other
// batches, and some batches broken by one bad transfer (refused in Go, or by
// the database mid-transaction): every broken batch is refused whole with
// ErrInvalid and leaves every balance byte-identical; every transfer of a
// committed batch is booked once; the balances are the sums of the distinct
// booked transfers, and Verify passes.
func TestPropertyBalancesAreSumsOfDistinctTransfers(t *testing.T) {
	ctx := testCtx(t)
	s, url := newStore(t)
	conn := rawConn(t, url)
	var runs atomic.Int64 // each run books on its own parties: the database is shared

	rapid.Check(t, func(rt *rapid.T) {
		run := runs.Add(1)
		site := fmt.Sprintf("prop-%d", run)
		parties := []string{site + "-plant", site + "-dc", site + "-grid"}

		type spec struct {
			unit          ledger.Unit
			debit, credit int
			amount        decimal.Decimal
		}
		gen := rapid.Custom(func(rt *rapid.T) spec {
			unit := rapid.SampledFrom([]ledger.Unit{ledger.MWh, ledger.USD}).Draw(rt, "unit")
			d := rapid.IntRange(0, len(parties)-1).Draw(rt, "debit")
			c := (d + rapid.IntRange(1, len(parties)-1).Draw(rt, "credit")) % len(parties)
			coef := rapid.Int64Range(1, 1_000_000_000_000).Draw(rt, "coefficient")
			places := rapid.Int32Range(0, unit.Scale()).Draw(rt, "places")
			// Trailing zeros beyond the unit's scale: the value still fits.
			zeros := rapid.Int32Range(0, 3).Draw(rt, "zeros")
			for range zeros {
				coef *= 10
			}
			amount := decimal.New(coef, -places-zeros)
			return spec{unit, d, c, amount}
		})
		specs := rapid.SliceOfN(gen, 1, 40).Draw(rt, "transfers")

		kind := map[ledger.Unit]ledger.AccountKind{ledger.MWh: ledger.Energy, ledger.USD: ledger.Settlement}
		ts := make([]ledger.Transfer, len(specs))
		for i, sp := range specs {
			k := kind[sp.unit]
			ts[i] = xfer(site, i, ledger.AccountID(parties[sp.debit], k), ledger.AccountID(parties[sp.credit], k), sp.unit, sp.amount)
		}

		// Split a random order of the transfers into batches.
		idx := make([]int, len(ts))
		for i := range idx {
			idx[i] = i
		}
		order := rapid.Permutation(idx).Draw(rt, "order")
		nBatches := rapid.IntRange(1, min(6, len(ts))).Draw(rt, "batches")
		cuts := []int{0}
		for i := 1; i < nBatches; i++ {
			cuts = append(cuts, rapid.IntRange(cuts[i-1], len(ts)).Draw(rt, "cut"))
		}
		cuts = append(cuts, len(ts))
		var batches []ledger.Batch
		for i := range nBatches {
			var b ledger.Batch
			b.Source = "property"
			for _, j := range order[cuts[i]:cuts[i+1]] {
				b.Transfers = append(b.Transfers, ts[j])
			}
			// Repeats of transfers booked (or to be booked) by other batches.
			for _, j := range rapid.SliceOfN(rapid.IntRange(0, len(ts)-1), 0, 4).Draw(rt, "repeats") {
				b.Transfers = append(b.Transfers, ts[j])
			}
			batches = append(batches, b)
		}
		for _, i := range rapid.SliceOfN(rapid.IntRange(0, nBatches-1), 0, 3).Draw(rt, "replays") {
			batches = append(batches, batches[i])
		}
		batches = rapid.Permutation(batches).Draw(rt, "commit order")

		// Break some batches with one bad transfer, anywhere in the batch.
		broken := make([]bool, len(batches))
		for i := range batches {
			if !rapid.Bool().Draw(rt, "broken") {
				continue
			}
			bad := xfer(site, 1000+i, ledger.AccountID(parties[0], ledger.Energy), ledger.AccountID(parties[1], ledger.Energy), ledger.MWh, decimal.New(15, -1))
			switch rapid.IntRange(0, 5).Draw(rt, "breakage") {
			case 0:
				bad.Amount = decimal.Zero
			case 1:
				bad.Amount = decimal.New(-3, 0)
			case 2:
				bad.Amount = decimal.New(1, -7) // finer than 1 Wh
			case 3:
				bad.Credit = ledger.AccountID(parties[1], ledger.Settlement) // MWh into a USD account
			case 4:
				bad.Credit = bad.Debit
			case 5: // refused by the database's trigger, after the batch's rows went in
				bad.Debit, bad.Credit = bad.Credit, bad.Debit
				bad.Reverses = ledger.TransferID(site, t0, 99, ledger.Delivery, "never booked")
			}
			b := batches[i]
			at := rapid.IntRange(0, len(b.Transfers)).Draw(rt, "bad at")
			b.Transfers = append(append(append([]ledger.Transfer{}, b.Transfers[:at]...), bad), b.Transfers[at:]...)
			batches[i], broken[i] = b, true
		}

		inserted := 0
		booked := map[[16]byte]ledger.Transfer{}
		for i, b := range batches {
			before := balanceText(t, conn)
			c, err := s.Commit(ctx, b)
			if broken[i] {
				if !errors.Is(err, ErrInvalid) {
					rt.Fatalf("broken batch: err = %v, want ErrInvalid", err)
				}
				if after := balanceText(t, conn); after != before {
					rt.Fatalf("a refused batch changed balances:\n%s\n%s", before, after)
				}
				continue
			}
			if err != nil {
				rt.Fatalf("commit: %v", err)
			}
			if c.Inserted+c.Duplicates != len(b.Transfers) {
				rt.Fatalf("commit of %d transfers: %+v", len(b.Transfers), c)
			}
			inserted += c.Inserted
			for _, tr := range b.Transfers {
				booked[tr.ID] = tr
			}
		}
		if inserted != len(booked) {
			rt.Fatalf("inserted %d transfers in all, want each of the %d of committed batches once", inserted, len(booked))
		}
		ts = ts[:0]
		for _, tr := range booked {
			ts = append(ts, tr)
		}

		want := sums(ts)
		got := balanceMap(t, s)
		for _, p := range parties {
			for _, k := range []ledger.AccountKind{ledger.Energy, ledger.Settlement} {
				id := ledger.AccountID(p, k)
				if !got[id].Equal(want[id]) {
					rt.Fatalf("balance of %s = %s, want %s", id, got[id], want[id])
				}
			}
		}
		r, err := s.Verify(ctx)
		if err != nil {
			rt.Fatal(err)
		}
		if !r.OK() {
			rt.Fatalf("Verify found %d violations:\n%s", r.Violations, r)
		}
	})
}
