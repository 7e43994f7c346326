package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/offtake/offtake/ledger"
)

// ErrInvalid is wrapped by the errors of Commit for a batch that breaks a
// rule of the ledger. Nothing of such a batch is written; retrying it cannot
// succeed.
var ErrInvalid = errors.New("invalid ledger batch")

// ErrConflict is wrapped by the error of Commit for a batch holding a
// transfer whose id is already booked (or repeated in the batch) with other
// accounts, unit, amount or leg. Ids are derived from what a transfer
// records, so this means the same allocation was computed twice with
// different results; nothing of the batch is written.
var ErrConflict = errors.New("conflicting transfer")

// ErrPeriodFinalized is wrapped by the error of Commit for a batch holding a
// transfer dated in a finalized billing period (nothing of the batch is
// written: book the correction in the next open period), and by the error
// of FinalizePeriod for a period finalized before.
var ErrPeriodFinalized = errors.New("billing period finalized")

// accountKinds are the kinds an account id may end in (the account_kinds
// table declares the same, with their units).
var accountKinds = []ledger.AccountKind{ledger.Energy, ledger.Settlement, ledger.ShortfallMemo, ledger.Emissions}

// account is an account id taken apart.
type account struct {
	id    string
	party string
	kind  ledger.AccountKind
	unit  ledger.Unit
}

// parseAccount splits an account id "party:kind" (ledger.AccountID) and
// derives its unit.
func parseAccount(id string) (account, error) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || i == len(id)-1 {
		return account{}, fmt.Errorf("account %q is not of the form party:kind", id)
	}
	kind := ledger.AccountKind(id[i+1:])
	if !slices.Contains(accountKinds, kind) {
		return account{}, fmt.Errorf("account %q has unknown kind %q (want one of %v)", id, kind, accountKinds)
	}
	return account{id: id, party: id[:i], kind: kind, unit: ledger.UnitOf(kind)}, nil
}

// uuidString formats a transfer id the way PostgreSQL shows a uuid.
func uuidString(id [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16])
}

// sameTransfer reports whether a and b book the same movement: a transfer
// seen twice must agree on what it moves, whatever else it records.
func sameTransfer(a, b *ledger.Transfer) bool {
	return a.Debit == b.Debit && a.Credit == b.Credit && a.Unit == b.Unit && a.Leg == b.Leg && a.Amount.Equal(b.Amount)
}

// checked is a batch that passed check: its distinct transfers in batch
// order, the accounts they touch, in lock order, and their billing periods,
// sorted.
type checked struct {
	transfers []*ledger.Transfer
	accounts  []account
	periods   []string
}

// validPeriod reports whether p is a billing period: YYYY-MM.
func validPeriod(p string) bool {
	if len(p) != 7 || p[4] != '-' {
		return false
	}
	for i, r := range p {
		if i != 4 && (r < '0' || r > '9') {
			return false
		}
	}
	return p[5:] >= "01" && p[5:] <= "12"
}

