package bluegreen

import (
	"context"
	"fmt"
	"time"
)

// SwitchTo routes traffic to slot, which must already run and pass its
// health checks, and waits for the requests held by the old routing. It
// starts, stops and removes nothing, and records the switch in the history.
func (d *Deployer) SwitchTo(ctx context.Context, slot Slot) (*Report, error) {
	r := &Report{Project: d.Project.Name(), Release: Release{Kind: "switch", Started: time.Now().UTC(), Slot: slot}}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	if err := d.validate(); err != nil {
		return r, err
	}
	if err := slot.Validate(); err != nil {
		return r, fmt.Errorf("switch: %w", err)
	}
	if err := d.Project.needsRelease(); err != nil {
		return r, fmt.Errorf("switch: %w", err)
	}
	unlock, err := lockFile(ctx, d.lockPath(), d.WaitLock)
	if err != nil {
		return r, err
	}
	defer unlock()

	err = d.run(ctx, r, StepPrepare, slot, func(ctx context.Context) error {
		if err := d.preflightProxy(ctx); err != nil {
			return err
		}
		live, err := d.liveSlot(ctx)
		if err != nil {
			return err
		}
		r.From, r.To = live, slot
		if live == slot {
			return fmt.Errorf("%w: %s is already live", ErrBadInput, slot)
		}
		images, err := d.slotImages(ctx, slot)
		if err != nil {
			return err
		}
		r.Release.Images = images
		if err := d.healthy(ctx, slot); err != nil {
			return fmt.Errorf("%s does not answer its health checks: %w", slot, err)
		}
		return d.record(r, func(*Release) {})
	})
	if err == nil {
		err = d.run(ctx, r, StepSwitch, slot, func(ctx context.Context) error {
			var err error
			r.Switched, err = d.switchTo(ctx, r, slot)
			return err
		})
	}
	if err == nil {
		err = d.run(context.WithoutCancel(ctx), r, StepDrain, r.From, d.drain)
	}
	return r, d.finish(r, err, nil)
}

// slotImages maps the services running in slot to their images.
func (d *Deployer) slotImages(ctx context.Context, slot Slot) (map[string]string, error) {
	cs, err := d.containers(ctx, slotProjectName(d.Project.Config.Project, slot))
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for _, c := range cs {
		if c.State != "running" {
			return nil, fmt.Errorf("%w: %s is not running (container %s is %s): deploy or roll back instead", ErrBadInput, slot, c.Name, c.State)
		}
		images[c.Service] = c.Image
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("%w: nothing runs in %s", ErrBadInput, slot)
	}
	return images, nil
}
