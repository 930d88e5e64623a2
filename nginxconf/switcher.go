package nginxconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

var (
	// ErrInvalid is returned (wrapped) for a Switcher field or Switch
	// argument that cannot be written safely into nginx config.
	ErrInvalid = errors.New("invalid input")
	// ErrUnmanaged is returned (wrapped) by Active when File exists but was
	// not written by Switch.
	ErrUnmanaged = errors.New("upstream file not managed by bluegreen")
	// ErrNotRunning is returned (wrapped) when no running nginx master is
	// found through its pid file.
	ErrNotRunning = errors.New("nginx master not found")
	// ErrConfigTest is returned (wrapped) when nginx -t rejects the new
	// upstream file. The error holds nginx's output.
	ErrConfigTest = errors.New("nginx -t failed")
	// ErrReload is returned (wrapped) when nginx -s reload fails or nginx
	// does not start new workers within ReloadTimeout.
	ErrReload = errors.New("nginx reload failed")
)

// Defaults applied to zero Switcher fields.
const (
	DefaultBinary        = "nginx"
	DefaultReloadTimeout = 10 * time.Second
)

// Switcher routes traffic by rewriting File, an upstream block that the
// nginx config includes, and reloading nginx. Upstream and File are
// required; the other fields work at their zero value. A Switcher must not
// be used by two Switch calls at once.
type Switcher struct {
	// Upstream names the upstream block that proxy_pass refers to, such as
	// "backend".
	Upstream string
	// File is the upstream file Switch replaces whole, such as
	// "/etc/nginx/conf.d/app-upstream.conf".
	File string
	// Conf is passed to nginx as -c when set; empty means nginx's
	// compiled-in config path.
	Conf string
	// Prefix is passed to nginx as -p when set; empty means nginx's
	// compiled-in prefix.
	Prefix string
	// Binary is the nginx executable. Empty means "nginx" from PATH, or
	// /usr/sbin/nginx when PATH has none.
	Binary string
	// PIDFile is the running master's pid file. Empty means the path nginx
	// itself uses: the pid directive of the main config, else the
	// compiled-in path.
	PIDFile string
	// Logger receives a record for each step; nil discards them.
	Logger *slog.Logger
	// ReloadTimeout bounds the wait for new workers after a reload; zero
	// means DefaultReloadTimeout.
	ReloadTimeout time.Duration
}

var (
	_ bluegreen.Switcher = (*Switcher)(nil)
	_ bluegreen.Drainer  = (*Switcher)(nil)
)

// Switch writes an upstream file that sends new requests to addrs, checks it
// with nginx -t and reloads nginx. It returns nil once the new workers run
// and the old ones stopped accepting. nginx must be running: without a
// master Switch fails (ErrNotRunning) before it touches File. On error the
// previous file is back in place and, if nginx may have loaded the new one,
// nginx is reloaded again.
func (s *Switcher) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	start := time.Now()
	if s.File == "" {
		return fmt.Errorf("switch: %w: File is empty", ErrInvalid)
	}
	content, err := render(upstream{Slot: slot, Name: s.Upstream, Addrs: addrs})
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	log := s.logger().With("slot", slot.String(), "file", s.File)
	master, err := s.masterPID(ctx)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	prev, err := readSnapshot(s.File)
	if err != nil {
		return fmt.Errorf("switch: read previous upstream file: %w", err)
	}
	if err := writeFile(s.File, content, prev.perm); err != nil {
		return fmt.Errorf("switch: write upstream file: %w", err)
	}
	log.Debug("wrote upstream file", "addrs", addrs)

	if err := s.configTest(ctx); err != nil {
		return errors.Join(err, s.restore(log, prev))
	}
	log.Debug("nginx -t passed")

	if err := s.reload(ctx, master); err != nil {
		err = errors.Join(err, s.restore(log, prev))
		s.reloadBack(ctx, log, master)
		return err
	}
	log.Info("switched", "addrs", addrs, "master", master, "took", time.Since(start))
	return nil
}

// Active reads the slot back from File: None when File does not exist, an
// error wrapping ErrUnmanaged when Switch did not write it.
func (s *Switcher) Active(ctx context.Context) (bluegreen.Slot, error) {
	if s.File == "" {
		return bluegreen.None, fmt.Errorf("active: %w: File is empty", ErrInvalid)
	}
	data, err := os.ReadFile(s.File)
	if errors.Is(err, os.ErrNotExist) {
		return bluegreen.None, nil
	}
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	if !bytes.HasPrefix(data, []byte(header)) && isPlainUpstream(data, s.Upstream) {
		// A hand-written upstream, as nginx needs one to start: no slot of
		// ours is live yet, and the first Switch replaces it.
		s.logger().Info("upstream file not written by bluegreen yet; the first switch replaces it", "file", s.File)
		return bluegreen.None, nil
	}
	u, err := parse(data)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %s: %w", s.File, err)
	}
	return u.Slot, nil
}

