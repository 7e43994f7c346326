package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// progress reports long work: a bar redrawn in place on a terminal, plain
// lines at every tenth otherwise (logs, CI), nothing when w is nil.
type progress struct {
	w     io.Writer
	label string
	tty   bool
	step  int // last tenth reported (plain lines)
}

func newProgress(w io.Writer, label string) *progress {
	p := &progress{w: w, label: label, step: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// update reports done of total.
func (p *progress) update(done, total int) {
	if p == nil || p.w == nil || total <= 0 {
		return
	}
	if p.tty {
		const width = 30
		filled := done * width / total
		fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total)
		if done >= total {
			fmt.Fprintln(p.w)
		}
		return
	}
	step := done * 10 / total
	if step == p.step {
		return
	}
	p.step = step
	fmt.Fprintf(p.w, "%s: %d/%d\n", p.label, done, total)
}
