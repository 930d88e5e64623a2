package bluegreen

import (
	"context"
	"fmt"

	"github.com/docker/compose/v2/pkg/api"
)

// The guard: every stop, removal or recreation of a slot's containers goes
// through remove, stop or replace below, and each of them first reads back
// from the proxy which slot it routes to. Whatever a caller believed, the
// slot that takes traffic is never touched. Down is the one exception: it
// takes the whole project down on purpose.

// guard fails, wrapping ErrLiveSlot, when the proxy routes to slot now, and
// when the proxy's routing cannot be read back (it could be slot).
func (d *Deployer) guard(ctx context.Context, slot Slot) error {
	live, err := d.Switcher.Active(ctx)
	if err != nil {
		return fmt.Errorf("%w: not touching %s: which slot the proxy routes to cannot be read back: %w", ErrLiveSlot, slot, err)
	}
	if live == slot {
		return fmt.Errorf("%w: not touching %s: the proxy routes to it", ErrLiveSlot, slot)
	}
	split, err := d.splitSlot(ctx)
	if err != nil {
		return fmt.Errorf("%w: not touching %s: whether the proxy splits traffic to it cannot be read back: %w", ErrLiveSlot, slot, err)
	}
	if split == slot {
		return fmt.Errorf("%w: not touching %s: the proxy sends it a share of traffic (a canary)", ErrLiveSlot, slot)
	}
	return nil
}

// remove stops and removes every container and network of a slot that the
// proxy does not route to. Named volumes stay.
func (d *Deployer) remove(ctx context.Context, step Step, slot Slot) error {
	return d.takeDown(ctx, step, slot, false)
}

// stop stops the containers of a slot that the proxy does not route to,
// keeping them for a rollback.
func (d *Deployer) stop(ctx context.Context, step Step, slot Slot) error {
	return d.takeDown(ctx, step, slot, true)
}

func (d *Deployer) takeDown(ctx context.Context, step Step, slot Slot, keep bool) error {
	name := slotProjectName(d.Project.Config.Project, slot)
	cs, err := d.ps(ctx, name, false)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		if step == StepRetire {
			// A first deploy, or an old slot already gone: say so rather
			// than report a retire that retired nothing.
			d.info(step, slot, fmt.Sprintf("%s has no containers: nothing to retire", name))
		}
		return nil
	}
	if err := d.guard(ctx, slot); err != nil {
		return err
	}
	if keep {
		d.info(step, slot, fmt.Sprintf("stopping %d container(s) of %s (kept for rollback)", len(cs), name))
		if err := d.Compose.Stop(ctx, name, api.StopOptions{}); err != nil {
			return fmt.Errorf("compose stop %s: %w", name, err)
		}
		return nil
	}
	d.info(step, slot, fmt.Sprintf("removing %d container(s) of %s", len(cs), name))
	if err := d.Compose.Down(ctx, name, api.DownOptions{RemoveOrphans: true}); err != nil {
		return fmt.Errorf("compose down %s: %w", name, err)
	}
	return nil
}

// replace brings up project in slot, recreating whatever containers the
// slot holds, once the proxy is known not to route to it.
func (d *Deployer) replace(ctx context.Context, slot Slot, up func(context.Context) error) error {
	if err := d.guard(ctx, slot); err != nil {
		return err
	}
	return up(ctx)
}
