package files

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/go-pdf/fpdf"
	"github.com/offtake/offtake/contracts"
)

// chart draws the month's daily energy (bars, left axis) and average price
// (a line, right axis) with fpdf's primitives. Geometry is float64; the
// numbers it shows come from the exact daily totals.
func (p *invoicePDF) chart() {
	st := p.st
	// the chart takes the rest of the page when it is enough, else a page
	h := pageH - marginB - p.GetY() - 2
	if h < chartMinH {
		p.AddPage()
		h = chartH
	}
	h = min(h, chartH)
	p.color(accent)
	p.font("B", 8)
	energy, priceName := "Delivered energy (MWh)", "Average price ($/MWh)"
	if st.Contract.Kind == contracts.KindVirtual {
		energy, priceName = "Settled volume (MWh)", "Average difference ($/MWh)"
	}
	p.CellFormat(contentW, 4.5, strings.ToUpper(fmt.Sprintf("Daily energy and average price, %s %d", st.Period.Month, st.Period.Year)), "", 2, "L", false, 0, "")
	top := p.GetY()

	// legend
	p.font("", 7.5)
	p.color(ink)
	lx := marginL
	p.fill(barInk)
	p.Rect(lx, top+1.2, 3.5, 2.5, "F")
	p.SetXY(lx+4.5, top)
	p.CellFormat(p.GetStringWidth(energy)+2, 5, energy, "", 0, "L", false, 0, "")
	lx = p.GetX() + 5
	p.draw(price)
	p.SetLineWidth(0.6)
	p.Line(lx, top+2.5, lx+6, top+2.5)
	p.fill(price)
	p.Circle(lx+3, top+2.5, 0.7, "F")
	p.SetXY(lx+7.5, top)
	p.CellFormat(p.GetStringWidth(priceName)+2, 5, priceName, "", 0, "L", false, 0, "")

	x0, x1 := marginL+15, pageW-marginR-15
	y0, y1 := top+8, top+h-14 // plot top and bottom
	days := st.Daily
	if len(days) == 0 {
		p.draw(rule)
		p.SetLineWidth(0.2)
		p.Rect(x0, y0, x1-x0, y1-y0, "D")
		p.SetXY(x0, (y0+y1)/2-2)
		p.color(muted)
		p.CellFormat(x1-x0, 4, "No daily totals for this period.", "", 0, "C", false, 0, "")
		p.SetY(y1 + 12)
		return
	}
	mwh := make([]float64, len(days))
	avg := make([]float64, len(days))
	has := make([]bool, len(days))
	for i, d := range days {
		mwh[i] = d.MWh.InexactFloat64()
		if !d.MWh.IsZero() {
			avg[i], has[i] = d.AveragePrice().InexactFloat64(), true
		}
	}
	eLo, eHi, eStep := niceScale(mwh, 5)
	var prices []float64
	for i := range avg {
		if has[i] {
			prices = append(prices, avg[i])
		}
	}
	// the price axis has as many steps as the energy axis, so one grid serves both
	pLo, pHi, pStep := alignedScale(prices, int(math.Round((eHi-eLo)/eStep)))
	ey := func(v float64) float64 { return y1 - (v-eLo)/(eHi-eLo)*(y1-y0) }
	py := func(v float64) float64 { return y1 - (v-pLo)/(pHi-pLo)*(y1-y0) }

	// grid and axes
	p.SetLineWidth(0.15)
	p.font("", 6.5)
	for v := eLo; v <= eHi+eStep/2; v += eStep {
		y := ey(v)
		p.draw(rule)
		p.Line(x0, y, x1, y)
		p.color(muted)
		p.SetXY(x0-15, y-1.5)
		p.CellFormat(14, 3, axisLabel(v, eStep), "", 0, "R", false, 0, "")
	}
	for i := 0; ; i++ {
		v := pLo + float64(i)*pStep
		if v > pHi+pStep/2 {
			break
		}
		p.color(price)
		p.SetXY(x1+1, py(v)-1.5)
		p.CellFormat(14, 3, axisLabel(v, pStep), "", 0, "L", false, 0, "")
	}
	p.draw(muted)
	p.SetLineWidth(0.25)
	p.Line(x0, y0, x0, y1)
	p.Line(x1, y0, x1, y1)
	if eLo < 0 {
		p.Line(x0, ey(0), x1, ey(0))
	} else {
		p.Line(x0, y1, x1, y1)
	}

	// bars
	slot := (x1 - x0) / float64(len(days))
	barW := slot * 0.68
	p.fill(barInk)
	for i, v := range mwh {
		if v == 0 {
			continue
		}
		x := x0 + float64(i)*slot + (slot-barW)/2
		top, bottom := ey(v), ey(math.Max(0, eLo))
		if v < 0 {
			top, bottom = ey(0), ey(v)
		}
		p.Rect(x, top, barW, bottom-top, "F")
	}
	// day labels: every day when they fit, else every other
	p.color(muted)
	p.font("", 6)
	every := 1
	if slot < 4.2 {
		every = 2
	}
	for i, d := range days {
		if i%every != 0 {
			continue
		}
		p.SetXY(x0+float64(i)*slot, y1+0.8)
		p.CellFormat(slot, 3, fmt.Sprint(d.Date.Day), "", 0, "C", false, 0, "")
	}
	// price line, broken on days without energy
	p.draw(price)
	p.fill(price)
	p.SetLineWidth(0.5)
	p.SetLineJoinStyle("round")
	var prev *fpdf.PointType
	for i := range days {
		if !has[i] {
			prev = nil
			continue
		}
		pt := fpdf.PointType{X: x0 + (float64(i)+0.5)*slot, Y: py(avg[i])}
		if prev != nil {
			p.Line(prev.X, prev.Y, pt.X, pt.Y)
		}
		p.Circle(pt.X, pt.Y, 0.55, "F")
		prev = &pt
	}
	// axis titles
	p.font("", 6.5)
	p.color(muted)
	p.SetXY(x0-15, y1+4)
	p.CellFormat(x1-x0+30, 3, fmt.Sprintf("Day of %s (%s)", st.Period.Month, st.Site.TimeZone), "", 0, "C", false, 0, "")
	p.SetXY(x0-15, y0-4.5)
	p.CellFormat(14, 3, "MWh", "", 0, "R", false, 0, "")
	p.color(price)
	p.SetXY(x1+1, y0-4.5)
	p.CellFormat(14, 3, "$/MWh", "", 0, "L", false, 0, "")
	p.SetY(y1 + 10)
}

