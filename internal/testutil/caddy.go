package testutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/localhost"
)

// ErrCaddyMissing is returned when no caddy binary can be found.
var ErrCaddyMissing = errors.New("caddy binary not found (looked in PATH and /usr/bin/caddy)")

// CaddyPlaceholderUpstream is the upstream StartCaddy routes to: a closed
// port, so requests answer 502 until a switch routes the handler.
const CaddyPlaceholderUpstream = "127.0.0.1:1"

// CaddyServer is a private Caddy run in the foreground (caddy run) from its
// own JSON config, with its admin API and its one HTTP server on 127.0.0.1.
// The server proxies every request through one reverse_proxy handler whose
// "@id" is ID.
type CaddyServer struct {
	URL     string // "http://127.0.0.1:PORT": the HTTP server
	Port    int
	Admin   string // "http://127.0.0.1:PORT": the admin API
	ID      string // "web": the "@id" of the reverse_proxy handler
	Dir     string // holds the config, the log and Caddy's data directories
	Config  string // the JSON config file passed to caddy run
	LogFile string // Caddy's stdout and stderr
	Binary  string

	cmd       *exec.Cmd
	exited    chan struct{} // closed when the process has exited
	closeOnce sync.Once
	closeErr  error
}

// CaddyBinary returns the path of the caddy binary, or ErrCaddyMissing.
func CaddyBinary() (string, error) {
	for _, name := range []string{"caddy", "/usr/bin/caddy"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrCaddyMissing
}

// RequireCaddy skips the test when caddy is not installed, or fails it when
// CI=true.
func RequireCaddy(t testing.TB) {
	t.Helper()
	if _, err := CaddyBinary(); err != nil {
		SkipOrFail(t, err)
	}
}

// StartCaddy writes a config into dir and runs caddy on two free 127.0.0.1
// ports, with XDG_DATA_HOME, XDG_CONFIG_HOME and HOME inside dir so that it
// writes nothing elsewhere. It returns once the admin API answers and the
// HTTP port accepts connections. The caller must Close it.
func StartCaddy(dir string) (*CaddyServer, error) {
	bin, err := CaddyBinary()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "config", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	c := &CaddyServer{
		ID:      "web",
		Dir:     dir,
		Config:  filepath.Join(dir, "caddy.json"),
		LogFile: filepath.Join(dir, "caddy.log"),
		Binary:  bin,
	}
	// FreePorts can race with another process taking a port: try again.
	for attempt := 1; ; attempt++ {
		err = c.start()
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CaddyServer) start() error {
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	c.Port = ports[0]
	c.URL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	c.Admin = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	config, err := json.MarshalIndent(c.config(ports[0], ports[1]), "", "\t")
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.Config, config, 0o644); err != nil {
		return err
	}
	log, err := os.Create(c.LogFile)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(c.Binary, "run", "--config", c.Config)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(),
		"XDG_DATA_HOME="+filepath.Join(c.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(c.Dir, "config"),
		"HOME="+filepath.Join(c.Dir, "home"),
	)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start caddy: %w", err)
	}
	c.cmd, c.exited = cmd, make(chan struct{})
	go func() {
		cmd.Wait()
		close(c.exited)
	}()
	if err := c.waitReady(10 * time.Second); err != nil {
		c.kill()
		return fmt.Errorf("start caddy: %w (log: %s)", err, c.LogTail(2048))
	}
	return nil
}

// config is Caddy's JSON config: the admin API, and one server whose every
// request goes to the reverse_proxy handler c.ID.
func (c *CaddyServer) config(port, adminPort int) map[string]any {
	return map[string]any{
		"admin": map[string]any{
			"listen": fmt.Sprintf("127.0.0.1:%d", adminPort),
			// No autosave: a test instance is never resumed.
			"config": map[string]any{"persist": false},
		},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"srv": map[string]any{
			"listen":          []string{fmt.Sprintf("127.0.0.1:%d", port)},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"@id":       c.ID,
				"handler":   "reverse_proxy",
				"upstreams": []any{map[string]any{"dial": CaddyPlaceholderUpstream}},
			}}}},
		}}}},
	}
}

