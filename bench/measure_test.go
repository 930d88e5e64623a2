package bench_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// sample is one deploy, either procedure.
type sample struct {
	ready    time.Duration // deploy start to the new release's first answer on its slot port
	toSwitch time.Duration // deploy start to the end of the switch step
	total    time.Duration
	steps    map[string]time.Duration
	sent     int64 // requests through nginx from deploy start to its end + tail
	failed   int64
	rate     float64 // sent per second in that window
	between  float64 // sent per second in the second before the deploy began
	failures map[string]int64
	timeWait int // TIME_WAIT sockets on the host when the deploy began
}

func (s sample) String() string {
	return fmt.Sprintf("ready=%v to-switch=%v total=%v sent=%d failed=%d %v (%.0f req/s, %.0f before; %d TIME_WAIT before)",
		s.ready.Round(time.Millisecond), s.toSwitch.Round(time.Millisecond), s.total.Round(time.Millisecond),
		s.sent, s.failed, s.failures, s.rate, s.between, s.timeWait)
}

// measurement runs the load through nginx and a probe of the new slot's
// port around one deploy.
type measurement struct {
	load   *testutil.LoadGenerator
	before testutil.LoadResult
	rate   float64 // between deploys
	tw     int
	cancel context.CancelFunc
	done   chan time.Time // the first answer of the new slot (zero: none)
}

// measure starts the load (w.workers keep-alive clients to url) and a probe
// of http://127.0.0.1:port/healthz every 10 ms, and lets the load run for
// warmUp, then for between (the rate between deploys), before the deploy
// begins.
func (w *world) measure(b *testing.B, url string, port int) *measurement {
	b.Helper()
	m := &measurement{done: make(chan time.Time, 1), tw: timeWaits()}
	if w.workers > 0 {
		m.load = testutil.LoadWith(b, url, testutil.LoadOptions{Workers: w.workers})
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	b.Cleanup(cancel) // when the deploy fails before finish
	go firstAnswer(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), m.done)
	time.Sleep(warmUp)
	if m.load != nil {
		a := m.load.Snapshot()
		time.Sleep(between)
		m.before = m.load.Snapshot()
		m.rate = float64(m.before.Sent-a.Sent) / (m.before.Duration - a.Duration).Seconds()
	}
	return m
}

// finish lets the load run for tail after the deploy, stops it and returns
// what happened between start and end + tail.
func (m *measurement) finish(start, end time.Time) sample {
	time.Sleep(tail)
	m.cancel()
	s := sample{total: end.Sub(start), steps: map[string]time.Duration{}, failures: map[string]int64{}, timeWait: m.tw}
	if ready := <-m.done; !ready.IsZero() {
		s.ready = ready.Sub(start)
	}
	if m.load == nil {
		return s
	}
	after := m.load.Stop()
	s.sent = after.Sent - m.before.Sent
	s.failed = after.Failed - m.before.Failed
	s.rate = float64(s.sent) / (after.Duration - m.before.Duration).Seconds()
	s.between = m.rate
	for k, v := range after.Failures {
		if d := v - m.before.Failures[k]; d > 0 {
			s.failures[k] = d
		}
	}
	return s
}

// timeWaits counts the host's TCP sockets in TIME_WAIT. nginx opens a
// connection to the slot per request, and docker-proxy one to the container:
// once some 15,000-28,000 wait on the proxy-to-container pair (the ephemeral
// port range), new connections wait for ports and the load slows to about
// 500 req/s (see README.md).
func timeWaits() int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			if fields := strings.Fields(line); len(fields) > 3 && fields[3] == "06" {
				n++
			}
		}
	}
	return n
}

// firstAnswer sends the time url first answered 200, or the zero time when
// ctx ended first.
func firstAnswer(ctx context.Context, url string, done chan<- time.Time) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				done <- time.Now()
				return
			}
		}
		select {
		case <-ctx.Done():
			done <- time.Time{}
			return
		case <-tick.C:
		}
	}
}

var getClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}

// get returns the trimmed body of a 200 answer, else "".
func get(url string) string {
	resp, err := getClient.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return strings.TrimSpace(string(body))
}

// wantServing checks that nginx serves version after a deploy.
func wantServing(b *testing.B, url, version string) {
	b.Helper()
	var got string
	for range 10 { // the naive reload is not confirmed: give it a moment
		if got = get(url + "/version"); got == version {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("nginx serves %q after the deploy, want %q", got, version)
}

// timedSteps returns a function that runs one named step of a hand-written
// procedure, records its duration in steps and ends the benchmark when it
// fails.
func timedSteps(b *testing.B, deploy string, steps map[string]time.Duration) func(string, func() error) {
	return func(name string, fn func() error) {
		t := time.Now()
		err := fn()
		steps[name] = time.Since(t)
		if err != nil {
			b.Fatalf("%s: %s: %v", deploy, name, err)
		}
	}
}
