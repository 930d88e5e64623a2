package haproxy_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestHAProxyPreflight runs Preflight against private HAProxys set up
// right and wrong: each fault is one error that names the setting and
// wraps ErrPreflight and its cause, and Preflight changes no server.
func TestHAProxyPreflight(t *testing.T) {
	operator := filepath.Join(t.TempDir(), "operator.sock")
	h := testutil.HAProxyWith(t, testutil.HAProxyOptions{Global: []string{"stats socket " + operator + " mode 600 level operator"}})
	noGreen := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
		"server blue " + testutil.PlaceholderServer, "server greem " + testutil.PlaceholderServer,
	}})
	weightless := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
		"server-template blue 2 " + testutil.PlaceholderServer, "server-template green 2 " + testutil.PlaceholderServer + " weight 0",
	}})
	tracking := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
		"server blue " + testutil.PlaceholderServer, "server green " + testutil.PlaceholderServer + " no-check track web/blue",
	}})
	for _, tc := range []struct {
		name    string
		h       *testutil.HAProxyServer
		socket  string // default: h.Socket
		backend string // default: h.Backend
		wantIs  error  // nil: no error
		want    string // in the message
	}{
		{name: "as a user writes it before the first deploy", h: h},
		{name: "replicas (server-template)", h: testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
			"server-template blue 3 " + testutil.PlaceholderServer, "server-template green 3 " + testutil.PlaceholderServer,
		}})},
		{name: "socket missing", h: h, socket: filepath.Join(t.TempDir(), "admin.sock"), wantIs: haproxy.ErrSocket,
			want: "no such file or directory"},
		{name: "socket relative", h: h, socket: "admin.sock", wantIs: bluegreen.ErrBadInput, want: "haproxy.socket"},
		{name: "socket of level operator", h: h, socket: operator, wantIs: haproxy.ErrNotAdmin, want: "is at level operator"},
		{name: "backend missing", h: h, backend: "wbe", wantIs: haproxy.ErrNoBackend, want: `haproxy.backend: haproxy backend not found: HAProxy has no backend "wbe" (it has web)`},
		{name: "backend name not valid", h: h, backend: "web;show info", wantIs: bluegreen.ErrBadInput, want: "haproxy.backend"},
		{name: "no server named green", h: noGreen, wantIs: haproxy.ErrNoServer, want: `backend web has no server named green (or green1, green2... for replicas): declare one, such as "server green 127.0.0.1:8080 check"`},
		{name: "weight 0", h: weightless, wantIs: haproxy.ErrNoServer, want: "server web/green1 has weight 0"},
		{name: "a server that tracks another", h: tracking, wantIs: haproxy.ErrNoServer, want: "server web/green tracks web/blue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &haproxy.Switcher{Socket: tc.h.Socket, Backend: tc.h.Backend}
			if tc.socket != "" {
				sw.Socket = tc.socket
			}
			if tc.backend != "" {
				sw.Backend = tc.backend
			}
			before := servers(t, tc.h)
			err := sw.Preflight(t.Context())
			t.Logf("Preflight: %v", err)
			switch {
			case tc.wantIs == nil && err != nil:
				t.Errorf("Preflight: %v, want nil", err)
			case tc.wantIs != nil && (!errors.Is(err, tc.wantIs) || !errors.Is(err, haproxy.ErrPreflight)):
				t.Errorf("Preflight: %v; want an error wrapping ErrPreflight and %v", err, tc.wantIs)
			case err != nil && !strings.Contains(err.Error(), tc.want):
				t.Errorf("Preflight: %v; want it to say %q", err, tc.want)
			}
			if diff := cmp.Diff(before, servers(t, tc.h)); diff != "" {
				t.Errorf("Preflight changed servers (-before +after):\n%s", diff)
			}
		})
	}
}
