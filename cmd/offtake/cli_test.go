package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the command line in process and returns exit code, stdout, stderr.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"offtake"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(bad, []byte("parties:\n  - id: x\n    name: X\n    role: sellr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noDB := map[string]string{"DATABASE_URL": "", "OFFTAKE_DATABASE_URL": ""}
	cases := []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"broken contract file names file:line and field", []string{"contracts", "load", bad},
			[]string{bad + ":4:", "parties[x].role", "sellr"}},
		{"missing contract file", []string{"contracts", "load", filepath.Join(dir, "nope.yaml")},
			[]string{"nope.yaml", "cannot read"}},
		{"missing database is one sentence", []string{"settle", "--period", "2028-03"},
			[]string{"no database: pass --database-url", "DATABASE_URL"}},
		{"bad period", []string{"settle", "--period", "2028-13", "--database-url", "postgres://x@127.0.0.1:1/x"},
			[]string{"--period", "2028-07"}},
		{"bad output format", []string{"contracts", "list", "-o", "xml"}, []string{"--output", "table or json"}},
		{"unknown flag", []string{"settle", "--perid", "2028-03"}, []string{"perid"}},
		{"required flag", []string{"settle", "--database-url", "postgres://x@127.0.0.1:1/x"}, []string{"Required flag", "period"}},
		{"unknown command", []string{"bogus"}, []string{"bogus"}},
		{"unknown contract", []string{"contracts", "show", "ppa-nobody"}, []string{"no contract", "ppa-nobody"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, noDB, c.args...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitBadInput, stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Fatalf("stderr %q does not contain %q", stderr, w)
				}
			}
		})
	}
}

func TestCLIPasswordNeverPrinted(t *testing.T) {
	code, out, stderr := runCLI(t, nil, "ledger", "verify", "--database-url", "postgres://offtake:s3cret-pw@127.0.0.1:1/offtake?connect_timeout=1")
	if code == exitOK {
		t.Fatal("verify against a closed port succeeded")
	}
	if strings.Contains(out+stderr, "s3cret-pw") {
		t.Fatalf("password printed: %s", stderr)
	}
	if !strings.Contains(stderr, "cannot use PostgreSQL at") {
		t.Fatalf("stderr %q does not say which database failed", stderr)
	}
}

func TestCLIContracts(t *testing.T) {
	code, out, stderr := runCLI(t, nil, "contracts", "load")
	if code != exitOK || !strings.Contains(out, "1 sites, 3 contracts") {
		t.Fatalf("exit %d out %q err %q", code, out, stderr)
	}
	code, out, _ = runCLI(t, nil, "contracts", "list")
	if code != exitOK || !strings.Contains(out, "ppa-helios") || !strings.Contains(out, "61.25") {
		t.Fatalf("list: exit %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "contracts", "show", "ppa-cedar")
	if code != exitOK || !strings.Contains(out, "Cedar Labs Corp.") || !strings.Contains(out, "$64.80/MWh") {
		t.Fatalf("show: exit %d %q", code, out)
	}
}

func TestCLIEnvironmentSetsFlags(t *testing.T) {
	code, _, stderr := runCLI(t, map[string]string{"OFFTAKE_PERIOD": "nonsense", "DATABASE_URL": "postgres://x@127.0.0.1:1/x"}, "settle")
	if code != exitBadInput || !strings.Contains(stderr, `"nonsense"`) {
		t.Fatalf("OFFTAKE_PERIOD not read: exit %d %q", code, stderr)
	}
}
