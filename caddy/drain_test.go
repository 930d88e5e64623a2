package caddy

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestCaddyLongRequestAcrossSwitch holds a 3 s request to blue across a
// switch to green, and records what Caddy does with it and what Drain can
// see of it: with Caddy's default settings, and with a grace period (the
// time Caddy gives a stopping server's connections) shorter than the
// request.
func TestCaddyLongRequestAcrossSwitch(t *testing.T) {
	for _, grace := range []string{"", "1s"} {
		t.Run("grace_period="+grace, func(t *testing.T) { testLongRequest(t, grace) })
	}
}

func testLongRequest(t *testing.T, grace string) {
	c := testutil.Caddy(t)
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	sw := switcher(t, c)
	if grace != "" {
		adminDo(t, c, http.MethodPut, "/config/apps/http/grace_period", `"`+grace+`"`)
	}
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())

	type result struct {
		body string
		err  error
		took time.Duration
	}
	held := make(chan result, 1)
	start := time.Now()
	go func() {
		body, err := get(c.URL + "/slow")
		held <- result{body, err, time.Since(start)}
	}()
	<-blue.slowStarted
	before := numRequests(pool(t, sw), blue.addr())

	switchStart := time.Now()
	mustSwitch(t, sw, bluegreen.Green, green.addr())
	switched := time.Since(switchStart)
	if got, err := get(c.URL); err != nil || got != "green" {
		t.Fatalf("new request after the switch: %q, %v; want green", got, err)
	}
	after := numRequests(pool(t, sw), blue.addr())
	if blue.slowFinished.Load() != 0 {
		t.Fatal("the slow request finished before Drain was called; the test proves nothing")
	}

	drainStart := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sw.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	drained := time.Since(drainStart)
	finishedAtDrain := blue.slowFinished.Load()
	r := <-held
	t.Logf("switch took %s; in flight to blue before the switch %d, after %d (-1: not listed); "+
		"Drain returned after %s with the request finished: %v; the request answered %q, %v after %s",
		switched, before, after, drained, finishedAtDrain == 1, r.body, r.err, r.took)

	// Caddy lets the request finish on the old upstream.
	if r.err != nil || r.body != "blue" {
		t.Errorf("request in flight during the switch: %q, %v; want blue", r.body, r.err)
	}
	if before != 1 {
		t.Errorf("before the switch Caddy lists %d requests in flight to blue, want 1", before)
	}
	switch after {
	case -1:
		// Caddy 2.6: the address left the pool with the config, so Drain
		// cannot count the request and returns at once.
		if drained > time.Second {
			t.Errorf("Drain took %s although Caddy does not list blue any more", drained)
		}
	default:
		// A Caddy that lists in-flight requests to removed upstreams
		// (caddyserver/caddy#7517): Drain must wait for them.
		if finishedAtDrain != 1 {
			t.Errorf("Caddy lists blue with %d requests in flight, yet Drain returned after %s before the request finished", after, drained)
		}
	}
}

// numRequests returns the requests in flight to addr, or -1 when the pool
// does not list addr.
func numRequests(pool []upstreamStatus, addr string) int {
	for _, u := range pool {
		if u.Address == addr {
			return u.NumRequests
		}
	}
	return -1
}

// TestCaddyDrainWaitsForListedRequests keeps blue in Caddy's upstream pool
// after the switch (a second handler still proxies to it), so that its
// requests stay countable: Drain must wait for the one in flight.
func TestCaddyDrainWaitsForListedRequests(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())
	// A second route, for /other only, that proxies to blue as well.
	adminDo(t, c, http.MethodPut, "/config/apps/http/servers/srv/routes/0",
		`{"match": [{"path": ["/other"]}], "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "`+blue.addr()+`"}]}]}`)

	held := make(chan error, 1)
	go func() {
		_, err := get(c.URL + "/slow")
		held <- err
	}()
	<-blue.slowStarted
	mustSwitch(t, sw, bluegreen.Green, green.addr())
	if n := numRequests(pool(t, sw), blue.addr()); n != 1 {
		t.Fatalf("after the switch Caddy lists %d requests in flight to blue, want 1", n)
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sw.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	t.Logf("Drain returned after %s", time.Since(start))
	if blue.slowFinished.Load() != 1 {
		t.Errorf("Drain returned after %s, before the request in flight to blue finished", time.Since(start))
	}
	if err := <-held; err != nil {
		t.Errorf("request in flight during the switch: %v", err)
	}

	// A Drain whose context ends first says how many requests it waited for.
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())
	go get(c.URL + "/slow")
	<-blue.slowStarted
	mustSwitch(t, sw, bluegreen.Green, green.addr())
	ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := sw.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 requests in flight to ["+blue.addr()+"]") {
		t.Errorf("Drain with a short deadline: %v; want an error wrapping context.DeadlineExceeded that counts the request", err)
	}
}

