package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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
	Project  *Project // required: from Load
	Compose  Compose  // required: NewEngine gives compose's own service
	Switcher Switcher // required: routes traffic; a proxy package builds it
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
	// Switched is true while the proxy routes to To.
	Switched bool
	// SwitchedBack is true when traffic went to To and back to From.
	SwitchedBack bool
	Steps        []StepReport
	// Canary holds the figures of each canary step that ran.
	Canary  []CanaryProgress
	Elapsed time.Duration
}

// StepReport is one step's outcome.
type StepReport struct {
	Step    Step
	Slot    Slot
	Elapsed time.Duration
	Err     error
}

// Deploy runs one release of the project: prepare, start, wait-healthy,
// switch, drain, verify, retire. Everything that can be checked is checked
// before anything is touched, so a refusal (ErrBadInput) changes nothing.
// Before the switch any failure removes the new slot and leaves traffic
// where it was. From the switch until the retire the new slot is probed:
// when it stops answering, or fails verify_url, traffic goes back to the old
// slot at once. It is probed once more after the retire: when it died
// meanwhile, the old release, kept stopped, starts again and takes the
// traffic back. From the switch on, the deploy finishes even when ctx ends,
// so traffic never points at a removed slot; and no step ever stops or
// removes the slot the proxy routes to (ErrLiveSlot). Errors are *StepError
// values naming the step and the slot, or a *LockError when another deploy
// of the project runs.
func (d *Deployer) Deploy(ctx context.Context) (*Report, error) {
	return d.rollout(ctx, "deploy", func(ctx context.Context, r *Report) (release, error) {
		return d.create(ctx, r, nil)
	})
}

// Rollback sends traffic back to the release before the live one. When that
// release's containers were kept (the default; see RemoveRetired), they are started again;
// otherwise the release is deployed again from its recorded image references
// and variables. The steps and guarantees are those of Deploy.
func (d *Deployer) Rollback(ctx context.Context) (*Report, error) {
	return d.rollout(ctx, "rollback", func(ctx context.Context, r *Report) (release, error) {
		st, err := d.readState()
		if err != nil {
			return release{}, err
		}
		prev, ok := st.previousGood()
		if !ok {
			return release{}, fmt.Errorf("%w: no earlier release in the history to roll back to", ErrNoRollback)
		}
		r.Release.Images, r.Release.Env, r.Release.Of = prev.Images, prev.Env, prev.origin()
		kept, err := d.keptRelease(ctx, r.To, prev)
		if err != nil {
			return release{}, err
		}
		if kept {
			d.info(StepPrepare, r.To, fmt.Sprintf("release %d is kept, stopped, in %s: starting it", prev.origin(), r.To))
			name := slotProjectName(d.Project.Config.Project, r.To)
			return release{start: func(ctx context.Context) error {
				return d.Compose.Start(ctx, name, api.StartOptions{})
			}}, nil
		}
		d.info(StepPrepare, r.To, fmt.Sprintf("release %d is not kept: deploying it again from its recorded images", prev.origin()))
		return d.create(ctx, r, &prev)
	})
}

// release is a prepared release: how it comes up in the idle slot.
type release struct {
	start func(context.Context) error
	// fresh means start creates the slot anew: whatever the idle slot
	// holds is removed first, once the release is known to be deployable.
	fresh bool
	// replicas is how many containers of the routed service must answer;
	// 0 means as many as the configuration says. A switch brings back a
	// release deployed with its own count.
	replicas int
}

// plan loads and checks the release for r.To, changing nothing.
type plan func(ctx context.Context, r *Report) (release, error)

