package bench

import (
	"context"
	"strings"
	"testing"
)

func TestRunUnknownMeasurement(t *testing.T) {
	_, err := Run(context.Background(), Env{}, []string{"no-such"})
	if err == nil || !strings.Contains(err.Error(), `"no-such"`) {
		t.Fatalf("err = %v, want one naming the measurement", err)
	}
}

func TestRatioOf(t *testing.T) {
	r := RatioOf("x", 60, 100, 0.6)
	if r.Value != 0.6 || !r.Met {
		t.Fatalf("RatioOf = %+v", r)
	}
	if r := RatioOf("x", 1, 0, 0.5); r.Met {
		t.Fatalf("a zero limit must not meet a target: %+v", r)
	}
}
