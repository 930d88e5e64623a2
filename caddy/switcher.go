package caddy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

var (
	// ErrAdmin is returned (wrapped) when Caddy's admin API cannot be
	// reached, or answers what it should not; the error holds the cause.
	ErrAdmin = errors.New("caddy admin API failed")
	// ErrNoHandler is returned (wrapped) when ID names no object of Caddy's
	// config, or one that a switch cannot route: not a reverse_proxy
	// handler, or one without a static upstream list.
	ErrNoHandler = errors.New("caddy handler not usable")
	// ErrConflict is returned (wrapped) by Switch when Caddy refused the
	// change because the handler changed after Switch read it (Caddy
	// answered 412 to its If-Match). Switch changed nothing.
	ErrConflict = errors.New("caddy config changed concurrently")
	// ErrRefused is returned (wrapped) by Switch when Caddy refused the
	// change, such as a new config that failed to load. Caddy kept running
	// the config it had. The error holds Caddy's message.
	ErrRefused = errors.New("caddy refused the change")
	// ErrNotConfirmed is returned (wrapped) by Switch when Caddy accepted
	// the change but reading the routing back does not show it: another
	// client changed the handler at once, or Caddy does not run it.
	ErrNotConfirmed = errors.New("caddy switch not confirmed")
	// ErrUnmanaged is returned (wrapped) by Active and Preflight when the
	// upstreams hold slot markers that a Switch did not write.
	ErrUnmanaged = errors.New("caddy upstreams not managed by bluegreen")
)

// DefaultAdmin is the admin endpoint used when Switcher.Admin is empty.
const DefaultAdmin = "http://127.0.0.1:2019"

// pollInterval is how often Drain reads the upstream pool.
const pollInterval = 50 * time.Millisecond

var (
	_ bluegreen.Switcher    = (*Switcher)(nil)
	_ bluegreen.Drainer     = (*Switcher)(nil)
	_ bluegreen.Preflighter = (*Switcher)(nil)
)

// Switcher routes traffic by replacing the upstreams of one reverse_proxy
// handler of a running Caddy, through its admin API. ID is required; the
// other fields work at their zero value. A Switcher must not be used by two
// Switch calls at once; Active may run at any time.
type Switcher struct {
	// Admin is Caddy's admin endpoint, such as "http://127.0.0.1:2019" (the
	// default when empty). A path is taken as a prefix, for an admin API
	// behind a proxy.
	Admin string
	// ID is the "@id" of the reverse_proxy handler whose upstreams switch,
	// such as "web".
	ID string
	// Client sends the admin requests; nil means a client with timeouts
	// that opens a new connection for each request (Caddy restarts its
	// admin server with each config change).
	Client *http.Client
	// Logger receives a record for each step; nil discards them.
	Logger *slog.Logger

	mu sync.Mutex
	// retired holds the addresses that switches took out of the handler
	// and that Drain has not yet seen idle.
	retired []string
}

// Switch replaces the handler's upstreams with addrs, the first one marked
// with slot (see Active). It reads the handler, then sends PATCH
// /id/<ID>/upstreams with If-Match set to the ETag it read, so that a change
// made by someone else in between is refused (ErrConflict) rather than
// overwritten; Caddy loads the changed config whole and, when the load
// fails, keeps the config it ran (ErrRefused). It returns nil once reading
// back shows the new upstreams in the handler and in Caddy's running
// upstream pool. When the handler already routes so, Switch changes
// nothing: each change reloads Caddy's whole config, and a reload closes
// every websocket Caddy proxies.
//
// Invalid input (a slot other than blue or green, an address that is not
// host:port with a numeric port, a bad Admin or ID) wraps
// bluegreen.ErrBadInput and reaches Caddy in no form. Once the PATCH is
// sent, ctx no longer stops it: a change half-heard is worse than one that
// ran to its end.
func (s *Switcher) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	start := time.Now()
	if err := checkSlot(slot); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	if err := checkAddrs(addrs); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	a, err := s.admin()
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	h, err := readHandler(ctx, a, s.ID)
	if err != nil {
		return fmt.Errorf("switch %s: %w", slot, err)
	}
	if h.etag == "" {
		return fmt.Errorf("switch %s: %w: GET %s sent no ETag, so the change could not be guarded against a concurrent one (Caddy has sent one since 2.5.2)",
			slot, ErrAdmin, idPath(s.ID))
	}
	body, err := upstreamsJSON(s.ID, slot, addrs)
	if err != nil {
		return fmt.Errorf("switch %s: %w", slot, err)
	}
	prev := h.dials()
	log := s.log().With("slot", slot.String(), "id", s.ID, "addrs", addrs, "previous", prev)

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if cur, err := h.slot(s.ID); err == nil && cur == slot && slices.Equal(prev, addrs) {
		// Every change reloads Caddy's whole config, which closes every
		// websocket it proxies: make none that changes nothing.
		if err := s.confirm(wctx, a, slot, addrs); err != nil {
			return fmt.Errorf("switch %s: %w", slot, err)
		}
		log.Info("caddy already routes so; nothing changed", "took", time.Since(start))
		return nil
	}
	if _, err := a.do(wctx, http.MethodPatch, idPath(s.ID)+"/upstreams", body, h.etag); err != nil {
		if err := s.failed(wctx, a, slot, addrs, prev, err, log); err != nil {
			return err
		}
	} else if err := s.confirm(wctx, a, slot, addrs); err != nil {
		return fmt.Errorf("switch %s: %w", slot, err)
	}

	s.mu.Lock()
	s.retired = retire(s.retired, prev, addrs)
	s.mu.Unlock()
	log.Info("caddy switched", "took", time.Since(start))
	return nil
}

