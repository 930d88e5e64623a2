package haproxy_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// counted is an HTTP server on 127.0.0.1 that answers its name, or 500 to
// every failEvery-th request when failEvery is set, and counts the
// requests it had and the 500s it sent.
type counted struct {
	*httptest.Server
	name      string
	failEvery atomic.Int64
	seen      atomic.Int64
	failed    atomic.Int64
}

func newCounted(t *testing.T, name string) *counted {
	c := &counted{name: name}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.seen.Add(1)
		if every := c.failEvery.Load(); every > 0 && n%every == 0 {
			c.failed.Add(1)
			http.Error(w, c.name+" failing", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, c.name)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *counted) addr() string { return c.Listener.Addr().String() }

// saw is what the server had: its requests, and the 500s among them.
func (c *counted) saw() bluegreen.Counts {
	return bluegreen.Counts{Requests: c.seen.Load(), Errors: c.failed.Load()}
}

// send GETs url n times and returns the answers: the body of a 200 ("blue"),
// "500 blue failing" for a 500, the error for a failed request.
func send(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			got[err.Error()]++
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer := strings.TrimSpace(string(body))
		switch {
		case err != nil:
			answer = err.Error()
		case resp.StatusCode != http.StatusOK:
			answer = strconv.Itoa(resp.StatusCode) + " " + answer
		}
		got[answer]++
	}
	return got
}

// weightsOf returns, from HAProxy itself, each server of h's backend as
// "admin=N weight=W": what a split changes.
func weightsOf(t *testing.T, h *testutil.HAProxyServer) map[string]string {
	t.Helper()
	// be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight
	return serversState(t, h, 9, func(f []string) string {
		return fmt.Sprintf("admin=%s weight=%s", f[6], f[7])
	})
}

func counts(t *testing.T, sw *haproxy.Switcher, slot bluegreen.Slot) bluegreen.Counts {
	t.Helper()
	c, err := sw.Counts(t.Context(), slot)
	if err != nil {
		t.Fatalf("Counts(%s): %v", slot, err)
	}
	return c
}

func sub(a, b bluegreen.Counts) bluegreen.Counts {
	return bluegreen.Counts{Requests: a.Requests - b.Requests, Errors: a.Errors - b.Errors}
}

// wantSplit checks that sw, and a Switcher made afresh for the same
// HAProxy (which can only read HAProxy), read back active and canary at
// percent.
func wantSplit(t *testing.T, h *testutil.HAProxyServer, sw *haproxy.Switcher, active, canary bluegreen.Slot, percent int) {
	t.Helper()
	fresh := &haproxy.Switcher{Socket: h.Socket, Backend: h.Backend}
	for name, s := range map[string]*haproxy.Switcher{"the Switcher": sw, "a fresh Switcher": fresh} {
		if got, err := s.Active(t.Context()); err != nil || got != active {
			t.Errorf("%s: Active = %v, %v; want %v", name, got, err, active)
		}
		if got, pct, err := s.Canary(t.Context()); err != nil || got != canary || pct != percent {
			t.Errorf("%s: Canary = %v, %d, %v; want %v, %d", name, got, pct, err, canary, percent)
		}
	}
}

