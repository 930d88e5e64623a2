package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/health"
)

// cleanupTimeout bounds the removal of a failed or retired slot, which runs
// even when the deploy's context has ended.
const cleanupTimeout = 2 * time.Minute

// Deployer deploys one compose project by the blue/green method: the new
// release starts in the idle slot, takes traffic once it answers, and the old
// slot is removed once the requests it holds have finished.
type Deployer struct {
	Compose  Compose  // required: NewCompose gives compose's own service
	Switcher Switcher // required: routes traffic, e.g. nginxconf.Switcher
	Source   Source   // where the compose project comes from
	Config   Config   // from LoadConfig, possibly changed by the caller
	// Logger receives a line per step; nil discards them.
	Logger *slog.Logger
	// OnEvent receives progress events, synchronously, in order; nil
	// discards them.
	OnEvent func(Event)
}

// Report tells what a deploy did, also when it failed.
type Report struct {
	Project string
	From    Slot // live before the deploy (None on a first deploy)
	To      Slot // the slot the new release went to
	// Switched is true once traffic went to To.
	Switched bool
	Steps    []StepReport
	Elapsed  time.Duration
}

// StepReport is one step's outcome.
type StepReport struct {
	Step    Step
	Slot    Slot
	Elapsed time.Duration
	Err     error
}

// Deploy runs one release of the project: prepare, start, wait-healthy,
// switch, drain, retire. Before the switch any failure removes the new slot
// and leaves traffic where it was; from the switch on, the deploy finishes
// even when ctx ends, so traffic never points at a removed slot. Errors are
// *StepError values naming the step and the slot.
func (d *Deployer) Deploy(ctx context.Context) (*Report, error) {
	r := &Report{Project: d.Config.Project}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	if err := d.ready(); err != nil {
		return r, err
	}

	var project *types.Project
	err := d.run(ctx, r, StepPrepare, None, func(ctx context.Context) error {
		live, err := d.Switcher.Active(ctx)
		if err != nil {
			return fmt.Errorf("reading the live slot: %w", err)
		}
		r.From, r.To = live, live.Other()
		d.info(StepPrepare, r.To, fmt.Sprintf("live slot: %s; deploying to %s (127.0.0.1:%d)", r.From, r.To, d.Config.Slots.Port(r.To)))
		if err := d.remove(ctx, StepPrepare, r.To); err != nil {
			return fmt.Errorf("removing leftovers of the idle slot %s: %w", r.To, err)
		}
		project, err = d.Source.slotProject(ctx, d.Config, r.To)
		return err
	})
	if err != nil {
		return r, failed(err, r.From, nil)
	}

	err = d.run(ctx, r, StepStart, r.To, func(ctx context.Context) error {
		return d.Compose.Up(ctx, project, api.UpOptions{
			Create: api.CreateOptions{
				RemoveOrphans:        true,
				Recreate:             api.RecreateForce,
				RecreateDependencies: api.RecreateDiverged,
				QuietPull:            true,
				AssumeYes:            true,
			},
			Start: api.StartOptions{Project: project},
		})
	})
	if err == nil {
		err = d.run(ctx, r, StepWaitHealthy, r.To, func(ctx context.Context) error {
			return d.waitHealthy(ctx, r.To)
		})
	}
	if err == nil {
		err = d.run(ctx, r, StepSwitch, r.To, func(ctx context.Context) error {
			return d.Switcher.Switch(ctx, r.To, []string{d.addr(r.To)})
		})
	}
	if err != nil {
		return r, failed(err, r.From, d.discard(r, r.To))
	}
	r.Switched = true

	// Traffic is on the new release: finish, whatever happens to ctx.
	ctx = context.WithoutCancel(ctx)
	old := r.To.Other()
	if r.From != None {
		err = d.run(ctx, r, StepDrain, r.From, d.drain)
	}
	if err == nil {
		err = d.run(ctx, r, StepRetire, old, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
			defer cancel()
			return d.remove(ctx, StepRetire, old)
		})
	}
	return r, failed(err, r.To, nil)
}

// ready reports a Deployer that cannot run.
func (d *Deployer) ready() error {
	if d.Compose == nil || d.Switcher == nil {
		return fmt.Errorf("%w: Deployer needs a Compose and a Switcher", ErrConfig)
	}
	return d.Config.Validate(nil)
}

// waitHealthy probes the new slot until it answers HealthyThreshold times in
// a row. A container that exits fails the wait at once.
func (d *Deployer) waitHealthy(ctx context.Context, slot Slot) error {
	probe := health.HTTP{URL: "http://" + d.addr(slot) + d.Config.Health.Path}
	res, err := health.Wait(ctx, health.Policy{
		Interval:         d.Config.Health.Interval,
		Timeout:          d.Config.Health.Timeout,
		HealthyThreshold: d.Config.Health.HealthyThreshold,
	}, d.containersRunning(slot), probe)
	if err != nil {
		logs := d.tailLogs(slot, 20)
		for _, line := range logs {
			d.log().Warn("log of the failed release", "slot", slot, "line", line)
		}
		return fmt.Errorf("%w: %v%s", ErrUnhealthy, err, lastLines(logs, 3))
	}
	d.info(StepWaitHealthy, slot, fmt.Sprintf("%s healthy after %d probes", probe, res.Probes))
	return nil
}

