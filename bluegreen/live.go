package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// liveSlot decides which slot takes traffic from three pieces of evidence
// that must agree: the routing read back from the proxy, the containers
// that run, and the history. When they disagree, or the proxy's routing
// cannot be read, it refuses with ErrBadInput before anything is touched:
// a typo in the proxy's configuration path must never pass for a first
// deploy. "No live slot" is concluded only when no release of ours runs
// where the history says one took traffic.
//
// A rollout that died before it finished is finished first: when it died
// during its switch, the proxy is routed again to a slot that answers; its
// history entry says whether it took traffic.
func (d *Deployer) liveSlot(ctx context.Context) (Slot, error) {
	routed, err := d.Switcher.Active(ctx)
	if err != nil {
		return None, inDoubt{fmt.Errorf("%w: reading which slot the proxy routes to: %w (nothing was changed)", ErrBadInput, err)}
	}
	st, err := d.readState()
	if errors.Is(err, ErrState) {
		return None, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	if err != nil {
		return None, err
	}
	var leftover Slot // the slot of an unfinished rollout that never took traffic
	split, err := d.splitSlot(ctx)
	if err != nil {
		return None, inDoubt{fmt.Errorf("%w: reading whether the proxy splits traffic: %w (nothing was changed)", ErrBadInput, err)}
	}
	if last := st.last(); last != nil && last.Outcome == OutcomeRunning {
		if split != None {
			last.Switching = true // a canary died with traffic split
		}
		if routed, err = d.finishInterrupted(ctx, &st, routed); err != nil {
			return None, err
		}
		if routed != last.Slot {
			leftover = last.Slot
		}
	} else if split != None && routed != None {
		d.info(StepPrepare, routed, fmt.Sprintf("the proxy splits traffic between %s and %s: routing it all to %s again", routed, split, routed))
		if routed, err = d.repairSwitch(ctx, routed); err != nil {
			return None, err
		}
	}
	running := map[Slot]int{}
	for _, slot := range []Slot{Blue, Green} {
		cs, err := d.routed(ctx, slot, false)
		if err != nil {
			return None, err
		}
		running[slot] = len(cs)
	}
	wentLive := st.newestLive()
	switch {
	case routed == None:
		for _, slot := range []Slot{Blue, Green} {
			if running[slot] > 0 && slot != leftover {
				return None, inDoubt{fmt.Errorf("%w: the proxy routes to no slot, yet %s runs%s: is the proxy's configuration (its file or address in x-bluegreen, or the flag that overrides it) the one the live release was switched with? Nothing was changed",
					ErrBadInput, slot, wentLiveNote(wentLive, slot))}
			}
		}
	case wentLive != nil && wentLive.Slot != routed:
		return None, inDoubt{fmt.Errorf("%w: the proxy routes to %s, but the history says release %d went live in %s last: was the proxy switched by hand, or is state_dir another deploy's? Switch the proxy to %s, or move %s aside to start a new history. Nothing was changed",
			ErrBadInput, routed, wentLive.ID, wentLive.Slot, wentLive.Slot, d.statePath())}
	case running[routed] == 0:
		d.log().Warn("the proxy routes to a slot where nothing runs", "slot", routed)
		d.info(StepPrepare, routed, fmt.Sprintf("the proxy routes to %s, where nothing runs: nothing serves now", routed))
	}
	return routed, nil
}

// inDoubt marks an error after which the slot the proxy routes to is not
// known: reading it back gave no answer that the evidence supports.
type inDoubt struct{ error }

func (e inDoubt) Unwrap() error { return e.error }

// errUnknownLive is StepError.LiveErr when the routing is in doubt.
var errUnknownLive = errors.New("not known: the proxy's configuration and what runs disagree (see the error)")

// wentLiveNote says, for an error, that rel went live in slot.
func wentLiveNote(rel *Release, slot Slot) string {
	if rel == nil || rel.Slot != slot {
		return ""
	}
	return fmt.Sprintf(" (release %d went live there)", rel.ID)
}

// finishInterrupted closes the history entry of a rollout whose process
// stopped before it finished, and returns the slot the proxy routes to
// after any repair.
func (d *Deployer) finishInterrupted(ctx context.Context, st *stateFile, routed Slot) (Slot, error) {
	last := st.last()
	reason := fmt.Sprintf("interrupted: the process running release %d stopped before it finished", last.ID)
	d.log().Warn("the last rollout did not finish", "release", last.ID, "switching", last.Switching, "routed", routed)
	if last.Switching && routed != None {
		var err error
		if routed, err = d.repairSwitch(ctx, routed); err != nil {
			return None, err
		}
	} else if err := d.drain(context.WithoutCancel(ctx)); err != nil {
		// It may have died after its switch, before its drain: requests
		// may still be on their way to the slot about to be cleared.
		return None, fmt.Errorf("draining after the unfinished rollout: %w", err)
	}
	last.Outcome, last.Reason, last.Finished = OutcomeFailed, reason, time.Now().UTC()
	if routed == last.Slot {
		last.Outcome = OutcomeIncomplete // it took traffic; its old slot was not retired
	}
	last.Switching = false
	if err := writeState(d.statePath(), *st); err != nil {
		return None, fmt.Errorf("writing the history: %w", err)
	}
	return routed, nil
}

// repairSwitch routes traffic again to the slot the proxy names when it
// answers, else to the other one when that answers.
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

// readLive reads back the slot the proxy routes to, for a report: even
// when ctx has ended.
func (d *Deployer) readLive(ctx context.Context) (Slot, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	defer cancel()
	return d.Switcher.Active(ctx)
}

// newestLive returns the newest release that took traffic and kept it
// (succeeded, or incomplete), or nil.
func (s *stateFile) newestLive() *Release {
	for i := len(s.Releases) - 1; i >= 0; i-- {
		if o := s.Releases[i].Outcome; o == OutcomeSucceeded || o == OutcomeIncomplete {
			return &s.Releases[i]
		}
	}
	return nil
}
