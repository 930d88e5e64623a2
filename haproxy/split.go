package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// maxWeight is the highest weight "set weight" takes.
const maxWeight = 256

// Split sends percent (1-99) of new requests to canary, served at
// canaryAddrs, and the rest to base, at baseAddrs, by the servers' weights:
// HAProxy's weighted round robin gives each server its weight's share.
// Split reads the backend's servers, then:
//
//  1. gives each address to a server of its slot, as Switch does, and
//     sets the weights with "set weight BK/SRV W": the same weight for
//     each server of a slot, such that canary's servers take percent of
//     the total (9 for base and 1 for canary at 10%, one server each; see
//     splitWeights);
//  2. makes canary's servers ready as Switch makes the new slot's (staged
//     in drain until HAProxy's checks find them UP), and base's too if
//     they are not;
//  3. drains the servers of either slot that got no address;
//  4. reads the servers back to confirm, and that the weights read back
//     as the split.
//
// The weights are the split's record in HAProxy: Canary and Active read it
// back, in any process, and a server-state-file keeps it across a reload.
// A Switch ends the split. While Split runs, Active and Canary in another
// process may read the weights half set. Inputs are checked as Switch checks them (errors
// wrap bluegreen.ErrBadInput), and base and canary must differ. When a
// command is refused or a step fails, Split sets back what it changed, in
// reverse order: the routing that was live before is live again. A backend
// whose balance algorithm cannot change weights at run time (static-rr,
// or a hash with hash-type map-based) refuses the first "set weight":
// the error wraps ErrRefused and ErrNoSplit. PreflightSplit tells before.
func (s *Switcher) Split(ctx context.Context, base bluegreen.Slot, baseAddrs []string, canary bluegreen.Slot, canaryAddrs []string, percent int) error {
	api, err := s.api()
	if err == nil {
		err = checkSplit(base, canary, percent)
	}
	if err != nil {
		return fmt.Errorf("split: %w", err)
	}
	wantBase, err := parseAddrs(baseAddrs)
	if err != nil {
		return fmt.Errorf("split: %s: %w", base, err)
	}
	wantCanary, err := parseAddrs(canaryAddrs)
	if err != nil {
		return fmt.Errorf("split: %s: %w", canary, err)
	}
	log := s.log().With("backend", s.Backend, "slot", base.String(), "canary", canary.String(), "percent", percent)
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	start := time.Now()

	servers, err := api.servers(ctx, s.Backend)
	if err != nil {
		return fmt.Errorf("split %d%% to %s: %w", percent, canary, err)
	}
	p, err := planSplit(servers, s.Backend, base, wantBase, canary, wantCanary, percent)
	if err != nil {
		return fmt.Errorf("split %d%% to %s: %w", percent, canary, err)
	}
	if err := s.change(ctx, api, p, log); err != nil {
		return fmt.Errorf("split %d%% to %s: %w", percent, canary, err)
	}
	log.Info("split", "servers", names(p.assignedServers()), "weights", p.weightsWord(), "draining", names(p.retire),
		"read back", p.expect.String(), "took", time.Since(start).Round(time.Microsecond))
	return nil
}

// checkSplit checks the slots and the percent of a Split.
func checkSplit(base, canary bluegreen.Slot, percent int) error {
	for _, slot := range []bluegreen.Slot{base, canary} {
		if err := checkSlot(slot); err != nil {
			return err
		}
	}
	if base == canary {
		return badInput("base and canary are both %s", base)
	}
	if percent < 1 || percent > 99 {
		return badInput("percent %d is not from 1 to 99", percent)
	}
	return nil
}

// planSplit decides what a split of percent to canary changes, from the
// servers as they are; it sends nothing.
func planSplit(servers []server, backend string, base bluegreen.Slot, baseAddrs []netip.AddrPort, canary bluegreen.Slot, canaryAddrs []netip.AddrPort, percent int) (plan, error) {
	if err := checkServers(servers, backend); err != nil {
		return plan{}, err
	}
	p := plan{backend: backend}
	if err := p.assignSlot(servers, base, baseAddrs); err != nil {
		return plan{}, err
	}
	if err := p.assignSlot(servers, canary, canaryAddrs); err != nil {
		return plan{}, err
	}
	weightOf := func(a assignment, wb, wc int) int {
		if slot, _, _ := slotOf(a.srv.name); slot == canary {
			return wc
		}
		return wb
	}
	config := func(wb, wc int) bool {
		return !slices.ContainsFunc(p.assign, func(a assignment) bool { return a.srv.iweight != weightOf(a, wb, wc) })
	}
	wb, wc := splitWeights(base, len(baseAddrs), len(canaryAddrs), percent, config)
	var after []server // the servers that take traffic once the split is live
	for _, a := range p.assign {
		w := weightOf(a, wb, wc)
		if a.srv.weight != w {
			p.weights = append(p.weights, weightChange{srv: a.srv.name, from: a.srv.weight, to: w})
		}
		srv := a.srv
		srv.admin, srv.weight = 0, w
		after = append(after, srv)
	}
	r := readRouting(after)
	if r.active != base || r.canary != canary {
		// splitWeights chose what readRouting cannot read: a bug of this package.
		return plan{}, fmt.Errorf("weights %d for %s and %d for %s would read back as %s", wb, base, wc, canary, r)
	}
	p.expect = &r
	return p, nil
}

