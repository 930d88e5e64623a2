package health

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults applied by Wait to a zero Policy field.
const (
	DefaultInterval  = 100 * time.Millisecond
	DefaultTimeout   = 60 * time.Second
	DefaultThreshold = 2
)

// ErrTimeout is returned (wrapped) when the checks did not pass in time.
var ErrTimeout = errors.New("not healthy before the timeout")

// Policy says how often to probe, for how long, and how many passes in a row
// count as healthy. Zero fields take the Default values.
type Policy struct {
	Interval         time.Duration
	Timeout          time.Duration
	HealthyThreshold int
}

func (p Policy) withDefaults() Policy {
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.HealthyThreshold <= 0 {
		p.HealthyThreshold = DefaultThreshold
	}
	return p
}

// Result tells what Wait saw.
type Result struct {
	Probes  int           // rounds of probes sent
	Elapsed time.Duration // from the start of Wait to its return
	Last    error         // the last failed probe's error, if any
}

// A Poller is a Checker with a cheap way to learn that a round it failed may
// pass now (a connection that a port refused until the app listens, say).
// After a round that it failed, Wait calls Poll, and starts the next round
// as soon as Poll returns true rather than at the next interval; the rounds
// after a passing one stay p.Interval apart, so only the wait for the first
// pass is cut short, never the threshold. Poll returns false when ctx ends
// first: Wait ends it at the next interval.
type Poller interface {
	Checker
	Poll(ctx context.Context) bool
}

// Wait probes checks every p.Interval until all of them pass
// p.HealthyThreshold rounds in a row. It returns an error wrapping ErrTimeout
// (and describing the last failure) when p.Timeout passes first, the probe's
// error at once when a check fails with Permanent, and ctx's error when ctx
// ends.
//
// Each round's context ends at the overall deadline, so a check that honours
// its context cannot hold Wait much past p.Timeout. A check that is a Poller
// is polled between the rounds it fails (see Poller).
func Wait(ctx context.Context, p Policy, checks ...Checker) (Result, error) {
	p = p.withDefaults()
	start := time.Now()
	deadline := start.Add(p.Timeout)
	var res Result
	passes, best := 0, 0
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	timer := time.NewTimer(p.Timeout)
	defer timer.Stop()
	timedOut := func() (Result, error) {
		res.Elapsed = time.Since(start)
		return res, timeoutError(p, res, best)
	}
	woken := false // the last round started early, at a Poller's word
	for {
		failed, err := probeRound(ctx, deadline, checks)
		res.Probes++
		res.Elapsed = time.Since(start)
		switch {
		case err == nil:
			passes++
			best = max(best, passes)
			if passes >= p.HealthyThreshold {
				return res, nil
			}
		case errors.Is(err, ErrPermanent):
			res.Last = err
			return res, err
		default:
			passes = 0
			// A round cut off by the deadline only says "out of time"; an
			// earlier failure tells the user more about why.
			if res.Last == nil || !cutOff(ctx, deadline, err) {
				res.Last = err
			}
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("waiting for health: %w", context.Cause(ctx))
		}
		if !time.Now().Before(deadline) {
			return timedOut()
		}
		// A round that was woken early and failed anyway waits for the
		// ticker: a Poller that keeps saying yes cannot spin the rounds.
		var wake <-chan struct{}
		stopPoll := func() {}
		if p, ok := failed.(Poller); ok && err != nil && !woken {
			wake, stopPoll = poll(ctx, p)
		}
		woken = false
		select {
		case <-ctx.Done():
			stopPoll()
			return res, fmt.Errorf("waiting for health: %w", context.Cause(ctx))
		case <-timer.C:
			stopPoll()
			return timedOut()
		case <-ticker.C:
		case <-wake:
			woken = true
			ticker.Reset(p.Interval)
		}
		stopPoll()
	}
}

// poll runs p.Poll until stop is called; wake is closed when it says yes.
func poll(ctx context.Context, p Poller) (wake <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if p.Poll(ctx) {
			close(ch)
		}
	}()
	return ch, func() {
		cancel()
		<-done
	}
}

// probeRound runs checks in order under a context that ends at deadline,
// and returns the check that failed first and its error.
func probeRound(ctx context.Context, deadline time.Time, checks []Checker) (Checker, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			return c, err
		}
	}
	return nil, nil
}

// cutOff reports whether Wait's own deadline, not ctx, ended the round.
func cutOff(ctx context.Context, deadline time.Time, err error) bool {
	return ctx.Err() == nil && !time.Now().Before(deadline) && errors.Is(err, context.DeadlineExceeded)
}

func timeoutError(p Policy, res Result, best int) error {
	msg := fmt.Sprintf("%s, %d probes, best run %d of %d passes", p.Timeout, res.Probes, best, p.HealthyThreshold)
	if res.Last != nil {
		msg += fmt.Sprintf("; last: %v", res.Last)
	}
	return fmt.Errorf("%w (%s)", ErrTimeout, msg)
}
