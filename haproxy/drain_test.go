package haproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// liveOnBlue returns a private HAProxy that routes to blue, green in
// maintenance, and a Switcher for it.
func liveOnBlue(t *testing.T, blue *backend) (*testutil.HAProxyServer, *haproxy.Switcher) {
	t.Helper()
	h := testutil.HAProxy(t)
	sw := newSwitcher(t, h)
	if err := sw.Switch(t.Context(), bluegreen.Blue, []string{blue.addr()}); err != nil {
		t.Fatal(err)
	}
	drainWithin(t, sw, 5*time.Second)
	return h, sw
}

// TestHAProxyDrainWaitsForRequest holds a 3 s request on blue across a
// switch to green: new requests go to green at once, HAProxy counts the
// held one as a session of blue, and Drain returns only once blue has
// answered it; then blue is in maintenance.
func TestHAProxyDrainWaitsForRequest(t *testing.T) {
	const slow = 3 * time.Second
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	h, sw := liveOnBlue(t, blue)

	held := make(chan string, 1)
	go func() {
		body, err := get(h.URL + "/slow?d=" + slow.String())
		if err != nil {
			body = err.Error()
		}
		held <- body
	}()
	<-blue.started
	heldSince := time.Now()

	took, err := timed(func() error { return sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}) })
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	wantAnswers(t, h.URL, 10, "green")
	if got := sessions(t, h, "blue"); got != "1" {
		t.Errorf("sessions of blue while the request is held: %s, want 1", got)
	}
	if blue.finished.Load() != 0 {
		t.Fatal("the slow request finished before Drain was called; the test proves nothing")
	}

	drained := drainWithin(t, sw, 10*time.Second)
	if blue.finished.Load() != 1 {
		t.Errorf("Drain returned after %s, before blue answered the request it held", drained)
	}
	if body := <-held; body != "blue" {
		t.Errorf("the request held across the switch: %q, want blue", body)
	}
	if got := servers(t, h)["blue"]; !strings.HasPrefix(got, "admin=1 ") {
		t.Errorf("blue after Drain: %s, want admin state 1 (maint)", got)
	}
	t.Logf("switch: %s; Drain waited %s, until %s after the held request began (it takes %s)",
		took, drained, time.Since(heldSince), slow)
}

// TestHAProxyDrainContextEnds gives Drain less time than a request held on
// blue needs: Drain returns ctx's error naming blue, puts blue in
// maintenance all the same, and the request still gets its answer
// (maintenance takes no session away).
func TestHAProxyDrainContextEnds(t *testing.T) {
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	h, sw := liveOnBlue(t, blue)
	held := make(chan string, 1)
	go func() {
		body, err := get(h.URL + "/slow?d=1500ms")
		if err != nil {
			body = err.Error()
		}
		held <- body
	}()
	<-blue.started
	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := sw.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "blue (1 sessions") {
		t.Fatalf("Drain: %v; want context.DeadlineExceeded, naming blue's session", err)
	}
	t.Log(err)
	if got := servers(t, h)["blue"]; !strings.HasPrefix(got, "admin=1 ") {
		t.Errorf("blue after Drain: %s, want admin state 1 (maint)", got)
	}
	if body := <-held; body != "blue" {
		t.Errorf("the request held across the drain timeout: %q, want blue", body)
	}
}

// TestHAProxyStreamAcrossSwitch opens, before a switch, a streamed
// response on blue (30 lines, one each 100 ms), and watches it through the
// switch and the drain: HAProxy leaves it on blue, it ends whole, and
// Drain waits for it.
func TestHAProxyStreamAcrossSwitch(t *testing.T) {
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	h, sw := liveOnBlue(t, blue)

	resp, err := client.Get(h.URL + "/stream?n=30")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	opened := time.Now()
	<-blue.started
	streamed := make(chan error, 1)
	go func() {
		all, err := io.ReadAll(resp.Body)
		if err == nil && (!strings.HasPrefix(string(all), "blue 0\n") || !strings.HasSuffix(string(all), "blue 29\n")) {
			err = fmt.Errorf("stream of %d bytes, not blue 0 to blue 29: %q", len(all), all[max(0, len(all)-20):])
		}
		streamed <- err
	}()

	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatal(err)
	}
	wantAnswers(t, h.URL, 5, "green")
	drained := drainWithin(t, sw, 10*time.Second)
	if blue.finished.Load() != 1 {
		t.Errorf("Drain returned after %s, before blue ended the stream", drained)
	}
	if err := <-streamed; err != nil {
		t.Errorf("the stream open across the switch: %v", err)
	}
	t.Logf("a 3 s stream open across the switch ended whole; Drain waited %s, until %s after it opened",
		drained.Round(time.Millisecond), time.Since(opened).Round(time.Millisecond))
}

// TestHAProxyUpgradedConnectionAcrossSwitch opens, before a switch, an
// upgraded connection on blue (HTTP 101, as a websocket does) and watches
// it: HAProxy leaves it on blue through the switch; it holds a session as
// long as it is open, so Drain waits until its ctx ends; blue goes to
// maintenance all the same, and the connection still works there until
// blue itself closes it (as the retire of the old slot does).
func TestHAProxyUpgradedConnectionAcrossSwitch(t *testing.T) {
	blue, green := newBackend(t, "blue"), newBackend(t, "green")
	h, sw := liveOnBlue(t, blue)
	tunnel, tr := upgrade(t, h)
	<-blue.started
	if got := echo(t, tunnel, tr, "before"); got != "blue before" {
		t.Fatalf("upgraded connection before the switch: %q", got)
	}

	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatal(err)
	}
	wantAnswers(t, h.URL, 5, "green")
	if got := echo(t, tunnel, tr, "after the switch"); got != "blue after the switch" {
		t.Errorf("upgraded connection after the switch: %q", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := sw.Drain(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "blue (1 sessions") {
		t.Errorf("Drain with an upgraded connection open: %v; want context.DeadlineExceeded naming blue's session", err)
	}
	t.Log(err)
	if got := servers(t, h)["blue"]; !strings.HasPrefix(got, "admin=1 ") {
		t.Errorf("blue after Drain: %s, want admin state 1 (maint)", got)
	}
	if got := echo(t, tunnel, tr, "after the drain"); got != "blue after the drain" {
		t.Errorf("upgraded connection after blue went to maintenance: %q", got)
	}
	blue.closeTunnels()
	tunnel.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tr.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Errorf("upgraded connection after blue closed it: %v; want EOF", err)
	}
}

// upgrade opens a connection through h and upgrades it (HTTP 101).
func upgrade(t *testing.T, h *testutil.HAProxyServer) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /upgrade HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", resp, err)
	}
	return conn, r
}

// echo sends msg over an upgraded connection and returns the answer.
func echo(t *testing.T, conn net.Conn, r *bufio.Reader, msg string) string {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(conn, msg); err != nil {
		return err.Error()
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err.Error()
	}
	return strings.TrimSuffix(line, "\n")
}
