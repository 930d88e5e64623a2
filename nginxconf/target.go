package nginxconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// The three ways to run nginx, each a Switcher that can drain and check a
// switch before a deploy (preflight.go).
var (
	_ bluegreen.Switcher    = (*Switcher)(nil)
	_ bluegreen.Drainer     = (*Switcher)(nil)
	_ bluegreen.Preflighter = (*Switcher)(nil)
	_ bluegreen.Switcher    = (*SlotFiles)(nil)
	_ bluegreen.Drainer     = (*SlotFiles)(nil)
	_ bluegreen.Preflighter = (*SlotFiles)(nil)
	_ bluegreen.Switcher    = (*Container)(nil)
	_ bluegreen.Drainer     = (*Container)(nil)
	_ bluegreen.Preflighter = (*Container)(nil)
)

// target is one running nginx master that a switch drives: on this host
// (host.go, for Switcher and SlotFiles) or in a container (container.go).
// The steps of a switch (write, nginx -t, reload, confirm, restore, drain)
// are the same for both and live in this file.
type target interface {
	// String names the master in errors and log records.
	String() string
	// workers lists the master's child processes. It fails, wrapping
	// ErrNotRunning, when no master runs.
	workers(ctx context.Context) ([]process, error)
	// nginx runs the nginx binary with the master's -p and -c, then args,
	// and returns its combined output.
	nginx(ctx context.Context, args ...string) ([]byte, error)
	// signalReload tells the master to reload, as nginx -s reload does;
	// workers has found the master before.
	signalReload(ctx context.Context) error
	// read returns the state of file before a switch, to restore it.
	read(ctx context.Context, file string) (snapshot, error)
	// write replaces file with data, keeping prev's mode.
	write(ctx context.Context, file string, data []byte, prev snapshot) error
	// restore puts file back the way read found it.
	restore(ctx context.Context, file string, prev snapshot) error
}

// replace puts content in file, checks the config with nginx -t and reloads
// nginx, confirmed by its workers. nginx must run: without a master replace
// fails (ErrNotRunning) before it touches file. On error the previous
// content is back in place and, if nginx may have loaded the new one, nginx
// is reloaded again.
func replace(ctx context.Context, t target, file string, content []byte, timeout time.Duration, log *slog.Logger, r *retiring) error {
	start := time.Now()
	if _, err := t.workers(ctx); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	prev, err := t.read(ctx, file)
	if err != nil {
		return fmt.Errorf("switch: read previous %s: %w", file, err)
	}
	if err := t.write(ctx, file, content, prev); err != nil {
		// An atomic write left the file as it was; a copy into a container
		// may have stopped halfway.
		return errors.Join(fmt.Errorf("switch: write %s: %w", file, err), restore(ctx, t, log, file, prev))
	}
	log.Debug("wrote file")

	if err := configTest(ctx, t); err != nil {
		return errors.Join(err, restore(ctx, t, log, file, prev))
	}
	log.Debug("nginx -t passed")

	old, err := reload(ctx, t, timeout, log)
	if err != nil {
		err = errors.Join(err, restore(ctx, t, log, file, prev))
		reloadBack(ctx, t, timeout, log)
		return err
	}
	r.add(old)
	log.Info("switched", "nginx", t.String(), "took", time.Since(start))
	return nil
}

func configTest(ctx context.Context, t target) error {
	out, err := t.nginx(ctx, "-t")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("switch: nginx -t: %w", ctx.Err())
	}
	return fmt.Errorf("switch: %w: %v: %s", ErrConfigTest, err, oneLine(out))
}

