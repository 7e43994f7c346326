package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium or Chrome binary, or "" (the test then skips).
func chromium() string {
	if p := os.Getenv("OFFTAKE_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// artifacts is where the browser test saves its screenshots:
// $OFFTAKE_TEST_ARTIFACTS, else offtake-artifacts in the temporary folder.
func artifacts(t *testing.T) string {
	dir := os.Getenv("OFFTAKE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "offtake-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A real browser loads the dashboard, sees the positions appear, and sees
// them change when the engine books more readings; screenshots of the
// trader's and a counterparty's view are saved as artifacts.
func TestDashboardInChromium(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no Chromium: install Debian's chromium package (apt-get install -y chromium) or set OFFTAKE_CHROMIUM to run the browser test")
	}
	f := newFixture(t)
	f.step(40)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1440, 1300), chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.http.URL+"/#token="+traderToken),
		chromedp.WaitVisible(`#positions tbody tr`),
	); err != nil {
		t.Fatal(err)
	}
	// Wait (no time limit: the test binary's timeout guards) for the chart and the live pill.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#sites svg path").length >= 4 && document.getElementById("conn").textContent === "live"`,
		chromedp.WithPollingTimeout(0))); err != nil {
		t.Fatal(err)
	}
	before, err := chromedp.Run(ctx, chromedp.Text(`#positions tbody tr[data-contract="ppa-northwind"] td:nth-child(3)`))
	if err != nil {
		t.Fatal(err)
	}
	if before == "" || before == "0.000" {
		t.Fatalf("ppa-northwind delivered %q before", before)
	}

	f.step(6) // the engine books six more hours: the page must follow through the event stream
	after, err := chromedp.Run(ctx, chromedp.Poll[string](
		`(() => { const v = document.querySelector('#positions tbody tr[data-contract="ppa-northwind"] td:nth-child(3)').textContent; return v !== `+jsString(before)+` && v; })()`,
		chromedp.WithPollingTimeout(0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ppa-northwind delivered: %s → %s MWh", before, after)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifacts(t), "dashboard-trader.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)

	// A counterparty's browser shows its own load and contract only.
	cctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	if err := chromedp.Do(cctx,
		chromedp.Navigate(f.http.URL+"/#token="+northwindToken),
		chromedp.WaitVisible(`#positions tbody tr`),
	); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(cctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#positions tbody tr")].map(r => r.dataset.contract)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0] != "ppa-northwind" {
		t.Errorf("northwind's dashboard lists %v", rows)
	}
	page, err := chromedp.Run(cctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"Helios", "Cedar", "helios", "cedar"} {
		if contains(page, other) {
			t.Errorf("northwind's dashboard shows %q", other)
		}
	}
	shot, err = chromedp.Run(cctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifacts(t), "dashboard-counterparty.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
}

func jsString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		if r == '"' || r == '\\' {
			b = append(b, '\\')
		}
		b = append(b, string(r)...)
	}
	return string(append(b, '"'))
}

func contains(s, sub string) bool {
	return len(sub) > 0 && len(s) >= len(sub) && (s == sub || indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
