package haproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

var (
	// ErrSocket is returned (wrapped) when the runtime API cannot be
	// reached, or the exchange of a command with it fails midway. The
	// error holds the cause: a missing socket, a refused connection, a
	// timeout.
	ErrSocket = errors.New("haproxy runtime API unreachable")
	// ErrRefused is returned (wrapped) when HAProxy answers a command with
	// an error, or with an answer that is not what the command gives. The
	// error quotes the command and the answer.
	ErrRefused = errors.New("haproxy refused the command")
	// ErrNotAdmin is returned (wrapped) when the socket is not at level
	// admin: HAProxy then refuses every "set server" with "Permission
	// denied".
	ErrNotAdmin = errors.New("haproxy socket not at level admin")
	// ErrNoBackend is returned (wrapped) when the running HAProxy has no
	// backend named Backend.
	ErrNoBackend = errors.New("haproxy backend not found")
	// ErrNoServer is returned (wrapped) when the backend lacks the servers
	// a switch needs: none named after a slot, fewer for the new slot than
	// it has addresses, or one that a switch cannot route to (weight 0, or
	// a state inherited from a server it tracks).
	ErrNoServer = errors.New("haproxy servers do not fit the slots")
	// ErrNotUp is returned (wrapped) by Switch when the new slot's servers,
	// once ready, are not UP within Timeout: their health checks fail. The
	// error holds what the last check said.
	ErrNotUp = errors.New("new servers not up")
	// ErrNotConfirmed is returned (wrapped) by Switch when HAProxy took
	// every command but reading the servers back does not show the switch:
	// another client changed them meanwhile.
	ErrNotConfirmed = errors.New("haproxy switch not confirmed")
	// ErrPreflight is returned (wrapped) by Preflight, with the cause:
	// bluegreen.ErrBadInput, ErrSocket, ErrNotAdmin, ErrNoBackend or
	// ErrNoServer.
	ErrPreflight = errors.New("haproxy preflight failed")
	// ErrNoSplit is returned (wrapped) by PreflightSplit, Split and Counts
	// when the backend cannot split traffic by weight or count a slot's
	// responses: it is not in mode http, or its balance algorithm does not
	// share requests by weights set at run time.
	ErrNoSplit = errors.New("haproxy backend cannot split traffic")
)

// DefaultTimeout bounds Switch, Split, Active, Canary, Counts and the
// preflights, and each command of Drain, when Switcher.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// pollInterval is how often Switch reads the servers back while it waits
// for the new ones to be UP.
const pollInterval = 20 * time.Millisecond

// drainPoll is how often Drain reads the sessions of the draining servers.
// It sees them idle twice in a row before it puts them in maintenance.
const drainPoll = 50 * time.Millisecond

var (
	_ bluegreen.Switcher    = (*Switcher)(nil)
	_ bluegreen.Drainer     = (*Switcher)(nil)
	_ bluegreen.Preflighter = (*Switcher)(nil)
	_ bluegreen.Splitter    = (*Switcher)(nil)
)

// Switcher routes traffic between the servers of one HAProxy backend
// through HAProxy's runtime API, with no reload. Socket and Backend are
// required; the other fields work at their zero value. A Switcher holds no
// state of its own: everything is read back from HAProxy, so Active,
// Canary, Counts, Drain and the preflights may run at any time and in any
// process. It must not be used by two Switch or Split calls at once.
type Switcher struct {
	// Socket is HAProxy's runtime API as its "stats socket ... level admin"
	// line names it: a unix socket path ("/run/haproxy/admin.sock"), or
	// "ipv4@127.0.0.1:9999" / "ipv6@[::1]:9999" for one bound to TCP.
	Socket string
	// Backend is the backend that serves the app, such as "web". Its
	// servers named after a slot ("blue", "green", or "blue1".."blueN" for
	// replicas) are the slots; other servers are left alone.
	Backend string
	// Logger receives a record for each step; nil discards them.
	Logger *slog.Logger
	// Timeout bounds Switch and Split (their commands and the wait for
	// the new servers to be UP), Active, Canary, Counts and the
	// preflights, and each command of Drain. Zero means DefaultTimeout.
	Timeout time.Duration
}