// niceScale is an axis from min(0, values) to max(0, values) in round steps,
// about ticks of them.
func niceScale(values []float64, ticks int) (lo, hi, step float64) {
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi-lo == 0 {
		hi = 1
	}
	raw := (hi - lo) / float64(ticks)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = mag * 10
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if raw <= m*mag {
			step = m * mag
			break
		}
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

// alignedScale is an axis over min(0, values) to max(0, values) in exactly
// n round steps.
func alignedScale(values []float64, n int) (lo, hi, step float64) {
	var vmin, vmax float64
	for _, v := range values {
		vmin, vmax = math.Min(vmin, v), math.Max(vmax, v)
	}
	if vmax-vmin == 0 {
		vmax = 1
	}
	n = max(n, 1)
	raw := (vmax - vmin) / float64(n)
	for mag := math.Pow(10, math.Floor(math.Log10(raw))); ; mag *= 10 {
		for _, m := range []float64{1, 2, 2.5, 5} {
			step = m * mag
			lo = math.Floor(vmin/step) * step
			if step >= raw && lo+float64(n)*step >= vmax {
				return lo, lo + float64(n)*step, step
			}
		}
	}
}

// axisLabel writes a tick value with the decimals its step needs and
// thousands separators.
func axisLabel(v, step float64) string {
	places := 0
	if _, frac, ok := strings.Cut(strconv.FormatFloat(step, 'f', -1, 64), "."); ok {
		places = min(len(frac), 4)
	}
	if math.Abs(v) < step/1e6 {
		v = 0
	}
	s := fmt.Sprintf("%.*f", places, v)
	return group(s)
}
