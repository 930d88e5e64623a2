package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/health"
)

// recoverProbeTimeout bounds the probe of a slot while repairing after a
// deploy that died during its switch.
const recoverProbeTimeout = 10 * time.Second

// policy is the health policy of the configuration, with timeout.
func (d *Deployer) policy(timeout time.Duration) health.Policy {
	return health.Policy{
		Interval:         d.Project.Config.Health.Interval,
		Timeout:          timeout,
		HealthyThreshold: d.Project.Config.Health.HealthyThreshold,
	}
}

// check is the readiness check of slot: every container of the routed
// service runs (and is healthy by its own healthcheck), and each one
// answers at its published port as the configuration says; there are at
// least want of them. When culprit is not nil, a failed round leaves there
// the container that failed it.
func (d *Deployer) check(slot Slot, want int, culprit *api.ContainerSummary) health.Checker {
	blame := func(c api.ContainerSummary) {
		if culprit != nil {
			*culprit = c
		}
	}
	return health.CheckerFunc(func(ctx context.Context) error {
		cs, err := d.routed(ctx, slot, true)
		if err != nil {
			return err
		}
		if len(cs) < want {
			return health.Permanent(fmt.Errorf("service %s has %d of its %d container(s)", d.Project.Config.Service, len(cs), want))
		}
		for _, c := range cs {
			if err := containerRunning(c); err != nil {
				blame(c)
				return err
			}
		}
		for _, c := range cs {
			addr, err := d.hostAddr(c)
			if err == nil {
				err = d.probe(ctx, addr)
			}
			if err != nil {
				blame(c)
				if len(cs) > 1 {
					return fmt.Errorf("container %s: %w", c.Name, err)
				}
				return err
			}
		}
		return nil
	})
}

// probe checks one container at addr, once.
func (d *Deployer) probe(ctx context.Context, addr string) error {
	if d.Project.Config.Health.TCP {
		if err := (health.TCP{Addr: addr}).Check(ctx); err != nil {
			return err
		}
	}
	return health.HTTP{
		URL:    "http://" + addr + d.Project.Config.Health.Path,
		Host:   d.Project.Config.Health.Host,
		Status: d.Project.Config.Health.Status,
	}.Check(ctx)
}

// waitHealthy probes the new slot until it passes HealthyThreshold rounds in
// a row, with want containers of the routed service (0: as many as the
// configuration says). A container that exits fails the wait at once.
func (d *Deployer) waitHealthy(ctx context.Context, slot Slot, want int) error {
	if want == 0 {
		want = d.Project.Config.replicas()
	}
	var culprit api.ContainerSummary
	res, err := health.Wait(ctx, d.policy(d.Project.Config.Health.Timeout), d.check(slot, want, &culprit))
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("stopped waiting for health: %w", context.Cause(ctx))
	}
	if err != nil {
		// With several replicas, the logs of the one that failed tell why.
		whose, index := "", 0
		if want > 1 && culprit.Name != "" {
			whose, index = " of "+culprit.Name, containerNumber(culprit)
		}
		logs := d.tailLogs(slot, index, 20)
		for _, line := range logs {
			d.log().Warn("log of the failed release", "slot", slot, "container", culprit.Name, "line", line)
		}
		return fmt.Errorf("%w: %v%s", ErrUnhealthy, err, lastLines(whose, logs, 3))
	}
	d.info(StepWaitHealthy, slot, fmt.Sprintf("healthy after %s (%d probe rounds)", res.Elapsed.Round(time.Millisecond), res.Probes))
	return nil
}

// verify fetches VerifyURL through the proxy until it answers as the health
// settings ask.
func (d *Deployer) verify(ctx context.Context) error {
	check := health.HTTP{URL: d.Project.Config.VerifyURL, Host: d.Project.Config.Health.Host, Status: d.Project.Config.Health.Status}
	if _, err := health.Wait(ctx, d.policy(d.Project.Config.VerifyTimeout), check); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	return nil
}

// healthy probes slot once (HealthyThreshold rounds) within
// recoverProbeTimeout. The slot may run fewer or more replicas than the
// configuration now says: it ran a release deployed earlier.
func (d *Deployer) healthy(ctx context.Context, slot Slot) error {
	_, err := health.Wait(ctx, d.policy(recoverProbeTimeout), d.check(slot, 1, nil))
	return err
}

// preflightProxy checks, changing nothing, that the proxy can be switched:
// a wrong path is reported as such before anything else is read.
func (d *Deployer) preflightProxy(ctx context.Context) error {
	if p, ok := d.Switcher.(Preflighter); ok {
		if err := p.Preflight(ctx); err != nil {
			return inDoubt{fmt.Errorf("%w: the proxy cannot be switched: %w (nothing was changed)", ErrBadInput, err)}
		}
	}
	return nil
}

// stateRoom is the room, beyond two copies of the state file, that the
// state directory must have for a deploy to begin.
const stateRoom = 64 << 10

// stateDirWritable proves that the history can be written through the
// deploy, by writing a probe file as large as two copies of the state file
// and some room, in the state directory, and removing it.
func (d *Deployer) stateDirWritable() error {
	dir := d.Project.Config.StateDir
	need := int64(stateRoom)
	if fi, err := os.Stat(d.statePath()); err == nil {
		need += 2 * fi.Size()
	}
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = writeProbe(dir, need)
	}
	if err != nil {
		return fmt.Errorf("%w: state_dir %s cannot hold the history (a probe of %d bytes failed): %w", ErrBadInput, dir, need, err)
	}
	return nil
}

func writeProbe(dir string, size int64) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, size))
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// portsFree fails with ErrBadInput when something else listens on one of
// slot's ports on 127.0.0.1. Ports held by the slot's own running
// containers (leftovers that the prepare step removes) are not in the way.
func (d *Deployer) portsFree(ctx context.Context, slot Slot) error {
	cs, err := d.routed(ctx, slot, false)
	if err != nil {
		return err
	}
	own := map[int]bool{}
	for _, c := range cs {
		own[d.hostPort(c)] = true
	}
	first, last := d.Project.Config.slotPorts(slot)
	for port := first; port <= last; port++ {
		if own[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("%w: slot port %d is taken by another process: %v", ErrBadInput, port, err)
		}
		l.Close()
	}
	return nil
}