// Switch routes new requests to slot, served at addrs ("127.0.0.1:8080",
// one per replica). It reads the backend's servers, then:
//
//  1. gives each address to a server of slot, with "set server BK/SRV
//     addr IP port N" for a server that does not have it already (a server
//     that has one of the addresses keeps it; the others are given theirs
//     in the order of their numbers);
//  2. puts those servers in state ready and waits, at most Timeout, until
//     HAProxy reads them back ready and UP at their addresses. A server
//     with health checks that comes from maint, or moves to a new address,
//     goes to drain first with its health forced down ("set server BK/SRV
//     health down"), and is made ready once HAProxy's checks find it UP:
//     leaving maintenance, HAProxy would take it UP at once, unchecked;
//  3. puts the servers of the other slot that are ready, and the servers
//     of slot that got no address, in state drain: they take no new
//     request, and finish those they hold (see Drain);
//  4. reads the servers back to confirm.
//
// A Switch ends a split (see Split): the other slot's servers go to drain
// with the rest, and then the servers it assigned or drained are set back
// to the weights of the config ("set weight BK/SRV W").
//
// So at every instant some server is ready. Addresses, the slot and the
// settings are checked before anything is sent (errors wrap
// bluegreen.ErrBadInput), as is that the backend has servers for both
// slots and at least as many for slot as there are addresses
// (ErrNoBackend, ErrNoServer). When a command is refused or a step fails,
// Switch sets back what it changed, in reverse order, and returns the
// error: the routing that was live before is live again.
func (s *Switcher) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	api, err := s.api()
	if err == nil {
		err = checkSlot(slot)
	}
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	want, err := parseAddrs(addrs)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	log := s.log().With("backend", s.Backend, "slot", slot.String())
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	start := time.Now()

	servers, err := api.servers(ctx, s.Backend)
	if err != nil {
		return fmt.Errorf("switch to %s: %w", slot, err)
	}
	p, err := planSwitch(servers, s.Backend, slot, want)
	if err != nil {
		return fmt.Errorf("switch to %s: %w", slot, err)
	}
	if err := s.change(ctx, api, p, log); err != nil {
		return fmt.Errorf("switch to %s: %w", slot, err)
	}
	log.Info("switched", "servers", names(p.assignedServers()), "draining", names(p.retire),
		"took", time.Since(start).Round(time.Microsecond))
	return nil
}

// change applies p; when a step fails it sets back what it changed and
// says whether the servers are as they were.
func (s *Switcher) change(ctx context.Context, api runtimeAPI, p plan, log *slog.Logger) error {
	var undo []command
	err := s.apply(ctx, api, p, &undo, log)
	if err == nil {
		return nil
	}
	log.Warn("change failed; setting the servers back", "err", err)
	if rerr := s.restore(ctx, api, undo, log); rerr != nil {
		return fmt.Errorf("%w; setting the servers back failed too, the routing may be mixed: %w", err, rerr)
	}
	return fmt.Errorf("%w (the servers are as they were)", err)
}

// plan is what a Switch or a Split changes.
type plan struct {
	backend string
	weights []weightChange // sent first, before any server takes traffic (Split)
	assign  []assignment   // servers that get an address, and take traffic
	retire  []server       // servers that are ready and go to drain
	reset   []weightChange // sent last, once the other slot drains: a Switch that ends a split
	expect  *routing       // what readRouting must read back, when set
}

// weightChange sets a server's weight.
type weightChange struct {
	srv      string
	from, to int
}

type assignment struct {
	srv  server
	addr netip.AddrPort
}

func (p plan) assignedServers() []server {
	var out []server
	for _, a := range p.assign {
		out = append(out, a.srv)
	}
	return out
}

// command is one runtime API command of a Switch, or of its undoing.
type command struct {
	line string
	addr bool // a set server addr, which answers on success
}

func (p plan) setState(srv string, state adminState) command {
	return command{line: fmt.Sprintf("set server %s/%s state %s", p.backend, srv, state)}
}

func (p plan) setHealth(srv, health string) command {
	return command{line: fmt.Sprintf("set server %s/%s health %s", p.backend, srv, health)}
}

func (p plan) setWeight(srv string, w int) command {
	return command{line: fmt.Sprintf("set weight %s/%s %d", p.backend, srv, w)}
}

func (p plan) setAddr(srv string, a netip.AddrPort) command {
	return command{line: fmt.Sprintf("set server %s/%s addr %s port %d", p.backend, srv, a.Addr(), a.Port()), addr: true}
}

