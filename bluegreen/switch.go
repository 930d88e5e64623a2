package bluegreen

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/compose/v2/pkg/api"
)

// SwitchTo routes traffic to slot, the idle one, with the release whose
// containers it holds: running, or kept stopped by a retire, in which case
// they are started again. The steps and guarantees are those of a rollback:
// the slot must pass its health checks before the switch, and after the
// drain (and verify) the other slot is retired. The history records the
// switch as a new entry whose Of names the release that took traffic. A
// refused switch (ErrBadInput: slot is live, holds nothing, or holds
// containers of no release in the history) changes nothing and leaves no
// history entry.
func (d *Deployer) SwitchTo(ctx context.Context, slot Slot) (*Report, error) {
	if err := slot.Validate(); err != nil {
		return &Report{Release: Release{Kind: "switch"}}, fmt.Errorf("switch: %w", err)
	}
	return d.rollout(ctx, "switch", func(ctx context.Context, r *Report) (release, error) {
		if r.From == slot {
			return release{}, fmt.Errorf("%w: %s is already live", ErrBadInput, slot)
		}
		if r.To != slot {
			return release{}, fmt.Errorf("%w: nothing is live, so there is nothing to switch from: deploy instead", ErrBadInput)
		}
		in, err := d.slotContents(ctx, slot)
		if err != nil {
			return release{}, err
		}
		st, err := d.readState()
		if err != nil {
			return release{}, err
		}
		rel := st.releaseWith(slot, in.images)
		if rel == nil {
			return release{}, fmt.Errorf("%w: the containers in %s (%s) are not those of a release in the history: deploy or roll back instead", ErrBadInput, slot, describeImages(in.images))
		}
		of := rel.origin()
		r.Release.Images, r.Release.Env, r.Release.Of = rel.Images, rel.Env, of
		if in.running {
			d.info(StepPrepare, slot, fmt.Sprintf("release %d runs in %s", of, slot))
			return release{replicas: in.routed, start: func(context.Context) error { return nil }}, nil
		}
		d.info(StepPrepare, slot, fmt.Sprintf("release %d is kept, stopped, in %s: starting it", of, slot))
		name := slotProjectName(d.Project.Config.Project, slot)
		return release{replicas: in.routed, start: func(ctx context.Context) error {
			return d.Compose.Start(ctx, name, api.StartOptions{})
		}}, nil
	})
}

// contents is what a slot holds.
type contents struct {
	images  map[string]string // service -> image
	routed  int               // containers of the routed service
	running bool              // every container runs
}

// slotContents lists the containers of slot, running or not. A slot that
// holds none, or none of the routed service, is refused with ErrBadInput.
func (d *Deployer) slotContents(ctx context.Context, slot Slot) (contents, error) {
	cs, err := d.ps(ctx, slotProjectName(d.Project.Config.Project, slot), false)
	if err != nil {
		return contents{}, err
	}
	in := contents{images: map[string]string{}, running: true}
	for _, c := range cs {
		in.images[c.Service] = c.Image
		if c.Service == d.Project.Config.Service {
			in.routed++
		}
		if c.State != "running" {
			in.running = false
		}
	}
	if in.routed == 0 {
		return contents{}, fmt.Errorf("%w: %s holds no container of %s, running or kept: deploy or roll back instead", ErrBadInput, slot, d.Project.Config.Service)
	}
	return in, nil
}

// describeImages lists service=image pairs in a stable order.
func describeImages(images map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(images)) {
		parts = append(parts, name+"="+images[name])
	}
	return strings.Join(parts, " ")
}
