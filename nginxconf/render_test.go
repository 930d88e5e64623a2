package nginxconf

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// TestRender compares rendered upstream files with testdata/render-*.golden.
// After a deliberate change of the format, go test -run TestRender -update
// rewrites them: review their diff.
func TestRender(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   upstream
	}{
		{"one-address", upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{"127.0.0.1:8081"}}},
		{"three-replicas", upstream{Slot: bluegreen.Green, Name: "backend", Addrs: []string{
			"shop-green-web-1:8000", "shop-green-web-2:8000", "shop-green-web-3:8000",
		}}},
		{"keepalive", upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{
			"127.0.0.1:8081", "127.0.0.1:8082",
		}, Keepalive: 16}},
		{"container-name-with-underscore", upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{"my_shop-blue-web_app-1:8000"}}},
		{"host-names-and-ipv6", upstream{Slot: bluegreen.Green, Name: "app_v2.internal-1", Addrs: []string{
			"127.0.0.1:8080", "app.example:80", "[::1]:8080",
		}}},
		{"canonical-form", upstream{Slot: bluegreen.Blue, Name: "b", Addrs: []string{"[127.0.0.1]:0080", "[0:0::1]:443"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := render(tc.in)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			golden := filepath.Join("testdata", "render-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("render differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestRenderInvalid(t *testing.T) {
	ok := upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{"127.0.0.1:8081"}}
	for _, tc := range []struct {
		name   string
		change func(u *upstream)
	}{
		{"no slot", func(u *upstream) { u.Slot = bluegreen.None }},
		{"unknown slot", func(u *upstream) { u.Slot = "red" }},
		{"empty upstream name", func(u *upstream) { u.Name = "" }},
		{"upstream name with ;", func(u *upstream) { u.Name = "backend; include /etc/passwd" }},
		{"upstream name with }", func(u *upstream) { u.Name = "b}" }},
		{"upstream name with space", func(u *upstream) { u.Name = "a b" }},
		{"no addresses", func(u *upstream) { u.Addrs = nil }},
		{"no port", func(u *upstream) { u.Addrs = []string{"127.0.0.1"} }},
		{"port 0", func(u *upstream) { u.Addrs = []string{"127.0.0.1:0"} }},
		{"port too big", func(u *upstream) { u.Addrs = []string{"127.0.0.1:65536"} }},
		{"port with sign", func(u *upstream) { u.Addrs = []string{"127.0.0.1:+80"} }},
		{"port not a number", func(u *upstream) { u.Addrs = []string{"127.0.0.1:http"} }},
		{"address with ;", func(u *upstream) { u.Addrs = []string{"127.0.0.1:80; server evil:80"} }},
		{"host with ;", func(u *upstream) { u.Addrs = []string{"a;b:80"} }},
		{"host with space", func(u *upstream) { u.Addrs = []string{"a b:80"} }},
		{"host with newline", func(u *upstream) { u.Addrs = []string{"a\n}:80"} }},
		{"host with brace", func(u *upstream) { u.Addrs = []string{"a}:80"} }},
		{"host starting with -", func(u *upstream) { u.Addrs = []string{"-a:80"} }},
		{"host starting with _", func(u *upstream) { u.Addrs = []string{"_a:80"} }},
		{"empty host", func(u *upstream) { u.Addrs = []string{":80"} }},
		{"unix socket", func(u *upstream) { u.Addrs = []string{"unix:/run/app.sock"} }},
		{"IPv6 zone", func(u *upstream) { u.Addrs = []string{"[fe80::1%eth0;x]:80"} }},
		{"one bad among good", func(u *upstream) { u.Addrs = []string{"127.0.0.1:80", "127.0.0.1:x"} }},
		{"negative keepalive", func(u *upstream) { u.Keepalive = -1 }},
		{"keepalive too big", func(u *upstream) { u.Keepalive = MaxKeepalive + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := ok
			tc.change(&u)
			got, err := render(u)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("render(%+v) = %q, %v; want an error wrapping ErrInvalid", u, got, err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want upstream // zero: want ErrUnmanaged
	}{
		{
			name: "managed",
			in:   "# Managed by bluegreen: do not edit. slot=green\nupstream backend {\n    server 127.0.0.1:8080;\n    server [::1]:8080;\n}\n",
			want: upstream{Slot: bluegreen.Green, Name: "backend", Addrs: []string{"127.0.0.1:8080", "[::1]:8080"}},
		},
		{name: "empty", in: ""},
		{name: "no header", in: "upstream backend {\n    server 127.0.0.1:8080;\n}\n"},
		{name: "slot none", in: "# Managed by bluegreen: do not edit. slot=none\nupstream backend {\n    server 127.0.0.1:8080;\n}\n"},
		{name: "unknown slot", in: "# Managed by bluegreen: do not edit. slot=red\nupstream backend {\n    server 127.0.0.1:8080;\n}\n"},
		{
			name: "keepalive",
			in:   "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    server 127.0.0.1:8080;\n    keepalive 8;\n}\n",
			want: upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{"127.0.0.1:8080"}, Keepalive: 8},
		},
		{name: "extra directive", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    server 127.0.0.1:8080;\n    least_conn;\n}\n"},
		{name: "keepalive before server", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    keepalive 8;\n    server 127.0.0.1:8080;\n}\n"},
		{name: "keepalive not a number", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    server 127.0.0.1:8080;\n    keepalive 08;\n}\n"},
		{name: "keepalive 0", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    server 127.0.0.1:8080;\n    keepalive 0;\n}\n"},
		{name: "server option", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    server 127.0.0.1:8080 max_fails=3;\n}\n"},
		{name: "no server", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n}\n"},
		{name: "CRLF", in: "# Managed by bluegreen: do not edit. slot=blue\r\nupstream backend {\r\n    server 127.0.0.1:8080;\r\n}\r\n"},
		{name: "trailing text", in: "# Managed by bluegreen: do not edit. slot=blue\nupstream backend {\n    server 127.0.0.1:8080;\n}\nserver { }\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse([]byte(tc.in))
			if tc.want.Slot == bluegreen.None {
				if !errors.Is(err, ErrUnmanaged) {
					t.Fatalf("parse = %+v, %v; want an error wrapping ErrUnmanaged", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parse (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzRenderParse checks that whatever render accepts, parse reads back
// unchanged, and that it stays one upstream block of one server line per
// address: no input smuggles a directive into the nginx config.
func FuzzRenderParse(f *testing.F) {
	f.Add("blue", "backend", "127.0.0.1:8081", "[::1]:8081", 0)
	f.Add("green", "app_v2.x-1", "app.example:80", "10.0.0.1:0443", 16)
	f.Add("blue", "b;", "a:1", "a:1;\n}", -1)
	f.Add("green", "b", "[fe80::1%eth0]:80", "[127.0.0.1]:80", 1<<40)
	f.Fuzz(func(t *testing.T, slot, name, addr1, addr2 string, keepalive int) {
		in := upstream{Slot: bluegreen.Slot(slot), Name: name, Addrs: []string{addr1, addr2}, Keepalive: keepalive}
		data, err := render(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("render(%+v): %v; want an error wrapping ErrInvalid", in, err)
			}
			return
		}
		want, err := in.validate()
		if err != nil {
			t.Fatalf("validate after render succeeded: %v", err)
		}
		got, err := parse(data)
		if err != nil {
			t.Fatalf("parse(render(%+v)): %v\n%s", in, err, data)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parse(render) (-want +got):\n%s", diff)
		}
		directives := 2 // the two server lines, and keepalive when set
		if keepalive > 0 {
			directives++
		}
		lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
		if len(lines) != directives+3 {
			t.Fatalf("render gave %d lines, want %d:\n%s", len(lines), directives+3, data)
		}
		if strings.Count(string(data), ";") != directives || strings.Count(string(data), "{") != 1 ||
			strings.Count(string(data), "}") != 1 || strings.Count(string(data), "#") != 1 {
			t.Errorf("render gave extra nginx syntax:\n%s", data)
		}
	})
}

func TestIsPlainUpstream(t *testing.T) {
	for _, tc := range []struct {
		name string
		data string
		want bool
	}{
		{"placeholder", "upstream backend { server 127.0.0.1:1; }\n", true},
		{"several servers and comments", "# first deploy\nupstream backend {\n  server 127.0.0.1:8081; # blue\n  server 127.0.0.1:8080 backup;\n}\n", true},
		{"other name", "upstream api { server 127.0.0.1:1; }\n", false},
		{"site config", "server { listen 80; location / { proxy_pass http://backend; } }\n", false},
		{"upstream and more", "upstream backend { server 127.0.0.1:1; }\nserver { listen 80; }\n", false},
		{"two upstreams", "upstream backend { server a:1; }\nupstream backend2 { server b:1; }\n", false},
		{"empty", "", false},
	} {
		if got := isPlainUpstream([]byte(tc.data), "backend"); got != tc.want {
			t.Errorf("%s: isPlainUpstream = %v, want %v", tc.name, got, tc.want)
		}
	}
}