// rollout is the path shared by Deploy and Rollback, top-down.
func (d *Deployer) rollout(ctx context.Context, kind string, load plan) (*Report, error) {
	r := &Report{Project: d.Project.Name(), Release: Release{Kind: kind, Started: time.Now().UTC()}}
	start := time.Now()
	defer func() { r.Elapsed = time.Since(start) }()
	if err := d.validate(); err != nil {
		return r, err
	}
	if err := d.Project.needsRelease(); err != nil {
		return r, fmt.Errorf("%s: %w", kind, err)
	}
	if kind == "deploy" {
		if err := d.checkSplitter(); err != nil {
			return r, err
		}
	}
	unlock, err := lockFile(ctx, d.lockPath(), d.WaitLock)
	if err != nil {
		return r, err
	}
	defer unlock()
	// Begun once the lock is held, after the holder's Since: Status tells
	// the holder's release from one a killed process left running by that.
	r.Release.Started = time.Now().UTC()

	var rel release
	err = d.run(ctx, r, StepPrepare, None, func(ctx context.Context) error {
		rel, err = d.prepare(ctx, r, kind, load)
		return err
	})
	if err != nil {
		return r, d.finish(r, err, nil)
	}

	err = d.run(ctx, r, StepStart, r.To, func(ctx context.Context) error {
		return d.replace(ctx, r.To, rel.start)
	})
	if err == nil {
		err = d.run(ctx, r, StepWaitHealthy, r.To, func(ctx context.Context) error {
			return d.waitHealthy(ctx, r.To, rel.replicas)
		})
	}
	tasks := d.Project.Config.Tasks
	if err == nil && kind == "deploy" && len(tasks.BeforeSwitch) > 0 {
		err = d.run(ctx, r, StepBeforeTasks, r.To, func(ctx context.Context) error {
			return d.beforeSwitch(ctx, r.To, tasks.BeforeSwitch)
		})
	}
	switch {
	case err == nil && d.canaryPlan(kind, r.From):
		err = d.canary(ctx, r)
	case err == nil && kind == "deploy" && d.Project.Config.Strategy == StrategyCanary:
		d.info(StepSwitch, r.To, "strategy canary: no release is live to compare with, so this first one takes all traffic at once")
	}
	if err == nil {
		err = d.run(ctx, r, StepSwitch, r.To, func(ctx context.Context) error {
			var err error
			r.Switched, err = d.switchTo(ctx, r, r.To)
			return err
		})
		if err != nil && !r.Switched && len(r.Canary) > 0 {
			// The routing before the failed switch is live: the last
			// canary step's split. All traffic goes back to the old
			// release, so that the new one can be removed.
			err = d.abortCanary(ctx, r, err)
		}
	}
	if err != nil && !r.Switched {
		return r, d.finish(r, err, d.discard(r, r.To))
	}
	// Traffic is on the new release: finish, whatever happens to ctx.
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		// Only the history failed: the proxy routes to the new release,
		// which stays, and so does the old one. Requests that the old
		// routing holds finish.
		if derr := d.run(ctx, r, StepDrain, r.From, d.drain); derr != nil {
			d.log().Warn("drain after the switch", "err", derr)
		}
		return r, d.finish(r, err, nil)
	}
	err = d.settle(ctx, r)
	if err != nil && r.From != None && (errors.Is(err, ErrVerify) || errors.Is(err, ErrFailedAfterSwitch)) {
		return r, d.finish(r, err, d.switchBack(ctx, r))
	}
	if err == nil && kind == "deploy" && len(tasks.AfterSwitch) > 0 {
		// The release serves: a failed task leaves it live, incomplete.
		err = d.run(ctx, r, StepAfterTasks, r.To, func(ctx context.Context) error {
			return d.runTasks(ctx, StepAfterTasks, r.To, tasks.AfterSwitch)
		})
	}
	return r, d.finish(r, err, nil)
}

// prepare is the first step: it checks everything that can be checked
// before anything is touched (the proxy, the live slot, the history's room,
// the slot's ports, the release itself), and only then brings the shared
// services up and clears the idle slot.
func (d *Deployer) prepare(ctx context.Context, r *Report, kind string, load plan) (release, error) {
	if err := d.preflightProxy(ctx); err != nil {
		return release{}, err
	}
	for _, w := range d.proxyWarnings(ctx) {
		d.log().Warn("the proxy may fail requests at the switch", "warning", w)
		d.info(StepPrepare, None, "warning: "+w)
	}
	live, err := d.liveSlot(ctx)
	if err != nil {
		return release{}, err
	}
	r.From, r.To = live, live.Other()
	cfg := d.Project.Config
	liveNote := ""
	if live != None {
		if cs, err := d.routed(ctx, live, false); err == nil && len(cs) == 0 {
			liveNote = " (nothing runs in it: the proxy routes to nothing that answers)"
		}
	}
	d.info(StepPrepare, r.To, fmt.Sprintf("live slot: %s%s; %s to %s (127.0.0.1:%s%s)", r.From, liveNote, kind, r.To, cfg.slotPortSpec(r.To), replicaNote(cfg.replicas())))
	if err := d.stateDirWritable(); err != nil {
		return release{}, err
	}
	if err := d.portsFree(ctx, r.To); err != nil {
		return release{}, err
	}
	rel, err := load(ctx, r)
	if err != nil {
		return release{}, err
	}
	// The release is deployable: from here on, things change.
	r.Release.Slot = r.To
	if err := d.ensureShared(ctx); err != nil {
		return release{}, err
	}
	if rel.fresh {
		if err := d.remove(ctx, StepPrepare, r.To); err != nil {
			return release{}, fmt.Errorf("removing leftovers of the idle slot %s: %w", r.To, err)
		}
	}
	return rel, d.record(r, func(*Release) {})
}

