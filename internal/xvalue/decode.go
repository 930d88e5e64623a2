package xvalue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// KeyError is what is wrong with one key, in the user's words.
type KeyError struct {
	// Key is the key's path from the top of the file:
	// x-bluegreen.health.timeout, x-bluegreen.services[1].
	Key string
	// Problem says what was wanted and what was found: "want a duration
	// like 30s, got 5", `unknown key "heath" (did you mean "health"?)`.
	Problem string
}

func (e KeyError) Error() string {
	if e.Key == "" {
		return e.Problem
	}
	return e.Key + ": " + e.Problem
}

// Errors are the problems of one section, sorted by key: Decode reports
// them all at once.
type Errors []KeyError

func (e Errors) Error() string {
	msgs := make([]string, len(e))
	for i, ke := range e {
		msgs[i] = ke.Error()
	}
	return strings.Join(msgs, "; ")
}

// Wanter is a type that says, in the user's words, what a value of it
// must be ("a whole number"); Decode writes "want <Want()>" when a value
// does not decode into it.
type Wanter interface {
	Want() string
}

// Decode decodes raw, a JSON object, into v, a pointer to a struct with
// json tags; section is the path of raw in the file (x-bluegreen.nginx)
// and prefixes every key of the errors. A key the struct does not know is
// an error that suggests the nearest known key; a value of the wrong type
// is an error that says what was wanted, in the words a field's tag
// `want:"a duration like 30s"` gives, else its type's (Wanter, or its
// kind: "a string", "a list", "a mapping of keys"). Keys match exactly,
// not ignoring case as encoding/json does; embedded structs are not
// supported. A null value leaves its field as it is. The error is Errors;
// no control character of the input reaches it raw, and values are shown
// only when short, with a URL's secrets masked.
func Decode(section string, raw []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("xvalue.Decode: %T is not a non-nil pointer", v)
	}
	var d decoder
	d.value(section, raw, rv.Elem(), "")
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b KeyError) int { return strings.Compare(a.Key, b.Key) })
	return d.errs
}

// UnknownKey is the error for key, which the section does not know: it
// suggests the nearest of known when one is close, else lists them.
func UnknownKey(section, key string, known []string) KeyError {
	if near, ok := Nearest(key, known); ok {
		return KeyError{section, fmt.Sprintf("unknown key %q (did you mean %q?)", key, near)}
	}
	return KeyError{section, fmt.Sprintf("unknown key %q (known keys: %s)", key, strings.Join(slices.Sorted(slices.Values(known)), ", "))}
}

// Wrong is the error for a value of key that is not what was wanted:
// "want <want>, got <the value>", the value shown as Decode shows it.
func Wrong(key, want string, raw []byte) KeyError {
	return KeyError{key, "want " + want + ", " + got(raw)}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

type decoder struct {
	errs Errors
}

// value decodes raw into v, the value at key; want, when not empty, says
// what v must be.
func (d *decoder) value(key string, raw []byte, v reflect.Value, want string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return
	}
	if want == "" {
		want = wanted(v.Type())
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		d.unmarshaler(key, raw, v.Addr().Interface().(json.Unmarshaler), want)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(key, raw, v.Elem(), want)
	case reflect.Struct:
		d.object(key, raw, v, want)
	case reflect.Slice:
		d.list(key, raw, v, want)
	default:
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			d.errs = append(d.errs, Wrong(key, want, raw))
		}
	}
}

// unmarshaler decodes raw with u's own UnmarshalJSON; Errors it returns
// (a nested Decode) are moved under key.
func (d *decoder) unmarshaler(key string, raw []byte, u json.Unmarshaler, want string) {
	err := u.UnmarshalJSON(raw)
	var nested Errors
	switch {
	case err == nil:
	case errors.As(err, &nested):
		for _, ke := range nested {
			d.errs = append(d.errs, KeyError{join(key, ke.Key), ke.Problem})
		}
	default:
		d.errs = append(d.errs, Wrong(key, want, raw))
	}
}

// object decodes the JSON object raw into the struct v, key by key.
func (d *decoder) object(key string, raw []byte, v reflect.Value, want string) {
	var m map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		d.errs = append(d.errs, Wrong(key, want, raw))
		return
	}
	fields := fieldsOf(v.Type())
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i, ok := fields[k]
		if !ok {
			d.errs = append(d.errs, UnknownKey(key, k, slices.Collect(maps.Keys(fields))))
			continue
		}
		d.value(join(key, k), m[k], v.Field(i), v.Type().Field(i).Tag.Get("want"))
	}
}

// list decodes the JSON array raw into the slice v, item by item.
func (d *decoder) list(key string, raw []byte, v reflect.Value, want string) {
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		d.errs = append(d.errs, Wrong(key, want, raw))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		d.value(fmt.Sprintf("%s[%d]", key, i), item, s.Index(i), "")
	}
	v.Set(s)
}

// fieldsOf maps each key of the struct type t (its json tag's name, else
// the field's name) to the field's index.
func fieldsOf(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = i
	}
	return fields
}

// wanted says what a value of t must be.
func wanted(t reflect.Type) string {
	if w, ok := reflect.New(t).Interface().(Wanter); ok {
		return w.Want()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return wanted(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "a mapping of keys"
}

func join(key, sub string) string {
	switch {
	case key == "":
		return sub
	case sub == "":
		return key
	}
	return key + "." + sub
}
