package health

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults applied by Wait to a zero Policy field.
const (
	DefaultInterval  = 250 * time.Millisecond
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
// (and the last probe's error) when p.Timeout passes first, the probe's error
// at once when a check fails with Permanent, and ctx's error when ctx ends.
func Wait(ctx context.Context, p Policy, checks ...Checker) (Result, error) {
	p = p.withDefaults()
	start := time.Now()
	deadline := start.Add(p.Timeout)
	var res Result
	passes := 0
	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()
	for {
		res.Probes++
		err := probeAll(ctx, checks)
		res.Elapsed = time.Since(start)
		switch {
		case err == nil:
			passes++
			if passes >= p.HealthyThreshold {
				return res, nil
			}
		case errors.Is(err, ErrPermanent):
			res.Last = err
			return res, err
		default:
			passes = 0
			res.Last = err
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%w (%s, %d probes; last: %v)", ErrTimeout, p.Timeout, res.Probes, res.Last)
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("waiting for health: %w", context.Cause(ctx))
		case <-ticker.C:
		}
	}
}

func probeAll(ctx context.Context, checks []Checker) error {
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			return err
		}
	}
	return nil
}
