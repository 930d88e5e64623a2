// Package loadgen sends HTTP requests to one URL without pause, from
// several keep-alive clients, and counts every answer and failure: the load
// under which the tests (through internal/testutil) and the example CLI's
// demo prove that a deploy drops no request. Its traffic goes where the URL
// says; callers point it at 127.0.0.1.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures a Generator. The zero value is usable.
type Options struct {
	// Workers is the number of keep-alive clients sending requests back to
	// back, each in its own goroutine. Default 8.
	Workers int
	// MaxDuration stops the load by itself if Stop is never called.
	// Default 10 minutes.
	MaxDuration time.Duration
	// RequestTimeout bounds one request, body included. Default 10s.
	RequestTimeout time.Duration
	// NewConnections opens a new connection for each request instead of
	// keeping them alive: the load of clients that come and go, which
	// meets a proxy's listening socket at every request.
	NewConnections bool
}

const (
	// maxReasons and maxVersions cap the distinct keys kept; the rest are
	// counted under otherKey.
	maxReasons  = 32
	maxVersions = 64
	otherKey    = "(other)"
	// Bodies longer than this are not versions; they are still read fully.
	maxVersionLen = 256
)

// Result counts the requests of a Generator.
type Result struct {
	Sent     int64            // requests completed (answered or failed)
	Failed   int64            // non-2xx answers and transport errors
	Failures map[string]int64 // Failed by reason: "status 502", "dial: connect: connection refused"...
	Versions map[string]int64 // successful responses by trimmed body
	Duration time.Duration    // from start to Stop (or to now, in a Snapshot)
}

// Sub returns what r counted since an earlier snapshot of the same
// Generator: the requests, failures and versions in between.
func (r Result) Sub(earlier Result) Result {
	d := Result{Sent: r.Sent - earlier.Sent, Failed: r.Failed - earlier.Failed, Duration: r.Duration - earlier.Duration,
		Failures: map[string]int64{}, Versions: map[string]int64{}}
	for k, v := range r.Failures {
		if n := v - earlier.Failures[k]; n != 0 {
			d.Failures[k] = n
		}
	}
	for k, v := range r.Versions {
		if n := v - earlier.Versions[k]; n != 0 {
			d.Versions[k] = n
		}
	}
	return d
}

// OK is the number of successful requests.
func (r Result) OK() int64 { return r.Sent - r.Failed }

func (r Result) String() string {
	return fmt.Sprintf("sent=%d failed=%d in %v (%.0f req/s) versions=%s failures=%s",
		r.Sent, r.Failed, r.Duration.Round(time.Millisecond),
		float64(r.Sent)/max(r.Duration.Seconds(), 1e-9), formatCounts(r.Versions), formatCounts(r.Failures))
}

func formatCounts(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%q:%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Generator sends GET requests to one URL without pause until Stop or
// MaxDuration. Its methods are safe for concurrent use.
type Generator struct {
	url    string
	opts   Options
	client *http.Client
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	wg     sync.WaitGroup

	mu     sync.Mutex
	result Result
	end    time.Time // set when the load stopped

	stopOnce sync.Once
}

// Start starts sending requests to url. The caller must Stop it.
func Start(url string, opts Options) *Generator {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.MaxDuration <= 0 {
		opts.MaxDuration = 10 * time.Minute
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	transport := &http.Transport{
		Proxy:               nil, // test traffic stays on this machine
		DialContext:         (&net.Dialer{Timeout: opts.RequestTimeout}).DialContext,
		MaxIdleConns:        opts.Workers,
		MaxIdleConnsPerHost: opts.Workers,
		IdleConnTimeout:     time.Minute,
		DisableKeepAlives:   opts.NewConnections,
	}
	g := &Generator{
		url:    url,
		opts:   opts,
		client: &http.Client{Transport: transport},
		start:  time.Now(),
		result: Result{Failures: map[string]int64{}, Versions: map[string]int64{}},
	}
	g.ctx, g.cancel = context.WithTimeout(context.Background(), opts.MaxDuration)
	g.wg.Add(opts.Workers)
	for range opts.Workers {
		go g.work()
	}
	go func() {
		g.wg.Wait()
		g.markEnd()
		transport.CloseIdleConnections()
	}()
	return g
}

func (g *Generator) work() {
	defer g.wg.Done()
	for g.ctx.Err() == nil {
		version, reason, ok := g.get()
		if g.ctx.Err() != nil && !ok {
			// Cut short by Stop or MaxDuration: not the server's failure.
			return
		}
		g.record(version, reason, ok)
	}
}

// get sends one request and reads its body to the end, so the connection
// is reused.
func (g *Generator) get() (version, reason string, ok bool) {
	ctx, cancel := context.WithTimeout(g.ctx, g.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return "", errorReason(err), false
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return "", errorReason(err), false
	}
	defer resp.Body.Close()
	head, err := io.ReadAll(io.LimitReader(resp.Body, maxVersionLen+1))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return "", errorReason(err), false
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Sprintf("status %d", resp.StatusCode), false
	}
	if len(head) > maxVersionLen {
		return otherKey, "", true
	}
	return strings.TrimSpace(string(head)), "", true
}

// errorReason drops what differs between requests (URL, ephemeral ports)
// so that failures of one kind count under one reason.
func errorReason(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var operr *net.OpError
	if errors.As(err, &operr) {
		return operr.Op + ": " + operr.Err.Error()
	}
	return err.Error()
}

func (g *Generator) record(version, reason string, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.result.Sent++
	if ok {
		addCapped(g.result.Versions, version, maxVersions)
		return
	}
	g.result.Failed++
	addCapped(g.result.Failures, reason, maxReasons)
}

func addCapped(m map[string]int64, key string, limit int) {
	if _, seen := m[key]; !seen && len(m) >= limit {
		key = otherKey
	}
	m[key]++
}

func (g *Generator) markEnd() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.end.IsZero() {
		g.end = time.Now()
	}
}

// Snapshot returns the counts so far without stopping the load.
func (g *Generator) Snapshot() Result {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.result
	r.Failures = maps.Clone(r.Failures)
	r.Versions = maps.Clone(r.Versions)
	end := g.end
	if end.IsZero() {
		end = time.Now()
	}
	r.Duration = end.Sub(g.start)
	return r
}

// Stop stops the load, waits for the workers and returns the final counts.
// Requests cut short by Stop are not counted. Calling Stop again returns the
// same counts.
func (g *Generator) Stop() Result {
	g.stopOnce.Do(func() {
		g.cancel()
		g.wg.Wait()
		g.markEnd()
	})
	return g.Snapshot()
}
