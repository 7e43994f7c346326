// Package messages is the wire format of offtake's Kafka topics: one JSON
// object per message, a meter reading on the generation and consumption
// topics and a market price on the price topic. Decimal values are read
// exactly (as strings or as JSON numbers, never through float64) and checked;
// a message that does not decode gets an error naming the field and what is
// wrong, which the stream adapter puts on the dead-letter topic.
package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// MaxBytes is the largest message offtake decodes; a reading is ~200 bytes.
const MaxBytes = 64 << 10

// maxPriceUSDPerMWh bounds a market price: ISO caps are in the thousands.
var maxPriceUSDPerMWh = decimal.NewFromInt(100_000)

// maxGasUSDPerMMBtu bounds a gas index price: the highest daily Henry Hub
// prints were in the tens of dollars; regional spikes in the hundreds.
var maxGasUSDPerMMBtu = decimal.NewFromInt(1_000)

// maxGridKgPerMWh bounds a grid emission factor: lignite is about 1,100.
var maxGridKgPerMWh = decimal.NewFromInt(2_000)

// readingJSON is a reading on the wire.
type readingJSON struct {
	Site    string          `json:"site"`
	Meter   string          `json:"meter"`
	Start   string          `json:"start"`
	End     string          `json:"end"`
	Value   json.RawMessage `json:"value"`
	Unit    string          `json:"unit"`
	Quality string          `json:"quality"`
	Version *int            `json:"version"`
}

// priceJSON is a price on the wire.
type priceJSON struct {
	Node     string          `json:"node"`
	Market   string          `json:"market"`
	Start    string          `json:"start"`
	End      string          `json:"end"`
	Price    json.RawMessage `json:"price"`
	Currency string          `json:"currency"`
	Unit     string          `json:"unit"`
}

// FieldError is a message that does not decode: Field is the JSON field at
// fault ("" for the message as a whole).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// unitShift converts a reading's unit to MWh by a power of ten.
var unitShift = map[string]int32{"Wh": -6, "kWh": -3, "MWh": 0}

// DecodeReading reads one reading message. Energy is converted to exact Wh;
// a value finer than 1 Wh is refused rather than rounded.
func DecodeReading(data []byte) (matching.Reading, error) {
	var m readingJSON
	if err := strict(data, &m); err != nil {
		return matching.Reading{}, err
	}
	var r matching.Reading
	var err error
	if r.Site, err = required("site", m.Site); err != nil {
		return r, err
	}
	if r.Meter, err = required("meter", m.Meter); err != nil {
		return r, err
	}
	if r.Start, r.End, err = interval(m.Start, m.End); err != nil {
		return r, err
	}
	value, err := number("value", m.Value)
	if err != nil {
		return r, err
	}
	shift, ok := unitShift[m.Unit]
	if !ok {
		return r, fieldErr("unit", "%q is not Wh, kWh or MWh", m.Unit)
	}
	if r.Energy, err = matching.FromMWh(value.Shift(shift)); err != nil {
		return r, fieldErr("value", "%s", err)
	}
	r.Quality = matching.Quality(m.Quality)
	if m.Quality == "" {
		r.Quality = matching.Actual
	}
	if !r.Quality.Valid() {
		return r, fieldErr("quality", "%q is not actual, estimated or substituted", m.Quality)
	}
	r.Version = 1
	if m.Version != nil {
		r.Version = *m.Version
	}
	if r.Version < 1 {
		return r, fieldErr("version", "%d is not 1 or more", r.Version)
	}
	return r, nil
}

// DecodePrice reads one price message.
func DecodePrice(data []byte) (matching.Price, error) {
	var m priceJSON
	if err := strict(data, &m); err != nil {
		return matching.Price{}, err
	}
	var p matching.Price
	var err error
	if p.Node, err = required("node", m.Node); err != nil {
		return p, err
	}
	if p.Market, err = required("market", m.Market); err != nil {
		return p, err
	}
	if p.Start, p.End, err = interval(m.Start, m.End); err != nil {
		return p, err
	}
	if p.USDPerMWh, err = number("price", m.Price); err != nil {
		return p, err
	}
	if p.USDPerMWh.Abs().GreaterThan(maxPriceUSDPerMWh) {
		return p, fieldErr("price", "%s $/MWh is beyond any market's price cap", p.USDPerMWh)
	}
	if p.USDPerMWh.Exponent() < -6 {
		return p, fieldErr("price", "%s has more than 6 decimal places", p.USDPerMWh)
	}
	if m.Unit == matching.UnitKgCO2e {
		// a grid emission factor, kg CO2e per MWh: not money
		p.Unit = matching.UnitKgCO2e
		if m.Currency != "" {
			return p, fieldErr("currency", "%q: a grid emission factor (unit kgCO2e/MWh) has no currency; leave it out", m.Currency)
		}
		if p.USDPerMWh.Sign() < 0 || p.USDPerMWh.GreaterThan(maxGridKgPerMWh) || p.USDPerMWh.Exponent() < -3 {
			return p, fieldErr("price", "%s kgCO2e/MWh is not a plausible grid emission factor (0 to %s, at most 3 decimals)", p.USDPerMWh, maxGridKgPerMWh)
		}
		return p, nil
	}
	if m.Currency != "USD" {
		return p, fieldErr("currency", "%q is not USD", m.Currency)
	}
	switch m.Unit {
	case matching.UnitMWh:
		p.Unit = matching.UnitMWh
	case matching.UnitMMBtu:
		// a gas index price ($/MMBtu) for gas-indexed contracts
		p.Unit = matching.UnitMMBtu
		if p.USDPerMWh.Sign() < 0 || p.USDPerMWh.GreaterThan(maxGasUSDPerMMBtu) {
			return p, fieldErr("price", "%s $/MMBtu is not a plausible gas price (0 to %s)", p.USDPerMWh, maxGasUSDPerMMBtu)
		}
	default:
		return p, fieldErr("unit", "%q is not MWh (power prices, $/MWh), MMBtu (gas index prices, $/MMBtu) or kgCO2e/MWh (grid emission factors)", m.Unit)
	}
	return p, nil
}

