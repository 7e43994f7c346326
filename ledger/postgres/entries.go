package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/offtake/offtake/ledger"
	"github.com/shopspring/decimal"
)

// ErrNotFound is wrapped by the error of Trace for an id no transfer has.
var ErrNotFound = errors.New("no such transfer")

// Entry is a booked transfer as the ledger holds it, with its audit trail.
// Facts a transfer does not have are zero: no contract on a grid leg, no
// price on an energy leg.
type Entry struct {
	ID              string              `json:"id"`
	BatchID         int64               `json:"batch_id"`
	Debit           string              `json:"debit"`
	Credit          string              `json:"credit"`
	Unit            string              `json:"unit"`
	Amount          decimal.Decimal     `json:"amount"`
	Leg             string              `json:"leg"`
	Site            string              `json:"site"`
	IntervalStart   time.Time           `json:"interval_start"`
	IntervalEnd     time.Time           `json:"interval_end"`
	Period          string              `json:"period"`
	Revision        int                 `json:"revision"`
	Contract        string              `json:"contract,omitempty"`
	ContractVersion int                 `json:"contract_version,omitempty"`
	QuantityMWh     *decimal.Decimal    `json:"quantity_mwh,omitempty"`
	USDPerMWh       *decimal.Decimal    `json:"usd_per_mwh,omitempty"`
	PriceNode       string              `json:"price_node,omitempty"`
	PriceMarket     string              `json:"price_market,omitempty"`
	PriceStart      *time.Time          `json:"price_start,omitempty"`
	PriceCarried    bool                `json:"price_carried,omitempty"`
	Band            string              `json:"band,omitempty"`
	PriceBasis      string              `json:"price_basis,omitempty"`
	Readings        []ledger.ReadingRef `json:"readings,omitempty"`
	Reverses        string              `json:"reverses,omitempty"`
	RecordedAt      time.Time           `json:"recorded_at"`
}

// EntryFilter selects entries; zero fields select everything.
type EntryFilter struct {
	Period   string    // billing period YYYY-MM
	Site     string    //
	Contract string    //
	Party    string    // either side of the transfer is one of the party's accounts
	Account  string    // either side is this account ("party:kind")
	Leg      string    //
	From, To time.Time // interval start in [From, To)
	Limit    int       // at most this many (0: all)
}

const entryColumns = `id::text, batch_id, debit_account, credit_account, unit, amount, leg, site,
	interval_start, interval_end, period, revision, coalesce(contract_id, ''), coalesce(contract_version, 0),
	quantity_mwh, price_usd_per_mwh, coalesce(price_node, ''), coalesce(price_market, ''), price_start,
	coalesce(price_carried, false), coalesce(band, ''), coalesce(price_basis, ''), readings,
	coalesce(reverses::text, ''), recorded_at`

// scanEntries reads rows of entryColumns.
func scanEntries(rows pgx.Rows) ([]Entry, error) {
	var out []Entry
	var e Entry
	var readings []byte
	_, err := pgx.ForEachRow(rows, []any{&e.ID, &e.BatchID, &e.Debit, &e.Credit, &e.Unit, &e.Amount, &e.Leg, &e.Site,
		&e.IntervalStart, &e.IntervalEnd, &e.Period, &e.Revision, &e.Contract, &e.ContractVersion,
		&e.QuantityMWh, &e.USDPerMWh, &e.PriceNode, &e.PriceMarket, &e.PriceStart,
		&e.PriceCarried, &e.Band, &e.PriceBasis, &readings, &e.Reverses, &e.RecordedAt}, func() error {
		e.IntervalStart, e.IntervalEnd, e.RecordedAt = e.IntervalStart.UTC(), e.IntervalEnd.UTC(), e.RecordedAt.UTC()
		if e.PriceStart != nil {
			t := e.PriceStart.UTC()
			e.PriceStart = &t
		}
		e.Readings = nil
		if len(readings) > 0 {
			if err := json.Unmarshal(readings, &e.Readings); err != nil {
				return fmt.Errorf("transfer %s readings: %w", e.ID, err)
			}
		}
		out = append(out, e)
		e = Entry{}
		return nil
	})
	return out, err
}

