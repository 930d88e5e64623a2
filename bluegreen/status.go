package bluegreen

import (
	"context"
	"fmt"
	"time"
)

// Status is what runs where, and which slot takes traffic.
type Status struct {
	Project string       `json:"project"`
	Active  Slot         `json:"active"`
	Slots   []SlotStatus `json:"slots"`
	// Shared are the containers of the services that do not switch.
	Shared []ContainerStatus `json:"shared"`
	// History holds the last few releases, oldest first.
	History []Release `json:"history"`
	// HistoryError, when set, says why the history could not be read (a
	// state file that is corrupt or another project's: ErrState, and how
	// to recover). Active, Slots and Shared still say what runs, from the
	// proxy and the engine; History and each slot's Release are then
	// empty.
	HistoryError string `json:"history_error,omitempty"`
	// Warnings say where what the proxy routes to and what runs disagree
	// (a live slot with no running container, after down say), and name a
	// release whose deploy ended without recording how (killed).
	Warnings []string `json:"warnings,omitempty"`
	// Canary, when the proxy splits traffic, says to which slot, what
	// share, and the figures of the running canary's step.
	Canary *CanaryStatus `json:"canary,omitempty"`
	// Deploying, when a deploy (or rollback, switch, down) of the project
	// runs now, names the process that holds the project's lock.
	Deploying *LockHolder `json:"deploying,omitempty"`
}

// CanaryStatus is a split read back from the proxy, with the progress the
// running deploy records (nil when no deploy runs: a killed canary, which
// the next deploy repairs).
type CanaryStatus struct {
	Slot     Slot            `json:"slot"`
	Percent  int             `json:"percent"`
	Progress *CanaryProgress `json:"progress,omitempty"`
}

// statusHistory is how many releases Status shows.
const statusHistory = 5

// SlotStatus describes one slot.
type SlotStatus struct {
	Slot       Slot              `json:"slot"`
	Port       int               `json:"port"` // the first, with several replicas
	Replicas   int               `json:"replicas"`
	Live       bool              `json:"live"`
	Containers []ContainerStatus `json:"containers"`
	// Release is the newest release that took traffic in this slot, if
	// the history has one (its variables left out).
	Release *Release `json:"release,omitempty"`
}

// ContainerStatus describes one container of a slot.
type ContainerStatus struct {
	Name     string `json:"name"`
	Service  string `json:"service"`
	Image    string `json:"image"`
	State    string `json:"state"`
	Health   string `json:"health,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	// Port is the host port of the routed service's container, on
	// 127.0.0.1, while it runs.
	Port int `json:"port,omitempty"`
}

// Status reports the live slot and the containers of both slots. It changes
// nothing. A history that cannot be read does not fail it: what runs comes
// from the proxy and the engine, and the reason is in HistoryError.
func (d *Deployer) Status(ctx context.Context) (*Status, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	live, err := d.Switcher.Active(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the live slot: %w", err)
	}
	st := &Status{Project: d.Project.Config.Project, Active: live}
	for _, slot := range []Slot{Blue, Green} {
		cs, err := d.containers(ctx, slotProjectName(d.Project.Config.Project, slot))
		if err != nil {
			return nil, err
		}
		st.Slots = append(st.Slots, SlotStatus{
			Slot: slot, Port: d.Project.Config.Slots.Port(slot), Replicas: d.Project.Config.replicas(), Live: slot == live, Containers: cs,
		})
	}
	st.Warnings = liveWarnings(st)
	split, pct := None, 0
	if sp, ok := d.Switcher.(Splitter); ok {
		if split, pct, err = sp.Canary(ctx); err != nil {
			return nil, fmt.Errorf("reading the proxy's split: %w", err)
		}
	}
	if split != None {
		st.Canary = &CanaryStatus{Slot: split, Percent: pct}
	}
	if st.Shared, err = d.containers(ctx, d.Project.Config.Project); err != nil {
		return nil, err
	}
	state, err := d.readState()
	// The lock after the history: a release the history shows running is
	// then either the holder's (holds), or unfinished (stillUnfinished):
	// no process holds the lock, or one that took it after the release
	// began and has not recorded its own yet.
	holder, held, lockErr := lockHeld(d.lockPath())
	switch {
	case lockErr != nil:
		st.Warnings = append(st.Warnings, fmt.Sprintf("whether a deploy runs now is unknown: %v", lockErr))
	case held:
		st.Deploying = &holder
	}
	if err != nil {
		st.HistoryError = err.Error()
		return st, nil
	}
	for i := range st.Slots {
		st.Slots[i].Release = state.newestIn(st.Slots[i].Slot)
	}
	if last := state.last(); last != nil && last.Outcome == OutcomeRunning {
		switch {
		case held && holds(holder, last) && st.Canary != nil:
			st.Canary.Progress = last.Canary
		case (held && !holds(holder, last) || !held && lockErr == nil) && d.stillUnfinished(last.ID):
			st.Warnings = append(st.Warnings, fmt.Sprintf("release %d (%s, begun %s) did not finish: the process that ran it ended without recording how (killed?); the next deploy repairs what it left",
				last.ID, last.Kind, last.Started.UTC().Format(time.RFC3339)))
		}
	}
	for _, rel := range state.Releases[max(0, len(state.Releases)-statusHistory):] {
		rel.Env = nil // the values may be secrets; the state file keeps them
		st.History = append(st.History, rel)
	}
	return st, nil
}

// holds reports whether rel, recorded as running, is the lock holder's own:
// a rollout begins its release once it holds the lock, so a release begun
// before the holder took it was left by a process that is gone (the holder
// has not recorded its own yet). A holder that could not be read is given
// the release.
func holds(holder LockHolder, rel *Release) bool {
	return !rel.Started.Before(holder.Since)
}

// RunningRelease is the release the deploy that runs now (Deploying) has
// recorded: the newest in History when it is running and was begun after
// the lock was taken; nil when no deploy runs or it has recorded none yet
// (a down records none).
func (st *Status) RunningRelease() *Release {
	if st.Deploying == nil || len(st.History) == 0 {
		return nil
	}
	last := &st.History[len(st.History)-1]
	if last.Outcome != OutcomeRunning || !holds(*st.Deploying, last) {
		return nil
	}
	return last
}

// liveWarnings checks the live slot against what runs in it.
func liveWarnings(st *Status) []string {
	for _, s := range st.Slots {
		if !s.Live {
			continue
		}
		running := 0
		for _, c := range s.Containers {
			if c.State == "running" {
				running++
			}
		}
		switch {
		case len(s.Containers) == 0:
			return []string{fmt.Sprintf("the proxy routes to %s, but %s has no containers: requests fail until the next deploy", s.Slot, s.Slot)}
		case running == 0:
			return []string{fmt.Sprintf("the proxy routes to %s, but none of its %d container(s) runs: requests fail until the next deploy", s.Slot, len(s.Containers))}
		}
	}
	return nil
}

// stillUnfinished reads the history again after the lock was found free:
// release id is still the newest and still running, so no deploy that
// began or ended between the first read and the look at the lock explains
// it (one that began would have recorded a newer release, after taking
// the lock).
func (d *Deployer) stillUnfinished(id int) bool {
	state, err := d.readState()
	last := state.last()
	return err == nil && last != nil && last.ID == id && last.Outcome == OutcomeRunning
}
