package messages_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/offtake/offtake/matching"
	"github.com/offtake/offtake/messages"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

var (
	start = time.Date(2028, 1, 1, 6, 0, 0, 0, time.UTC)
	end   = start.Add(15 * time.Minute)
)

// readingMsg is a valid reading message with the value, unit and extra
// fields given as raw JSON.
func readingMsg(value, unit string, extra ...string) string {
	fields := []string{`"site":"permian-1"`, `"meter":"GT1-GROSS"`, `"start":"2028-01-01T06:00:00Z"`, `"end":"2028-01-01T06:15:00Z"`}
	if value != "" {
		fields = append(fields, `"value":`+value)
	}
	if unit != "" {
		fields = append(fields, `"unit":"`+unit+`"`)
	}
	return "{" + strings.Join(append(fields, extra...), ",") + "}"
}

func TestDecodeReading(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want matching.Reading
	}{
		{"the design's example", `{"site":"permian-1","meter":"GT1-GROSS","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z",
		 "value":"112500.000","unit":"kWh","quality":"actual","version":1}`,
			matching.Reading{Energy: 112_500_000, Quality: matching.Actual, Version: 1}},
		{"kWh as a JSON number", readingMsg(`112500.5`, "kWh"), matching.Reading{Energy: 112_500_500, Quality: matching.Actual, Version: 1}},
		{"MWh string", readingMsg(`"0.25"`, "MWh"), matching.Reading{Energy: 250_000, Quality: matching.Actual, Version: 1}},
		{"MWh number with an exponent", readingMsg(`1.125e2`, "MWh"), matching.Reading{Energy: 112_500_000, Quality: matching.Actual, Version: 1}},
		{"MWh to the Wh", readingMsg(`"0.000001"`, "MWh"), matching.Reading{Energy: 1, Quality: matching.Actual, Version: 1}},
		{"Wh", readingMsg(`42`, "Wh"), matching.Reading{Energy: 42, Quality: matching.Actual, Version: 1}},
		{"Wh with zero decimals", readingMsg(`"42.000"`, "Wh"), matching.Reading{Energy: 42, Quality: matching.Actual, Version: 1}},
		{"zero", readingMsg(`0`, "kWh"), matching.Reading{Energy: 0, Quality: matching.Actual, Version: 1}},
		{"negative (gross may be; the engine decides)", readingMsg(`"-1.5"`, "kWh"), matching.Reading{Energy: -1500, Quality: matching.Actual, Version: 1}},
		{"estimated, version 3", readingMsg(`"1"`, "kWh", `"quality":"estimated"`, `"version":3`), matching.Reading{Energy: 1000, Quality: matching.Estimated, Version: 3}},
		{"substituted", readingMsg(`"1"`, "kWh", `"quality":"substituted"`), matching.Reading{Energy: 1000, Quality: matching.Substituted, Version: 1}},
		{"largest value", readingMsg(`"1000000"`, "MWh"), matching.Reading{Energy: 1_000_000_000_000, Quality: matching.Actual, Version: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := messages.DecodeReading([]byte(tt.msg))
			if err != nil {
				t.Fatalf("DecodeReading: %v", err)
			}
			want := tt.want
			want.Site, want.Meter, want.Start, want.End = "permian-1", "GT1-GROSS", start, end
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestDecodeReadingTimeInUTC(t *testing.T) {
	msg := `{"site":"s","meter":"m","start":"2028-01-01T00:00:00-06:00","end":"2028-01-01T00:15:00-06:00","value":"1","unit":"kWh"}`
	r, err := messages.DecodeReading([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Start.Equal(start) || !r.End.Equal(end) || r.Start.Location() != time.UTC {
		t.Errorf("start %s, end %s: want %s, %s in UTC", r.Start, r.End, start, end)
	}
}

func TestDecodePrice(t *testing.T) {
	tests := []struct {
		msg  string
		want string
	}{
		{`{"node":"HB_WEST","market":"RT","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","price":"23.45","currency":"USD","unit":"MWh"}`, "23.45"},
		{`{"node":"HB_WEST","market":"RT","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","price":-12.5,"currency":"USD","unit":"MWh"}`, "-12.5"},
		{`{"node":"HB_WEST","market":"RT","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","price":"5000.123456","currency":"USD","unit":"MWh"}`, "5000.123456"},
		{`{"node":"HB_WEST","market":"RT","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","price":1e5,"currency":"USD","unit":"MWh"}`, "100000"},
	}
	for _, tt := range tests {
		p, err := messages.DecodePrice([]byte(tt.msg))
		if err != nil {
			t.Fatalf("DecodePrice(%s): %v", tt.msg, err)
		}
		if p.Node != "HB_WEST" || p.Market != "RT" || !p.Start.Equal(start) || !p.End.Equal(end) || !p.USDPerMWh.Equal(decimal.RequireFromString(tt.want)) {
			t.Errorf("DecodePrice(%s) = %+v, want %s $/MWh", tt.msg, p, tt.want)
		}
	}
}

func TestReadingRoundTrip(t *testing.T) {
	for _, r := range []matching.Reading{
		{Site: "coyote-flats", Meter: "CFEC-GROSS", Start: start, End: end, Energy: 112_500_123, Quality: matching.Actual, Version: 1},
		{Site: "coyote-flats", Meter: "DC-HELIOS", Start: start, End: end, Energy: 0, Quality: matching.Estimated, Version: 7},
		{Site: "s", Meter: "m", Start: start, End: end, Energy: -1, Quality: matching.Substituted, Version: 2},
		{Site: `quote " back\slash`, Meter: "bell \a tab \t nul \x00 é ☃", Start: start, End: end, Energy: 1_000_000_000_000, Quality: matching.Actual, Version: 1},
		{Site: "sub-second", Meter: "m", Start: start.Add(500 * time.Millisecond), End: end.Add(time.Nanosecond), Energy: 5, Quality: matching.Actual, Version: 1},
	} {
		enc := messages.EncodeReading(r)
		if !json.Valid(enc) {
			t.Errorf("EncodeReading(%+v) is not JSON: %s", r, enc)
			continue
		}
		got, err := messages.DecodeReading(enc)
		if err != nil {
			t.Errorf("DecodeReading(%s): %v", enc, err)
			continue
		}
		if !sameReading(got, r) {
			t.Errorf("round trip of %+v through %s gave %+v", r, enc, got)
		}
	}
	r := matching.Reading{Site: "s", Meter: "m", Start: start, End: end, Energy: 112_500_000, Quality: matching.Actual, Version: 1}
	want := `{"site":"s","meter":"m","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","value":"112500.000","unit":"kWh","quality":"actual","version":1}`
	if got := string(messages.EncodeReading(r)); got != want {
		t.Errorf("EncodeReading = %s\nwant %s", got, want)
	}
}

func TestPriceRoundTrip(t *testing.T) {
	for _, p := range []matching.Price{
		{Node: "HB_WEST", Market: "RT", Start: start, End: end, USDPerMWh: decimal.RequireFromString("23.45")},
		{Node: "LZ_WEST", Market: "DA", Start: start, End: start.Add(time.Hour), USDPerMWh: decimal.RequireFromString("-250.000001")},
		{Node: "N\u2028ode", Market: "RT\x7f", Start: start, End: end, USDPerMWh: decimal.Zero},
	} {
		enc := messages.EncodePrice(p)
		got, err := messages.DecodePrice(enc)
		if err != nil {
			t.Errorf("DecodePrice(%s): %v", enc, err)
			continue
		}
		if !samePrice(got, p) {
			t.Errorf("round trip of %+v through %s gave %+v", p, enc, got)
		}
	}
}

// Any reading encodes to JSON that decodes to it (invalid UTF-8 aside, which
// becomes U+FFFD as in encoding/json).
func TestEncodeReadingProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := matching.Reading{
			Site:    rapid.StringN(1, 20, -1).Draw(t, "site"),
			Meter:   rapid.StringN(1, 20, -1).Draw(t, "meter"),
			Start:   time.Unix(rapid.Int64Range(0, 1<<35).Draw(t, "start"), rapid.Int64Range(0, 999_999_999).Draw(t, "ns")).UTC(),
			Energy:  matching.Wh(rapid.Int64Range(-1_000_000_000_000, 1_000_000_000_000).Draw(t, "energy")),
			Quality: rapid.SampledFrom([]matching.Quality{matching.Actual, matching.Estimated, matching.Substituted}).Draw(t, "quality"),
			Version: rapid.IntRange(1, 1<<40).Draw(t, "version"),
		}
		r.End = r.Start.Add(time.Duration(rapid.Int64Range(1, 1<<40).Draw(t, "length")))
		if r.End.Year() > 9999 {
			t.Skip("RFC 3339 has four-digit years")
		}
		enc := messages.EncodeReading(r)
		got, err := messages.DecodeReading(enc)
		if err != nil {
			t.Fatalf("DecodeReading(%s): %v", enc, err)
		}
		r.Site, r.Meter = strings.ToValidUTF8(r.Site, "\uFFFD"), strings.ToValidUTF8(r.Meter, "\uFFFD")
		if !sameReading(got, r) {
			t.Fatalf("round trip of %+v through %s gave %+v", r, enc, got)
		}
	})
}

func sameReading(a, b matching.Reading) bool {
	return a.Site == b.Site && a.Meter == b.Meter && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.Energy == b.Energy && a.Quality == b.Quality && a.Version == b.Version
}

func samePrice(a, b matching.Price) bool {
	return a.Node == b.Node && a.Market == b.Market && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.USDPerMWh.Equal(b.USDPerMWh)
}

func priceMsg(price, currency, unit string, extra ...string) string {
	fields := []string{`"node":"HB_WEST"`, `"market":"RT"`, `"start":"2028-01-01T06:00:00Z"`, `"end":"2028-01-01T06:15:00Z"`}
	if price != "" {
		fields = append(fields, `"price":`+price)
	}
	if currency != "" {
		fields = append(fields, `"currency":"`+currency+`"`)
	}
	if unit != "" {
		fields = append(fields, `"unit":"`+unit+`"`)
	}
	return "{" + strings.Join(append(fields, extra...), ",") + "}"
}

func TestDecodeBadMessages(t *testing.T) {
	good := readingMsg(`"1.5"`, "kWh")
	oversize := good[:len(good)-1] + `,"quality":"actual"` + strings.Repeat(" ", messages.MaxBytes) + "}"
	tests := []struct {
		name  string
		price bool
		msg   string
		field string // the field the error names
		says  string // and a part of what it says
	}{
		{"malformed JSON", false, `{"site":"permian-1",`, "", "not a valid message"},
		{"empty message", false, ``, "", "not a valid message"},
		{"not an object", false, `[1,2,3]`, "", "not a valid message"},
		{"a bare string", false, `"reading"`, "", "not a valid message"},
		{"unknown field", false, readingMsg(`"1"`, "kWh", `"colour":"red"`), "colour", "unknown field"},
		{"missing site", false, `{"meter":"m","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","value":"1","unit":"kWh"}`, "site", "missing"},
		{"empty meter", false, `{"site":"s","meter":"","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","value":"1","unit":"kWh"}`, "meter", "missing"},
		{"site not a string", false, `{"site":7,"meter":"m","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","value":"1","unit":"kWh"}`, "site", "number"},
		{"bad start", false, `{"site":"s","meter":"m","start":"2028-01-01 06:00","end":"2028-01-01T06:15:00Z","value":"1","unit":"kWh"}`, "start", "RFC 3339"},
		{"missing start", false, `{"site":"s","meter":"m","end":"2028-01-01T06:15:00Z","value":"1","unit":"kWh"}`, "start", "RFC 3339"},
		{"bad end", false, `{"site":"s","meter":"m","start":"2028-01-01T06:00:00Z","end":"2028-13-01T06:15:00Z","value":"1","unit":"kWh"}`, "end", "RFC 3339"},
		{"end before start", false, `{"site":"s","meter":"m","start":"2028-01-01T06:15:00Z","end":"2028-01-01T06:00:00Z","value":"1","unit":"kWh"}`, "end", "not after start"},
		{"end equals start", false, `{"site":"s","meter":"m","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:00:00Z","value":"1","unit":"kWh"}`, "end", "not after start"},
		{"value abc", false, readingMsg(`"abc"`, "kWh"), "value", "not a decimal"},
		{"value missing", false, readingMsg(``, "kWh"), "value", "missing"},
		{"value null", false, readingMsg(`null`, "kWh"), "value", "missing"},
		{"value empty string", false, readingMsg(`""`, "kWh"), "value", "not a decimal"},
		{"value NaN", false, readingMsg(`"NaN"`, "kWh"), "value", "not a decimal"},
		{"value Infinity", false, readingMsg(`"Infinity"`, "kWh"), "value", "not a decimal"},
		{"value NaN as a bare word", false, readingMsg(`NaN`, "kWh"), "", "invalid character"},
		{"value 1e400", false, readingMsg(`1e400`, "kWh"), "value", "out of range"},
		{"value 1e-400", false, readingMsg(`"1e-400"`, "kWh"), "value", "out of range"},
		{"value true", false, readingMsg(`true`, "kWh"), "value", "not a decimal"},
		{"value an object", false, readingMsg(`{"v":1}`, "kWh"), "value", "not a decimal"},
		{"value too long", false, readingMsg(`"`+strings.Repeat("1", 41)+`"`, "Wh"), "value", "too long"},
		{"value finer than 1 Wh", false, readingMsg(`"0.0001"`, "kWh"), "value", "finer than 1 Wh"},
		{"value finer than 1 Wh in Wh", false, readingMsg(`0.5`, "Wh"), "value", "finer than 1 Wh"},
		{"value beyond any interval", false, readingMsg(`"1000000.000001"`, "MWh"), "value", "beyond"},
		{"value beyond, negative", false, readingMsg(`-2e6`, "MWh"), "value", "beyond"},
		{"unit GJ", false, readingMsg(`"1"`, "GJ"), "unit", `"GJ" is not Wh, kWh or MWh`},
		{"unit in the wrong case", false, readingMsg(`"1"`, "kwh"), "unit", `"kwh"`},
		{"unit missing", false, readingMsg(`"1"`, ""), "unit", `"" is not`},
		{"quality maybe", false, readingMsg(`"1"`, "kWh", `"quality":"maybe"`), "quality", `"maybe"`},
		{"version 0", false, readingMsg(`"1"`, "kWh", `"version":0`), "version", "0 is not 1 or more"},
		{"version negative", false, readingMsg(`"1"`, "kWh", `"version":-3`), "version", "-3 is not 1 or more"},
		{"version a string", false, readingMsg(`"1"`, "kWh", `"version":"2"`), "version", "string"},
		{"version a fraction", false, readingMsg(`"1"`, "kWh", `"version":1.5`), "version", "number 1.5"},
		{"trailing garbage", false, good + ` x`, "", "trailing data"},
		{"trailing brace", false, good + `}`, "", "trailing data"},
		{"trailing bracket", false, good + "\n]", "", "trailing data"},
		{"two messages", false, good + good, "", "trailing data"},
		{"oversize message", false, oversize, "", "more than 65536"},
		{"price currency EUR", true, priceMsg(`"23.45"`, "EUR", "MWh"), "currency", `"EUR" is not USD`},
		{"price currency missing", true, priceMsg(`"23.45"`, "", "MWh"), "currency", `"" is not USD`},
		{"price unit kWh", true, priceMsg(`"23.45"`, "USD", "kWh"), "unit", `"kWh" is not MWh`},
		{"price 1e9", true, priceMsg(`1e9`, "USD", "MWh"), "price", "beyond any market's price cap"},
		{"price -1e9", true, priceMsg(`"-1000000000"`, "USD", "MWh"), "price", "beyond"},
		{"price finer than a millionth", true, priceMsg(`"23.4500001"`, "USD", "MWh"), "price", "more than 6 decimal places"},
		{"price abc", true, priceMsg(`"abc"`, "USD", "MWh"), "price", "not a decimal"},
		{"price missing", true, priceMsg(``, "USD", "MWh"), "price", "missing"},
		{"price node missing", true, `{"market":"RT","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","price":"1","currency":"USD","unit":"MWh"}`, "node", "missing"},
		{"price market missing", true, `{"node":"N","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","price":"1","currency":"USD","unit":"MWh"}`, "market", "missing"},
		{"price end before start", true, `{"node":"N","market":"RT","start":"2028-01-01T07:00:00Z","end":"2028-01-01T06:00:00Z","price":"1","currency":"USD","unit":"MWh"}`, "end", "not after start"},
		{"price with a reading's field", true, priceMsg(`"1"`, "USD", "MWh", `"meter":"m"`), "meter", "unknown field"},
		{"reading on the price topic", true, good, "site", "unknown field"},
		{"price trailing garbage", true, priceMsg(`"1"`, "USD", "MWh") + "}", "", "trailing data"},
	}
	if len(tests) < 20 {
		t.Fatal("fewer than 20 bad messages")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.price {
				_, err = messages.DecodePrice([]byte(tt.msg))
			} else {
				_, err = messages.DecodeReading([]byte(tt.msg))
			}
			var fe *messages.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *FieldError", err, err)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Msg, tt.says) {
				t.Errorf("error %q (field %q), want field %q and %q in it", err, fe.Field, tt.field, tt.says)
			}
			if tt.field != "" && !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("error %q does not start with the field %q", err, tt.field)
			}
		})
	}
}