// reload signals the master and waits until the reload shows in its
// children: a worker that was not there before. nginx -s reload returns
// before the master acts, and a reload the master refuses shows only in
// nginx's error log, so only the workers tell that the new config is live.
// It returns the workers from before: for 100 ms more the master lets them
// accept connections (and proxy them to the previous upstream), so drain
// waits for them to exit.
func reload(ctx context.Context, t target, timeout time.Duration, log *slog.Logger) (map[int]bool, error) {
	before, err := t.workers(ctx)
	if err != nil {
		return nil, fmt.Errorf("switch: %w: list workers of %s: %w", ErrReload, t, err)
	}
	old := make(map[int]bool, len(before))
	for _, p := range before {
		old[p.pid] = true
	}
	if err := t.signalReload(ctx); err != nil {
		return nil, fmt.Errorf("switch: %w: %w", ErrReload, err)
	}
	log.Debug("reload signalled", "nginx", t.String(), "workers", len(before))

	if timeout <= 0 {
		timeout = DefaultReloadTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(reloadPoll)
	defer tick.Stop()
	for {
		kids, err := t.workers(ctx)
		if err == nil && reloaded(kids, old) {
			return old, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("switch: %w: %s started no new workers within %s (a refused reload is reported only in nginx's error log): %w",
				ErrReload, t, timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// reloaded reports a worker of the new generation among kids.
func reloaded(kids []process, old map[int]bool) bool {
	for _, p := range kids {
		if !old[p.pid] && !p.shuttingDown() {
			return true
		}
	}
	return false
}

// reloadPoll is how often reload reads the master's children until the new
// workers run (7-13 ms after the signal, measured with nginx 1.22).
const reloadPoll = 3 * time.Millisecond

// reloadWindow is how long, after a reload, the nginx master lets the old
// workers accept connections (a fixed 100 ms sleep in nginx), with a margin.
const reloadWindow = 150 * time.Millisecond

// retiring remembers the workers that ran before the last reloads, until a
// drain has seen them exit.
type retiring struct {
	mu   sync.Mutex
	pids map[int]bool
}

func (r *retiring) add(pids map[int]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pids == nil {
		r.pids = map[int]bool{}
	}
	for pid := range pids {
		r.pids[pid] = true
	}
}

// left counts the workers among kids that drain waits for: those from
// before the last reloads, and any shutting down.
func (r *retiring) left(kids []process) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range kids {
		if r.pids[p.pid] || p.shuttingDown() {
			n++
		}
	}
	return n
}

func (r *retiring) empty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pids) == 0
}

func (r *retiring) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pids = nil
}

// cleanupTimeout bounds restoring the previous file and reloading nginx
// with it, which run even when the switch's ctx has ended.
const cleanupTimeout = DefaultReloadTimeout

// restore puts the previous file back after a failed switch.
func restore(ctx context.Context, t target, log *slog.Logger, file string, prev snapshot) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := t.restore(ctx, file, prev); err != nil {
		log.Error("restore previous file failed", "err", err)
		return fmt.Errorf("restore previous %s: %w", file, err)
	}
	log.Warn("restored previous file", "existed", prev.exists)
	return nil
}

// reloadBack reloads nginx after a failed reload: nginx may have loaded the
// new file after all, and must go back to the restored one.
func reloadBack(ctx context.Context, t target, timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := reload(ctx, t, timeout, log); err != nil {
		log.Error("reload with the previous file failed", "err", err)
		return
	}
	log.Warn("reloaded nginx with the previous file")
}

// drain waits until the workers from before the last reloads have exited,
// and no worker is shutting down: after a reload those old workers finish
// the requests they hold, still proxying to the previous upstream. It
// returns ctx's error, wrapped, when ctx ends first.
func drain(ctx context.Context, t target, log *slog.Logger, r *retiring) error {
	start := time.Now()
	if r.empty() {
		// No reload of ours to go by: another process (one that died,
		// say) may have reloaded nginx a moment ago, and for 100 ms its old
		// workers still accept without showing "shutting down".
		select {
		case <-time.After(reloadWindow):
		case <-ctx.Done():
			return fmt.Errorf("drain: %w", ctx.Err())
		}
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		kids, err := t.workers(ctx)
		if err != nil {
			return fmt.Errorf("drain: list workers: %w", err)
		}
		old := r.left(kids)
		if old == 0 {
			r.clear()
			log.Info("drained", "nginx", t.String(), "took", time.Since(start))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d workers of %s still shutting down after %s: %w",
				old, t, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
	}
}

// shuttingDown counts the old workers among kids.
func shuttingDown(kids []process) int {
	n := 0
	for _, p := range kids {
		if p.shuttingDown() {
			n++
		}
	}
	return n
}

// nginxArgs is an nginx command line: -p and -c when set, then args.
func nginxArgs(prefix, conf string, args ...string) []string {
	var flags []string
	if prefix != "" {
		flags = append(flags, "-p", prefix)
	}
	if conf != "" {
		flags = append(flags, "-c", conf)
	}
	return append(flags, args...)
}

func logger(l *slog.Logger) *slog.Logger {
	if l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// oneLine joins nginx's output lines so an error stays on one line.
func oneLine(out []byte) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", " | ")), " ")
}