// check asserts the rules of the ledger on every part of b before anything
// is written. Errors wrap ErrInvalid or ErrConflict and name the transfer by
// its index in the batch and its id.
func (s *Store) check(b *ledger.Batch) (checked, error) {
	var c checked
	seen := make(map[[16]byte]*ledger.Transfer, len(b.Transfers))
	accounts := map[string]account{}
	for i := range b.Transfers {
		t := &b.Transfers[i]
		bad := func(format string, args ...any) error {
			return fmt.Errorf("ledger/postgres: transfer %d (%s, %s %s %s): %s: %w",
				i, uuidString(t.ID), t.Leg, t.Site, t.IntervalStart.UTC().Format("2006-01-02T15:04Z"), fmt.Sprintf(format, args...), ErrInvalid)
		}
		if t.ID == ([16]byte{}) {
			return c, bad("no id")
		}
		if prev, ok := seen[t.ID]; ok {
			if !sameTransfer(prev, t) {
				return c, fmt.Errorf("ledger/postgres: transfer %d (%s) repeats an id of the batch with %s %s %s→%s, first seen as %s %s %s→%s: %w",
					i, uuidString(t.ID), t.Amount, t.Unit, t.Debit, t.Credit, prev.Amount, prev.Unit, prev.Debit, prev.Credit, ErrConflict)
			}
			continue
		}
		scale, ok := s.units[t.Unit]
		if !ok {
			return c, bad("unknown unit %q", t.Unit)
		}
		if t.Amount.Sign() <= 0 {
			return c, bad("amount %s %s is not positive", t.Amount, t.Unit)
		}
		// An exponent of at least −scale fits by construction; only a finer
		// one needs the (allocating) rounding to tell trailing zeros apart.
		if t.Amount.Exponent() < -scale && !t.Amount.Equal(t.Amount.Round(scale)) {
			return c, bad("amount %s %s has more than the %d decimal places %s keeps", t.Amount, t.Unit, scale, t.Unit)
		}
		if t.Debit == t.Credit {
			return c, bad("debit and credit are the same account %q", t.Debit)
		}
		for _, id := range []string{t.Debit, t.Credit} {
			a, ok := accounts[id]
			if !ok {
				var err error
				if a, err = parseAccount(id); err != nil {
					return c, bad("%v", err)
				}
				accounts[id] = a
			}
			if a.unit != t.Unit {
				return c, bad("account %s holds %s, the transfer moves %s", id, a.unit, t.Unit)
			}
		}
		if t.Leg == "" {
			return c, bad("no leg")
		}
		if t.Site == "" || t.Period == "" {
			return c, bad("no site or billing period")
		}
		if !validPeriod(t.Period) {
			return c, bad("billing period %q is not YYYY-MM", t.Period)
		}
		if t.Reverses == t.ID {
			return c, bad("reverses itself")
		}
		if !slices.Contains(c.periods, t.Period) {
			c.periods = append(c.periods, t.Period)
		}
		if !t.IntervalEnd.After(t.IntervalStart) {
			return c, bad("interval end %s is not after its start", t.IntervalEnd.UTC().Format("2006-01-02T15:04Z"))
		}
		seen[t.ID] = t
		c.transfers = append(c.transfers, t)
	}
	for i, iv := range b.Intervals {
		if iv.Site == "" || iv.Period == "" || !iv.End.After(iv.Start) {
			return c, fmt.Errorf("ledger/postgres: interval %d (%s %s): needs a site, a period and an end after its start: %w",
				i, iv.Site, iv.Start.UTC().Format("2006-01-02T15:04Z"), ErrInvalid)
		}
	}
	for i, p := range b.Prices {
		if p.Node == "" || p.Market == "" || !p.End.After(p.Start) {
			return c, fmt.Errorf("ledger/postgres: price %d (%s %s %s): needs a node, a market and an end after its start: %w",
				i, p.Node, p.Market, p.Start.UTC().Format("2006-01-02T15:04Z"), ErrInvalid)
		}
	}
	for i, o := range b.Offsets {
		if o.Consumer == "" || o.Topic == "" || o.Partition < 0 || o.Next < 0 {
			return c, fmt.Errorf("ledger/postgres: offset %d (%q %q/%d at %d): needs a consumer, a topic and non-negative partition and offset: %w",
				i, o.Consumer, o.Topic, o.Partition, o.Next, ErrInvalid)
		}
	}
	c.accounts = make([]account, 0, len(accounts))
	for _, a := range accounts {
		c.accounts = append(c.accounts, a)
	}
	// Byte order, the order PostgreSQL sorts them in with COLLATE "C": every
	// batch takes its account locks in this one order.
	slices.SortFunc(c.accounts, func(a, b account) int { return strings.Compare(a.id, b.id) })
	slices.Sort(c.periods)
	return c, nil
}
