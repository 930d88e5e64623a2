package haproxy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestHAProxySwitchMovesTraffic switches a private HAProxy, whose backend
// is as a user writes it before the first deploy (both servers enabled, at
// placeholder ports), to blue, then green, then blue, and reads each
// switch back from HAProxy and through its frontend: with health checks
// and without.
func TestHAProxySwitchMovesTraffic(t *testing.T) {
	for _, tc := range []struct{ name, options string }{
		{"health checks every 100ms", ""},
		{"no health checks", " no-check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := newBackend(t, "blue"), newBackend(t, "green")
			h := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
				"server blue " + testutil.PlaceholderServer + tc.options, "server green " + testutil.PlaceholderServer + tc.options,
			}})
			sw := newSwitcher(t, h)
			ctx := t.Context()

			if got, err := sw.Active(ctx); err != nil || got != bluegreen.None {
				t.Fatalf("Active before any switch = %v, %v; want none", got, err)
			}
			for _, step := range []struct {
				slot bluegreen.Slot
				b    *backend
			}{{bluegreen.Blue, blue}, {bluegreen.Green, green}, {bluegreen.Blue, blue}} {
				took, err := timed(func() error { return sw.Switch(ctx, step.slot, []string{step.b.addr()}) })
				if err != nil {
					t.Fatalf("Switch(%s): %v", step.slot, err)
				}
				// No retry: once Switch returns, new requests go to the slot.
				wantAnswers(t, h.URL, 10, step.slot.String())
				if got, err := sw.Active(ctx); err != nil || got != step.slot {
					t.Errorf("Active after switching to %s = %v, %v", step.slot, got, err)
				}
				drained := drainWithin(t, sw, 5*time.Second)
				t.Logf("switch to %s: %s, drain with nothing in flight: %s", step.slot, took, drained)
				old := step.slot.Other().String()
				if got := servers(t, h)[old]; !strings.HasPrefix(got, "admin=1 ") {
					t.Errorf("after Drain, %s is %s; want admin state 1 (maint)", old, got)
				}
			}
			if diff := cmp.Diff(map[string]string{
				"blue":  "admin=0 addr=" + blue.addr(),
				"green": "admin=1 addr=" + green.addr(),
			}, servers(t, h)); diff != "" {
				t.Errorf("servers at the end (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHAProxySwitchUnderLoad switches 20 times, with a drain after each,
// while 8 clients send requests through HAProxy without pause: none may
// fail, with health checks or without, with keep-alive clients or clients
// that open a new connection for each request.
func TestHAProxySwitchUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name, options string
		load          testutil.LoadOptions
	}{
		{"health checks every 100ms", "", testutil.LoadOptions{}},
		{"no health checks", " no-check", testutil.LoadOptions{}},
		{"a new connection per request", "", testutil.LoadOptions{NewConnections: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := newBackend(t, "blue"), newBackend(t, "green")
			addrs := map[bluegreen.Slot]string{bluegreen.Blue: blue.addr(), bluegreen.Green: green.addr()}
			h := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
				"server blue " + testutil.PlaceholderServer + tc.options, "server green " + testutil.PlaceholderServer + tc.options,
			}})
			sw := newSwitcher(t, h)
			sw.Logger = nil
			ctx := t.Context()
			switchAndDrain(t, sw, bluegreen.Blue, []string{blue.addr()})

			load := testutil.LoadWith(t, h.URL, tc.load)
			time.Sleep(200 * time.Millisecond)
			var switches, drains []time.Duration
			slot := bluegreen.Blue
			for range 20 {
				slot = slot.Other()
				took, err := timed(func() error { return sw.Switch(ctx, slot, []string{addrs[slot]}) })
				if err != nil {
					t.Fatalf("Switch(%s): %v", slot, err)
				}
				switches = append(switches, took)
				drains = append(drains, drainWithin(t, sw, 5*time.Second))
				time.Sleep(50 * time.Millisecond)
			}
			res := load.Stop()
			t.Log(res)
			t.Logf("20 switches: %s; drains: %s", spread(switches), spread(drains))
			if res.Failed != 0 || res.Versions["blue"] == 0 || res.Versions["green"] == 0 || res.Sent < 1000 {
				t.Errorf("load through the switches: %v; want none failed, both slots answering, at least 1000 sent", res)
			}
		})
	}
}

