package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluegreen-dev/bluegreen/health"
)

const (
	// watchFailures is how many probe rounds in a row must fail before a
	// release that took traffic counts as failed.
	watchFailures = 2
	// watchProbeTimeout is the least time one probe of the watch may take:
	// a dead container's published port can hold a connection for seconds
	// (the engine's proxy dials an address that is gone), and the watch
	// must not wait that long.
	watchProbeTimeout = 500 * time.Millisecond
)

// watcher probes the new slot from the switch until the retire, so that a
// release that dies after taking traffic sends it back to the old slot
// within about one probe interval, not after a timeout.
type watcher struct {
	// ctx ends, with a cause wrapping ErrFailedAfterSwitch, when the slot
	// stops answering; the steps run under the watch use it.
	ctx    context.Context
	cancel context.CancelCauseFunc
	halt   context.CancelFunc // ends the watch, and the probe it runs
	done   chan struct{}
	check  health.Checker
	// interval is the time between two probes.
	interval time.Duration
}

// watch starts probing slot at the health interval.
func (d *Deployer) watch(ctx context.Context, slot Slot) *watcher {
	interval := d.policy(0).Interval
	if interval <= 0 {
		interval = health.DefaultInterval
	}
	check := d.watchCheck(ctx, slot, max(5*interval, watchProbeTimeout))
	wctx, cancel := context.WithCancelCause(ctx)
	probing, halt := context.WithCancel(wctx)
	w := &watcher{ctx: wctx, cancel: cancel, halt: halt, done: make(chan struct{}), check: check, interval: interval}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		failed := 0
		for {
			select {
			case <-probing.Done():
				return
			case <-tick.C:
			}
			err := check.Check(probing)
			if err == nil {
				failed = 0
				continue
			}
			if probing.Err() != nil {
				return
			}
			failed++
			d.log().Warn("the new release failed a probe after the switch", "slot", slot, "in_a_row", failed, "err", err)
			if failed >= watchFailures {
				cancel(fmt.Errorf("%w: %s stopped answering after the switch: %w", ErrFailedAfterSwitch, slot, err))
				return
			}
		}
	}()
	return w
}

// stop ends the watch and returns why the slot failed, or nil.
func (w *watcher) stop() error {
	w.halt()
	<-w.done
	cause := context.Cause(w.ctx)
	w.cancel(nil)
	if errors.Is(cause, ErrFailedAfterSwitch) {
		return cause
	}
	return nil
}

// final is the last word before the old slot goes, and again once it has
// gone: with the watch stopped, the slot must answer now, within
// watchFailures probes. when says which moment ("before the retire").
func (w *watcher) final(ctx context.Context, slot Slot, when string) error {
	var err error
	for i := range watchFailures {
		if i > 0 {
			time.Sleep(w.interval)
		}
		if err = w.check.Check(ctx); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not answer %s: %w", ErrFailedAfterSwitch, slot, when, err)
}

// watched runs fn under the watch: when the slot fails meanwhile, fn's ctx
// ends and the failure, not fn's own error, is the result.
func (w *watcher) watched(fn func(context.Context) error) func(context.Context) error {
	return func(context.Context) error {
		err := fn(w.ctx)
		if cause := context.Cause(w.ctx); errors.Is(cause, ErrFailedAfterSwitch) {
			return cause
		}
		return err
	}
}

// watchCheck probes each container of slot at its host port, as the
// readiness check does, with a short timeout and without asking the engine
// each time: right after a container dies, the engine can be slow to answer.
func (d *Deployer) watchCheck(ctx context.Context, slot Slot, timeout time.Duration) health.Checker {
	cs, err := d.routed(ctx, slot, false)
	var addrs []string
	for _, c := range cs {
		addr, aerr := d.hostAddr(c)
		err = errors.Join(err, aerr)
		addrs = append(addrs, addr)
	}
	if err != nil || len(addrs) == 0 {
		d.log().Warn("watching the new release through the engine", "slot", slot, "err", err)
		return d.check(slot, 1, nil)
	}
	return health.CheckerFunc(func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		for _, addr := range addrs {
			if err := d.probe(ctx, addr); err != nil {
				return err
			}
		}
		return nil
	})
}