// TestCaddyStreamAcrossSwitch holds a streaming response (text/event-stream,
// a line every 100ms for 5 s) from blue across a switch.
func TestCaddyStreamAcrossSwitch(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())

	resp, err := http.Get(c.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
		done <- sc.Err()
		close(lines)
	}()
	for range 5 {
		<-lines
	}
	var switchedAt time.Time
	mustSwitch(t, sw, bluegreen.Green, green.addr())
	switchedAt = time.Now()

	var n int
	var last string
	for l := range lines {
		n, last = n+1, l
	}
	err = <-done
	lived := time.Since(switchedAt)
	end := <-blue.streamEnd
	t.Logf("stream after the switch: %d more lines, last %q, then %v after %s; blue's handler: %s", n, last, err, lived.Round(time.Millisecond), end)
	if err != nil || end != "complete" || last != "data: blue 49" {
		t.Errorf("the stream did not run to its end on blue: %d lines after the switch, last %q, err %v, blue: %s", n, last, err, end)
	}
}

// TestCaddyUpgradeAcrossSwitch holds two upgraded connections (as
// websockets are) across a switch: one to blue through the switched
// handler, one through another handler of the same Caddy that the switch
// does not touch.
func TestCaddyUpgradeAcrossSwitch(t *testing.T) {
	c := testutil.Caddy(t)
	blue, green, other := newBackend(t, "blue"), newBackend(t, "green"), newBackend(t, "other")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())
	adminDo(t, c, http.MethodPut, "/config/apps/http/servers/srv/routes/0",
		`{"match": [{"host": ["other.test"]}], "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": "`+other.addr()+`"}]}]}`)

	conns := map[*backend]*echoConn{blue: openUpgrade(t, c.URL, ""), other: openUpgrade(t, c.URL, "other.test")}
	for b, conn := range conns {
		if got, err := conn.roundTrip("hello"); err != nil || got != b.name+" hello" {
			t.Fatalf("echo from %s before the switch: %q, %v", b.name, got, err)
		}
	}
	start := time.Now()
	mustSwitch(t, sw, bluegreen.Green, green.addr())
	switched := time.Since(start)
	for b, conn := range conns {
		got, err := conn.roundTrip("ping")
		lived := time.Since(start)
		var end string
		select {
		case end = <-b.upgradeEnd:
		case <-time.After(2 * time.Second):
			end = "(still open)"
		}
		t.Logf("upgraded connection to %s: after the switch (which took %s) the echo gave %q, %v at %s; %s's side read: %s",
			b.name, switched.Round(time.Microsecond), got, err, lived.Round(time.Microsecond), b.name, end)
		// Caddy 2.6 closes every upgraded connection of the old config
		// when it unloads it, both ways, whichever handler it went through.
		if err == nil || end != "EOF" {
			t.Errorf("upgraded connection to %s survived the switch; Caddy 2.6 closes it", b.name)
		}
	}
}

// TestCaddySwitchToSameRouting: a switch to the routing Caddy already has
// changes nothing, so it closes no upgraded connection.
func TestCaddySwitchToSameRouting(t *testing.T) {
	c := testutil.Caddy(t)
	blue := newBackend(t, "blue")
	sw := switcher(t, c)
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())
	conn := openUpgrade(t, c.URL, "")
	before := adminDo(t, c, http.MethodGet, "/config/", "")
	mustSwitch(t, sw, bluegreen.Blue, blue.addr())
	if got, err := conn.roundTrip("ping"); err != nil || got != "blue ping" {
		t.Errorf("upgraded connection after a switch to the same routing: %q, %v; want it open", got, err)
	}
	if after := adminDo(t, c, http.MethodGet, "/config/", ""); after != before {
		t.Errorf("a switch to the same routing changed the config:\nbefore %s\nafter  %s", before, after)
	}
}
