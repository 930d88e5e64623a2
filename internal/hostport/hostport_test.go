package hostport

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::1]:80", "[::1]:80"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80"},
		{"web-blue_1:8000", "web-blue_1:8000"},
		{"127.0.0.1:08080", "127.0.0.1:8080"},
		{"[127.0.0.1]:0080", "127.0.0.1:80"},
	} {
		got, err := Parse(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1", "want host:port"},
		{"127.0.0.1:0", "want a number 1-65535"},
		{"127.0.0.1:65536", "want a number 1-65535"},
		{"127.0.0.1:+80", "want a number 1-65535"},
		{"[fe80::1%eth0]:80", "IPv6 zones"},
		{"[web]:80", "not an IPv6 address"},
		{"_web:80", "plain host name"},
		{"{http.request.header.X}:80", "plain host name"},
		{"a;b:80", "plain host name"},
		{"unix//run/x:80", "plain host name"},
		{"-web:80", "plain host name"},
		{"web\n:80", "plain host name"},
		{strings.Repeat("a", 254) + ":80", "plain host name"},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}
