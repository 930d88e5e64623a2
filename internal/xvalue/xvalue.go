// Package xvalue decodes the sections of the x-bluegreen extension of a
// compose file: the core's and each proxy's. Compose leaves an interpolated
// value ("${BLUE_PORT:-8081}") as a string in extensions, so numbers and
// booleans may arrive as strings. Decode reports every problem in the
// user's words, with the key's path: a key the section does not know, with
// the nearest known key when one is close ("did you mean"), and a value of
// the wrong type, with what was wanted ("want a duration like 30s, got
// 5"). No control character of the input reaches a message raw.
package xvalue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Number is a whole number that may be written as a string.
type Number int

func (n *Number) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*n = Number(v)
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = Number(v)
	return nil
}

// Want says what a Number must be, for Decode's messages.
func (Number) Want() string { return "a whole number" }

// Bool is a true/false that may be written as a string.
type Bool bool

func (v *Bool) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		parsed, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*v = Bool(parsed)
		return nil
	}
	var parsed bool
	if err := json.Unmarshal(b, &parsed); err != nil {
		return fmt.Errorf("%s is not true or false", b)
	}
	*v = Bool(parsed)
	return nil
}

// Want says what a Bool must be, for Decode's messages.
func (Bool) Want() string { return "true or false" }

// WantDuration says what a duration must be; a string field that holds
// one has the tag `want:"a duration like 30s"` for Decode's messages.
const WantDuration = "a duration like 30s"

// Duration parses the duration v of key: (0, false) when v is empty;
// a KeyError, in words, when v is not a duration or is an explicit zero
// while zero is refused (leaving the key out gives its default, which an
// explicit 0 would not).
func Duration(key, v string, zeroRefused bool, def time.Duration) (time.Duration, bool, error) {
	if v == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false, KeyError{key, "want " + WantDuration + ", got " + Shown(v)}
	}
	if d == 0 && zeroRefused {
		return 0, false, KeyError{key, fmt.Sprintf("%s must be above 0; leave it out for the default %s", Shown(v), def)}
	}
	return d, true, nil
}

// HasControl reports whether s holds a control character (a newline, a
// tab, NUL, DEL...).
func HasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// EscapeControl writes the control characters of s as Go escapes (\n),
// leaving the rest as it is.
func EscapeControl(s string) string {
	if !HasControl(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Controls reports, for each key whose value holds a control character,
// one message; values are quoted (%q), so the message shows them escaped.
func Controls(kv ...string) []string {
	var errs []string
	for i := 0; i+1 < len(kv); i += 2 {
		if HasControl(kv[i+1]) {
			errs = append(errs, fmt.Sprintf("%s: %q holds a control character", kv[i], kv[i+1]))
		}
	}
	return errs
}
