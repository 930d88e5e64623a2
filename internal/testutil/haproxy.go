package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/localhost"
)

// ErrHAProxyMissing is returned when no haproxy binary can be found.
var ErrHAProxyMissing = errors.New("haproxy binary not found (looked in PATH and /usr/sbin/haproxy)")

// PlaceholderServer is the address StartHAProxy gives the servers of its
// default backend: a closed port, so their health checks fail and requests
// answer 503 until a switch sets their addresses.
const PlaceholderServer = "127.0.0.1:1"

// HAProxyBinary returns the path of the haproxy binary, or
// ErrHAProxyMissing. PATH often lacks /usr/sbin, so that is tried as well.
func HAProxyBinary() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/sbin/haproxy"); err == nil {
		return p, nil
	}
	return "", ErrHAProxyMissing
}

// RequireHAProxy skips the test when haproxy is not installed, or fails it
// when CI=true.
func RequireHAProxy(t testing.TB) {
	t.Helper()
	if _, err := HAProxyBinary(); err != nil {
		SkipOrFail(t, err)
	}
}

// HAProxyOptions configures a private HAProxy. The zero value is usable.
type HAProxyOptions struct {
	// Servers are the lines of the backend after its "default-server check
	// inter 100ms" line. Nil means one server per slot, as a user declares
	// them before the first deploy: "server blue 127.0.0.1:1" and "server
	// green 127.0.0.1:1" (PlaceholderServer), both enabled.
	Servers []string
	// Global are extra lines of the global section, such as another
	// "stats socket" or a "server-state-file".
	Global []string
	// Defaults are extra lines of the defaults section, such as
	// "load-server-state-from-file global".
	Defaults []string
}

// HAProxyServer is a private HAProxy run in the foreground (-db) from its
// own directory, listening on 127.0.0.1 only, with its runtime API on a
// unix socket at level admin.
type HAProxyServer struct {
	URL     string // "http://127.0.0.1:PORT": the frontend
	Port    int
	Socket  string // the admin socket: "stats socket ... level admin"
	Backend string // "web", the frontend's default backend
	Dir     string // holds the config and the socket
	Conf    string // haproxy.cfg
	Binary  string

	mu        sync.Mutex
	cmd       *exec.Cmd
	done      chan struct{}  // closed when cmd has exited
	output    *haproxyOutput // haproxy's stdout and stderr, of every run
	closeOnce sync.Once
	closeErr  error
}

// StartHAProxy writes a configuration into dir and starts haproxy on a free
// 127.0.0.1 port. It returns once the frontend accepts connections and the
// runtime API answers. The caller must Close it.
//
// The configuration has no chroot, user or daemon line, so that it runs
// as whoever starts it (root included) without leaving the test's
// directory; http timeouts of a few seconds (connect 2s, client and server
// 30s, so that a test can hold a request or a stream open); retries 3 with
// "option redispatch"; and health checks on every server of the backend
// (TCP connect every 100ms, HAProxy's default rise 2 and fall 3), so that a
// server whose slot stopped goes DOWN within about 300ms, as a user's
// "check" does.
func StartHAProxy(dir string, opts HAProxyOptions) (*HAProxyServer, error) {
	bin, err := HAProxyBinary()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	h := &HAProxyServer{
		Socket:  filepath.Join(dir, "admin.sock"),
		Backend: "web",
		Dir:     dir,
		Conf:    filepath.Join(dir, "haproxy.cfg"),
		Binary:  bin,
		output:  &haproxyOutput{},
	}
	// FreePort can race with another process taking the port: try again.
	for attempt := 1; ; attempt++ {
		err = h.start(opts)
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "cannot bind socket") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

func (h *HAProxyServer) start(opts HAProxyOptions) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	h.Port = port
	h.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := os.WriteFile(h.Conf, []byte(h.config(opts)), 0o644); err != nil {
		return err
	}
	return h.run()
}

// run starts haproxy with h's config and extra arguments, and waits until
// it serves.
func (h *HAProxyServer) run(args ...string) error {
	cmd := exec.Command(h.Binary, append([]string{"-f", h.Conf, "-db"}, args...)...)
	cmd.Stdout, cmd.Stderr = h.output, h.output
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start haproxy: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	if err := h.waitServing(done, 10*time.Second); err != nil {
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("start haproxy: %w; output:\n%s", err, h.Output())
	}
	h.mu.Lock()
	h.cmd, h.done = cmd, done
	h.mu.Unlock()
	return nil
}