// Entries lists the transfers f selects, ordered by interval start, site,
// leg and id.
func (s *Store) Entries(ctx context.Context, f EntryFilter) ([]Entry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Period != "" {
		where = append(where, "period = "+arg(f.Period))
	}
	if f.Site != "" {
		where = append(where, "site = "+arg(f.Site))
	}
	if f.Contract != "" {
		where = append(where, "contract_id = "+arg(f.Contract))
	}
	if f.Leg != "" {
		where = append(where, "leg = "+arg(f.Leg))
	}
	if f.Account != "" {
		a := arg(f.Account)
		where = append(where, fmt.Sprintf("(debit_account = %s OR credit_account = %s)", a, a))
	}
	if f.Party != "" {
		p := arg(f.Party)
		where = append(where, fmt.Sprintf("(debit_account IN (SELECT id FROM accounts WHERE party = %s) OR credit_account IN (SELECT id FROM accounts WHERE party = %s))", p, p))
	}
	if !f.From.IsZero() {
		where = append(where, "interval_start >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "interval_start < "+arg(f.To))
	}
	q := `SELECT ` + entryColumns + ` FROM transfers`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY interval_start, site, leg, id`
	if f.Limit > 0 {
		q += ` LIMIT ` + arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: entries: %w", err)
	}
	out, err := scanEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: entries: %w", err)
	}
	return out, nil
}

// Batch is the record of one ledger transaction.
type Batch struct {
	ID         int64     `json:"id"`
	Source     string    `json:"source"`
	RecordedAt time.Time `json:"recorded_at"`
	Transfers  int       `json:"transfers"`
}

// IntervalRecord is an allocated interval as booked (ledger.Interval).
type IntervalRecord struct {
	Site      string          `json:"site"`
	Start     time.Time       `json:"start"`
	End       time.Time       `json:"end"`
	Revision  int             `json:"revision"`
	Period    string          `json:"period"`
	GrossMWh  decimal.Decimal `json:"gross_mwh"`
	NetMWh    decimal.Decimal `json:"net_mwh"`
	ExportMWh decimal.Decimal `json:"export_mwh"`
	ImportMWh decimal.Decimal `json:"import_mwh"`
	Estimated bool            `json:"estimated"`
	BatchID   int64           `json:"batch_id"`
}

// StoredPrice is the market price the prices table holds for a transfer's
// price node, market and start. A price restated after booking differs from
// the transfer's own (which is what was booked).
type StoredPrice struct {
	ledger.MarketPrice
	SameAsBooked bool `json:"same_as_booked"`
}

// Trace is the chain behind one transfer: what it recorded, the batch that
// wrote it, the interval allocation and market price it came from, its
// billing period's state, and the reversals linking it to others.
type Trace struct {
	Transfer   Entry           `json:"transfer"`
	Batch      Batch           `json:"batch"`
	Interval   *IntervalRecord `json:"interval,omitempty"`
	Price      *StoredPrice    `json:"price,omitempty"`
	Period     Period          `json:"period"`
	Reverses   *Entry          `json:"reverses,omitempty"`
	ReversedBy []Entry         `json:"reversed_by,omitempty"`
}

// Trace returns the chain behind the transfer with the id (a UUID as
// PostgreSQL prints it). An unknown id gives an error wrapping ErrNotFound,
// a malformed one ErrInvalid.
func (s *Store) Trace(ctx context.Context, id string) (Trace, error) {
	var tr Trace
	if !validUUID(id) {
		return tr, fmt.Errorf("ledger/postgres: trace %q: not a transfer id (a UUID like 0b6c1f9e-3a52-8d41-9c07-5e2f7a1b3c4d): %w", id, ErrInvalid)
	}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		one := func(q string, arg any) ([]Entry, error) {
			rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM transfers WHERE `+q+` ORDER BY recorded_at, id`, arg)
			if err != nil {
				return nil, err
			}
			return scanEntries(rows)
		}
		es, err := one(`id = $1::uuid`, id)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return ErrNotFound
		}
		tr.Transfer = es[0]
		t := &tr.Transfer
		if err := tx.QueryRow(ctx, `SELECT id, source, recorded_at, transfers FROM batches WHERE id = $1`, t.BatchID).
			Scan(&tr.Batch.ID, &tr.Batch.Source, &tr.Batch.RecordedAt, &tr.Batch.Transfers); err != nil {
			return fmt.Errorf("batch %d: %w", t.BatchID, err)
		}
		tr.Batch.RecordedAt = tr.Batch.RecordedAt.UTC()
		iv := IntervalRecord{}
		err = tx.QueryRow(ctx, `SELECT site, interval_start, interval_end, revision, period, gross_mwh, net_mwh, export_mwh, import_mwh, estimated, batch_id
			FROM intervals WHERE site = $1 AND interval_start = $2 AND revision = $3`, t.Site, t.IntervalStart, t.Revision).
			Scan(&iv.Site, &iv.Start, &iv.End, &iv.Revision, &iv.Period, &iv.GrossMWh, &iv.NetMWh, &iv.ExportMWh, &iv.ImportMWh, &iv.Estimated, &iv.BatchID)
		switch {
		case err == nil:
			iv.Start, iv.End = iv.Start.UTC(), iv.End.UTC()
			tr.Interval = &iv
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("interval: %w", err)
		}
		if t.PriceNode != "" && t.PriceStart != nil {
			p := StoredPrice{}
			err = tx.QueryRow(ctx, `SELECT node, market, interval_start, interval_end, usd_per_mwh FROM prices
				WHERE node = $1 AND market = $2 AND interval_start = $3`, t.PriceNode, t.PriceMarket, *t.PriceStart).
				Scan(&p.Node, &p.Market, &p.Start, &p.End, &p.USDPerMWh)
			switch {
			case err == nil:
				p.Start, p.End = p.Start.UTC(), p.End.UTC()
				p.SameAsBooked = t.USDPerMWh != nil && t.USDPerMWh.Equal(p.USDPerMWh)
				tr.Price = &p
			case !errors.Is(err, pgx.ErrNoRows):
				return fmt.Errorf("price: %w", err)
			}
		}
		tr.Period = Period{Period: t.Period}
		err = tx.QueryRow(ctx, `SELECT opened_at, finalized_at, coalesce(finalized_by, '') FROM periods WHERE period = $1`, t.Period).
			Scan(&tr.Period.OpenedAt, &tr.Period.FinalizedAt, &tr.Period.FinalizedBy)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("period: %w", err)
		}
		if t.Reverses != "" {
			es, err := one(`id = $1::uuid`, t.Reverses)
			if err != nil {
				return err
			}
			if len(es) > 0 {
				tr.Reverses = &es[0]
			}
		}
		tr.ReversedBy, err = one(`reverses = $1::uuid`, id)
		return err
	})
	if err != nil {
		return Trace{}, fmt.Errorf("ledger/postgres: trace %s: %w", id, err)
	}
	return tr, nil
}

// validUUID reports whether s is a UUID in its canonical text form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
