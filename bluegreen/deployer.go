package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"
)

const (
	// cleanupTimeout bounds the removal of a failed or retired slot, which
	// runs even when the deploy's context has ended.
	cleanupTimeout = 2 * time.Minute
	// switchTimeout bounds a switch, which once begun runs to its end even
	// when the deploy's context ends.
	switchTimeout = 30 * time.Second
)

// Deployer deploys one compose project by the blue/green method: the new
// release starts in the idle slot, takes traffic once it answers, and the old
// slot is retired once the requests it holds have finished.
type Deployer struct {
	Compose  Compose  // required: NewCompose gives compose's own service
	Switcher Switcher // required: routes traffic, e.g. nginxconf.Switcher
	Source   Source   // where the compose project comes from
	Config   Config   // from LoadConfig, possibly changed by the caller
	// WaitLock makes a deploy wait for another deploy of the project to end
	// (until its context ends) instead of failing at once with ErrLocked.
	WaitLock bool
	// Logger receives a line per step; nil discards them.
	Logger *slog.Logger
	// OnEvent receives progress events, synchronously, in order; nil
	// discards them.
	OnEvent func(Event)
}

// Report tells what a deploy or a rollback did, also when it failed.
type Report struct {
	Project string
	Release Release // as recorded in the history
	From    Slot    // live before (None on a first deploy)
	To      Slot    // the slot the release went to
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
// switch, drain, verify, retire. Before the switch any failure removes the
// new slot and leaves traffic where it was; a failed verification switches
// traffic back at once. From the switch on, the deploy finishes even when ctx
// ends, so traffic never points at a removed slot. Errors are *StepError
// values naming the step and the slot, or a *LockError when another deploy
// of the project runs.
func (d *Deployer) Deploy(ctx context.Context) (*Report, error) {
	return d.rollout(ctx, "deploy", func(ctx context.Context, r *Report) (func(context.Context) error, error) {
		if err := d.remove(ctx, StepPrepare, r.To); err != nil {
			return nil, fmt.Errorf("removing leftovers of the idle slot %s: %w", r.To, err)
		}
		return d.create(ctx, r, nil)
	})
}

// Rollback sends traffic back to the release before the live one. When that
// release's containers were kept (KeepRetired), they are started again;
// otherwise the release is deployed again from its recorded image references
// and variables. The steps and guarantees are those of Deploy.
func (d *Deployer) Rollback(ctx context.Context) (*Report, error) {
	return d.rollout(ctx, "rollback", func(ctx context.Context, r *Report) (func(context.Context) error, error) {
		st, err := d.readState()
		if err != nil {
			return nil, err
		}
		prev, ok := st.previousGood()
		if !ok {
			return nil, fmt.Errorf("%w: no earlier release in the history to roll back to", ErrNoRollback)
		}
		r.Release.Images, r.Release.Env = prev.Images, prev.Env
		kept, err := d.keptRelease(ctx, r.To, prev)
		if err != nil {
			return nil, err
		}
		if kept {
			d.info(StepPrepare, r.To, fmt.Sprintf("release %d is kept, stopped, in %s: starting it", prev.ID, r.To))
			name := slotProjectName(d.Config.Project, r.To)
			return func(ctx context.Context) error {
				return d.Compose.Start(ctx, name, api.StartOptions{})
			}, nil
		}
		d.info(StepPrepare, r.To, fmt.Sprintf("release %d is not kept: deploying it again from its recorded images", prev.ID))
		if err := d.remove(ctx, StepPrepare, r.To); err != nil {
			return nil, fmt.Errorf("removing leftovers of the idle slot %s: %w", r.To, err)
		}
		return d.create(ctx, r, &prev)
	})
}

// plan prepares the release in r.To and returns how to start it.
type plan func(ctx context.Context, r *Report) (start func(context.Context) error, err error)

// rollout is the path shared by Deploy and Rollback, top-down.
func (d *Deployer) rollout(ctx context.Context, kind string, prepare plan) (*Report, error) {
	r := &Report{Project: d.Config.Project, Release: Release{Kind: kind, Started: time.Now().UTC()}}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	if err := d.ready(); err != nil {
		return r, err
	}
	unlock, err := lockFile(ctx, d.lockPath(), d.WaitLock)
	if err != nil {
		return r, err
	}
	defer unlock()

	var launch func(context.Context) error
	err = d.run(ctx, r, StepPrepare, None, func(ctx context.Context) error {
		live, err := d.recover(ctx)
		if err != nil {
			return err
		}
		r.From, r.To = live, live.Other()
		r.Release.Slot = r.To
		d.info(StepPrepare, r.To, fmt.Sprintf("live slot: %s; %s to %s (127.0.0.1:%s%s)", r.From, kind, r.To, d.Config.slotPortSpec(r.To), replicaNote(d.Config.replicas())))
		if err := d.ensureShared(ctx); err != nil {
			return err
		}
		if launch, err = prepare(ctx, r); err != nil {
			return err
		}
		if err := d.portsFree(r.To); err != nil {
			return err
		}
		return d.record(r, func(*Release) {})
	})
	if err != nil {
		return r, d.finish(r, err, r.From, nil)
	}

	err = d.run(ctx, r, StepStart, r.To, launch)
	if err == nil {
		err = d.run(ctx, r, StepWaitHealthy, r.To, func(ctx context.Context) error {
			return d.waitHealthy(ctx, r.To)
		})
	}
	if err == nil {
		err = d.run(ctx, r, StepSwitch, r.To, func(ctx context.Context) error {
			return d.switchTo(ctx, r, r.To)
		})
	}
	if err != nil {
		return r, d.finish(r, err, r.From, d.discard(r, r.To))
	}
	r.Switched = true

	// Traffic is on the new release: finish, whatever happens to ctx.
	ctx = context.WithoutCancel(ctx)
	// The drain comes first: until nginx's old workers are gone, some new
	// requests may still reach the old routing (on a first deploy, whatever
	// the upstream file held before), and verify would see it.
	err = d.run(ctx, r, StepDrain, r.From, d.drain)
	if err == nil && d.Config.VerifyURL != "" {
		err = d.run(ctx, r, StepVerify, r.To, d.verify)
		if err != nil && r.From != None {
			back := d.switchBack(ctx, r)
			live := r.From
			if r.Switched {
				live = r.To // switching back failed
			}
			return r, d.finish(r, err, live, back)
		}
	}
	if err == nil {
		old := r.To.Other()
		err = d.run(ctx, r, StepRetire, old, func(ctx context.Context) error {
			return d.retire(ctx, old)
		})
	}
	return r, d.finish(r, err, r.To, nil)
}

// ready reports a Deployer that cannot run.
func (d *Deployer) ready() error {
	if d.Compose == nil || d.Switcher == nil {
		return fmt.Errorf("%w: Deployer needs a Compose and a Switcher", ErrBadInput)
	}
	return d.Config.Validate(nil)
}

// create loads the release into slot r.To (a recorded one when rel is not
// nil), checks its images and returns how to bring it up.
func (d *Deployer) create(ctx context.Context, r *Report, rel *Release) (func(context.Context) error, error) {
	project, vars, err := d.Source.slotProject(ctx, d.Config, r.To, rel)
	if err != nil {
		return nil, err
	}
	r.Release.Images = images(project)
	if rel == nil {
		r.Release.Env = vars
	}
	if err := d.checkImages(ctx, project); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
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
	}, nil
}