// splitWeights returns the weight of each of the nb servers of base and of
// the nc servers of canary for canary to take percent of new requests:
// of the pairs of weights from 1 to 256, the one whose share is nearest
// percent, exact when a pair is (and the smallest of those), such that
//
//   - the pair's greatest common divisor is odd when base is blue and even
//     when base is green: readRouting tells the base from the canary by
//     it (blue 9 and green 1 is 10% to green; blue 2 and green 18 is 10%
//     to blue);
//   - the pair is not the weights of the config (config says when it
//     would be): readRouting tells a split from a backend written with
//     both slots enabled by weights that differ from the config's.
//
// The share is exact whenever (100-percent)*nc and percent*nb, divided by
// their greatest common divisor, fit in 256 (128 when green is the base);
// beyond, as for 1% to three servers beside one, it is the nearest the
// weights allow.
func splitWeights(base bluegreen.Slot, nb, nc, percent int, config func(wb, wc int) bool) (int, int) {
	odd := base == bluegreen.Blue
	bestB, bestC := 0, 0
	var bestErr, bestTotal int64 = -1, 1
	consider := func(wb, wc int) bool {
		if (gcd(wb, wc)%2 == 1) != odd || config(wb, wc) {
			return false
		}
		// The canary's share is nc*wc/total: its distance to percent/100
		// is e/(100*total).
		total := int64(nb*wb + nc*wc)
		e := int64(100*nc*wc) - int64(percent)*total
		if e < 0 {
			e = -e
		}
		if bestErr < 0 || e*bestTotal < bestErr*total || e*bestTotal == bestErr*total && wb+wc < bestB+bestC {
			bestB, bestC, bestErr, bestTotal = wb, wc, e, total
		}
		return true
	}
	for wc := 1; wc <= maxWeight; wc++ {
		if !odd && wc%2 == 1 {
			continue // an odd weight has an odd divisor with any other
		}
		// The share is exact at wb = exact, and the farther wb is from it,
		// either way, the farther the share: the nearest pair for this wc
		// is the first that fits below it or above it.
		exact := wc * (100 - percent) * nc / (percent * nb)
		for wb := min(exact, maxWeight); wb >= 1 && !consider(wb, wc); wb-- {
		}
		for wb := max(exact+1, 1); wb <= maxWeight && !consider(wb, wc); wb++ {
		}
	}
	return bestB, bestC
}

// weightsWord lists the weights a plan sets, for the log.
func (p plan) weightsWord() string {
	var w []string
	for _, c := range p.weights {
		w = append(w, fmt.Sprintf("%s %d", c.srv, c.to))
	}
	return strings.Join(w, ", ")
}

// Canary reads the servers back from HAProxy and returns the slot that
// takes a share of new requests beside the one Active returns, and its
// percent (the canary's share of the total weight, rounded): None and 0
// when one slot or none takes them, or when both slots are ready at the
// weights of the config, as a backend is written before the first switch.
// When both slots are ready at weights that no Split set (unequal within a
// slot, or 0), it returns an error wrapping ErrNoServer that says so: the
// routing is mixed, and which slot is the canary cannot be told. Other
// errors wrap ErrSocket, ErrNoBackend, ErrNoServer or bluegreen.ErrBadInput.
func (s *Switcher) Canary(ctx context.Context) (bluegreen.Slot, int, error) {
	servers, err := s.readServers(ctx)
	if err != nil {
		return bluegreen.None, 0, fmt.Errorf("canary: %w", err)
	}
	r := readRouting(servers)
	if r.err != nil {
		return bluegreen.None, 0, fmt.Errorf("canary: backend %s: %w", s.Backend, r.err)
	}
	return r.canary, r.percent, nil
}