func FuzzDecodeReading(f *testing.F) {
	f.Add([]byte(readingMsg(`"112500.000"`, "kWh", `"quality":"actual"`, `"version":1`)))
	f.Add([]byte(readingMsg(`1.125e2`, "MWh")))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := messages.DecodeReading(data)
		if err != nil {
			var fe *messages.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		enc := messages.EncodeReading(r)
		if !json.Valid(enc) {
			t.Fatalf("EncodeReading(%+v) is not JSON: %s", r, enc)
		}
		got, err := messages.DecodeReading(enc)
		if err != nil {
			t.Fatalf("%s decoded to %+v, which encodes to %s, which does not decode: %v", data, r, enc, err)
		}
		if !sameReading(got, r) {
			t.Fatalf("%s decoded to %+v; its encoding %s decodes to %+v", data, r, enc, got)
		}
		if again := messages.EncodeReading(got); string(again) != string(enc) {
			t.Fatalf("encoding is not stable: %s then %s", enc, again)
		}
	})
}

func FuzzDecodePrice(f *testing.F) {
	f.Add([]byte(priceMsg(`"23.45"`, "USD", "MWh")))
	f.Add([]byte(priceMsg(`-1e2`, "USD", "MWh")))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := messages.DecodePrice(data)
		if err != nil {
			var fe *messages.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FieldError", err, err)
			}
			return
		}
		enc := messages.EncodePrice(p)
		if !json.Valid(enc) {
			t.Fatalf("EncodePrice(%+v) is not JSON: %s", p, enc)
		}
		got, err := messages.DecodePrice(enc)
		if err != nil {
			t.Fatalf("%s decoded to %+v, which encodes to %s, which does not decode: %v", data, p, enc, err)
		}
		if !samePrice(got, p) {
			t.Fatalf("%s decoded to %+v; its encoding %s decodes to %+v", data, p, enc, got)
		}
	})
}

