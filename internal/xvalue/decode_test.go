package xvalue

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type testInner struct {
	Timeout string `json:"timeout" want:"a duration like 30s"`
	Count   Number `json:"count"`
}

type testSection struct {
	Name    string     `json:"name"`
	Enabled Bool       `json:"enabled"`
	Inner   *testInner `json:"inner"`
	Items   []string   `json:"items"`
	Ratio   float64    `json:"ratio"`
	Skipped string     `json:"-"`
	Plain   int
}

func TestDecode(t *testing.T) {
	var got testSection
	raw := `{"name": "web", "enabled": "true", "inner": {"timeout": "5s", "count": "3"}, "items": ["a", "b"], "ratio": 0.5, "Plain": 7}`
	if err := Decode("x", []byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	want := testSection{Name: "web", Enabled: true, Inner: &testInner{Timeout: "5s", Count: 3}, Items: []string{"a", "b"}, Ratio: 0.5, Plain: 7}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestDecodeNullLeavesTheField(t *testing.T) {
	got := testSection{Name: "kept"}
	if err := Decode("x", []byte(`{"name": null, "inner": null}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "kept" || got.Inner != nil {
		t.Errorf("got %+v, want the name kept and no inner", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"typo", `{"nmae": "web"}`, `x.sec: unknown key "nmae" (did you mean "name"?)`},
		{"other case", `{"Name": "web"}`, `x.sec: unknown key "Name" (did you mean "name"?)`},
		{"typo in a nested section", `{"inner": {"timout": "5s"}}`, `x.sec.inner: unknown key "timout" (did you mean "timeout"?)`},
		{"no near key", `{"zzz": 1}`, `x.sec: unknown key "zzz" (known keys: Plain, enabled, inner, items, name, ratio)`},
		{"a key json ignores", `{"Skipped": "x"}`, `x.sec: unknown key "Skipped"`},
		{"control character in a key", `{"na\u0000me": 1}`, `x.sec: unknown key "na\x00me"`},
		{"duration", `{"inner": {"timeout": 5}}`, `x.sec.inner.timeout: want a duration like 30s, got 5`},
		{"whole number", `{"inner": {"count": "many"}}`, `x.sec.inner.count: want a whole number, got "many"`},
		{"whole number, a fraction", `{"inner": {"count": 1.5}}`, `x.sec.inner.count: want a whole number, got 1.5`},
		{"number", `{"ratio": "half"}`, `x.sec.ratio: want a number, got "half"`},
		{"int", `{"Plain": true}`, `x.sec.Plain: want a whole number, got true`},
		{"bool", `{"enabled": 2}`, `x.sec.enabled: want true or false, got 2`},
		{"string", `{"name": false}`, `x.sec.name: want a string, got false`},
		{"list", `{"items": "a"}`, `x.sec.items: want a list, got "a"`},
		{"list item", `{"items": ["a", {"b": 1}]}`, `x.sec.items[1]: want a string, got a mapping`},
		{"mapping", `{"inner": [1]}`, `x.sec.inner: want a mapping of keys, got a list`},
		{"section not a mapping", `"web"`, `x.sec: want a mapping of keys, got "web"`},
		{"control character in a value", `{"name": 1, "enabled": "ye\ns"}`, `x.sec.enabled: want true or false, got "ye\ns"`},
		{"URL secrets masked", `{"enabled": "https://ops:s3cretpw@h/?token=t0kv4l"}`, `x.sec.enabled: want true or false, got "https://ops:xxxxx@h/?token=xxxxx"`},
		{"long string not shown", `{"enabled": "` + strings.Repeat("k", 41) + `"}`, `x.sec.enabled: want true or false, got a string of 41 characters`},
		{"long number not shown", `{"name": ` + strings.Repeat("9", 41) + `}`, `x.sec.name: want a string, got a value of 41 characters`},
		{"all problems, sorted by key", `{"name": 1, "enabled": 2, "nam": 3}`,
			`x.sec: unknown key "nam" (did you mean "name"?); x.sec.enabled: want true or false, got 2; x.sec.name: want a string, got 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v testSection
			err := Decode("x.sec", []byte(tc.raw), &v)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			if HasControl(err.Error()) {
				t.Errorf("err = %q holds a raw control character", err)
			}
			for _, secret := range []string{"s3cretpw", "t0kv4l", strings.Repeat("k", 41), strings.Repeat("9", 41)} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err = %q shows %q", err, secret)
				}
			}
		})
	}
}

// An UnmarshalJSON that decodes with Decode itself (a value that is a
// number or a mapping) has its errors moved under its key.
type testSlot struct {
	Port Number `json:"port"`
	File string `json:"file"`
}

func (s *testSlot) UnmarshalJSON(b []byte) error {
	if strings.HasPrefix(string(b), "{") {
		type plain testSlot
		return Decode("", b, (*plain)(s))
	}
	return s.Port.UnmarshalJSON(b)
}

func (testSlot) Want() string { return "a port or {file: ...}" }

func TestDecodeNestedUnmarshaler(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"nested typo", `{"blue": {"fil": "b.yaml"}}`, `x.slots.blue: unknown key "fil" (did you mean "file"?)`},
		{"nested type", `{"blue": {"port": "p"}}`, `x.slots.blue.port: want a whole number, got "p"`},
		{"its own want", `{"blue": true}`, `x.slots.blue: want a port or {file: ...}, got true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v struct {
				Blue testSlot `json:"blue"`
			}
			err := Decode("x.slots", []byte(tc.raw), &v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestDecodeNotAPointer(t *testing.T) {
	if err := Decode("x", []byte(`{}`), testSection{}); err == nil {
		t.Error("decoding into a struct value: no error")
	}
}

func TestNearest(t *testing.T) {
	known := []string{"health", "port", "service", "services", "nginx", "drain_timeout", "id"}
	for _, tc := range []struct {
		key, want string // want "" for no suggestion
	}{
		{"heath", "health"},
		{"ngnix", "nginx"},                // two letters swapped: one edit
		{"drian_timout", "drain_timeout"}, // two edits in a long key
		{"servics", "service"},            // as near as services: the first sorted
		{"PORT", "port"},
		{"idd", "id"},
		{"host", ""}, // two edits from port: too far for a short key
		{"x", ""},
		{"timeout", ""},
		{"zzzzzz", ""},
	} {
		got, ok := Nearest(tc.key, known)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Nearest(%q) = %q, %v; want %q", tc.key, got, ok, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		v, want string
		refuse0 bool
	}{
		{"soon", `x.t: want a duration like 30s, got "soon"`, false},
		{"5", `x.t: want a duration like 30s, got "5"`, false},
		{"0s", `x.t: "0s" must be above 0; leave it out for the default 1s`, true},
	} {
		_, _, err := Duration("x.t", tc.v, tc.refuse0, 1e9)
		var ke KeyError
		if !errors.As(err, &ke) || err.Error() != tc.want {
			t.Errorf("Duration(%q) = %v, want %q", tc.v, err, tc.want)
		}
	}
	if d, ok, err := Duration("x.t", "0s", false, 1e9); d != 0 || !ok || err != nil {
		t.Errorf("Duration(0s, zero allowed) = %v, %v, %v", d, ok, err)
	}
}
