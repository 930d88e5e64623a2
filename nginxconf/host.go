package nginxconf

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// host is an nginx master on this machine, in the same PID namespace: found
// through its pid file, driven through its binary, its workers read from
// /proc. Switcher and SlotFiles switch through it.
type host struct {
	conf, prefix, binary, pidFile string
	master                        int // found by the first call of workers
}

var _ target = (*host)(nil)

func (h *host) String() string {
	if h.master == 0 {
		return "nginx master"
	}
	return "nginx master " + strconv.Itoa(h.master)
}

func (h *host) workers(ctx context.Context) ([]process, error) {
	if h.master == 0 {
		pid, err := h.masterPID(ctx)
		if err != nil {
			return nil, err
		}
		h.master = pid
	}
	return children(h.master)
}

func (h *host) nginx(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, h.bin(), nginxArgs(h.prefix, h.conf, args...)...).CombinedOutput()
}

// signalReload sends SIGHUP to the master, which is what nginx -s reload
// does after it has parsed the whole configuration to find the pid file:
// the master is known already (workers found it), so that parse, 10-30 ms
// under load, is saved. nginx -t has checked the configuration before.
func (h *host) signalReload(context.Context) error {
	if h.master == 0 {
		return fmt.Errorf("reload: %w", ErrNotRunning)
	}
	if err := syscall.Kill(h.master, syscall.SIGHUP); err != nil {
		return fmt.Errorf("SIGHUP to %s (as nginx -s reload): %w", h, err)
	}
	return nil
}

func (h *host) bin() string {
	if h.binary != "" {
		return h.binary
	}
	if _, err := exec.LookPath(DefaultBinary); err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			return "/usr/sbin/nginx"
		}
	}
	return DefaultBinary
}

func (h *host) read(_ context.Context, file string) (snapshot, error) {
	return readSnapshot(file)
}

func (h *host) write(_ context.Context, file string, data []byte, prev snapshot) error {
	return writeFile(file, data, prev.perm)
}

func (h *host) restore(_ context.Context, file string, prev snapshot) error {
	return prev.restore(file)
}