func ExampleDecodeReading() {
	r, err := messages.DecodeReading([]byte(`{"site":"coyote-flats","meter":"DC-HELIOS","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","value":"25000.5","unit":"kWh"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Meter, r.Energy.MWh(), "MWh", r.Quality, r.Version)
	_, err = messages.DecodeReading([]byte(`{"site":"coyote-flats","meter":"DC-HELIOS","start":"2028-01-01T06:00:00Z","end":"2028-01-01T06:15:00Z","value":"25000.5","unit":"GJ"}`))
	fmt.Println(err)
	// Output:
	// DC-HELIOS 25.0005 MWh actual 1
	// unit: "GJ" is not Wh, kWh or MWh
}

func TestDecodeEmissionFactorAndGasPrice(t *testing.T) {
	f, err := messages.DecodePrice([]byte(`{"node":"GRID_CO2","market":"RT","start":"2028-03-01T06:00:00Z","end":"2028-03-01T07:00:00Z","price":"412.5","unit":"kgCO2e/MWh"}`))
	if err != nil || f.Unit != matching.UnitKgCO2e || f.USDPerMWh.String() != "412.5" {
		t.Fatalf("factor %+v, %v", f, err)
	}
	if back, err := messages.DecodePrice(messages.EncodeEmissionFactor(f)); err != nil || back.USDPerMWh.String() != "412.5" || back.Unit != matching.UnitKgCO2e {
		t.Fatalf("round trip %+v, %v", back, err)
	}
	for _, bad := range []string{
		`{"node":"GRID_CO2","market":"RT","start":"2028-03-01T06:00:00Z","end":"2028-03-01T07:00:00Z","price":"412.5","currency":"USD","unit":"kgCO2e/MWh"}`,
		`{"node":"GRID_CO2","market":"RT","start":"2028-03-01T06:00:00Z","end":"2028-03-01T07:00:00Z","price":"-1","unit":"kgCO2e/MWh"}`,
		`{"node":"GRID_CO2","market":"RT","start":"2028-03-01T06:00:00Z","end":"2028-03-01T07:00:00Z","price":"412.5001","unit":"kgCO2e/MWh"}`,
		`{"node":"HENRY_HUB","market":"GAS","start":"2028-03-01T06:00:00Z","end":"2028-03-02T06:00:00Z","price":"-3","currency":"USD","unit":"MMBtu"}`,
		`{"node":"X","market":"RT","start":"2028-03-01T06:00:00Z","end":"2028-03-01T07:00:00Z","price":"3","currency":"USD","unit":"therm"}`,
	} {
		if _, err := messages.DecodePrice([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	g, err := messages.DecodePrice([]byte(`{"node":"HENRY_HUB","market":"GAS","start":"2028-03-01T06:00:00Z","end":"2028-03-02T06:00:00Z","price":"3.12","currency":"USD","unit":"MMBtu"}`))
	if err != nil || g.Unit != matching.UnitMMBtu {
		t.Fatalf("gas %+v, %v", g, err)
	}
	if back, err := messages.DecodePrice(messages.EncodePrice(g)); err != nil || back.Unit != matching.UnitMMBtu {
		t.Fatalf("gas round trip %+v, %v", back, err)
	}
}
