package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/compose/v2/pkg/api"
)

const (
	// taskPoll is how often a task's container is checked for its exit.
	taskPoll = 100 * time.Millisecond
	// taskLogGrace is how long the output of a task that has exited may
	// take to end on its own. compose's following of logs waits for the
	// container's die event, which it misses when the container died
	// before it listened: it would wait until tasks.timeout.
	taskLogGrace = 2 * time.Second
)

// beforeSwitch runs the tasks before the switch, then checks that slot
// still answers: the tasks may have taken a while.
func (d *Deployer) beforeSwitch(ctx context.Context, slot Slot, names []string) error {
	if err := d.runTasks(ctx, StepBeforeTasks, slot, names); err != nil {
		return err
	}
	if err := d.healthy(ctx, slot); err != nil {
		return fmt.Errorf("%w: %s stopped answering while the tasks ran: %v", ErrUnhealthy, slot, err)
	}
	return nil
}

// runTasks runs the task services names, in order, in the release of slot;
// the first that fails ends the step.
func (d *Deployer) runTasks(ctx context.Context, step Step, slot Slot, names []string) error {
	for _, name := range names {
		if err := d.runTask(ctx, step, slot, name); err != nil {
			return err
		}
	}
	return nil
}

// runTask runs one task to its end, as "compose run --rm" would: its
// output lines become info events, and its container is removed whatever
// happens (a leftover of a crashed deploy first).
func (d *Deployer) runTask(ctx context.Context, step Step, slot Slot, name string) error {
	tp, err := d.Project.taskProject(slot, name)
	if err != nil {
		return err
	}
	remove := func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err := d.Compose.Down(ctx, tp.Name, api.DownOptions{RemoveOrphans: true}); err != nil {
			return fmt.Errorf("removing the container of task %s: %w", name, err)
		}
		return nil
	}
	if err := remove(); err != nil {
		return err
	}
	defer func() {
		if err := remove(); err != nil {
			d.log().Warn("task cleanup", "task", name, "err", err)
		}
	}()
	timeout := d.Project.Config.Tasks.Timeout
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	d.info(step, slot, fmt.Sprintf("task %s: running %s", name, tp.Services[name].Image))
	err = d.Compose.Up(ctx, tp, api.UpOptions{
		Create: api.CreateOptions{RemoveOrphans: true, Recreate: api.RecreateForce, QuietPull: true, AssumeYes: true},
		Start:  api.StartOptions{Project: tp},
	})
	if err != nil {
		return d.taskFailed(ctx, name, timeout, fmt.Errorf("starting it: %w", err), nil)
	}
	out := &lineCollector{onLine: func(line string) { d.info(step, slot, name+" | "+line) }}
	code, err := d.followTask(ctx, tp.Name, out)
	if err != nil {
		return d.taskFailed(ctx, name, timeout, err, out.lines)
	}
	if code != 0 {
		return d.taskFailed(ctx, name, timeout, fmt.Errorf("exited with code %d", code), out.lines)
	}
	d.info(step, slot, fmt.Sprintf("task %s: done in %s", name, time.Since(start).Round(time.Millisecond)))
	return nil
}

// taskFailed is the error of a failed task, with its last output lines.
func (d *Deployer) taskFailed(ctx context.Context, name string, timeout time.Duration, err error, lines []string) error {
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		err = fmt.Errorf("did not finish within tasks.timeout (%s)", timeout)
	} else if ctx.Err() != nil {
		err = fmt.Errorf("stopped: %w", context.Cause(ctx))
	}
	return fmt.Errorf("%w: %s %v%s", ErrTask, name, err, lastLines("", lines, 5))
}

// followTask passes the task's output to out while it runs and returns its
// exit code. The output ends on its own once the container has exited, or
// is cut taskLogGrace after.
func (d *Deployer) followTask(ctx context.Context, project string, out *lineCollector) (int, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logged := make(chan error, 1)
	go func() { logged <- d.Compose.Logs(lctx, project, out, api.LogOptions{Follow: true}) }()
	code, err := d.taskExit(ctx, project)
	if err != nil {
		cancel()
		<-logged
		return 0, err
	}
	select {
	case err = <-logged:
	case <-time.After(taskLogGrace):
		cancel()
		<-logged
		d.log().Debug("task output cut after its exit", "project", project)
	}
	if err != nil && lctx.Err() == nil {
		return 0, fmt.Errorf("reading its output: %w", err)
	}
	return code, nil
}

// taskExit waits for the task's container to exit and returns its exit code.
func (d *Deployer) taskExit(ctx context.Context, project string) (int, error) {
	for {
		cs, err := d.ps(ctx, project, false)
		if err != nil {
			return 0, err
		}
		if len(cs) != 1 {
			return 0, fmt.Errorf("%d containers in %s, want the task's one", len(cs), project)
		}
		if c := cs[0]; c.State == "exited" || c.State == "dead" {
			return c.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(taskPoll):
		}
	}
}