// spread shows the minimum, median and maximum of ds.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("min %s, median %s, max %s", r(s[0]), r(s[len(s)/2]), r(s[len(s)-1]))
}

// TestHAProxyReplicas routes to slots of three servers each
// (server-template), then to two replicas, and refuses more addresses than
// servers.
func TestHAProxyReplicas(t *testing.T) {
	h := haproxyOfThree(t)
	sw := newSwitcher(t, h)
	ctx := t.Context()
	replicas := func(slot string, n int) []string {
		var addrs []string
		for i := range n {
			addrs = append(addrs, newBackend(t, fmt.Sprintf("%s-%d", slot, i+1)).addr())
		}
		return addrs
	}
	answered := func() map[string]int {
		seen := map[string]int{}
		for i := range 30 {
			got, err := get(h.URL)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			seen[got]++
		}
		return seen
	}

	if err := sw.Switch(ctx, bluegreen.Blue, replicas("blue", 3)); err != nil {
		t.Fatal(err)
	}
	if seen := answered(); len(seen) != 3 || seen["blue-1"] == 0 || seen["blue-2"] == 0 || seen["blue-3"] == 0 {
		t.Errorf("answered by %v; want blue-1, blue-2 and blue-3", seen)
	}
	if got, err := sw.Active(ctx); err != nil || got != bluegreen.Blue {
		t.Errorf("Active = %v, %v; want blue", got, err)
	}

	green := replicas("green", 2)
	if err := sw.Switch(ctx, bluegreen.Green, green); err != nil {
		t.Fatal(err)
	}
	if seen := answered(); len(seen) != 2 || seen["green-1"] == 0 || seen["green-2"] == 0 {
		t.Errorf("answered by %v; want green-1 and green-2", seen)
	}
	drainWithin(t, sw, 5*time.Second)
	got := servers(t, h)
	for _, name := range []string{"blue1", "blue2", "blue3", "green3"} {
		if !strings.HasPrefix(got[name], "admin=1 ") {
			t.Errorf("%s is %s; want admin state 1 (maint)", name, got[name])
		}
	}

	before := servers(t, h)
	err := sw.Switch(ctx, bluegreen.Blue, replicas("blue", 4))
	if !errors.Is(err, haproxy.ErrNoServer) || !strings.Contains(err.Error(), "blue1 to blue4") {
		t.Fatalf("Switch with 4 addresses to 3 servers: %v; want ErrNoServer, saying to declare blue1 to blue4", err)
	}
	t.Log(err)
	if diff := cmp.Diff(before, servers(t, h)); diff != "" {
		t.Errorf("a refused switch changed servers (-before +after):\n%s", diff)
	}
}

