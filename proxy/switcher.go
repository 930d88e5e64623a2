package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// ErrInvalid is returned (wrapped) by Switch for a slot or an address it
// cannot route to. It is bluegreen.ErrBadInput, the one bad-input sentinel
// of the module.
var ErrInvalid = bluegreen.ErrBadInput

// drainPoll is how often Drain looks at the requests in flight.
const drainPoll = 5 * time.Millisecond

// Switcher is an HTTP reverse proxy that sends each request to the slot
// that was live when the request arrived. Serve it as an http.Handler. The
// zero value is ready to use and answers 503 until the first Switch; its
// methods are safe for concurrent use.
type Switcher struct {
	// Transport carries the requests to the backends; nil means a transport
	// of this Switcher's own that never uses an HTTP proxy from the
	// environment. Set it before the first request.
	Transport http.RoundTripper
	// Logger receives switches, drains and backend errors; nil discards
	// them.
	Logger *slog.Logger

	live atomic.Pointer[backend]

	mu      sync.Mutex // serializes Switch; guards gen, retired and tally
	gen     uint64
	retired []*backend // replaced by a Switch, maybe still in flight
	tally   map[bluegreen.Slot]*counts

	transportOnce sync.Once
	transport     http.RoundTripper
}

var (
	_ bluegreen.Switcher = (*Switcher)(nil)
	_ bluegreen.Drainer  = (*Switcher)(nil)
	_ bluegreen.Splitter = (*Switcher)(nil)
	_ http.Handler       = (*Switcher)(nil)
)

// Switch routes new requests to slot, served at addrs ("127.0.0.1:8080"),
// in turn when there are several. Requests already in flight finish on the
// backend they started with. On error nothing changed.
func (s *Switcher) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	if err := slot.Validate(); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	if err := checkAddrs(addrs); err != nil {
		return fmt.Errorf("switch %s: %w", slot, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.install(slot, addrs, nil, nil, 0)
	s.logger().Info("switched", "slot", slot.String(), "addrs", addrs, "generation", b.gen)
	return nil
}

// Split sends percent of new requests to canary, at canaryAddrs, spread
// evenly, and the rest to base, at baseAddrs. Requests in flight finish
// where they started. On error nothing changed.
func (s *Switcher) Split(ctx context.Context, base bluegreen.Slot, baseAddrs []string, canary bluegreen.Slot, canaryAddrs []string, percent int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("split: %w", err)
	}
	for _, slot := range []bluegreen.Slot{base, canary} {
		if err := slot.Validate(); err != nil {
			return fmt.Errorf("split: %w", err)
		}
	}
	if base == canary {
		return fmt.Errorf("split: %w: base and canary are both %s", ErrInvalid, base)
	}
	if percent < 1 || percent > 99 {
		return fmt.Errorf("split: %w: percent %d is not from 1 to 99", ErrInvalid, percent)
	}
	for _, addrs := range [][]string{baseAddrs, canaryAddrs} {
		if err := checkAddrs(addrs); err != nil {
			return fmt.Errorf("split: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.install(base, baseAddrs, &canary, canaryAddrs, percent)
	s.logger().Info("split", "slot", base.String(), "canary", canary.String(), "percent", percent, "generation", b.gen)
	return nil
}

// install makes a new generation live: slot at addrs, with a canary
// taking percent of it when canary is not nil. s.mu is held.
func (s *Switcher) install(slot bluegreen.Slot, addrs []string, canary *bluegreen.Slot, canaryAddrs []string, percent int) *backend {
	s.gen++
	b := newBackend(s.gen, slot, addrs, s.roundTripper(), s.logger(), s.counts(slot))
	if canary != nil {
		b.canary = newBackend(s.gen, *canary, canaryAddrs, s.roundTripper(), s.logger(), s.counts(*canary))
		b.percent = uint64(percent)
	}
	if old := s.live.Swap(b); old != nil {
		s.retired = append(s.retired, old)
	}
	return b
}

// counts returns slot's running totals. s.mu is held.
func (s *Switcher) counts(slot bluegreen.Slot) *counts {
	if s.tally == nil {
		s.tally = map[bluegreen.Slot]*counts{}
	}
	c, ok := s.tally[slot]
	if !ok {
		c = &counts{}
		s.tally[slot] = c
	}
	return c
}

// PreflightSplit never fails: the proxy splits and counts by itself.
func (s *Switcher) PreflightSplit(context.Context) error { return nil }

// Canary reports the slot that takes a share of new requests after a
// Split, and its percent; None after a Switch. It never fails.
func (s *Switcher) Canary(context.Context) (bluegreen.Slot, int, error) {
	if b := s.live.Load(); b != nil && b.canary != nil {
		return b.canary.slot, int(b.percent), nil
	}
	return bluegreen.None, 0, nil
}

// Counts returns the running totals of slot's responses through this
// Switcher: each response, and each failed attempt (a refused connection),
// counts as a request; 5xx and failures count as errors.
func (s *Switcher) Counts(_ context.Context, slot bluegreen.Slot) (bluegreen.Counts, error) {
	s.mu.Lock()
	c := s.counts(slot)
	s.mu.Unlock()
	return bluegreen.Counts{Requests: c.requests.Load(), Errors: c.errors.Load()}, nil
}

// Active reports the slot new requests go to, or None before the first
// Switch. It never fails.
func (s *Switcher) Active(context.Context) (bluegreen.Slot, error) {
	if b := s.live.Load(); b != nil {
		return b.slot, nil
	}
	return bluegreen.None, nil
}

// Drain waits until no request routed before the last Switch is in flight.
// It returns ctx's error, wrapped, when ctx ends first.
func (s *Switcher) Drain(ctx context.Context) error {
	start := time.Now()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	for {
		n := s.retiredInFlight()
		if n == 0 {
			s.logger().Info("drained", "took", time.Since(start))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d requests still in flight to older backends after %s: %w",
				n, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
	}
}

// retiredInFlight counts the requests in flight to replaced backends and
// forgets the backends that have none: no request starts on them again.
func (s *Switcher) retiredInFlight() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	busy := s.retired[:0]
	for _, b := range s.retired {
		if n := b.inFlight.Load(); n > 0 {
			total += n
			busy = append(busy, b)
		}
	}
	clear(s.retired[len(busy):])
	s.retired = busy
	return total
}

// ServeHTTP proxies r to the live backend, or answers 503 before the first
// Switch.
func (s *Switcher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := s.acquire()
	if b == nil {
		http.Error(w, "bluegreen proxy: no slot takes traffic yet (nothing was switched to)", http.StatusServiceUnavailable)
		return
	}
	defer b.inFlight.Add(-1)
	b.pick().ServeHTTP(w, r)
}

// acquire counts a request in flight on the live backend and returns it.
// The count is taken before the backend is checked to be still live, so a
// Drain that begins after a Switch either sees the request or the request
// goes to the new backend.
func (s *Switcher) acquire() *backend {
	for {
		b := s.live.Load()
		if b == nil {
			return nil
		}
		b.inFlight.Add(1)
		if s.live.Load() == b {
			return b
		}
		b.inFlight.Add(-1)
	}
}

func (s *Switcher) roundTripper() http.RoundTripper {
	if s.Transport != nil {
		return s.Transport
	}
	s.transportOnce.Do(func() {
		// One transport for every generation, so that switching back to a
		// slot reuses its connections. Connections to a retired slot close
		// when its containers stop, or after IdleConnTimeout.
		s.transport = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       30 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	})
	return s.transport
}

func (s *Switcher) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}