// planSwitch decides what a switch to slot at want changes, from the
// servers as they are; it sends nothing. When the backend is split (both
// slots ready, at weights of a Split), the servers it assigns or retires
// go back to the weights of the config once the other slot drains.
func planSwitch(servers []server, backend string, slot bluegreen.Slot, want []netip.AddrPort) (plan, error) {
	if err := checkServers(servers, backend); err != nil {
		return plan{}, err
	}
	p := plan{backend: backend}
	if err := p.assignSlot(servers, slot, want); err != nil {
		return plan{}, err
	}
	for _, srv := range slotServers(servers, slot.Other()) {
		if srv.state() == ready {
			p.retire = append(p.retire, srv)
		}
	}
	r := readRouting(servers)
	split := r.canary != bluegreen.None || r.err != nil
	for _, srv := range append(p.assignedServers(), p.retire...) {
		if split && srv.weight != srv.iweight && srv.iweight > 0 {
			p.reset = append(p.reset, weightChange{srv: srv.name, from: srv.weight, to: srv.iweight})
		}
	}
	for _, a := range p.assign {
		if a.srv.weight == 0 {
			return plan{}, fmt.Errorf("%w: server %s/%s has weight 0: it would take no request (set its weight in the config)",
				ErrNoServer, backend, a.srv.name)
		}
	}
	return p, nil
}

// assignSlot gives each address of want to a server of slot, adding them
// to p.assign, and adds the servers of slot that are ready and get none to
// p.retire.
func (p *plan) assignSlot(servers []server, slot bluegreen.Slot, want []netip.AddrPort) error {
	next := slotServers(servers, slot)
	if len(want) > len(next) {
		return fmt.Errorf("%w: slot %s has %d addresses, but backend %s has %d server(s) for it (%s): declare %s",
			ErrNoServer, slot, len(want), p.backend, len(next), names(next), replicasHint(slot, len(want)))
	}
	// A server that has one of the addresses keeps it: a switch back to a
	// slot, or to the ports its config names, changes no address.
	left := slices.Clone(want)
	taken := make([]bool, len(next))
	for i, srv := range next {
		if j := slices.Index(left, srv.addr); j >= 0 && srv.addr.IsValid() {
			p.assign = append(p.assign, assignment{srv, srv.addr})
			left = slices.Delete(left, j, j+1)
			taken[i] = true
		}
	}
	for i, srv := range next {
		if taken[i] {
			continue
		}
		if len(left) > 0 {
			p.assign = append(p.assign, assignment{srv, left[0]})
			left = left[1:]
		} else if srv.state() == ready {
			p.retire = append(p.retire, srv)
		}
	}
	return nil
}

// checkServers checks that each slot has servers in backend and that none
// inherits its state from a server it tracks, which "set server ... state"
// cannot change.
func checkServers(servers []server, backend string) error {
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		ss := slotServers(servers, slot)
		if len(ss) == 0 {
			return fmt.Errorf("%w: backend %s has no server named %s (or %s1, %s2... for replicas): declare one, such as %q",
				ErrNoServer, backend, slot, slot, slot, exampleServer(slot))
		}
		for _, srv := range ss {
			if srv.admin&admInheritedMask != 0 {
				return fmt.Errorf("%w: server %s/%s inherits its maintenance or drain state from a server it tracks: a switch cannot set it (remove its \"track\")",
					ErrNoServer, backend, srv.name)
			}
		}
	}
	return nil
}

func exampleServer(slot bluegreen.Slot) string {
	port := map[bluegreen.Slot]int{bluegreen.Blue: 8081, bluegreen.Green: 8080}[slot]
	return fmt.Sprintf("server %s 127.0.0.1:%d check", slot, port)
}

func replicasHint(slot bluegreen.Slot, n int) string {
	return fmt.Sprintf("%s1 to %s%d (or \"server-template %s %d 127.0.0.1:PORT check\")", slot, slot, n, slot, n)
}