// TestHAProxyBadInputSendsNothing gives Switch, Active, Drain and
// Preflight values that could carry a command of their own: each is
// refused as bad input before a command reaches the socket.
func TestHAProxyBadInputSendsNothing(t *testing.T) {
	h := testutil.HAProxy(t)
	sock := newFaultySocket(t, h.Socket, func(string) string { return "" })
	good := newBackend(t, "green").addr()
	for _, tc := range []struct {
		name    string
		socket  string
		backend string
		slot    bluegreen.Slot
		addrs   []string
	}{
		{"backend with ;", sock.path, "web;shutdown sessions server web/blue", bluegreen.Green, []string{good}},
		{"backend with a newline", sock.path, "web\nset server web/blue state maint", bluegreen.Green, []string{good}},
		{"backend with a space", sock.path, "web 4 -1", bluegreen.Green, []string{good}},
		{"backend with a backslash", sock.path, `web\;x`, bluegreen.Green, []string{good}},
		{"empty backend", sock.path, "", bluegreen.Green, []string{good}},
		{"address with ;", sock.path, "web", bluegreen.Green, []string{"127.0.0.1:8080;set server web/blue state maint"}},
		{"address with a newline", sock.path, "web", bluegreen.Green, []string{"127.0.0.1:8080\nset server web/blue state maint"}},
		{"host name", sock.path, "web", bluegreen.Green, []string{"localhost:8080"}},
		{"no port", sock.path, "web", bluegreen.Green, []string{"127.0.0.1"}},
		{"no address", sock.path, "web", bluegreen.Green, nil},
		{"slot none", sock.path, "web", bluegreen.None, []string{good}},
		{"slot red", sock.path, "web", "red", []string{good}},
		{"relative socket", "faulty.sock", "web", bluegreen.Green, []string{good}},
		{"socket with a newline", sock.path + "\n", "web", bluegreen.Green, []string{good}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := servers(t, h)
			sw := &haproxy.Switcher{Socket: tc.socket, Backend: tc.backend}
			if err := sw.Switch(t.Context(), tc.slot, tc.addrs); !errors.Is(err, bluegreen.ErrBadInput) {
				t.Errorf("Switch: %v; want an error wrapping ErrBadInput", err)
			} else {
				t.Log(err)
			}
			if tc.slot == bluegreen.Green && len(tc.addrs) == 1 && tc.addrs[0] == good {
				if _, err := sw.Active(t.Context()); !errors.Is(err, bluegreen.ErrBadInput) {
					t.Errorf("Active: %v; want an error wrapping ErrBadInput", err)
				}
				if err := sw.Drain(t.Context()); !errors.Is(err, bluegreen.ErrBadInput) {
					t.Errorf("Drain: %v; want an error wrapping ErrBadInput", err)
				}
				if err := sw.Preflight(t.Context()); !errors.Is(err, bluegreen.ErrBadInput) || !errors.Is(err, haproxy.ErrPreflight) {
					t.Errorf("Preflight: %v; want an error wrapping ErrBadInput and ErrPreflight", err)
				}
			}
			if cmds := sock.commands(); len(cmds) > 0 {
				t.Errorf("commands reached the socket: %q", cmds)
			}
			if diff := cmp.Diff(before, servers(t, h)); diff != "" {
				t.Errorf("servers changed (-before +after):\n%s", diff)
			}
		})
	}
}

// TestHAProxyRefusedCommandKeepsRouting has HAProxy refuse, in turn, each
// command of a switch from blue to green: the switch fails with an error
// that quotes the refusal, the servers are as they were, and traffic stays
// on blue.
func TestHAProxyRefusedCommandKeepsRouting(t *testing.T) {
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	h := testutil.HAProxy(t)
	sw := blueSwitcher(t, h, blue.addr())
	// The commands of a switch from blue (ready) to green (maint, at the
	// placeholder): set green's address, stage it in drain with its health
	// forced down until its checks pass, make it ready, drain blue.
	for _, refused := range []string{
		readyGreen[0], readyGreen[1], readyGreen[2], readyGreen[3],
		"set server web/blue state drain",
	} {
		t.Run(refused, func(t *testing.T) {
			before := servers(t, h)
			const answer = "Refused by the test."
			faulty, _ := refusingSwitcher(t, sw, refused, answer)
			err := faulty.Switch(t.Context(), bluegreen.Green, []string{green.addr()})
			wantRefused(t, "Switch", err, answer)
			if diff := cmp.Diff(before, servers(t, h)); diff != "" {
				t.Errorf("servers not set back (-before +after):\n%s", diff)
			}
			if got, err := sw.Active(t.Context()); err != nil || got != bluegreen.Blue {
				t.Errorf("Active = %v, %v; want blue", got, err)
			}
			wantAnswers(t, h.URL, 10, "blue")
		})
	}
	// And the switch goes through when nothing refuses.
	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatal(err)
	}
	wantAnswers(t, h.URL, 10, "green")
}