// failed turns a PATCH that did not succeed into Switch's error, after
// reading back what Caddy routes to. It returns nil when the PATCH was lost
// on the way back but the change is in place.
func (s *Switcher) failed(ctx context.Context, a *admin, slot bluegreen.Slot, addrs, prev []string, err error, log *slog.Logger) error {
	var aerr *apiError
	if errors.As(err, &aerr) && aerr.status == http.StatusPreconditionFailed {
		return fmt.Errorf("switch %s: %w: caddy.id %s changed after it was read, and Caddy refused the change (%v): nothing was changed",
			slot, ErrConflict, s.ID, aerr)
	}
	now, rerr := readHandler(ctx, a, s.ID)
	var routing string
	switch {
	case rerr != nil:
		routing = fmt.Sprintf("the routing could not be read back: %v", rerr)
	case slices.Equal(now.dials(), addrs) && s.confirm(ctx, a, slot, addrs) == nil:
		if aerr == nil {
			// The request went through; its answer was lost.
			log.Warn("caddy switch: the answer to the change was lost, but reading back shows it in place", "err", err)
			return nil
		}
		routing = fmt.Sprintf("yet the handler now routes to %v", addrs)
	case slices.Equal(now.dials(), prev):
		routing = fmt.Sprintf("the handler still routes to %v, as before", prev)
	default:
		routing = fmt.Sprintf("the handler now routes to %v", now.dials())
	}
	if aerr != nil {
		return fmt.Errorf("switch %s: %w: %v; %s", slot, ErrRefused, aerr, routing)
	}
	return fmt.Errorf("switch %s: %w; %s", slot, err, routing)
}

// confirm reads the routing back: the handler holds addrs, marked with
// slot, and Caddy's running upstream pool has each of them (the config
// GET /id shows is the one Caddy loaded; the pool shows it runs).
func (s *Switcher) confirm(ctx context.Context, a *admin, slot bluegreen.Slot, addrs []string) error {
	h, err := readHandler(ctx, a, s.ID)
	if err != nil {
		return fmt.Errorf("%w: reading the handler back: %w", ErrNotConfirmed, err)
	}
	got, err := h.slot(s.ID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotConfirmed, err)
	}
	if got != slot || !slices.Equal(h.dials(), addrs) {
		return fmt.Errorf("%w: caddy.id %s reads back as slot %s with upstreams %v, not %s with %v",
			ErrNotConfirmed, s.ID, got, h.dials(), slot, addrs)
	}
	pool, err := a.pool(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotConfirmed, err)
	}
	for _, addr := range addrs {
		if !slices.ContainsFunc(pool, func(u upstreamStatus) bool { return u.Address == addr }) {
			return fmt.Errorf("%w: GET /reverse_proxy/upstreams does not list %s: Caddy does not run the new config", ErrNotConfirmed, addr)
		}
	}
	return nil
}

// retire adds to retired the previous addresses a switch took out, and
// takes out of it the addresses that route again.
func retire(retired, prev, addrs []string) []string {
	out := slices.Concat(retired, prev)
	out = slices.DeleteFunc(out, func(a string) bool { return a == "" || slices.Contains(addrs, a) })
	slices.Sort(out)
	return slices.Compact(out)
}

