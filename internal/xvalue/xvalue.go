// Package xvalue decodes the sections of the x-bluegreen extension of a
// compose file: the core's and each proxy's. Compose leaves an interpolated
// value ("${BLUE_PORT:-8081}") as a string in extensions, so numbers and
// booleans may arrive as strings; a key the section does not know is an
// error, and no control character of the input reaches a message raw.
package xvalue

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Decode decodes raw, a JSON object, into v, refusing unknown keys.
func Decode(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// An unknown key is quoted raw: escape what it may hold.
		return fmt.Errorf("%s", EscapeControl(err.Error()))
	}
	return nil
}

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

// Duration parses the duration v of key: ("", false) when v is empty;
// an error, in words, when v is not a duration or is an explicit zero
// while zero is refused (leaving the key out gives its default, which an
// explicit 0 would not).
func Duration(key, v string, zeroRefused bool, def time.Duration) (time.Duration, bool, error) {
	if v == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %q is not a duration (like 250ms or 30s)", key, v)
	}
	if d == 0 && zeroRefused {
		return 0, false, fmt.Errorf("%s: %q must be above 0; leave it out for the default %s", key, v, def)
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
