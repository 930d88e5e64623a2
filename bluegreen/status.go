package bluegreen

import (
	"context"
	"fmt"
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
	// Warnings say where what the proxy routes to and what runs disagree:
	// a live slot with no running container (after down, say).
	Warnings []string `json:"warnings,omitempty"`
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
	if st.Shared, err = d.containers(ctx, d.Project.Config.Project); err != nil {
		return nil, err
	}
	state, err := d.readState()
	if err != nil {
		st.HistoryError = err.Error()
		return st, nil
	}
	for i := range st.Slots {
		st.Slots[i].Release = state.newestIn(st.Slots[i].Slot)
	}
	for _, rel := range state.Releases[max(0, len(state.Releases)-statusHistory):] {
		rel.Env = nil // the values may be secrets; the state file keeps them
		st.History = append(st.History, rel)
	}
	return st, nil
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