// settle runs the steps after the switch while the new slot is watched:
// drain, verify, and the retire of the old slot once the new one has passed
// its probe again.
func (d *Deployer) settle(ctx context.Context, r *Report) error {
	w := d.watch(ctx, r.To)
	// The drain comes first: until the proxy lets go of the old routing
	// (a reloaded proxy's old workers, say), some new requests may reach
	// it (on a first deploy, whatever the proxy held before), and verify
	// would see it.
	err := d.run(ctx, r, StepDrain, r.From, w.watched(d.drain))
	if err == nil && d.Project.Config.VerifyURL != "" {
		err = d.run(ctx, r, StepVerify, r.To, w.watched(d.verify))
	}
	failed := w.stop()
	if err != nil {
		return err
	}
	old := r.To.Other()
	return d.run(ctx, r, StepRetire, old, func(ctx context.Context) error {
		if failed != nil {
			return failed
		}
		if err := w.final(ctx, r.To, "before the retire"); err != nil {
			return err
		}
		if err := d.retire(ctx, old); err != nil {
			return err
		}
		// The retire takes seconds under load: a release that died
		// meanwhile must not be reported as live. The switch-back starts
		// the old release again.
		return w.final(ctx, r.To, "after the retire of "+old.String())
	})
}

// validate reports a Deployer that cannot run.
func (d *Deployer) validate() error {
	if d.Project == nil || d.Compose == nil || d.Switcher == nil {
		return fmt.Errorf("%w: a Deployer needs a Project, a Compose and a Switcher", ErrBadInput)
	}
	// A Config changed after Load gets its defaults too.
	d.Project.Config = d.Project.Config.WithDefaults()
	return d.Project.Config.Validate()
}

// network is the docker network on which the proxy reaches the slots, or
// "" when it reaches them at their ports on 127.0.0.1.
func (d *Deployer) network() string {
	if n, ok := d.Switcher.(Networked); ok {
		return n.SlotNetwork()
	}
	return ""
}

// create loads the release into slot r.To (a recorded one when rel is not
// nil), checks its images and returns how to bring it up.
func (d *Deployer) create(ctx context.Context, r *Report, rel *Release) (release, error) {
	project, vars, err := d.Project.slotProject(ctx, r.To, rel, d.network())
	if err != nil {
		return release{}, err
	}
	r.Release.Images = images(project)
	if rel == nil {
		r.Release.Env = vars
	}
	if err := d.checkImages(ctx, project); err != nil {
		return release{}, err
	}
	if rel == nil {
		// The task services' images too: a deploy that would fail at its
		// tasks is refused before anything changes.
		for _, name := range d.Project.Config.Tasks.names() {
			tp, err := d.Project.taskProject(r.To, name)
			if err != nil {
				return release{}, err
			}
			if err := d.checkImages(ctx, tp); err != nil {
				return release{}, fmt.Errorf("task %s: %w", name, err)
			}
		}
	}
	return release{fresh: true, start: func(ctx context.Context) error {
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
	}}, nil
}

// switchTo routes traffic to slot and reports whether the proxy routes to
// it now. The switch runs to its end even when ctx ends; the history marks
// it in progress meanwhile, so that a crash in the middle is repaired by the
// next deploy. A history that cannot be written after the switch is an
// error wrapping ErrHistory, with switched true: bookkeeping never undoes a
// switch.
func (d *Deployer) switchTo(ctx context.Context, r *Report, slot Slot) (switched bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	defer cancel()
	if err := d.record(r, func(rel *Release) { rel.Switching = true }); err != nil {
		return false, err
	}
	if err := d.switchUpstreams(ctx, slot); err != nil {
		if rerr := d.record(r, func(rel *Release) { rel.Switching = false }); rerr != nil {
			d.log().Error("recording the failed switch in the history", "err", rerr)
		}
		return false, err
	}
	if err := d.record(r, func(rel *Release) { rel.Switching = false }); err != nil {
		return true, fmt.Errorf("%w: the proxy routes to %s, but %w", ErrHistory, slot, err)
	}
	return true, nil
}

// switchBack returns traffic to r.From, which still runs, after the new
// release failed once it took traffic; it lets the requests sent to the new
// release finish, and removes it.
func (d *Deployer) switchBack(ctx context.Context, r *Report) error {
	err := d.run(ctx, r, StepSwitchBack, r.From, func(ctx context.Context) error {
		cs, err := d.routed(ctx, r.From, false)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			if err := d.restart(ctx, r.From); err != nil {
				return fmt.Errorf("%s does not run and cannot be started again: %w; traffic stays on %s", r.From, err, r.To)
			}
		}
		switched, err := d.switchTo(ctx, r, r.From)
		if switched {
			r.Switched, r.SwitchedBack = false, true
		}
		return err
	})
	if r.Switched {
		return err // traffic is still on r.To: it stays
	}
	if err := d.drain(ctx); err != nil {
		d.log().Warn("drain after switching back", "err", err)
	}
	return errors.Join(err, d.discard(r, r.To))
}