// Active reads the slot back from Caddy: the marker "@id" that Switch gave
// the first upstream ("bluegreen.<ID>.blue"). It returns None when the
// upstreams hold no marker: written by hand, as Caddy needs some to start,
// or put back by a reload of Caddy from a config file. Markers that a
// Switch did not write (moved, several, unknown slot) are an error wrapping
// ErrUnmanaged.
func (s *Switcher) Active(ctx context.Context) (bluegreen.Slot, error) {
	a, err := s.admin()
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	h, err := readHandler(ctx, a, s.ID)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	slot, err := h.slot(s.ID)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	if slot == bluegreen.None {
		s.log().Info("caddy upstreams not written by bluegreen yet; the first switch replaces them", "id", s.ID, "upstreams", h.dials())
	}
	return slot, nil
}

// Drain waits until Caddy holds no request in flight to the addresses that
// switches took out of the handler, as GET /reverse_proxy/upstreams counts
// them (num_requests). It returns at once when nothing was taken out, and
// ctx's error, wrapped, when ctx ends first.
//
// Caddy lists an address there only while its running config, or (in
// releases with caddyserver/caddy#7517) a request in flight, uses it. Caddy
// 2.6 drops an address from the list at the switch even while requests to
// it are in flight, and those requests then cannot be counted: Drain
// returns once the addresses are no longer listed, and logs that it could
// not count them. See the package documentation for what Caddy does with
// them.
func (s *Switcher) Drain(ctx context.Context) error {
	s.mu.Lock()
	retired := slices.Clone(s.retired)
	s.mu.Unlock()
	if len(retired) == 0 {
		return nil
	}
	a, err := s.admin()
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	log := s.log().With("id", s.ID, "retired", retired)
	start := time.Now()
	var lastErr error
	for {
		pool, err := a.pool(ctx)
		var aerr *apiError
		switch {
		case errors.As(err, &aerr):
			return fmt.Errorf("drain: %w", err)
		case err != nil && ctx.Err() == nil:
			// The admin API restarts with each config change: read again.
			lastErr = err
		case err == nil:
			busy, listed := inFlight(pool, retired)
			if busy == 0 {
				s.forget(retired)
				if unlisted := len(retired) - len(listed); unlisted > 0 {
					log.Info("caddy drain: Caddy no longer lists retired upstreams, so requests still in flight to them cannot be counted",
						"unlisted", slices.DeleteFunc(slices.Clone(retired), func(a string) bool { return slices.Contains(listed, a) }),
						"took", time.Since(start))
				} else {
					log.Info("caddy drain: no request in flight to the retired upstreams", "took", time.Since(start))
				}
				return nil
			}
			lastErr = fmt.Errorf("%d requests in flight to %v", busy, listed)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: after %s: %v: %w", time.Since(start).Round(time.Millisecond), lastErr, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// inFlight sums the requests in flight to the addresses of retired that
// the pool lists, and returns those addresses.
func inFlight(pool []upstreamStatus, retired []string) (busy int, listed []string) {
	for _, u := range pool {
		if slices.Contains(retired, u.Address) {
			busy += u.NumRequests
			if !slices.Contains(listed, u.Address) {
				listed = append(listed, u.Address)
			}
		}
	}
	return busy, listed
}

// forget removes drained addresses from retired, keeping any that a switch
// added meanwhile.
func (s *Switcher) forget(drained []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = slices.DeleteFunc(s.retired, func(a string) bool { return slices.Contains(drained, a) })
}

func (s *Switcher) admin() (*admin, error) {
	if err := checkID(s.ID); err != nil {
		return nil, err
	}
	base, err := checkAdmin(s.Admin)
	if err != nil {
		return nil, err
	}
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	return &admin{base: base, client: client}, nil
}

func (s *Switcher) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// NoSplit says why this Switcher cannot run a canary (strategy canary is
// refused with it): Caddy chooses among upstreams by weight only from 2.7
// on (the weighted_round_robin policy), and the Caddy this package is
// proven with, Debian's 2.6.2, has no such policy.
func (s *Switcher) NoSplit() string {
	return "Caddy splits by weight only from 2.7 on (lb_policy weighted_round_robin); this package drives Caddy 2.6, which has no such policy"
}
