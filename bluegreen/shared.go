package bluegreen

import (
	"context"
	"fmt"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/health"
)

// ensureShared brings the base project up: the shared services, networks
// and named volumes. Compose leaves a service whose configuration did not
// change alone, and recreates one whose configuration changed; each change
// is reported.
func (d *Deployer) ensureShared(ctx context.Context) error {
	base, err := d.Project.baseProject(ctx)
	if err != nil {
		return err
	}
	before, err := d.containerIDs(ctx, base.Name)
	if err != nil {
		return err
	}
	if err := d.checkImages(ctx, base); err != nil {
		return err
	}
	err = d.Compose.Up(ctx, base, api.UpOptions{
		Create: api.CreateOptions{
			Recreate:             api.RecreateDiverged,
			RecreateDependencies: api.RecreateDiverged,
			QuietPull:            true,
			AssumeYes:            true,
		},
		Start: api.StartOptions{Project: base},
	})
	if err != nil {
		return fmt.Errorf("shared services: %w", err)
	}
	after, err := d.containerIDs(ctx, base.Name)
	if err != nil {
		return err
	}
	for _, name := range base.ServiceNames() {
		switch {
		case before[name] == "":
			d.info(StepPrepare, None, fmt.Sprintf("shared service %s created", name))
		case before[name] != after[name]:
			d.info(StepPrepare, None, fmt.Sprintf("shared service %s updated: its configuration changed", name))
		}
	}
	// Wait for them ourselves, at the health interval: compose's own wait
	// polls every 500 ms, and its timeout can pass silently.
	_, err = health.Wait(ctx, health.Policy{Interval: d.Project.Config.Health.Interval, Timeout: d.Project.Config.Health.Timeout, HealthyThreshold: 1},
		health.CheckerFunc(func(ctx context.Context) error { return d.sharedReady(ctx, base.Name) }))
	if err != nil {
		return fmt.Errorf("shared services not ready: %w", err)
	}
	return nil
}

// sharedReady fails while a shared service is not running, or not healthy
// when it has a healthcheck; for good when one exited or is unhealthy.
func (d *Deployer) sharedReady(ctx context.Context, project string) error {
	cs, err := d.ps(ctx, project, false)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if err := containerRunning(c); err != nil {
			return fmt.Errorf("shared service %s: %w", c.Service, err)
		}
	}
	return nil
}

// Down removes both slots and the shared services, with their networks.
// Named volumes stay unless volumes is true. The upstream file stays as it
// is: point the proxy elsewhere first.
func (d *Deployer) Down(ctx context.Context, volumes bool) error {
	if err := d.validate(); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, d.lockPath(), d.WaitLock)
	if err != nil {
		return err
	}
	defer unlock()
	// The one removal that does not pass the guard: taking the whole
	// project down is what was asked.
	var names []string
	for _, slot := range []Slot{Blue, Green} {
		names = append(names, slotProjectName(d.Project.Config.Project, slot), taskProjectName(d.Project.Config.Project, slot))
	}
	for _, name := range names {
		ids, err := d.containerIDs(ctx, name)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			continue
		}
		if err := d.Compose.Down(ctx, name, api.DownOptions{RemoveOrphans: true}); err != nil {
			return fmt.Errorf("compose down %s: %w", name, err)
		}
	}
	base, err := d.Project.baseProject(ctx)
	if err != nil {
		return err
	}
	if err := d.Compose.Down(ctx, base.Name, api.DownOptions{Project: base, Volumes: volumes}); err != nil {
		return fmt.Errorf("compose down %s: %w", base.Name, err)
	}
	return nil
}