// restart starts again the containers of slot that a retire stopped (kept
// for rollback), and waits until they answer.
func (d *Deployer) restart(ctx context.Context, slot Slot) error {
	kept, err := d.routed(ctx, slot, true)
	if err != nil {
		return err
	}
	if len(kept) == 0 {
		return fmt.Errorf("%s holds no containers", slot)
	}
	d.info(StepSwitchBack, slot, fmt.Sprintf("%s was stopped by the retire: starting it again", slot))
	if err := d.Compose.Start(ctx, slotProjectName(d.Project.Config.Project, slot), api.StartOptions{}); err != nil {
		return err
	}
	return d.waitHealthy(ctx, slot, len(kept))
}

// drain waits, at most DrainTimeout, until requests routed before the switch
// have finished. Without a Drainer, the old slot's own stop grace period is
// the only drain.
func (d *Deployer) drain(ctx context.Context) error {
	dr, ok := d.Switcher.(Drainer)
	if !ok {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, d.Project.Config.DrainTimeout)
	defer cancel()
	err := dr.Drain(dctx)
	if err != nil && dctx.Err() != nil && ctx.Err() == nil {
		d.log().Warn("drain timeout passed; retiring the old slot with requests possibly in flight",
			"timeout", d.Project.Config.DrainTimeout)
		d.info(StepDrain, None, fmt.Sprintf("drain timeout (%s) passed; retiring anyway", d.Project.Config.DrainTimeout))
		return nil
	}
	return err
}

// retire stops the old slot, keeping its containers for a fast rollback, or
// removes it.
func (d *Deployer) retire(ctx context.Context, slot Slot) error {
	ctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	defer cancel()
	if d.Project.Config.RemoveRetired {
		return d.remove(ctx, StepRetire, slot)
	}
	return d.stop(ctx, StepRetire, slot)
}

// discard removes a release that does not take traffic, even when ctx has
// ended.
func (d *Deployer) discard(r *Report, slot Slot) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	return d.run(ctx, r, StepCleanup, slot, func(ctx context.Context) error {
		return d.remove(ctx, StepCleanup, slot)
	})
}

// keptRelease reports whether slot holds containers of rel, kept stopped
// by a retire, as many of the routed service as Replicas says.
func (d *Deployer) keptRelease(ctx context.Context, slot Slot, rel Release) (bool, error) {
	cs, err := d.ps(ctx, slotProjectName(d.Project.Config.Project, slot), false)
	if err != nil {
		return false, err
	}
	routed := 0
	for _, c := range cs {
		if c.Service == d.Project.Config.Service {
			routed++
		}
	}
	if routed != d.Project.Config.replicas() {
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
// (NewEngine's can); others leave the check to compose's Up.
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

// switchUpstreams routes traffic to the running containers of slot.
func (d *Deployer) switchUpstreams(ctx context.Context, slot Slot) error {
	addrs, err := d.upstreams(ctx, slot)
	if err != nil {
		return err
	}
	return d.Switcher.Switch(ctx, slot, addrs)
}

func (d *Deployer) lockPath() string {
	return filepath.Join(d.Project.Config.StateDir, d.Project.Config.Project+".lock")
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
// error: which slot the proxy routes to, as read back from it, and whether
// the cleanup after it failed.
func (d *Deployer) finish(r *Report, err error, cleanup error) error {
	var se *StepError
	if errors.As(err, &se) {
		se.Live, se.LiveErr = d.readLive(context.Background())
		if errors.As(err, new(inDoubt)) {
			se.Live, se.LiveErr = None, errUnknownLive
		}
		se.Cleanup = cleanup
	}
	outcome := OutcomeSucceeded
	switch {
	case err == nil:
	case r.Switched:
		outcome = OutcomeIncomplete
	case r.SwitchedBack:
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
	if rerr != nil && err == nil {
		// The release serves, but the next deploy must not trust the
		// history blindly: fail loudly.
		last := r.Steps[len(r.Steps)-1]
		se := &StepError{Step: last.Step, Slot: last.Slot, Err: fmt.Errorf("%w: the release took traffic, but recording its outcome failed: %w", ErrHistory, rerr)}
		se.Live, se.LiveErr = d.readLive(context.Background())
		return se
	}
	return err
}

func (d *Deployer) info(step Step, slot Slot, msg string) {
	d.emit(Event{Step: step, Phase: PhaseInfo, Slot: slot, Message: msg})
}

func (d *Deployer) emit(e Event) {
	e.Time = time.Now()
	e.Project = d.Project.Config.Project
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