// apply sends the commands of p, adding to undo the command that sets
// back each change made.
//
// A server that leaves maintenance is UP at once for HAProxy, whatever its
// address answers: HAProxy trusts it until a check fails. So a server
// with health checks that comes from maint, or gets a new address, goes
// first to drain (no new request) with its health forced down, and is made
// ready only once HAProxy's own checks find it UP at its address.
func (s *Switcher) apply(ctx context.Context, api runtimeAPI, p plan, undo *[]command, log *slog.Logger) error {
	send := func(c, back command) error {
		if err := s.send(ctx, api, c, log); err != nil {
			return err
		}
		*undo = append(*undo, back)
		return nil
	}
	for _, w := range p.weights {
		if err := send(p.setWeight(w.srv, w.to), p.setWeight(w.srv, w.from)); err != nil {
			return err
		}
	}
	staged := make([]bool, len(p.assign))
	for i, a := range p.assign {
		moved := a.srv.addr != a.addr
		if moved {
			back := command{}
			if a.srv.addr.IsValid() {
				back = p.setAddr(a.srv.name, a.srv.addr)
			}
			if err := send(p.setAddr(a.srv.name, a.addr), back); err != nil {
				return err
			}
		}
		switch st := a.srv.state(); {
		case st == ready:
		case a.srv.checks && (st == maint || moved):
			staged[i] = true
			if st == maint {
				if err := send(p.setState(a.srv.name, drain), p.setState(a.srv.name, st)); err != nil {
					return err
				}
			}
			// Nothing to set back: a check or the next "state ready" ends it.
			if err := send(p.setHealth(a.srv.name, "down"), command{}); err != nil {
				return err
			}
		default:
			// Without checks HAProxy takes the server UP at once; in drain
			// its checks are current.
			if err := send(p.setState(a.srv.name, ready), p.setState(a.srv.name, st)); err != nil {
				return err
			}
		}
	}
	if err := s.waitUp(ctx, api, p, false, log); err != nil {
		return err
	}
	for i, a := range p.assign {
		if staged[i] {
			if err := send(p.setState(a.srv.name, ready), p.setState(a.srv.name, a.srv.state())); err != nil {
				return err
			}
		}
	}
	if err := s.waitUp(ctx, api, p, true, log); err != nil {
		return err
	}
	for _, srv := range p.retire {
		if err := send(p.setState(srv.name, drain), p.setState(srv.name, ready)); err != nil {
			return err
		}
	}
	for _, w := range p.reset {
		if err := send(p.setWeight(w.srv, w.to), p.setWeight(w.srv, w.from)); err != nil {
			return err
		}
	}
	return confirm(ctx, api, p)
}

func (s *Switcher) send(ctx context.Context, api runtimeAPI, c command, log *slog.Logger) error {
	log.Debug("runtime API", "command", c.line)
	if c.addr {
		return api.setAddr(ctx, c.line)
	}
	return api.set(ctx, c.line)
}

