package haproxy_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newSwitcher(t *testing.T, h *testutil.HAProxyServer) *haproxy.Switcher {
	return &haproxy.Switcher{Socket: h.Socket, Backend: h.Backend, Logger: testLogger(t)}
}

// backend is an HTTP server on 127.0.0.1 that answers its name, for one
// slot (or one replica of it). Besides "/":
//
//	/slow?d=3s   answers after d
//	/stream?n=30 sends n lines, one each 100ms, flushed
//	/upgrade     switches protocols (HTTP 101, as a websocket does) and
//	             echoes each line it reads, prefixed with its name
type backend struct {
	*httptest.Server
	name     string
	started  chan string // the path of each /slow, /stream or /upgrade as it begins
	finished atomic.Int64

	mu      sync.Mutex
	tunnels []net.Conn // the upgraded connections
}

// closeTunnels closes the upgraded connections, as a container that stops
// does.
func (b *backend) closeTunnels() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.tunnels {
		c.Close()
	}
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name, started: make(chan string, 16)}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return b.Listener.Addr().String() }

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/slow":
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		b.started <- r.URL.Path
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, b.name)
		b.finished.Add(1)
	case "/stream":
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		b.started <- r.URL.Path
		for i := range n {
			if _, err := fmt.Fprintf(w, "%s %d\n", b.name, i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
		b.finished.Add(1)
	case "/upgrade":
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		b.mu.Lock()
		b.tunnels = append(b.tunnels, conn)
		b.mu.Unlock()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
		b.started <- r.URL.Path
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				b.finished.Add(1)
				return
			}
			rw.WriteString(b.name + " " + line)
			rw.Flush()
		}
	default:
		fmt.Fprintln(w, b.name)
	}
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// get GETs url and returns the trimmed body of a 200 answer.
func get(url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

// wantAnswers GETs url n times and fails unless every answer is want.
func wantAnswers(t *testing.T, url string, n int, want string) {
	t.Helper()
	for i := range n {
		if got, err := get(url); err != nil || got != want {
			t.Fatalf("request %d: %q, %v; want %s", i, got, err, want)
		}
	}
}

// serversState returns, from HAProxy's "show servers state" for h's
// backend, each server (srv_name, the 4th field) as format makes it of the
// fields of its line, for the lines of at least n fields.
func serversState(t *testing.T, h *testutil.HAProxyServer, n int, format func(f []string) string) map[string]string {
	t.Helper()
	out, err := h.Run("show servers state " + h.Backend)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n")[2:] {
		if f := strings.Fields(line); len(f) >= n {
			got[f[3]] = format(f)
		}
	}
	return got
}

// servers returns, from HAProxy itself, each server of h's backend as
// "admin=N addr=IP:PORT": what a switch changes.
func servers(t *testing.T, h *testutil.HAProxyServer) map[string]string {
	t.Helper()
	// be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ... srv_port (19th)
	return serversState(t, h, 19, func(f []string) string {
		return fmt.Sprintf("admin=%s addr=%s:%s", f[6], f[4], f[18])
	})
}

// sessions returns the current sessions (scur) of server srv, from "show
// stat".
func sessions(t *testing.T, h *testutil.HAProxyServer, srv string) string {
	t.Helper()
	out, err := h.Run("show stat " + h.Backend + " 4 -1")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		// pxname,svname,qcur,qmax,scur
		if f := strings.Split(line, ","); len(f) > 4 && f[1] == srv {
			return f[4]
		}
	}
	t.Fatalf("no server %s in show stat", srv)
	return ""
}

// faultySocket stands between a Switcher and HAProxy's socket: it passes
// each command on and returns HAProxy's answer, except for a command for
// which refuse returns an answer, which it answers itself. It records the
// commands it receives.
type faultySocket struct {
	path   string
	refuse func(cmd string) string
	mu     sync.Mutex
	seen   []string
}

func newFaultySocket(t *testing.T, target string, refuse func(cmd string) string) *faultySocket {
	f := &faultySocket{path: filepath.Join(t.TempDir(), "faulty.sock"), refuse: refuse}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(conn, target)
		}
	}()
	return f
}

func (f *faultySocket) serve(conn net.Conn, target string) {
	defer conn.Close()
	cmd, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return
	}
	cmd = strings.TrimSuffix(cmd, "\n")
	f.mu.Lock()
	f.seen = append(f.seen, cmd)
	f.mu.Unlock()
	if answer := f.refuse(cmd); answer != "" {
		io.WriteString(conn, answer+"\n\n")
		return
	}
	up, err := net.Dial("unix", target)
	if err != nil {
		return
	}
	defer up.Close()
	io.WriteString(up, cmd+"\n")
	io.Copy(conn, up)
}

func (f *faultySocket) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// refusingSwitcher returns a copy of sw that talks to HAProxy through a
// faultySocket answering answer to each command that begins with refused,
// and that socket.
func refusingSwitcher(t *testing.T, sw *haproxy.Switcher, refused, answer string) (*haproxy.Switcher, *faultySocket) {
	sock := newFaultySocket(t, sw.Socket, func(cmd string) string {
		if strings.HasPrefix(cmd, refused) {
			return answer
		}
		return ""
	})
	faulty := *sw
	faulty.Socket = sock.path
	return &faulty, sock
}

// wantRefused fails the test now unless err, from op, wraps ErrRefused
// and quotes answer; it logs err.
func wantRefused(t *testing.T, op string, err error, answer string) {
	t.Helper()
	if !errors.Is(err, haproxy.ErrRefused) || !strings.Contains(err.Error(), `"`+answer+`"`) {
		t.Fatalf("%s: %v; want an error wrapping ErrRefused that quotes %q", op, err, answer)
	}
	t.Log(err)
}

// haproxyOfThree starts a private HAProxy whose slots are three servers
// each (server-template), all at the placeholder.
func haproxyOfThree(t *testing.T) *testutil.HAProxyServer {
	return testutil.HAProxyWith(t, testutil.HAProxyOptions{Servers: []string{
		"server-template blue 3 " + testutil.PlaceholderServer,
		"server-template green 3 " + testutil.PlaceholderServer,
	}})
}

// blueSwitcher returns a Switcher for h that has switched to blue at addr
// and drained.
func blueSwitcher(t *testing.T, h *testutil.HAProxyServer, addr string) *haproxy.Switcher {
	t.Helper()
	sw := newSwitcher(t, h)
	switchAndDrain(t, sw, bluegreen.Blue, []string{addr})
	return sw
}

// readyGreen are the commands, in order, that ready green (in
// maintenance, at the placeholder) beside blue: set its address, stage it
// in drain with its health forced down until its checks pass, make it
// ready.
var readyGreen = [4]string{
	"set server web/green addr",
	"set server web/green state drain",
	"set server web/green health down",
	"set server web/green state ready",
}

// switchAndDrain switches sw to slot at addrs and drains, within 5s.
func switchAndDrain(t *testing.T, sw *haproxy.Switcher, slot bluegreen.Slot, addrs []string) {
	t.Helper()
	if err := sw.Switch(t.Context(), slot, addrs); err != nil {
		t.Fatal(err)
	}
	drainWithin(t, sw, 5*time.Second)
}

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func drainWithin(t *testing.T, sw *haproxy.Switcher, d time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	took, err := timed(func() error { return sw.Drain(ctx) })
	if err != nil {
		t.Fatalf("Drain: %v", err)
	}
	return took
}