// wantSplitUndone checks that a split that failed set back the weights
// (before) and the servers (addrs) and left blue alone active: n requests
// all answered by blue.
func wantSplitUndone(t *testing.T, h *testutil.HAProxyServer, sw *haproxy.Switcher, before, addrs map[string]string, n int) {
	t.Helper()
	if diff := cmp.Diff(before, weightsOf(t, h)); diff != "" {
		t.Errorf("weights not set back (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(addrs, servers(t, h)); diff != "" {
		t.Errorf("servers not set back (-before +after):\n%s", diff)
	}
	wantSplit(t, h, sw, bluegreen.Blue, bluegreen.None, 0)
	wantAnswers(t, h.URL, n, "blue")
}

// TestHAProxySplit splits a private HAProxy that routes to blue 10% to
// green, then 50%, then switches to green: each split is read back from
// HAProxy (by the Switcher and by a fresh one), the share of 1000 requests
// is the percent, and Counts tells what each slot's server answered, 500s
// included. The switch ends the split and sets the weights back.
func TestHAProxySplit(t *testing.T) {
	blue, green := newCounted(t, "blue"), newCounted(t, "green")
	h := testutil.HAProxy(t)
	sw := newSwitcher(t, h)
	ctx := t.Context()
	switchAndDrain(t, sw, bluegreen.Blue, []string{blue.addr()})
	wantSplit(t, h, sw, bluegreen.Blue, bluegreen.None, 0)
	green.failEvery.Store(5)

	for _, step := range []struct {
		percent int
		weights map[string]string
	}{
		{10, map[string]string{"blue": "admin=0 weight=9", "green": "admin=0 weight=1"}},
		{50, map[string]string{"blue": "admin=0 weight=3", "green": "admin=0 weight=3"}},
	} {
		took, err := timed(func() error {
			return sw.Split(ctx, bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{green.addr()}, step.percent)
		})
		if err != nil {
			t.Fatalf("Split %d%%: %v", step.percent, err)
		}
		wantSplit(t, h, sw, bluegreen.Blue, bluegreen.Green, step.percent)
		if diff := cmp.Diff(step.weights, weightsOf(t, h)); diff != "" {
			t.Errorf("servers after Split %d%% (-want +got):\n%s", step.percent, diff)
		}
		beforeBlue, beforeGreen := counts(t, sw, bluegreen.Blue), counts(t, sw, bluegreen.Green)
		sawBlue, sawGreen := blue.saw(), green.saw()
		const n = 1000
		got := send(t, h.URL, n)
		share := float64(got["green"]+got["500 green failing"]) / n
		t.Logf("split %d%%: took %s; answers %v; green's share %.3f", step.percent, took, got, share)
		if got["blue"]+got["green"]+got["500 green failing"] != n {
			t.Errorf("answers %v: want all from blue or green", got)
		}
		if want := float64(step.percent) / 100; share < want-0.03 || share > want+0.03 {
			t.Errorf("green's share %.3f, want %.2f ± 0.03", share, want)
		}
		dBlue, dGreen := sub(counts(t, sw, bluegreen.Blue), beforeBlue), sub(counts(t, sw, bluegreen.Green), beforeGreen)
		wBlue, wGreen := sub(blue.saw(), sawBlue), sub(green.saw(), sawGreen)
		t.Logf("Counts deltas: blue %+v (it saw %+v), green %+v (it saw %+v)", dBlue, wBlue, dGreen, wGreen)
		if dBlue != wBlue || dGreen != wGreen || dGreen.Errors == 0 {
			t.Errorf("Counts deltas blue %+v, green %+v; want what the servers saw: %+v, %+v, with green's 500s", dBlue, dGreen, wBlue, wGreen)
		}
		if int64(got["500 green failing"]) != dGreen.Errors {
			t.Errorf("clients had %d 500s, Counts says %d errors", got["500 green failing"], dGreen.Errors)
		}
	}

	green.failEvery.Store(0)
	if err := sw.Switch(ctx, bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatal(err)
	}
	wantSplit(t, h, sw, bluegreen.Green, bluegreen.None, 0)
	wantAnswers(t, h.URL, 50, "green")
	drainWithin(t, sw, 5*time.Second)
	if diff := cmp.Diff(map[string]string{"blue": "admin=1 weight=1", "green": "admin=0 weight=1"}, weightsOf(t, h)); diff != "" {
		t.Errorf("servers after the switch (-want +got):\n%s", diff)
	}
}

// TestHAProxySplitBackAndForth splits from green to blue and ends the
// split with a switch back to green, the base, as an aborted canary does;
// then splits the other way round, with replicas of unequal numbers.
func TestHAProxySplitBackAndForth(t *testing.T) {
	h := haproxyOfThree(t)
	sw := newSwitcher(t, h)
	ctx := t.Context()
	replicas := func(slot string, n int) ([]string, []*counted) {
		var addrs []string
		var cs []*counted
		for i := range n {
			c := newCounted(t, fmt.Sprintf("%s-%d", slot, i+1))
			addrs, cs = append(addrs, c.addr()), append(cs, c)
		}
		return addrs, cs
	}
	blues, _ := replicas("blue", 2)
	greens, _ := replicas("green", 3)
	switchAndDrain(t, sw, bluegreen.Green, greens)

	// 20% to two blue servers beside three green ones.
	if err := sw.Split(ctx, bluegreen.Green, greens, bluegreen.Blue, blues, 20); err != nil {
		t.Fatal(err)
	}
	wantSplit(t, h, sw, bluegreen.Green, bluegreen.Blue, 20)
	t.Logf("servers: %v", weightsOf(t, h))
	got := send(t, h.URL, 500)
	blueShare := float64(got["blue-1"]+got["blue-2"]) / 500
	t.Logf("split 20%% to blue (2 servers) beside green (3): %v; blue's share %.3f", got, blueShare)
	if blueShare < 0.17 || blueShare > 0.23 || got["blue-1"] == 0 || got["blue-2"] == 0 || got["blue-3"] != 0 {
		t.Errorf("answers %v: want about 20%% from blue-1 and blue-2", got)
	}

	// The canary is aborted: all to green again, at the config's weights.
	if err := sw.Switch(ctx, bluegreen.Green, greens); err != nil {
		t.Fatal(err)
	}
	wantSplit(t, h, sw, bluegreen.Green, bluegreen.None, 0)
	got = send(t, h.URL, 30)
	if got["green-1"]+got["green-2"]+got["green-3"] != 30 {
		t.Errorf("after the switch back: %v; want all from green", got)
	}
	drainWithin(t, sw, 5*time.Second)
	for name, w := range weightsOf(t, h) {
		if !strings.HasSuffix(w, " weight=1") {
			t.Errorf("after the switch back %s is %s; want weight 1, as the config has it", name, w)
		}
	}

	// 1% to three blue servers beside one green is beyond what weights up
	// to 256 make exact: green 256 and blue 2 (an even pair: green is the
	// base) is the nearest, 2.3%, and Canary reads back that, 2%.
	blues, _ = replicas("blue", 3)
	if err := sw.Split(ctx, bluegreen.Green, greens[:1], bluegreen.Blue, blues, 1); err != nil {
		t.Fatal(err)
	}
	t.Logf("1%% to 3 servers beside 1: servers %v", weightsOf(t, h))
	wantSplit(t, h, sw, bluegreen.Green, bluegreen.Blue, 2)
}

// TestHAProxySplitToClosedCanary splits 10% to a canary where nothing
// listens. Without health checks HAProxy sends it its share, the
// connection is refused, and HAProxy sends the request to blue instead
// ("option redispatch"): no client sees an error, and Counts counts each
// failed attempt on green as a request and an error. With health checks
// the split is refused, as green's servers never come UP, and the servers
// are as they were.
func TestHAProxySplitToClosedCanary(t *testing.T) {
	closed := newCounted(t, "closed")
	closed.Close()
	t.Run("no health checks", func(t *testing.T) {
		blue := newCounted(t, "blue")
		h := testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
			"server blue " + testutil.PlaceholderServer + " no-check", "server green " + testutil.PlaceholderServer + " no-check",
		}})
		sw := blueSwitcher(t, h, blue.addr())
		beforeBlue, beforeGreen, sawBlue := counts(t, sw, bluegreen.Blue), counts(t, sw, bluegreen.Green), blue.saw()
		if err := sw.Split(t.Context(), bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{closed.addr()}, 10); err != nil {
			t.Fatal(err)
		}
		const n = 500
		got := send(t, h.URL, n)
		dBlue, dGreen := sub(counts(t, sw, bluegreen.Blue), beforeBlue), sub(counts(t, sw, bluegreen.Green), beforeGreen)
		t.Logf("answers %v; Counts deltas: blue %+v (it saw %+v), green %+v (error rate %.2f)", got, dBlue, sub(blue.saw(), sawBlue), dGreen, dGreen.Rate())
		if got["blue"] != n {
			t.Errorf("answers %v; want all %d from blue", got, n)
		}
		if dBlue != sub(blue.saw(), sawBlue) {
			t.Errorf("blue's Counts delta %+v, want what it saw, %+v", dBlue, sub(blue.saw(), sawBlue))
		}
		if dGreen.Requests < n/20 || dGreen.Errors != dGreen.Requests {
			t.Errorf("green's Counts delta %+v; want its failed attempts (about %d) as requests and errors", dGreen, n/10)
		}
	})
	t.Run("health checks", func(t *testing.T) {
		blue := newCounted(t, "blue")
		h := testutil.HAProxy(t)
		sw := blueSwitcher(t, h, blue.addr())
		before := weightsOf(t, h)
		addrs := servers(t, h)
		sw.Timeout = time.Second
		err := sw.Split(t.Context(), bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{closed.addr()}, 10)
		if !errors.Is(err, haproxy.ErrNotUp) {
			t.Fatalf("Split: %v; want an error wrapping ErrNotUp", err)
		}
		t.Log(err)
		wantSplitUndone(t, h, sw, before, addrs, 20)
	})
}