// TestHAProxyNewSlotNeverUp switches to an address where nothing listens:
// HAProxy's checks never find it UP, so the switch fails after Timeout,
// with what the last check said, and the servers are as they were.
func TestHAProxyNewSlotNeverUp(t *testing.T) {
	blue := newBackend(t, "blue")
	closed := newBackend(t, "closed")
	closed.Close()
	h := testutil.HAProxy(t)
	sw := blueSwitcher(t, h, blue.addr())
	before := servers(t, h)

	sw.Timeout = time.Second
	err := sw.Switch(t.Context(), bluegreen.Green, []string{closed.addr()})
	if !errors.Is(err, haproxy.ErrNotUp) || !strings.Contains(err.Error(), "L4CON") {
		t.Fatalf("Switch: %v; want an error wrapping ErrNotUp with the last check (L4CON)", err)
	}
	t.Log(err)
	if diff := cmp.Diff(before, servers(t, h)); diff != "" {
		t.Errorf("servers not set back (-before +after):\n%s", diff)
	}
	wantAnswers(t, h.URL, 10, "blue")
}

// TestHAProxyActiveInitialStates reads the slot back from backends as a
// user may write them before the first deploy, and switches each.
func TestHAProxyActiveInitialStates(t *testing.T) {
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	for _, tc := range []struct {
		name    string
		servers []string
		want    bluegreen.Slot
	}{
		{"both enabled", []string{"server blue " + blue.addr(), "server green " + green.addr()}, bluegreen.None},
		{"green disabled", []string{"server blue " + blue.addr(), "server green " + green.addr() + " disabled"}, bluegreen.Blue},
		{"blue disabled", []string{"server blue " + blue.addr() + " disabled", "server green " + green.addr()}, bluegreen.Green},
		{"both disabled", []string{"server blue " + blue.addr() + " disabled", "server green " + green.addr() + " disabled"}, bluegreen.None},
		{"a backup server besides", []string{"server blue " + blue.addr(), "server green " + green.addr() + " disabled", "server sorry 127.0.0.1:1 backup"}, bluegreen.Blue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: tc.servers})
			sw := newSwitcher(t, h)
			if got, err := sw.Active(t.Context()); err != nil || got != tc.want {
				t.Fatalf("Active = %v, %v; want %v", got, err, tc.want)
			}
			next := tc.want.Other()
			addr := map[bluegreen.Slot]string{bluegreen.Blue: blue.addr(), bluegreen.Green: green.addr()}[next]
			if err := sw.Switch(t.Context(), next, []string{addr}); err != nil {
				t.Fatal(err)
			}
			wantAnswers(t, h.URL, 10, next.String())
			if got, err := sw.Active(t.Context()); err != nil || got != next {
				t.Errorf("Active after the switch = %v, %v; want %v", got, err, next)
			}
		})
	}
}

// TestHAProxyTCPSocket drives HAProxy through a stats socket bound to TCP
// ("stats socket ipv4@127.0.0.1:PORT level admin").
func TestHAProxyTCPSocket(t *testing.T) {
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	socket := fmt.Sprintf("ipv4@127.0.0.1:%d", port)
	h := testutil.HAProxyWith(t, testutil.HAProxyOptions{Global: []string{"stats socket " + socket + " level admin"}})
	green := newBackend(t, "green")
	sw := &haproxy.Switcher{Socket: socket, Backend: h.Backend, Logger: testLogger(t)}
	if err := sw.Preflight(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatal(err)
	}
	wantAnswers(t, h.URL, 5, "green")
	if got, err := sw.Active(t.Context()); err != nil || got != bluegreen.Green {
		t.Errorf("Active = %v, %v; want green", got, err)
	}
}