// Counts reads "show stat" and returns the running totals of the servers
// named after slot, added up:
//
//   - Requests: the responses they sent (hrsp_1xx to hrsp_5xx, and
//     hrsp_other), the requests they gave no response to (eresp less
//     srv_abrt: HAProxy then answers 502 or 504 itself, which no hrsp_*
//     counts), and their failed connection attempts (econ, wretr and
//     wredis: with "retries" HAProxy tries a refused connection again,
//     and with "option redispatch" on another server, so econ alone counts
//     only the last attempt of a request);
//   - Errors: the 5xx responses (hrsp_5xx), the requests with no
//     response, and the failed connection attempts.
//
// A response cut short (srv_abrt) counts once, by its status; an interim
// 100 Continue counts as a response of its own. HAProxy keeps
// these counters per server from its start, across changes of address and
// state, so only the difference between two calls means something; a
// reload or "clear counters" starts them again. The backend must be in
// mode http, where HAProxy counts responses by status: else the error
// wraps ErrNoSplit. Other errors wrap ErrSocket, ErrNoBackend, ErrNoServer
// or bluegreen.ErrBadInput.
func (s *Switcher) Counts(ctx context.Context, slot bluegreen.Slot) (bluegreen.Counts, error) {
	api, err := s.api()
	if err == nil {
		err = checkSlot(slot)
	}
	if err != nil {
		return bluegreen.Counts{}, fmt.Errorf("counts: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	stats, err := api.stats(ctx, s.Backend)
	if err != nil {
		return bluegreen.Counts{}, fmt.Errorf("counts of %s: %w", slot, err)
	}
	c, err := slotCounts(stats, s.Backend, slot)
	if err != nil {
		return bluegreen.Counts{}, fmt.Errorf("counts of %s: %w", slot, err)
	}
	return c, nil
}

// slotCounts adds up the counters of slot's servers, as Counts says.
func slotCounts(stats map[string]stat, backend string, slot bluegreen.Slot) (bluegreen.Counts, error) {
	var c bluegreen.Counts
	found := false
	for name, st := range stats {
		if sl, _, ok := slotOf(name); !ok || sl != slot {
			continue
		}
		if !st.http {
			return bluegreen.Counts{}, fmt.Errorf("%w: server %s/%s has no HTTP response counters (hrsp_*): the backend is not in mode http",
				ErrNoSplit, backend, name)
		}
		found = true
		failed := st.econ + st.wretr + st.wredis
		noResponse := st.eresp - st.srvAbrt
		c.Requests += st.responses + noResponse + failed
		c.Errors += st.responses5 + noResponse + failed
	}
	if !found {
		return bluegreen.Counts{}, fmt.Errorf("%w: backend %s has no server named %s (or %s1, %s2... for replicas)",
			ErrNoServer, backend, slot, slot, slot)
	}
	return c, nil
}

// splitAlgos are the balance algorithms that share requests by weights set
// at run time. HAProxy 2.6 shows random as "unknown".
var splitAlgos = []string{"roundrobin", "leastconn", "random", "unknown"}

// PreflightSplit checks, changing nothing, what Preflight checks, and that
// Split and Counts would work: the backend is in mode http, so that
// HAProxy counts each server's responses by status, and its balance
// algorithm shares requests by weights set at run time (roundrobin, the
// default, leastconn or random; not static-rr, which cannot change them,
// first, which fills one server before the next, nor a hash, which sends
// each request where its key points). Its errors wrap ErrPreflight and the
// cause (ErrNoSplit, or one of Preflight's), and name the setting at fault.
func (s *Switcher) PreflightSplit(ctx context.Context) error {
	if err := s.Preflight(ctx); err != nil {
		return err
	}
	fail := func(err error) error { return fmt.Errorf("%w: haproxy.backend: %w", ErrPreflight, err) }
	api, err := s.api()
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	be, err := api.backend(ctx, s.Backend)
	if err != nil {
		return fail(err)
	}
	if be.mode != "http" {
		return fail(fmt.Errorf("%w: backend %s is in mode %s: a canary is judged by the responses HAProxy counts per server and status (hrsp_5xx), which it counts in mode http only",
			ErrNoSplit, s.Backend, be.mode))
	}
	if !slices.Contains(splitAlgos, be.algo) {
		return fail(fmt.Errorf("%w: backend %s has \"balance %s\": a canary needs one that shares requests by weights set at run time: roundrobin (the default), leastconn or random",
			ErrNoSplit, s.Backend, be.algo))
	}
	return nil
}

// readServers reads the backend's servers, as Active and Canary read the
// routing back, within the Switcher's timeout.
func (s *Switcher) readServers(ctx context.Context) ([]server, error) {
	api, err := s.api()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	servers, err := api.servers(ctx, s.Backend)
	if err == nil {
		err = checkServers(servers, s.Backend)
	}
	return servers, err
}
