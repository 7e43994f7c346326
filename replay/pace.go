package replay

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/offtake/offtake/stream"
)

// Publisher is what a replay publishes to (stream.Publisher).
type Publisher interface {
	Publish(ctx context.Context, msgs []stream.Message) error
}

// Pace is how fast a replay publishes: at most one of Speed (data time per
// wall time: 3600 publishes one hour of intervals per second) and Rate
// (messages per second); neither is full speed.
type Pace struct {
	Speed float64
	Rate  float64
}

// ParseSpeed reads "3600x" (or "3600").
func ParseSpeed(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "x"), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a speed like 3600x (one hour of data per second)", s)
	}
	return v, nil
}

// ParseRate reads "500/s" (or "500").
func ParseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a rate like 500/s (messages per second)", s)
	}
	return v, nil
}

// fullSpeedChunk is how many messages go in one publish at full speed.
const fullSpeedChunk = 20_000

// Publish sends the plan's messages in order at the pace, calling progress
// (if set) after each batch with the messages sent and the start of the
// latest interval sent. It returns when all are acknowledged or ctx is done.
func Publish(ctx context.Context, pub Publisher, plan *Plan, pace Pace, progress func(done int, upTo time.Time)) error {
	msgs := plan.Messages
	begin := time.Now()
	for i := 0; i < len(msgs); {
		j := nextBatch(plan, pace, i)
		if wait := due(plan, pace, i, begin); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		if err := pub.Publish(ctx, msgs[i:j]); err != nil {
			return fmt.Errorf("replay: after %d of %d messages: %w", i, len(msgs), err)
		}
		i = j
		if progress != nil {
			progress(i, plan.Starts[i-1])
		}
	}
	return nil
}

// nextBatch is the end of the batch that starts at i: at full speed a large
// chunk; at a speed, every message of one interval start; at a rate, a tenth
// of a second's worth.
func nextBatch(plan *Plan, pace Pace, i int) int {
	n := len(plan.Messages)
	switch {
	case pace.Speed > 0:
		j := i + 1
		for j < n && plan.Starts[j].Equal(plan.Starts[i]) {
			j++
		}
		return j
	case pace.Rate > 0:
		return min(n, i+max(1, int(pace.Rate/10)))
	}
	return min(n, i+fullSpeedChunk)
}

// due is how long to wait before sending message i.
func due(plan *Plan, pace Pace, i int, begin time.Time) time.Duration {
	var at time.Duration
	switch {
	case pace.Speed > 0:
		at = time.Duration(float64(plan.Starts[i].Sub(plan.Starts[0])) / pace.Speed)
	case pace.Rate > 0:
		at = time.Duration(float64(i) / pace.Rate * float64(time.Second))
	default:
		return 0
	}
	return time.Until(begin.Add(at))
}