// TestHAProxySplitRefusedCommandKeepsRouting has HAProxy refuse, in turn,
// each command of a 30% split from blue to green (in maintenance, at the
// placeholder): set the weights (blue 7, green 3), set green's address,
// stage it in drain with its health forced down until its checks pass,
// make it ready. The split fails with an error that quotes the refusal,
// the servers and their weights are as they were, and traffic stays on
// blue.
func TestHAProxySplitRefusedCommandKeepsRouting(t *testing.T) {
	blue, green := newCounted(t, "blue"), newCounted(t, "green")
	h := testutil.HAProxy(t)
	sw := blueSwitcher(t, h, blue.addr())
	for _, refused := range []string{
		"set weight web/blue 7",
		"set weight web/green 3",
		readyGreen[0], readyGreen[1], readyGreen[2], readyGreen[3],
	} {
		t.Run(refused, func(t *testing.T) {
			before, addrs := weightsOf(t, h), servers(t, h)
			const answer = "Refused by the test."
			faulty, sock := refusingSwitcher(t, sw, refused, answer)
			err := faulty.Split(t.Context(), bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{green.addr()}, 30)
			if err == nil {
				t.Errorf("Split went through: commands %q", sock.commands())
				switchAndDrain(t, sw, bluegreen.Blue, []string{blue.addr()})
				return
			}
			wantRefused(t, "Split", err, answer)
			wantSplitUndone(t, h, sw, before, addrs, 10)
		})
	}
}