// waitReady waits until the admin API answers GET /config/ and the HTTP port
// accepts connections, or the process exits.
func (c *CaddyServer) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("caddy exited: %v", c.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(c.Admin + "/config/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return localhost.WaitListening(c.Port, time.Until(deadline))
			}
			err = fmt.Errorf("GET /config/: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("admin API %s does not answer after %v: %w", c.Admin, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Close stops Caddy (SIGTERM, which it takes as a graceful stop), waits up
// to 10s for it to exit and kills it after that. It is safe to call more
// than once.
func (c *CaddyServer) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *CaddyServer) close() error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		c.kill()
		return fmt.Errorf("stop caddy: %w", err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(10 * time.Second):
		c.kill()
		return fmt.Errorf("stop caddy: pid %d still running 10s after SIGTERM, killed", c.cmd.Process.Pid)
	}
}

func (c *CaddyServer) kill() {
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
	}
}

// LogTail returns at most max bytes from the end of Caddy's log.
func (c *CaddyServer) LogTail(max int) string {
	return localhost.FileTail(c.LogFile, max)
}

// Section returns the caddy keys of an x-bluegreen section that drive this
// server, indented by four spaces to sit under "  caddy:".
func (c *CaddyServer) Section() string {
	return fmt.Sprintf("    admin: %s\n    id: %s\n", c.Admin, c.ID)
}

// Caddy starts a private Caddy in a t.TempDir and stops it in t.Cleanup. When
// the test failed, the cleanup logs the end of Caddy's log. It skips like
// RequireCaddy when caddy is not installed (and fails when CI=true).
//
// It first sets net.ipv4.tcp_migrate_req to 1 for the test, as the caddy
// package's Warnings asks of a host that runs Caddy (Caddy binds a new
// listening socket at each switch, and without the setting the kernel resets
// the connections queued on the old one: TestCaddySwitchNewConnections
// measures both). Where it cannot (not root, or a kernel before 5.14) it
// fails the test under CI=true, and otherwise logs it and goes on.
func Caddy(t testing.TB) *CaddyServer {
	t.Helper()
	RequireCaddy(t)
	if err := setMigrateReq(t, "1"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testutil.Caddy: CI=true: %v", err)
		}
		t.Logf("testutil.Caddy: %v; switches may reset new connections", err)
	}
	c, err := StartCaddy(t.TempDir())
	if err != nil {
		t.Fatalf("testutil.Caddy: %v", err)
	}
	stopOnCleanup(t, "testutil.Caddy", func() string {
		return fmt.Sprintf("caddy log (%s), last lines:\n%s", c.LogFile, c.LogTail(4096))
	}, c.Close)
	return c
}

// migrateReqPath is where Linux keeps net.ipv4.tcp_migrate_req.
const migrateReqPath = "/proc/sys/net/ipv4/tcp_migrate_req"

// SetMigrateReq sets net.ipv4.tcp_migrate_req to value ("0" or "1") for the
// rest of the test, and sets back what it was in t.Cleanup. It fails the
// test when the setting cannot be made.
func SetMigrateReq(t testing.TB, value string) {
	t.Helper()
	if err := setMigrateReq(t, value); err != nil {
		t.Fatal(err)
	}
}

func setMigrateReq(t testing.TB, value string) error {
	b, err := os.ReadFile(migrateReqPath)
	if err != nil {
		return fmt.Errorf("net.ipv4.tcp_migrate_req: %w", err)
	}
	was := strings.TrimSpace(string(b))
	if was == value {
		return nil
	}
	if err := os.WriteFile(migrateReqPath, []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("setting net.ipv4.tcp_migrate_req to %s: %w", value, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(migrateReqPath, []byte(was+"\n"), 0o644); err != nil {
			t.Errorf("setting net.ipv4.tcp_migrate_req back to %s: %v", was, err)
		}
	})
	return nil
}