// containersRunning fails while the routed service's container is not
// running, and fails for good when it has exited or its own healthcheck says
// unhealthy.
func (d *Deployer) containersRunning(slot Slot) health.Checker {
	return health.CheckerFunc(func(ctx context.Context) error {
		cs, err := d.Compose.Ps(ctx, slotProjectName(d.Config.Project, slot), api.PsOptions{
			All: true, Services: []string{d.Config.Service},
		})
		if err != nil {
			return fmt.Errorf("listing containers: %w", err)
		}
		if len(cs) == 0 {
			return health.Permanent(fmt.Errorf("service %s has no container", d.Config.Service))
		}
		for _, c := range cs {
			switch {
			case c.State == "exited" || c.State == "dead":
				return health.Permanent(fmt.Errorf("container %s %s with code %d", c.Name, c.State, c.ExitCode))
			case c.Health == "unhealthy":
				return health.Permanent(fmt.Errorf("container %s is unhealthy", c.Name))
			case c.State != "running":
				return fmt.Errorf("container %s is %s", c.Name, c.State)
			}
		}
		return nil
	})
}

// drain waits, at most DrainTimeout, until requests routed before the switch
// have finished. Without a Drainer, the old slot's own stop grace period is
// the only drain.
func (d *Deployer) drain(ctx context.Context) error {
	dr, ok := d.Switcher.(Drainer)
	if !ok {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, d.Config.DrainTimeout)
	defer cancel()
	err := dr.Drain(dctx)
	if err != nil && dctx.Err() != nil && ctx.Err() == nil {
		d.log().Warn("drain timeout passed; retiring the old slot with requests possibly in flight",
			"timeout", d.Config.DrainTimeout)
		d.info(StepDrain, None, fmt.Sprintf("drain timeout (%s) passed; retiring anyway", d.Config.DrainTimeout))
		return nil
	}
	return err
}

// discard removes a new slot that will not take traffic, even when ctx has
// ended.
func (d *Deployer) discard(r *Report, slot Slot) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	return d.run(ctx, r, StepCleanup, slot, func(ctx context.Context) error {
		return d.remove(ctx, StepCleanup, slot)
	})
}

// remove stops and removes every container and network of a slot.
func (d *Deployer) remove(ctx context.Context, step Step, slot Slot) error {
	name := slotProjectName(d.Config.Project, slot)
	cs, err := d.Compose.Ps(ctx, name, api.PsOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing containers of %s: %w", name, err)
	}
	if len(cs) == 0 {
		return nil
	}
	d.info(step, slot, fmt.Sprintf("removing %d container(s) of %s", len(cs), name))
	if err := d.Compose.Down(ctx, name, api.DownOptions{RemoveOrphans: true}); err != nil {
		return fmt.Errorf("compose down %s: %w", name, err)
	}
	return nil
}

func (d *Deployer) addr(slot Slot) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Config.Slots.Port(slot)))
}

// run runs one step: it emits begin and done/fail events, logs them, records
// the outcome in r and wraps a failure in a *StepError.
func (d *Deployer) run(ctx context.Context, r *Report, step Step, slot Slot, fn func(context.Context) error) error {
	start := time.Now()
	d.emit(Event{Step: step, Phase: PhaseBegin, Slot: slot})
	err := fn(ctx)
	elapsed := time.Since(start)
	r.Steps = append(r.Steps, StepReport{Step: step, Slot: slot, Elapsed: elapsed, Err: err})
	if err != nil {
		d.emit(Event{Step: step, Phase: PhaseFail, Slot: slot, Elapsed: elapsed, Err: err})
		return &StepError{Step: step, Slot: slot, Err: err}
	}
	d.emit(Event{Step: step, Phase: PhaseDone, Slot: slot, Elapsed: elapsed})
	return nil
}

func (d *Deployer) info(step Step, slot Slot, msg string) {
	d.emit(Event{Step: step, Phase: PhaseInfo, Slot: slot, Message: msg})
}

func (d *Deployer) emit(e Event) {
	e.Time = time.Now()
	e.Project = d.Config.Project
	attrs := []any{"project", e.Project, "step", e.Step, "phase", e.Phase}
	if e.Slot != None {
		attrs = append(attrs, "slot", e.Slot)
	}
	switch e.Phase {
	case PhaseFail:
		d.log().Error("step failed", append(attrs, "elapsed", e.Elapsed, "err", e.Err)...)
	case PhaseDone:
		d.log().Info("step done", append(attrs, "elapsed", e.Elapsed)...)
	case PhaseInfo:
		d.log().Info(e.Message, attrs...)
	default:
		d.log().Info("step begin", attrs...)
	}
	if d.OnEvent != nil {
		d.OnEvent(e)
	}
}

func (d *Deployer) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// failed records in a *StepError which slot is live and whether the cleanup
// after it failed, and passes it on.
func failed(err error, live Slot, cleanup error) error {
	var se *StepError
	if errors.As(err, &se) {
		se.Live = live
		se.Cleanup = cleanup
	}
	return err
}
