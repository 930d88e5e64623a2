package bluegreen

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/health"
)

// recoverProbeTimeout bounds the probe of a slot while repairing after a
// deploy that died during its switch.
const recoverProbeTimeout = 10 * time.Second

// policy is the health policy of the configuration, with timeout.
func (d *Deployer) policy(timeout time.Duration) health.Policy {
	return health.Policy{
		Interval:         d.Config.Health.Interval,
		Timeout:          timeout,
		HealthyThreshold: d.Config.Health.HealthyThreshold,
	}
}

// check is the readiness check of slot: every container of the routed
// service runs (and is healthy by its own healthcheck), and each one
// answers at its published port as the configuration says; there are at
// least want of them. When culprit is not nil, a failed round leaves there
// the container that failed it.
func (d *Deployer) check(slot Slot, want int, culprit *api.ContainerSummary) health.Checker {
	blame := func(c api.ContainerSummary) {
		if culprit != nil {
			*culprit = c
		}
	}
	return health.CheckerFunc(func(ctx context.Context) error {
		cs, err := d.routed(ctx, slot, true)
		if err != nil {
			return err
		}
		if len(cs) < want {
			return health.Permanent(fmt.Errorf("service %s has %d of its %d container(s)", d.Config.Service, len(cs), want))
		}
		for _, c := range cs {
			if err := containerRunning(c); err != nil {
				blame(c)
				return err
			}
		}
		for _, c := range cs {
			addr, err := d.hostAddr(c)
			if err == nil {
				err = d.probe(ctx, addr)
			}
			if err != nil {
				blame(c)
				if len(cs) > 1 {
					return fmt.Errorf("container %s: %w", c.Name, err)
				}
				return err
			}
		}
		return nil
	})
}

// probe checks one container at addr, once.
func (d *Deployer) probe(ctx context.Context, addr string) error {
	if d.Config.Health.TCP {
		if err := (health.TCP{Addr: addr}).Check(ctx); err != nil {
			return err
		}
	}
	return health.HTTP{
		URL:    "http://" + addr + d.Config.Health.Path,
		Host:   d.Config.Health.Host,
		Status: d.Config.Health.Status,
	}.Check(ctx)
}

// waitHealthy probes the new slot until it passes HealthyThreshold rounds in
// a row. A container that exits fails the wait at once.
func (d *Deployer) waitHealthy(ctx context.Context, slot Slot) error {
	var culprit api.ContainerSummary
	res, err := health.Wait(ctx, d.policy(d.Config.Health.Timeout), d.check(slot, d.Config.replicas(), &culprit))
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("stopped waiting for health: %w", context.Cause(ctx))
	}
	if err != nil {
		// With several replicas, the logs of the one that failed tell why.
		whose, index := "", 0
		if d.Config.replicas() > 1 && culprit.Name != "" {
			whose, index = " of "+culprit.Name, containerNumber(culprit)
		}
		logs := d.tailLogs(slot, index, 20)
		for _, line := range logs {
			d.log().Warn("log of the failed release", "slot", slot, "container", culprit.Name, "line", line)
		}
		return fmt.Errorf("%w: %v%s", ErrUnhealthy, err, lastLines(whose, logs, 3))
	}
	d.info(StepWaitHealthy, slot, fmt.Sprintf("healthy after %s (%d probe rounds)", res.Elapsed.Round(time.Millisecond), res.Probes))
	return nil
}

// verify fetches VerifyURL through the proxy until it answers as the health
// settings ask.
func (d *Deployer) verify(ctx context.Context) error {
	check := health.HTTP{URL: d.Config.VerifyURL, Host: d.Config.Health.Host, Status: d.Config.Health.Status}
	if _, err := health.Wait(ctx, d.policy(d.Config.VerifyTimeout), check); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return nil
}

// containerRunning fails while c is not running or its own healthcheck
// (from the compose file or the image) does not say healthy yet, and fails
// for good when it has exited or is unhealthy.
func containerRunning(c api.ContainerSummary) error {
	switch {
	case c.State == "exited" || c.State == "dead":
		return health.Permanent(fmt.Errorf("container %s %s with code %d", c.Name, c.State, c.ExitCode))
	case c.Health == "unhealthy":
		return health.Permanent(fmt.Errorf("container %s: its healthcheck says unhealthy", c.Name))
	case c.State != "running":
		return fmt.Errorf("container %s is %s", c.Name, c.State)
	case c.Health == "starting":
		return fmt.Errorf("container %s: its healthcheck is still starting", c.Name)
	}
	return nil
}

// healthy probes slot once (HealthyThreshold rounds) within
// recoverProbeTimeout. The slot may run fewer or more replicas than the
// configuration now says: it ran a release deployed earlier.
func (d *Deployer) healthy(ctx context.Context, slot Slot) error {
	_, err := health.Wait(ctx, d.policy(recoverProbeTimeout), d.check(slot, 1, nil))
	return err
}

// recover returns the live slot. When the last rollout died in the middle
// of its switch, the upstream file and what nginx serves may disagree: it
// makes them agree again, on a slot that answers, before anything else.
// Any other unfinished rollout is marked failed (its leftovers in the idle
// slot are removed by the prepare step).
func (d *Deployer) recover(ctx context.Context) (Slot, error) {
	live, err := d.Switcher.Active(ctx)
	if err != nil {
		return None, fmt.Errorf("reading the live slot: %w", err)
	}
	st, err := d.readState()
	if err != nil {
		return None, err
	}
	last := st.last()
	if last == nil || last.Outcome != OutcomeRunning {
		return live, nil
	}
	reason := fmt.Sprintf("interrupted: the process running release %d stopped before it finished", last.ID)
	d.log().Warn("the last rollout did not finish", "release", last.ID, "switching", last.Switching, "live", live)
	if last.Switching && live != None {
		live, err = d.repairSwitch(ctx, live)
		if err != nil {
			return None, err
		}
	} else if err := d.drain(context.WithoutCancel(ctx)); err != nil {
		// It may have died after its switch, before its drain: requests
		// may still be on their way to the slot about to be cleared.
		return None, fmt.Errorf("draining after the unfinished rollout: %w", err)
	}
	last.Outcome, last.Reason, last.Finished = OutcomeFailed, reason, time.Now().UTC()
	if last.Switching && live == last.Slot {
		last.Outcome = OutcomeIncomplete // it took traffic; its old slot was not retired
	}
	last.Switching = false
	return live, writeState(d.statePath(), st)
}

// repairSwitch routes traffic again to the slot the upstream file names when
// it answers, else to the other one when that answers.
func (d *Deployer) repairSwitch(ctx context.Context, named Slot) (Slot, error) {
	for _, slot := range []Slot{named, named.Other()} {
		if err := d.healthy(ctx, slot); err != nil {
			d.log().Warn("slot does not answer", "slot", slot, "err", err)
			continue
		}
		d.info(StepPrepare, slot, fmt.Sprintf("the last deploy died during its switch: routing traffic to %s again", slot))
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
		err := d.switchUpstreams(sctx, slot)
		cancel()
		if err != nil {
			return None, fmt.Errorf("repairing the switch the last deploy left unfinished: %w", err)
		}
		// Requests may still be on their way to the other slot, which the
		// prepare step is about to remove.
		if err := d.drain(context.WithoutCancel(ctx)); err != nil {
			return None, fmt.Errorf("draining after repairing the switch: %w", err)
		}
		return slot, nil
	}
	return None, fmt.Errorf("the last deploy died during its switch and neither slot answers")
}
