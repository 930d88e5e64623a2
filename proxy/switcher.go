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

	mu      sync.Mutex // serializes Switch; guards gen and retired
	gen     uint64
	retired []*backend // replaced by a Switch, maybe still in flight

	transportOnce sync.Once
	transport     http.RoundTripper
}

var (
	_ bluegreen.Switcher = (*Switcher)(nil)
	_ bluegreen.Drainer  = (*Switcher)(nil)
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
	s.gen++
	b := newBackend(s.gen, slot, addrs, s.roundTripper(), s.logger())
	if old := s.live.Swap(b); old != nil {
		s.retired = append(s.retired, old)
	}
	s.logger().Info("switched", "slot", slot.String(), "addrs", addrs, "generation", b.gen)
	return nil
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
	b.proxy.ServeHTTP(w, r)
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
