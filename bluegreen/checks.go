package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
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

// pollInterval is how often the addresses that refused a failed round are
// probed until they answer (health.Poller): a release that starts to answer
// is then seen within this, not within a health interval.
const pollInterval = 10 * time.Millisecond

// check is the readiness check of slot: every container of the routed
// service runs (and is healthy by its own healthcheck), and each one
// answers at its published port as the configuration says; there are at
// least want of them. When culprit is not nil, a failed round leaves there
// the container that failed it.
func (d *Deployer) check(slot Slot, want int, culprit *api.ContainerSummary) health.Checker {
	return &slotCheck{d: d, slot: slot, want: want, culprit: culprit}
}

// slotCheck is a health.Poller: between the rounds it fails at the probe,
// it probes the addresses that failed until they answer, without listing
// containers, and so lets the next round start at once.
type slotCheck struct {
	d       *Deployer
	slot    Slot
	want    int
	culprit *api.ContainerSummary

	mu      sync.Mutex
	waiting []string // the addresses the last round's probe did not pass
}

func (c *slotCheck) blame(ct api.ContainerSummary) {
	if c.culprit != nil {
		*c.culprit = ct
	}
}

func (c *slotCheck) Check(ctx context.Context) error {
	d := c.d
	c.await(nil)
	cs, err := d.routed(ctx, c.slot, true)
	if err != nil {
		return err
	}
	if len(cs) < c.want {
		return health.Permanent(fmt.Errorf("service %s has %d of its %d container(s)", d.Project.Config.Service, len(cs), c.want))
	}
	for _, ct := range cs {
		if err := containerRunning(ct); err != nil {
			c.blame(ct)
			return err
		}
	}
	addrs := make([]string, len(cs))
	for i, ct := range cs {
		if addrs[i], err = d.hostAddr(ct); err != nil {
			c.blame(ct)
			return err
		}
	}
	for i, ct := range cs {
		if err := d.probe(ctx, addrs[i]); err != nil {
			c.blame(ct)
			c.await(addrs[i:])
			if len(cs) > 1 {
				return fmt.Errorf("container %s: %w", ct.Name, err)
			}
			return err
		}
	}
	return nil
}

func (c *slotCheck) await(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waiting = addrs
}

// Poll probes, every pollInterval, the addresses that failed the last round
// until each has passed once; it returns false when ctx ends first, or at
// once when the last round failed for another reason than the probe.
func (c *slotCheck) Poll(ctx context.Context) bool {
	c.mu.Lock()
	addrs := slices.Clone(c.waiting)
	c.mu.Unlock()
	if len(addrs) == 0 {
		return false
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		addrs = slices.DeleteFunc(addrs, func(addr string) bool { return c.d.probe(ctx, addr) == nil })
		if len(addrs) == 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
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
	if sp, ok := d.Switcher.(Splitter); ok && d.Project.Config.Strategy == StrategyCanary {
		if err := sp.PreflightSplit(ctx); err != nil {
			return inDoubt{fmt.Errorf("%w: strategy canary: the proxy cannot split traffic or count the new release's responses: %w (nothing was changed)", ErrBadInput, err)}
		}
	}
	return nil
}

// proxyWarnings is what the Switcher, when it is a Warner, warns of.
func (d *Deployer) proxyWarnings(ctx context.Context) []string {
	if w, ok := d.Switcher.(Warner); ok {
		return w.Warnings(ctx)
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