// TestHAProxySplitSurvivesReload splits, saves the server states as the
// package doc says, reloads HAProxy: a fresh Switcher reads the split back
// and the share holds.
func TestHAProxySplitSurvivesReload(t *testing.T) {
	state := filepath.Join(t.TempDir(), "server-state")
	h := testutil.HAProxyWith(t, testutil.HAProxyOptions{
		Global:   []string{"server-state-file " + state},
		Defaults: []string{"load-server-state-from-file global"},
	})
	blue, green := newCounted(t, "blue"), newCounted(t, "green")
	sw := newSwitcher(t, h)
	if err := sw.Switch(t.Context(), bluegreen.Blue, []string{blue.addr()}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Split(t.Context(), bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{green.addr()}, 25); err != nil {
		t.Fatal(err)
	}
	out, err := h.Run("show servers state")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(state, []byte(out+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	wantSplit(t, h, sw, bluegreen.Blue, bluegreen.Green, 25)
	got := send(t, h.URL, 200)
	t.Logf("after the reload: %v; servers %v", got, weightsOf(t, h))
	if share := float64(got["green"]) / 200; got["blue"]+got["green"] != 200 || share < 0.2 || share > 0.3 {
		t.Errorf("after the reload: %v; want about 25%% from green", got)
	}
}

// TestHAProxySplitBadInput gives Split, Canary and Counts values they
// refuse as bad input before a command reaches the socket.
func TestHAProxySplitBadInput(t *testing.T) {
	h := testutil.HAProxy(t)
	sock := newFaultySocket(t, h.Socket, func(string) string { return "" })
	a, b := newCounted(t, "a").addr(), newCounted(t, "b").addr()
	good := []string{a}
	for _, tc := range []struct {
		name          string
		backend       string
		base, canary  bluegreen.Slot
		bAddrs, cAddr []string
		percent       int
	}{
		{"percent 0", "web", bluegreen.Blue, bluegreen.Green, good, []string{b}, 0},
		{"percent 100", "web", bluegreen.Blue, bluegreen.Green, good, []string{b}, 100},
		{"percent -10", "web", bluegreen.Blue, bluegreen.Green, good, []string{b}, -10},
		{"base and canary the same", "web", bluegreen.Blue, bluegreen.Blue, good, []string{b}, 10},
		{"base none", "web", bluegreen.None, bluegreen.Green, good, []string{b}, 10},
		{"canary red", "web", bluegreen.Blue, "red", good, []string{b}, 10},
		{"no canary address", "web", bluegreen.Blue, bluegreen.Green, good, nil, 10},
		{"no base address", "web", bluegreen.Blue, bluegreen.Green, nil, []string{b}, 10},
		{"host name", "web", bluegreen.Blue, bluegreen.Green, good, []string{"localhost:8080"}, 10},
		{"address with ;", "web", bluegreen.Blue, bluegreen.Green, good, []string{b + ";set weight web/blue 0"}, 10},
		{"backend with ;", "web;set weight web/blue 0", bluegreen.Blue, bluegreen.Green, good, []string{b}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &haproxy.Switcher{Socket: sock.path, Backend: tc.backend}
			err := sw.Split(t.Context(), tc.base, tc.bAddrs, tc.canary, tc.cAddr, tc.percent)
			if !errors.Is(err, bluegreen.ErrBadInput) {
				t.Errorf("Split: %v; want an error wrapping ErrBadInput", err)
			} else {
				t.Log(err)
			}
			if cmds := sock.commands(); len(cmds) > 0 {
				t.Errorf("commands reached the socket: %q", cmds)
			}
		})
	}
	sw := &haproxy.Switcher{Socket: sock.path, Backend: "web"}
	for _, slot := range []bluegreen.Slot{bluegreen.None, "red"} {
		if _, err := sw.Counts(t.Context(), slot); !errors.Is(err, bluegreen.ErrBadInput) {
			t.Errorf("Counts(%q): %v; want an error wrapping ErrBadInput", slot, err)
		}
	}
	sw.Backend = "web 4 -1"
	if _, _, err := sw.Canary(t.Context()); !errors.Is(err, bluegreen.ErrBadInput) {
		t.Errorf("Canary: %v; want an error wrapping ErrBadInput", err)
	}
	if err := sw.PreflightSplit(t.Context()); !errors.Is(err, bluegreen.ErrBadInput) || !errors.Is(err, haproxy.ErrPreflight) {
		t.Errorf("PreflightSplit: %v; want an error wrapping ErrBadInput and ErrPreflight", err)
	}
	if cmds := sock.commands(); len(cmds) > 0 {
		t.Errorf("commands reached the socket: %q", cmds)
	}
}

// TestHAProxyPreflightSplit runs PreflightSplit against backends that can
// split and backends that cannot, which Split and Counts refuse too.
func TestHAProxyPreflightSplit(t *testing.T) {
	servers := []string{"server blue " + testutil.PlaceholderServer, "server green " + testutil.PlaceholderServer}
	for _, tc := range []struct {
		name     string
		opts     testutil.HAProxyOptions
		want     string // in the message; "" for no error
		splitErr bool   // Split is refused too (ErrNoSplit)
		countErr bool   // Counts is refused too (ErrNoSplit)
	}{
		{name: "roundrobin (the default)", opts: testutil.HAProxyOptions{Servers: servers}},
		{name: "leastconn", opts: testutil.HAProxyOptions{Servers: append([]string{"balance leastconn"}, servers...)}},
		{name: "static-rr", opts: testutil.HAProxyOptions{Servers: append([]string{"balance static-rr"}, servers...)},
			want: `backend web has "balance static-rr"`, splitErr: true},
		{name: "first", opts: testutil.HAProxyOptions{Servers: append([]string{"balance first"}, servers...)},
			want: `backend web has "balance first"`},
		{name: "mode tcp", opts: testutil.HAProxyOptions{Servers: servers, Defaults: []string{"mode tcp"}},
			want: "backend web is in mode tcp", countErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testutil.HAProxyWith(t, tc.opts)
			sw := newSwitcher(t, h)
			err := sw.PreflightSplit(t.Context())
			t.Logf("PreflightSplit: %v", err)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("PreflightSplit: %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, haproxy.ErrPreflight) || !errors.Is(err, haproxy.ErrNoSplit) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("PreflightSplit: %v; want an error wrapping ErrPreflight and ErrNoSplit that says %q", err, tc.want)
			}
			if tc.splitErr {
				blue, green := newCounted(t, "blue"), newCounted(t, "green")
				if err := sw.Switch(t.Context(), bluegreen.Blue, []string{blue.addr()}); err != nil {
					t.Fatal(err)
				}
				before := weightsOf(t, h)
				err := sw.Split(t.Context(), bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{green.addr()}, 10)
				t.Logf("Split: %v", err)
				if !errors.Is(err, haproxy.ErrRefused) || !errors.Is(err, haproxy.ErrNoSplit) {
					t.Errorf("Split: %v; want an error wrapping ErrRefused and ErrNoSplit", err)
				}
				if diff := cmp.Diff(before, weightsOf(t, h)); diff != "" {
					t.Errorf("servers not set back (-before +after):\n%s", diff)
				}
			}
			if _, err := sw.Counts(t.Context(), bluegreen.Green); tc.countErr != errors.Is(err, haproxy.ErrNoSplit) {
				t.Errorf("Counts: %v; want an error wrapping ErrNoSplit: %v", err, tc.countErr)
			} else if err != nil {
				t.Logf("Counts: %v", err)
			}
		})
	}
}