func strict(data []byte, v any) error {
	if len(data) > MaxBytes {
		return fieldErr("", "message is %d bytes, more than %d", len(data), MaxBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeErr(err)
	}
	// Only JSON white space may follow the object. (Decoder.More alone
	// misses a stray '}' or ']', which it takes for the end of a container.)
	for _, c := range data[dec.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return fieldErr("", "trailing data after the JSON object")
		}
	}
	return nil
}

// decodeErr names the field at fault in an encoding/json error when there is one.
func decodeErr(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return fieldErr(typeErr.Field, "a JSON %s is not a %s", typeErr.Value, typeErr.Type)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, err := strconv.Unquote(name); err == nil {
			return fieldErr(name, "unknown field")
		}
	}
	return fieldErr("", "not a valid message: %s", err)
}

func required(field, v string) (string, error) {
	if v == "" {
		return "", fieldErr(field, "missing")
	}
	return v, nil
}

func interval(start, end string) (time.Time, time.Time, error) {
	s, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return s, s, fieldErr("start", "%q is not an RFC 3339 time like 2028-01-01T06:00:00Z", start)
	}
	e, err := time.Parse(time.RFC3339, end)
	if err != nil {
		return s, e, fieldErr("end", "%q is not an RFC 3339 time like 2028-01-01T06:15:00Z", end)
	}
	if !e.After(s) {
		return s, e, fieldErr("end", "%s is not after start %s", end, start)
	}
	return s.UTC(), e.UTC(), nil
}

// number reads a decimal given as a JSON string or a JSON number, exactly.
func number(field string, raw json.RawMessage) (decimal.Decimal, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return decimal.Zero, fieldErr(field, "missing")
	}
	text := string(raw)
	if raw[0] == '"' {
		s, err := strconv.Unquote(text)
		if err != nil {
			return decimal.Zero, fieldErr(field, "%s is not a decimal string", text)
		}
		text = s
	}
	if len(text) > 40 {
		return decimal.Zero, fieldErr(field, "%.40s… is too long for a decimal", text)
	}
	d, err := decimal.NewFromString(text)
	if err != nil {
		return decimal.Zero, fieldErr(field, "%q is not a decimal number", text)
	}
	if d.Exponent() < -12 || d.Exponent() > 12 {
		return decimal.Zero, fieldErr(field, "%q is out of range", text)
	}
	return d, nil
}

// EncodeReading writes a reading with its value in kWh (the unit most meter
// data agents send), exact.
func EncodeReading(r matching.Reading) []byte {
	return appendJSON(nil, [][2]string{
		{"site", r.Site}, {"meter", r.Meter},
		{"start", formatTime(r.Start)}, {"end", formatTime(r.End)},
		{"value", r.Energy.MWh().Shift(3).StringFixed(3)}, {"unit", "kWh"},
		{"quality", string(r.Quality)},
	}, r.Version)
}

// EncodePrice writes a price.
func EncodePrice(p matching.Price) []byte {
	return appendJSON(nil, [][2]string{
		{"node", p.Node}, {"market", p.Market},
		{"start", formatTime(p.Start)}, {"end", formatTime(p.End)},
		{"price", p.USDPerMWh.String()}, {"currency", "USD"}, {"unit", priceUnit(p)},
	}, 0)
}

// EncodeEmissionFactor writes a grid emission factor (a Price with unit
// kgCO2e/MWh): the price message without a currency.
func EncodeEmissionFactor(p matching.Price) []byte {
	return appendJSON(nil, [][2]string{
		{"node", p.Node}, {"market", p.Market},
		{"start", formatTime(p.Start)}, {"end", formatTime(p.End)},
		{"price", p.USDPerMWh.String()}, {"unit", matching.UnitKgCO2e},
	}, 0)
}

func priceUnit(p matching.Price) string {
	if p.Unit == matching.UnitMMBtu {
		return matching.UnitMMBtu
	}
	return matching.UnitMWh
}

// formatTime writes an instant in UTC, RFC 3339, with fractional seconds only
// when it has them, so that decoding gives back the same instant.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func appendJSON(b []byte, fields [][2]string, version int) []byte {
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f[0])
		b = append(b, ':')
		b = appendString(b, f[1])
	}
	if version > 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(version), 10)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. (strconv.Quote is Go syntax, not
// JSON: it writes \a, \v and \x.. escapes that JSON does not have.) Invalid
// UTF-8 becomes U+FFFD, as encoding/json does.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