// switchTo routes traffic to slot. The switch runs to its end even when ctx
// ends; the history marks it in progress meanwhile, so that a crash in the
// middle is repaired by the next deploy.
func (d *Deployer) switchTo(ctx context.Context, r *Report, slot Slot) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	defer cancel()
	if err := d.record(r, func(rel *Release) { rel.Switching = true }); err != nil {
		return err
	}
	err := d.switchUpstreams(ctx, slot)
	if rerr := d.record(r, func(rel *Release) { rel.Switching = false }); err == nil {
		err = rerr
	}
	return err
}

// switchBack returns traffic to r.From after a failed verification, lets
// the requests sent to the new release finish, and removes it.
func (d *Deployer) switchBack(ctx context.Context, r *Report) error {
	err := d.run(ctx, r, StepSwitchBack, r.From, func(ctx context.Context) error {
		if err := d.Compose.Start(ctx, slotProjectName(d.Config.Project, r.From), api.StartOptions{}); err != nil {
			return fmt.Errorf("the previous slot is not running: %w", err)
		}
		return d.switchTo(ctx, r, r.From)
	})
	if err != nil {
		return err
	}
	r.Switched = false
	if err := d.drain(ctx); err != nil {
		d.log().Warn("drain after switching back", "err", err)
	}
	return d.discard(r, r.To)
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

// retire stops the old slot, keeping its containers for a fast rollback, or
// removes it.
func (d *Deployer) retire(ctx context.Context, slot Slot) error {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	if !d.Config.KeepRetired {
		return d.remove(ctx, StepRetire, slot)
	}
	name := slotProjectName(d.Config.Project, slot)
	cs, err := d.Compose.Ps(ctx, name, api.PsOptions{All: true})
	if err != nil || len(cs) == 0 {
		return err
	}
	d.info(StepRetire, slot, fmt.Sprintf("stopping %d container(s) of %s (kept for rollback)", len(cs), name))
	if err := d.Compose.Stop(ctx, name, api.StopOptions{}); err != nil {
		return fmt.Errorf("compose stop %s: %w", name, err)
	}
	return nil
}

// discard removes a release that will not take traffic, even when ctx has
// ended.
func (d *Deployer) discard(r *Report, slot Slot) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	return d.run(ctx, r, StepCleanup, slot, func(ctx context.Context) error {
		return d.remove(ctx, StepCleanup, slot)
	})
}