func (h *HAProxyServer) config(opts HAProxyOptions) string {
	servers := opts.Servers
	if servers == nil {
		servers = []string{"server blue " + PlaceholderServer, "server green " + PlaceholderServer}
	}
	indent := func(lines []string) string {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString("    " + l + "\n")
		}
		return b.String()
	}
	return fmt.Sprintf(`global
    stats socket %s mode 600 level admin
    stats timeout 30s
%sdefaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    retries 3
    option redispatch
%sfrontend fe
    bind 127.0.0.1:%d
    default_backend %s
backend %s
    default-server check inter 100ms
%s`, h.Socket, indent(opts.Global), indent(opts.Defaults), h.Port, h.Backend, h.Backend, indent(servers))
}

// waitServing waits until the frontend accepts connections and the
// runtime API answers, or haproxy exits.
func (h *HAProxyServer) waitServing(exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return errors.New("haproxy exited")
		default:
		}
		err := localhost.WaitListening(h.Port, 0)
		if err == nil {
			_, err = h.Run("show info")
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not serving after %v: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Run sends one command to the runtime API and returns HAProxy's answer,
// for a test to look at HAProxy without the Switcher under test.
func (h *HAProxyServer) Run(command string) (string, error) {
	conn, err := net.DialTimeout("unix", h.Socket, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, command+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(conn)
	return strings.TrimRight(string(out), "\n"), err
}

// Reload starts a new haproxy with the same config, which takes over the
// listening sockets from the running one (-sf: the old process finishes the
// connections it holds, then exits), as a service manager's reload does.
// Runtime changes are lost unless the config loads them from a
// server-state-file.
func (h *HAProxyServer) Reload() error {
	h.mu.Lock()
	old, oldDone := h.cmd, h.done
	h.mu.Unlock()
	if err := h.run("-sf", strconv.Itoa(old.Process.Pid)); err != nil {
		return err
	}
	select {
	case <-oldDone:
		return nil
	case <-time.After(10 * time.Second):
		old.Process.Kill()
		<-oldDone
		return errors.New("reload haproxy: the old process still ran 10s after the new one started, killed")
	}
}

// Output returns what haproxy printed (its warnings and alerts).
func (h *HAProxyServer) Output() string { return h.output.String() }

// Close stops haproxy (SIGTERM), waits up to 5s for it to exit and kills it
// after that. It is safe to call more than once.
func (h *HAProxyServer) Close() error {
	h.closeOnce.Do(func() { h.closeErr = h.close() })
	return h.closeErr
}

func (h *HAProxyServer) close() error {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("stop haproxy: pid %d still running 5s after SIGTERM, killed", cmd.Process.Pid)
	}
}

// Section returns the haproxy keys of an x-bluegreen section that drive
// this server, indented by four spaces to sit under "  haproxy:".
func (h *HAProxyServer) Section() string {
	return fmt.Sprintf("    socket: %s\n    backend: %s\n", h.Socket, h.Backend)
}

// HAProxy starts a private HAProxy in a t.TempDir with the default
// backend (see HAProxyOptions) and stops it in t.Cleanup. It skips like
// RequireHAProxy when haproxy is not installed.
func HAProxy(t testing.TB) *HAProxyServer {
	t.Helper()
	return HAProxyWith(t, HAProxyOptions{})
}

// HAProxyWith is HAProxy with options. When the test failed, the cleanup
// logs haproxy's output.
func HAProxyWith(t testing.TB, opts HAProxyOptions) *HAProxyServer {
	t.Helper()
	RequireHAProxy(t)
	h, err := StartHAProxy(t.TempDir(), opts)
	if err != nil {
		t.Fatalf("testutil.HAProxy: %v", err)
	}
	stopOnCleanup(t, "testutil.HAProxy", func() string {
		return "haproxy output:\n" + haproxyTail(h.Output(), 4096)
	}, h.Close)
	return h
}

// haproxyOutput is a bytes.Buffer that two processes' output may share.
type haproxyOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *haproxyOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *haproxyOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// haproxyTail returns at most max bytes from the end of s, from a line start.
func haproxyTail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