// Drain waits until the master has no worker left that is shutting down:
// after a reload those old workers finish the requests they hold, still
// proxying to the previous upstream. It returns ctx's error, wrapped, when
// ctx ends first.
func (s *Switcher) Drain(ctx context.Context) error {
	start := time.Now()
	master, err := s.masterPID(ctx)
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		old, err := oldWorkers(master)
		if err != nil {
			return fmt.Errorf("drain: list workers of master %d: %w", master, err)
		}
		if old == 0 {
			s.logger().Info("drained", "master", master, "took", time.Since(start))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain: %d nginx workers still shutting down after %s: %w",
				old, time.Since(start).Round(time.Millisecond), ctx.Err())
		case <-tick.C:
		}
	}
}

func oldWorkers(master int) (int, error) {
	kids, err := children(master)
	n := 0
	for _, p := range kids {
		if p.shuttingDown() {
			n++
		}
	}
	return n, err
}

func (s *Switcher) configTest(ctx context.Context) error {
	out, err := s.nginx(ctx, "-t")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("switch: nginx -t: %w", ctx.Err())
	}
	return fmt.Errorf("switch: %w: %v: %s", ErrConfigTest, err, oneLine(out))
}

// reload signals the master and waits until the reload shows in its
// children: a worker that was not there before, and every worker that was
// there gone or shutting down (so it no longer accepts). nginx -s reload
// returns before the master acts, and a reload the master refuses shows only
// in nginx's error log, so only the workers tell that the new config is live.
func (s *Switcher) reload(ctx context.Context, master int) error {
	before, err := children(master)
	if err != nil {
		return fmt.Errorf("switch: %w: list workers of master %d: %w", ErrReload, master, err)
	}
	old := make(map[int]bool, len(before))
	for _, p := range before {
		old[p.pid] = true
	}
	if out, err := s.nginx(ctx, "-s", "reload"); err != nil {
		return fmt.Errorf("switch: %w: nginx -s reload: %v: %s", ErrReload, err, oneLine(out))
	}
	s.logger().Debug("nginx -s reload sent", "master", master, "workers", len(before))

	timeout := s.ReloadTimeout
	if timeout <= 0 {
		timeout = DefaultReloadTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		kids, err := children(master)
		if err == nil && reloaded(kids, old) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("switch: %w: master %d started no new workers within %s (a refused reload is reported only in nginx's error log): %w",
				ErrReload, master, timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

func reloaded(kids []process, old map[int]bool) bool {
	fresh := false
	for _, p := range kids {
		switch {
		case p.shuttingDown():
		case old[p.pid]:
			return false
		default:
			fresh = true
		}
	}
	return fresh
}

// restore puts the previous upstream file back after a failed switch.
func (s *Switcher) restore(log *slog.Logger, prev snapshot) error {
	if err := prev.restore(s.File); err != nil {
		log.Error("restore previous upstream file failed", "err", err)
		return fmt.Errorf("restore previous upstream file: %w", err)
	}
	log.Warn("restored previous upstream file", "existed", prev.exists)
	return nil
}

// reloadBack reloads nginx after a failed reload: nginx may have loaded the
// new file after all, and must go back to the restored one. ctx may have
// ended, so this gets its own time.
func (s *Switcher) reloadBack(ctx context.Context, log *slog.Logger, master int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultReloadTimeout)
	defer cancel()
	if err := s.reload(ctx, master); err != nil {
		log.Error("reload with the previous upstream file failed", "err", err)
		return
	}
	log.Warn("reloaded nginx with the previous upstream file")
}

// nginx runs the nginx binary with -p and -c as set, then args, and returns
// its combined output.
func (s *Switcher) nginx(ctx context.Context, args ...string) ([]byte, error) {
	var flags []string
	if s.Prefix != "" {
		flags = append(flags, "-p", s.Prefix)
	}
	if s.Conf != "" {
		flags = append(flags, "-c", s.Conf)
	}
	return exec.CommandContext(ctx, s.binary(), append(flags, args...)...).CombinedOutput()
}

func (s *Switcher) binary() string {
	if s.Binary != "" {
		return s.Binary
	}
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			return "/usr/sbin/nginx"
		}
	}
	return DefaultBinary
}

func (s *Switcher) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// oneLine joins nginx's output lines so an error stays on one line.
func oneLine(out []byte) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", " | ")), " ")
}

// FromConfig returns a Switcher for the nginx section of x-bluegreen.
func FromConfig(n bluegreen.NginxConfig, logger *slog.Logger) *Switcher {
	return &Switcher{
		Upstream: n.Upstream,
		File:     n.UpstreamFile,
		Conf:     n.Conf,
		Prefix:   n.Prefix,
		Binary:   n.Binary,
		Logger:   logger,
	}
}
