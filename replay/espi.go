package replay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/offtake/offtake"
	"github.com/offtake/offtake/matching"
	"github.com/shopspring/decimal"
)

// espiNS is the namespace of NAESB ESPI (Green Button) content.
const espiNS = "http://naesb.org/espi"

// ESPI unit of measure (UnitSymbolKind) for watt-hours: the only energy
// unit offtake reads from Green Button files.
const uomWh = 72

// espiQuality maps ESPI QualityOfReading codes to a reading's quality:
// 0 valid, 14 raw, 17 validated, 18 verified, 19 revenue quality → actual;
// 8 estimated from a reference day, 9 linear interpolation, 12 projected,
// 13 mixed, 15 normalized for weather → estimated; 7 manually edited, 11
// derived → substituted. 10 (questionable) and 16 (other) are refused: the
// reading's worth is unknown.
var espiQuality = map[int]matching.Quality{
	0: matching.Actual, 14: matching.Actual, 17: matching.Actual, 18: matching.Actual, 19: matching.Actual,
	8: matching.Estimated, 9: matching.Estimated, 12: matching.Estimated, 13: matching.Estimated, 15: matching.Estimated,
	7: matching.Substituted, 11: matching.Substituted,
}

type espiReadingType struct {
	UOM        *int `xml:"uom"`
	PowerOfTen int  `xml:"powerOfTenMultiplier"`
	line       int
}

type espiReading struct {
	Start    int64    `xml:"timePeriod>start"`
	Duration int64    `xml:"timePeriod>duration"`
	Value    string   `xml:"value"`
	Quality  []string `xml:"ReadingQuality>quality"`
}

// parseESPI reads the interval readings of a Green Button (NAESB ESPI) Atom
// feed: every IntervalReading of every IntervalBlock, in Wh from the
// ReadingType's uom (72, Wh) and powerOfTenMultiplier, with its quality. A
// file whose ReadingTypes disagree (two meters, or energy and cost) is
// refused: replay one at a time.
func parseESPI(src *Source) (parsed, error) {
	dec := xml.NewDecoder(bytes.NewReader(src.Data))
	var types []espiReadingType
	type lineReading struct {
		line int
		r    espiReading
	}
	var readings []lineReading
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return parsed{}, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, line), Msg: "not well-formed XML: " + err.Error()}
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != espiNS {
			continue
		}
		switch se.Name.Local {
		case "ReadingType":
			var rt espiReadingType
			if err := dec.DecodeElement(&rt, &se); err != nil {
				return parsed{}, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, line), Field: "ReadingType", Msg: err.Error()}
			}
			rt.line = line
			types = append(types, rt)
		case "IntervalReading":
			line, _ = dec.InputPos()
			var r espiReading
			if err := dec.DecodeElement(&r, &se); err != nil {
				return parsed{}, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, line), Field: "IntervalReading", Msg: err.Error()}
			}
			readings = append(readings, lineReading{line, r})
			if len(readings) > maxRows {
				return parsed{}, &offtake.Error{Place: src.File, Msg: fmt.Sprintf("more than %d readings", maxRows), Hint: "split the file"}
			}
		}
	}
	if len(types) == 0 {
		return parsed{}, &offtake.Error{Place: src.File, Field: "ReadingType", Msg: "the file has no ReadingType, so the unit of its values is unknown", Hint: "a Green Button download includes the ReadingType entry"}
	}
	rt := types[0]
	for _, t := range types[1:] {
		if t.UOM == nil || rt.UOM == nil || *t.UOM != *rt.UOM || t.PowerOfTen != rt.PowerOfTen {
			return parsed{}, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, t.line), Field: "ReadingType", Msg: fmt.Sprintf("a second ReadingType that differs from the one at line %d", rt.line), Hint: "replay one meter reading (one ReadingType) per file"}
		}
	}
	if rt.UOM == nil || *rt.UOM != uomWh {
		u := "none"
		if rt.UOM != nil {
			u = strconv.Itoa(*rt.UOM)
		}
		return parsed{}, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, rt.line), Field: "ReadingType.uom", Msg: fmt.Sprintf("uom %s is not 72 (Wh)", u), Hint: "offtake replays energy readings in Wh"}
	}
	if rt.PowerOfTen < -9 || rt.PowerOfTen > 9 {
		return parsed{}, &offtake.Error{Place: fmt.Sprintf("%s:%d", src.File, rt.line), Field: "ReadingType.powerOfTenMultiplier", Msg: fmt.Sprintf("%d is out of range", rt.PowerOfTen)}
	}
	out := parsed{unit: "Wh"}
	var errs offtake.Errors
	for _, lr := range readings {
		if len(errs) >= 20 {
			break
		}
		place := fmt.Sprintf("%s:%d", src.File, lr.line)
		r := lr.r
		v, err := decimal.NewFromString(strings.TrimSpace(r.Value))
		if err != nil || strings.ContainsAny(r.Value, "eE") {
			errs = append(errs, &offtake.Error{Place: place, Field: "value", Msg: fmt.Sprintf("%q is not a number", r.Value)})
			continue
		}
		if r.Duration <= 0 {
			errs = append(errs, &offtake.Error{Place: place, Field: "timePeriod.duration", Msg: fmt.Sprintf("%d seconds is not a duration", r.Duration)})
			continue
		}
		q := matching.Actual
		for _, text := range r.Quality {
			code, err := strconv.Atoi(strings.TrimSpace(text))
			if err != nil {
				errs = append(errs, &offtake.Error{Place: place, Field: "ReadingQuality.quality", Msg: fmt.Sprintf("%q is not a quality code", text), Hint: "ESPI QualityOfReading is a number: 0 valid, 8 estimated, 7 edited, …"})
				continue
			}
			mq, ok := espiQuality[code]
			if !ok {
				errs = append(errs, &offtake.Error{Place: place, Field: "ReadingQuality.quality", Msg: fmt.Sprintf("quality %d (questionable or other) has no reading quality offtake can book", code), Hint: "replace or remove the reading in the file"})
				continue
			}
			q = worse(q, mq)
		}
		start := time.Unix(r.Start, 0).UTC()
		out.rows = append(out.rows, row{line: lr.line, series: "", kind: energy, start: start, end: start.Add(time.Duration(r.Duration) * time.Second),
			value: v.Shift(int32(rt.PowerOfTen)), quality: q})
	}
	return out, errs.Err()
}