// remove stops and removes every container and network of a slot. Named
// volumes stay.
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

// keptRelease reports whether slot holds containers of rel, kept stopped
// by a retire, as many of the routed service as Replicas says.
func (d *Deployer) keptRelease(ctx context.Context, slot Slot, rel Release) (bool, error) {
	cs, err := d.Compose.Ps(ctx, slotProjectName(d.Config.Project, slot), api.PsOptions{All: true})
	if err != nil {
		return false, fmt.Errorf("listing containers of %s: %w", slot, err)
	}
	routed := 0
	for _, c := range cs {
		if c.Service == d.Config.Service {
			routed++
		}
	}
	if routed != d.Config.replicas() {
		return false, nil
	}
	for _, c := range cs {
		if img, ok := rel.Images[c.Service]; !ok || img != c.Image {
			return false, nil
		}
	}
	return true, nil
}

// checkImages fails with ErrBadInput when an image is neither present nor
// pullable, before anything is created. It needs an engine that can tell
// (NewCompose's can); others leave the check to compose's Up.
func (d *Deployer) checkImages(ctx context.Context, p *types.Project) error {
	ic, ok := d.Compose.(ImageChecker)
	if !ok {
		return nil
	}
	for name, svc := range p.Services {
		if svc.Build != nil || svc.Image == "" {
			continue
		}
		present, err := ic.ImagePresent(ctx, svc.Image)
		if err != nil {
			return fmt.Errorf("inspecting image %s: %w", svc.Image, err)
		}
		if present {
			continue
		}
		d.info(StepPrepare, None, fmt.Sprintf("pulling %s for service %s", svc.Image, name))
		one := *p
		one.Services = types.Services{name: svc}
		if err := d.Compose.Pull(ctx, &one, api.PullOptions{Quiet: true}); err != nil {
			return fmt.Errorf("%w: image %s of service %s is not present and could not be pulled: %v", ErrBadInput, svc.Image, name, err)
		}
	}
	return nil
}

// portsFree fails with ErrBadInput when something else listens on one of
// slot's ports on 127.0.0.1 (bluegreen's own leftovers are gone by then).
func (d *Deployer) portsFree(slot Slot) error {
	first, last := d.Config.slotPorts(slot)
	for port := first; port <= last; port++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("%w: slot port %d is taken by another process: %v", ErrBadInput, port, err)
		}
		l.Close()
	}
	return nil
}

// switchUpstreams routes traffic to the running containers of slot.
func (d *Deployer) switchUpstreams(ctx context.Context, slot Slot) error {
	addrs, err := d.upstreams(ctx, slot)
	if err != nil {
		return err
	}
	return d.Switcher.Switch(ctx, slot, addrs)
}

func (d *Deployer) lockPath() string {
	return filepath.Join(d.Config.StateDir, d.Config.Project+".lock")
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

// finish records the outcome of the rollout in the history and in the
// error: which slot is live and whether the cleanup after it failed.
func (d *Deployer) finish(r *Report, err error, live Slot, cleanup error) error {
	var se *StepError
	if errors.As(err, &se) {
		se.Live = live
		se.Cleanup = cleanup
	}
	outcome := OutcomeSucceeded
	switch {
	case err == nil:
	case r.Switched:
		outcome = OutcomeIncomplete
	case live == r.From && r.From != None && se != nil && se.Step == StepVerify:
		outcome = OutcomeSwitchBack
	default:
		outcome = OutcomeFailed
	}
	if se != nil && se.Step == StepPrepare && r.Release.Slot == None {
		return err // nothing was begun: no history entry
	}
	rerr := d.record(r, func(rel *Release) {
		rel.Finished = time.Now().UTC()
		rel.Outcome = outcome
		if se != nil {
			rel.Step, rel.Reason = se.Step, se.Err.Error()
		}
	})
	if rerr != nil {
		d.log().Error("recording the outcome in the history", "err", rerr)
	}
	return err
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
