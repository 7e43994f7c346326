// Package offtake holds what every part of offtake shares: the error type for
// mistakes a user made (a bad file, flag or message), which carries the place
// and a hint so the command line can print one clear sentence and pick an exit
// code. The domain lives in the packages beside it: contracts, matching, ledger
// and settlement.
package offtake

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a mistake in something a user gave offtake: a contract file, a
// flag, a Kafka message. Place names where (file:line, topic/partition/offset,
// --flag), Field the field at fault, Msg what is wrong, Hint what to change.
type Error struct {
	Place string
	Field string
	Msg   string
	Hint  string
}

// Error formats "place: field: msg (hint)" leaving out the empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Place != "" {
		b.WriteString(e.Place)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errorf makes an *Error at place for field with a formatted message.
func Errorf(place, field, format string, args ...any) *Error {
	return &Error{Place: place, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// WithHint returns e with its hint set.
func (e *Error) WithHint(hint string) *Error {
	e.Hint = hint
	return e
}

// Errors is a list of user mistakes found together (a contract file is
// checked whole, so the user can fix every problem in one go).
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Err returns nil for an empty list and the list otherwise.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// IsUserError reports whether err (or anything it wraps) is a user mistake.
func IsUserError(err error) bool {
	var e *Error
	var es Errors
	return errors.As(err, &e) || errors.As(err, &es)
}
