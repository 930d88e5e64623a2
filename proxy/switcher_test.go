package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/proxy"
)

func TestSwitcherContract(t *testing.T) {
	bluegreentest.SwitcherContract(t, func(*testing.T) bluegreen.Switcher { return &proxy.Switcher{} })
}

// backend starts an HTTP server on 127.0.0.1 that answers with name and
// returns its address.
func backend(t testing.TB, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// front serves p and returns a client for it that keeps its connections.
func front(t testing.TB, p *proxy.Switcher) (url string, client *http.Client) {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL, &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
}

func fetch(client *http.Client, url string) (int, string, error) {
	res, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(body)), err
}

func switchTo(t testing.TB, p *proxy.Switcher, slot bluegreen.Slot, addrs ...string) {
	t.Helper()
	if err := p.Switch(context.Background(), slot, addrs); err != nil {
		t.Fatalf("Switch(%s, %v): %v", slot, addrs, err)
	}
}

func TestServiceUnavailableBeforeTheFirstSwitch(t *testing.T) {
	url, client := front(t, &proxy.Switcher{})
	code, body, err := fetch(client, url)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "no slot takes traffic yet") {
		t.Errorf("GET before any Switch = %d %q %v, want 503 saying no slot takes traffic", code, body, err)
	}
}

// TestSwitchUnderLoad switches many times between backends while clients
// send requests without pause: none fails, and each is answered by a
// backend that was live at some moment while it was in flight.
func TestSwitchUnderLoad(t *testing.T) {
	const (
		clients  = 8
		switches = 200
	)
	names := []string{"b0", "b1", "b2", "b3"}
	var addrs []string
	for _, n := range names {
		addrs = append(addrs, backend(t, n))
	}
	p := &proxy.Switcher{}
	url, client := front(t, p)
	slotOf := func(gen int) bluegreen.Slot { return []bluegreen.Slot{bluegreen.Blue, bluegreen.Green}[gen%2] }
	switchTo(t, p, slotOf(0), addrs[0])

	// Generation g routes to names[g%4]. done counts the Switches that
	// returned, begun those that were called.
	var begun, done atomic.Int64
	var sent, failed atomic.Int64
	load, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stop()
	for range clients {
		wg.Go(func() {
			for load.Err() == nil {
				first := done.Load()
				code, body, err := fetch(client, url)
				last := begun.Load()
				sent.Add(1)
				if err != nil || code != http.StatusOK || !answeredBy(body, names, first, last) {
					failed.Add(1)
					t.Errorf("request in flight during generations %d-%d: %d %q %v", first, last, code, body, err)
					return
				}
			}
		})
	}
	for gen := 1; gen <= switches; gen++ {
		time.Sleep(time.Millisecond)
		begun.Store(int64(gen))
		switchTo(t, p, slotOf(gen), addrs[gen%len(addrs)])
		done.Store(int64(gen))
	}
	time.Sleep(20 * time.Millisecond)
	stop()
	wg.Wait()
	t.Logf("%d requests through %d switches, %d failed", sent.Load(), switches, failed.Load())
	if sent.Load() < switches {
		t.Errorf("only %d requests were sent", sent.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Drain(ctx); err != nil {
		t.Errorf("Drain after the load: %v", err)
	}
}

// answeredBy reports whether body names the backend of a generation from
// first to last.
func answeredBy(body string, names []string, first, last int64) bool {
	for g := first; g <= last; g++ {
		if names[g%int64(len(names))] == body {
			return true
		}
	}
	return false
}

// TestDrainWaitsForRequestsInFlight sends slow requests to blue, switches
// to green, and checks that they finish on blue, that new requests go to
// green meanwhile, and that Drain waits for the slow ones.
func TestDrainWaitsForRequestsInFlight(t *testing.T) {
	const (
		requests = 3
		slow     = time.Second
		// prompt is how soon after the last request ends Drain returns.
		prompt = 300 * time.Millisecond
	)
	started := make(chan struct{}, requests)
	var mu sync.Mutex
	var finished []time.Time // when the slow handlers returned
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		time.Sleep(slow)
		io.WriteString(w, "blue")
		mu.Lock()
		defer mu.Unlock()
		finished = append(finished, time.Now())
	}))
	t.Cleanup(old.Close)
	p := &proxy.Switcher{}
	url, client := front(t, p)
	switchTo(t, p, bluegreen.Blue, old.Listener.Addr().String())

	results := make(chan string, requests)
	for range requests {
		go func() {
			code, body, err := fetch(client, url)
			results <- fmt.Sprint(code, " ", body, " ", err)
		}()
	}
	for range requests {
		<-started
	}
	switchTo(t, p, bluegreen.Green, backend(t, "green"))
	if code, body, err := fetch(client, url); err != nil || body != "green" {
		t.Errorf("new request while blue drains = %d %q %v, want green", code, body, err)
	}

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Drain(short); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 requests still in flight") {
		t.Errorf("Drain with requests in flight, 50ms = %v, want DeadlineExceeded naming 3 requests", err)
	}

	if err := p.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	drained := time.Now()
	mu.Lock()
	if len(finished) != requests {
		t.Fatalf("Drain returned with %d of %d slow requests unfinished", requests-len(finished), requests)
	}
	if lag := drained.Sub(slices.MaxFunc(finished, time.Time.Compare)); lag > prompt {
		t.Errorf("Drain returned %s after the last request ended, want at most %s", lag, prompt)
	}
	mu.Unlock()
	for range requests {
		if r := <-results; r != "200 blue <nil>" {
			t.Errorf("slow request = %q, want 200 blue", r)
		}
	}

	start := time.Now()
	if err := p.Drain(context.Background()); err != nil || time.Since(start) > prompt {
		t.Errorf("Drain with nothing in flight = %v after %s, want nil at once", err, time.Since(start))
	}
}

