package nginxconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

var (
	// ErrInvalid is returned (wrapped) for a Switcher field or Switch
	// argument that cannot be written safely into nginx config. It is
	// bluegreen.ErrBadInput, the one bad-input sentinel of the module.
	ErrInvalid = bluegreen.ErrBadInput
	// ErrUnmanaged is returned (wrapped) by Active when the file it reads
	// exists but was not written by Switch.
	ErrUnmanaged = errors.New("file not managed by bluegreen")
	// ErrNotRunning is returned (wrapped) when no running nginx master is
	// found: through its pid file on this host, or among the processes of
	// the container.
	ErrNotRunning = errors.New("nginx master not found")
	// ErrConfigTest is returned (wrapped) when nginx -t rejects the new
	// file. The error holds nginx's output.
	ErrConfigTest = errors.New("nginx -t failed")
	// ErrReload is returned (wrapped) when the reload signal (SIGHUP to the
	// master, or nginx -s reload in a container) cannot be sent or nginx
	// does not start new workers within ReloadTimeout.
	ErrReload = errors.New("nginx reload failed")
	// ErrPreflight is returned (wrapped) by Preflight when a Switch would
	// not work. The error names the setting at fault and wraps the cause
	// as well: ErrNotRunning, ErrUnmanaged, ErrInvalid, ErrConfigTest or an
	// error of the file system or the engine.
	ErrPreflight = errors.New("nginx preflight failed")
)

// DefaultReloadTimeout applies to a zero ReloadTimeout.
const DefaultReloadTimeout = 10 * time.Second

// Switcher routes traffic by rewriting File, an upstream block that the
// nginx config includes, and reloading nginx. Upstream and File are
// required; the other fields work at their zero value. A Switcher must not
// be used by two Switch calls at once.
type Switcher struct {
	// Upstream names the upstream block that proxy_pass refers to, such as
	// "backend".
	Upstream string
	// File is the upstream file Switch replaces whole, such as
	// "/etc/nginx/conf.d/app-upstream.conf". When File is a symbolic link,
	// Switch replaces the file it links to and leaves the link; a link to a
	// missing file is an error.
	File string
	// Keepalive, when above 0, adds "keepalive N;" to the upstream block:
	// each worker keeps up to N idle connections to the slot (for nginx to
	// reuse them, the location must proxy with HTTP/1.1 and an empty
	// Connection header).
	Keepalive int
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
	// AccessLog is the access log that nginx writes in the bluegreen
	// format (LogFormat) for the requests it proxies to Upstream: a canary
	// (Split) counts each slot's responses there. Only a canary needs it.
	AccessLog string

	retiring retiring
	// follow reads AccessLog from the first Split until a Switch;
	// splitAddrs are the servers of each slot in the split.
	follow     *logFollower
	splitAddrs map[bluegreen.Slot][]string
}

// Switch writes an upstream file that sends new requests to addrs, checks it
// with nginx -t and reloads nginx. It returns nil once the new workers run
// and the old ones stopped accepting. nginx must be running: without a
// master Switch fails (ErrNotRunning) before it touches File. On error the
// previous file is back in place and, if nginx may have loaded the new one,
// nginx is reloaded again.
func (s *Switcher) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	content, err := renderFile(s.Upstream, s.File, slot, addrs, s.Keepalive)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	log := logger(s.Logger).With("slot", slot.String(), "file", s.File, "addrs", addrs)
	if err := replace(ctx, s.host(), s.File, content, s.ReloadTimeout, log, &s.retiring); err != nil {
		return err
	}
	// A split, if there was one, has ended.
	if s.follow != nil {
		s.follow.close()
	}
	s.follow, s.splitAddrs = nil, nil
	return nil
}

// Active reads the slot back from File: None when File does not exist, an
// error wrapping ErrUnmanaged when Switch did not write it, an error when
// File is a symbolic link to a missing file.
func (s *Switcher) Active(ctx context.Context) (bluegreen.Slot, error) {
	if s.File == "" {
		return bluegreen.None, fmt.Errorf("active: %w: File is empty", ErrInvalid)
	}
	live, err := readSnapshot(s.File)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	return activeSlot(live, s.Upstream, s.File, logger(s.Logger))
}

// Drain waits until the master has no worker left that is shutting down:
// after a reload those old workers finish the requests they hold, still
// proxying to the previous upstream. It returns ctx's error, wrapped, when
// ctx ends first.
func (s *Switcher) Drain(ctx context.Context) error {
	return drain(ctx, s.host(), logger(s.Logger), &s.retiring)
}

func (s *Switcher) host() *host {
	return &host{conf: s.Conf, prefix: s.Prefix, binary: s.Binary, pidFile: s.PIDFile}
}

// renderFile returns the content of the managed upstream file for slot.
func renderFile(name, file string, slot bluegreen.Slot, addrs []string, keepalive int) ([]byte, error) {
	if file == "" {
		return nil, fmt.Errorf("%w: File is empty", ErrInvalid)
	}
	if err := checkPath("nginx.upstream_file", file); err != nil {
		return nil, err
	}
	return render(upstream{Slot: slot, Name: name, Addrs: addrs, Keepalive: keepalive})
}

// activeSlot reads the slot from live, the managed upstream file named
// file: None when it does not exist.
func activeSlot(live snapshot, name, file string, log *slog.Logger) (bluegreen.Slot, error) {
	if !live.exists {
		return bluegreen.None, nil
	}
	data := live.data
	if !bytes.HasPrefix(data, []byte(header)) && isPlainUpstream(data, name) {
		// A hand-written upstream, as nginx needs one to start: no slot of
		// ours is live yet, and the first Switch replaces it.
		log.Info("upstream file not written by bluegreen yet; the first switch replaces it", "file", file)
		return bluegreen.None, nil
	}
	u, err := parse(data)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %s: %w", file, err)
	}
	return u.Slot, nil
}