// restore sends undo in reverse order, with a context of its own: a
// switch cancelled midway must still be set back.
func (s *Switcher) restore(ctx context.Context, api runtimeAPI, undo []command, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout())
	defer cancel()
	var errs []error
	for _, c := range slices.Backward(undo) {
		if c.line == "" {
			continue // nothing to set back: a health forced down, an address HAProxy did not have
		}
		if err := s.send(ctx, api, c, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitUp waits until the servers p assigns are UP and at their addresses,
// and ready when wantReady (else ready or drain), as HAProxy reads them
// back.
func (s *Switcher) waitUp(ctx context.Context, api runtimeAPI, p plan, wantReady bool, log *slog.Logger) error {
	start := time.Now()
	waiting := map[string]string{}
	for {
		servers, err := api.servers(ctx, p.backend)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case err == nil:
			waiting = notUp(servers, p, wantReady)
		}
		if err == nil && len(waiting) == 0 {
			log.Debug("new servers up", "ready", wantReady, "took", time.Since(start).Round(time.Microsecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w after %s (%w): %s", ErrNotUp, time.Since(start).Round(time.Millisecond), ctx.Err(), s.describe(api, p.backend, waiting))
		case <-time.After(pollInterval):
		}
	}
}

// notUp returns, for each server p assigns that is not UP at its address
// yet, or not ready when wantReady, why.
func notUp(servers []server, p plan, wantReady bool) map[string]string {
	waiting := map[string]string{}
	for _, a := range p.assign {
		i := slices.IndexFunc(servers, func(s server) bool { return s.name == a.srv.name })
		switch {
		case i < 0:
			waiting[a.srv.name] = "gone from the backend"
		case servers[i].addr != a.addr:
			waiting[a.srv.name] = fmt.Sprintf("at %s, not %s", servers[i].addr, a.addr)
		case servers[i].state() == maint || (wantReady && servers[i].state() != ready):
			waiting[a.srv.name] = "in state " + servers[i].state().String()
		case !servers[i].up():
			waiting[a.srv.name] = servers[i].opString()
		}
	}
	return waiting
}

// describe says why servers are waiting, with what their last health
// check said when HAProxy tells.
func (s *Switcher) describe(api runtimeAPI, backend string, waiting map[string]string) string {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout())
	defer cancel()
	stats, _ := api.stats(ctx, backend)
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(waiting)) {
		part := fmt.Sprintf("%s/%s %s", backend, name, waiting[name])
		if st, ok := stats[name]; ok && st.check != "" {
			part += " (last check: " + st.check + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// confirm reads the servers back after the last command.
func confirm(ctx context.Context, api runtimeAPI, p plan) error {
	servers, err := api.servers(ctx, p.backend)
	if err != nil {
		return err
	}
	var wrong []string
	for name, why := range notUp(servers, p, true) {
		wrong = append(wrong, name+" "+why)
	}
	for _, r := range p.retire {
		for _, srv := range servers {
			if srv.name == r.name && srv.state() == ready {
				wrong = append(wrong, r.name+" still ready")
			}
		}
	}
	for _, w := range append(slices.Clone(p.weights), p.reset...) {
		for _, srv := range servers {
			if srv.name == w.srv && srv.weight != w.to {
				wrong = append(wrong, fmt.Sprintf("%s at weight %d, not %d", w.srv, srv.weight, w.to))
			}
		}
	}
	if e := p.expect; e != nil && len(wrong) == 0 {
		if got := readRouting(servers); got.active != e.active || got.canary != e.canary || got.percent != e.percent {
			wrong = append(wrong, fmt.Sprintf("the weights read back as %s, not %s", got, *e))
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		return fmt.Errorf("%w: backend %s: %s", ErrNotConfirmed, p.backend, strings.Join(wrong, "; "))
	}
	return nil
}

// Active reads the servers' states back from HAProxy and returns the slot
// whose servers are ready (state ready, not drain nor maint) while the
// other slot has none ready. During a split, when both slots have servers
// ready at the weights a Split set, it returns the base, the slot that
// had all new requests (Canary returns the other). It returns None when
// both slots have servers ready at other weights, as a backend is written
// before the first switch (and as HAProxy comes back from a restart that
// did not load its server states), or when neither has: then no slot can
// be told to take the traffic. Health does
// not count: a ready server that its checks find DOWN is still the one
// the routing names. An error wraps ErrSocket, ErrNoBackend, ErrNoServer
// or bluegreen.ErrBadInput.
func (s *Switcher) Active(ctx context.Context) (bluegreen.Slot, error) {
	servers, err := s.readServers(ctx)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	slot, why := activeSlot(servers)
	if why != "" {
		s.log().Debug("no slot active", "backend", s.Backend, "why", why)
	}
	return slot, nil
}

// Drain waits until the servers of the backend that are in state drain
// (the slot a Switch took traffic from) hold no session and no queued
// request, as "show stat" counts them (scur, qcur), seen twice in a row;
// then it puts them in state maint, which stops their health checks and
// the persistent (cookie or stick-table) requests that drain still lets
// through. With no server in drain it returns at once.
//
// When ctx ends first, Drain still puts them in maint (HAProxy lets the
// sessions they hold run on: maint takes no session away) and returns an
// error wrapping ctx's, which names the servers still busy.
func (s *Switcher) Drain(ctx context.Context) error {
	api, err := s.api()
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	log := s.log().With("backend", s.Backend)
	servers, err := api.servers(ctx, s.Backend)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	draining := drainingServers(servers)
	if len(draining) == 0 {
		return nil
	}
	start := time.Now()
	waitErr := s.waitIdle(ctx, api, draining)
	if waitErr != nil && ctx.Err() == nil {
		return fmt.Errorf("drain: %w", waitErr)
	}
	log.Info("drained", "servers", names(draining), "took", time.Since(start).Round(time.Microsecond), "err", waitErr)
	if err := s.maintain(ctx, api, log); err != nil {
		return errors.Join(waitErr, fmt.Errorf("drain: %w", err))
	}
	if waitErr != nil {
		return fmt.Errorf("drain: %w", waitErr)
	}
	return nil
}

// waitIdle waits until the draining servers hold no session and no queued
// request in two reads in a row: a request that HAProxy was giving one of
// them as the drain command ran shows by the second.
func (s *Switcher) waitIdle(ctx context.Context, api runtimeAPI, draining []server) error {
	start := time.Now()
	busy := []string{"(not read yet)"}
	for quiet := 0; ; {
		stats, err := api.stats(ctx, s.Backend)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case err == nil:
			if busy = busyServers(stats, draining); len(busy) == 0 {
				quiet++
			} else {
				quiet = 0
			}
			if quiet == 2 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if len(busy) == 0 {
				busy = []string{"none in the last read"}
			}
			return fmt.Errorf("%w after %s; still busy: %s", ctx.Err(), time.Since(start).Round(time.Millisecond), strings.Join(busy, ", "))
		case <-time.After(drainPoll):
		}
	}
}

// drainingServers returns the slots' servers put in drain by a command.
func drainingServers(servers []server) []server {
	var out []server
	for _, srv := range servers {
		if _, _, ok := slotOf(srv.name); ok && srv.state() == drain && srv.admin&admForcedDrain != 0 {
			out = append(out, srv)
		}
	}
	return out
}

// busyServers lists the servers of draining that hold sessions or queued
// requests, with their counts.
func busyServers(stats map[string]stat, draining []server) []string {
	var busy []string
	for _, srv := range draining {
		if st := stats[srv.name]; st.sessions > 0 || st.queued > 0 {
			busy = append(busy, fmt.Sprintf("%s (%d sessions, %d queued)", srv.name, st.sessions, st.queued))
		}
	}
	return busy
}

// maintain puts the servers still in drain in maint, reading them again
// first: a Switch back since Drain began made some ready, and those stay.
func (s *Switcher) maintain(ctx context.Context, api runtimeAPI, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout())
	defer cancel()
	servers, err := api.servers(ctx, s.Backend)
	if err != nil {
		return err
	}
	p := plan{backend: s.Backend}
	for _, srv := range drainingServers(servers) {
		if err := s.send(ctx, api, p.setState(srv.name, maint), log); err != nil {
			return err
		}
	}
	return nil
}

// Preflight checks, changing nothing, that a Switch would work: Socket and
// Backend are valid, the socket answers at level admin ("show cli level"),
// the backend exists, and it has servers for both slots that a switch can
// set (weight above 0, no "track" of another server, whose maintenance
// and drain states they would inherit). Its errors
// wrap ErrPreflight and the cause, and name the x-bluegreen setting at
// fault (haproxy.socket, haproxy.backend).
func (s *Switcher) Preflight(ctx context.Context) error {
	fail := func(err error) error { return fmt.Errorf("%w: %w", ErrPreflight, err) }
	api, err := s.api()
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	level, err := api.level(ctx)
	if err != nil {
		return fail(fmt.Errorf("haproxy.socket: %w", err))
	}
	if level != "admin" {
		return fail(fmt.Errorf("%w: haproxy.socket %s is at level %s: a switch needs \"level admin\" on its stats socket line",
			ErrNotAdmin, api.ep, level))
	}
	servers, err := api.servers(ctx, s.Backend)
	if err != nil {
		return fail(fmt.Errorf("haproxy.backend: %w", err))
	}
	if err := checkServers(servers, s.Backend); err != nil {
		return fail(fmt.Errorf("haproxy.backend: %w", err))
	}
	stats, err := api.stats(ctx, s.Backend)
	if err != nil {
		return fail(fmt.Errorf("haproxy.backend: %w", err))
	}
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		for _, srv := range slotServers(servers, slot) {
			if srv.weight == 0 {
				return fail(fmt.Errorf("haproxy.backend: %w: server %s/%s has weight 0: it would take no request (set its weight in the config)",
					ErrNoServer, s.Backend, srv.name))
			}
			if tr := stats[srv.name].tracked; tr != "" {
				return fail(fmt.Errorf("haproxy.backend: %w: server %s/%s tracks %s and inherits its maintenance and drain states: a switch cannot set it apart (remove its \"track\")",
					ErrNoServer, s.Backend, srv.name, tr))
			}
		}
	}
	return nil
}

func (s *Switcher) api() (runtimeAPI, error) {
	ep, err := parseSocket(s.Socket)
	if err != nil {
		return runtimeAPI{}, err
	}
	if err := checkName("haproxy.backend", s.Backend); err != nil {
		return runtimeAPI{}, err
	}
	if s.Timeout < 0 {
		return runtimeAPI{}, badInput("timeout %s is negative", s.Timeout)
	}
	return runtimeAPI{ep: ep, timeout: s.timeout()}, nil
}

func (s *Switcher) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Switcher) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
