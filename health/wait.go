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

// Wait probes checks every p.Interval until all of them pass
// p.HealthyThreshold rounds in a row. It returns an error wrapping ErrTimeout
// (and describing the last failure) when p.Timeout passes first, the probe's
// error at once when a check fails with Permanent, and ctx's error when ctx
// ends.
//
// Each round's context ends at the overall deadline, so a check that honours
// its context cannot hold Wait much past p.Timeout.
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
	for {
		err := probeRound(ctx, deadline, checks)
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
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("waiting for health: %w", context.Cause(ctx))
		case <-timer.C:
			return timedOut()
		case <-ticker.C:
		}
	}
}

// probeRound runs checks in order under a context that ends at deadline.
func probeRound(ctx context.Context, deadline time.Time, checks []Checker) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			return err
		}
	}
	return nil
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