func TestSwitchRefusesBadInput(t *testing.T) {
	p := &proxy.Switcher{}
	good := []string{"127.0.0.1:8080"}
	switchTo(t, p, bluegreen.Blue, good...)
	for _, tc := range []struct {
		slot  bluegreen.Slot
		addrs []string
	}{
		{bluegreen.None, good},
		{"red", good},
		{bluegreen.Green, nil},
		{bluegreen.Green, []string{"127.0.0.1"}},
		{bluegreen.Green, []string{"127.0.0.1:0"}},
		{bluegreen.Green, []string{"127.0.0.1:65536"}},
		{bluegreen.Green, []string{"127.0.0.1:http"}},
		{bluegreen.Green, []string{":8080"}},
		{bluegreen.Green, []string{"http://127.0.0.1:8080"}},
		{bluegreen.Green, []string{"user@host:8080"}},
		{bluegreen.Green, []string{"127.0.0.1:8080", "127.0.0.1:80/x"}},
	} {
		if err := p.Switch(context.Background(), tc.slot, tc.addrs); !errors.Is(err, proxy.ErrInvalid) {
			t.Errorf("Switch(%q, %q) = %v, want ErrInvalid", tc.slot, tc.addrs, err)
		}
	}
	if active, _ := p.Active(context.Background()); active != bluegreen.Blue {
		t.Errorf("Active after refused switches = %s, want blue", active)
	}
	for _, addr := range []string{"localhost:8080", "[::1]:8080", "app.internal:80"} {
		switchTo(t, p, bluegreen.Green, addr)
	}
}

func TestRoundRobin(t *testing.T) {
	p := &proxy.Switcher{}
	url, client := front(t, p)
	switchTo(t, p, bluegreen.Blue, backend(t, "a"), backend(t, "b"), backend(t, "c"))
	var got []string
	for range 6 {
		_, body, err := fetch(client, url)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, body)
	}
	if s := strings.Join(got, ""); s != "abcabc" {
		t.Errorf("answers in turn = %q, want abcabc", s)
	}
}

// TestBackendRequest checks what the app sees: the client's Host, and
// X-Forwarded headers.
func TestBackendRequest(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s for=%s", r.Method, r.Host, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(app.Close)
	p := &proxy.Switcher{}
	url, client := front(t, p)
	switchTo(t, p, bluegreen.Blue, app.Listener.Addr().String())
	req, _ := http.NewRequest(http.MethodGet, url+"/cart?id=7", nil)
	req.Host = "shop.example.com"
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if want := "GET shop.example.com /cart?id=7 for=127.0.0.1"; string(body) != want {
		t.Errorf("the app saw %q, want %q", body, want)
	}
}

func TestBadGatewayWhenTheBackendIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	var mu sync.Mutex
	p := &proxy.Switcher{Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))}
	url, client := front(t, p)
	switchTo(t, p, bluegreen.Green, down)
	if code, _, err := fetch(client, url+"/x"); err != nil || code != http.StatusBadGateway {
		t.Errorf("GET with the backend down = %d %v, want 502", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "backend error") || !strings.Contains(logs.String(), down) {
		t.Errorf("log = %q, want a backend error naming %s", logs.String(), down)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestServe(t *testing.T) {
	p := &proxy.Switcher{}
	switchTo(t, p, bluegreen.Blue, backend(t, "blue"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	if code, body, err := fetch(http.DefaultClient, url); err != nil || body != "blue" {
		t.Errorf("GET through Serve = %d %q %v, want blue", code, body, err)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after its context ended = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, _, err := fetch(http.DefaultClient, url); err == nil {
		t.Error("the listener still answers after Serve returned")
	}
	if err := p.ListenAndServe(context.Background(), "127.0.0.1:65536"); err == nil {
		t.Error("ListenAndServe on a bad address = nil, want an error")
	}
}

func BenchmarkProxy(b *testing.B) {
	p := &proxy.Switcher{}
	switchTo(b, p, bluegreen.Blue, backend(b, "ok"))
	url, client := front(b, p)
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}
