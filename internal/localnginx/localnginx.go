// Package localnginx runs a private nginx from its own prefix directory,
// listening on 127.0.0.1 only, with an upstream file that a deploy rewrites:
// the nginx that the tests (through internal/testutil) and the example CLI's
// demo deploy behind. It needs no root and touches no system nginx.
package localnginx

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/localhost"
)

// PlaceholderUpstream is what Start writes to the upstream file: a
// closed port, so requests answer 502 until a deploy routes the upstream.
const PlaceholderUpstream = "upstream backend { server 127.0.0.1:1; }\n"

// Server is a private nginx master running from its own prefix
// directory, listening on 127.0.0.1 only.
type Server struct {
	URL          string // "http://127.0.0.1:PORT"
	Port         int
	Prefix       string // the -p directory; holds every file below
	Conf         string // nginx.conf
	UpstreamFile string // included by Conf; defines upstream Upstream
	Upstream     string // "backend"
	Binary       string // the nginx executable
	PIDFile      string
	ErrorLog     string
	// AccessLog is where nginx logs the proxied requests in the bluegreen
	// format, which a canary reads.
	AccessLog string

	closeOnce sync.Once
	closeErr  error
}

// Start writes a configuration into dir, which becomes the prefix, and
// starts nginx on a free 127.0.0.1 port. It returns once the port accepts
// connections. The caller must Close it.
func Start(dir string) (*Server, error) {
	bin, err := Binary()
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
	// Workers must reach the temp paths; see the user directive in conf.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	n := &Server{
		Prefix:       dir,
		Conf:         filepath.Join(dir, "nginx.conf"),
		UpstreamFile: filepath.Join(dir, "upstream.conf"),
		Upstream:     "backend",
		Binary:       bin,
		PIDFile:      filepath.Join(dir, "nginx.pid"),
		ErrorLog:     filepath.Join(dir, "error.log"),
		AccessLog:    filepath.Join(dir, "bluegreen.log"),
	}
	if err := os.WriteFile(n.UpstreamFile, []byte(PlaceholderUpstream), 0o644); err != nil {
		return nil, err
	}
	// FreePort can race with another process taking the port: try again.
	for attempt := 1; ; attempt++ {
		err = n.start()
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

func (n *Server) start() error {
	port, err := localhost.FreePort()
	if err != nil {
		return err
	}
	n.Port = port
	n.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := os.WriteFile(n.Conf, []byte(n.config()), 0o644); err != nil {
		return err
	}
	// With daemon on, nginx returns once the master has bound its sockets
	// and forked away; a bad config or a taken port makes it exit non-zero.
	if out, err := n.command().CombinedOutput(); err != nil {
		return fmt.Errorf("start nginx: %w: %s", err, bytes.TrimSpace(out))
	}
	if err := localhost.WaitListening(n.Port, 10*time.Second); err != nil {
		n.kill()
		return fmt.Errorf("start nginx: %w (error log: %s)", err, n.ErrorLogTail(2048))
	}
	// The master binds the port before it forks its worker: wait for an
	// answer, which only a worker gives, so callers see the worker too.
	if err := n.waitAnswer(10 * time.Second); err != nil {
		n.kill()
		return fmt.Errorf("start nginx: %w (error log: %s)", err, n.ErrorLogTail(2048))
	}
	return nil
}

// waitAnswer waits until nginx answers an HTTP request with any status.
func (n *Server) waitAnswer(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(n.URL + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s within %s: %w", n.URL, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *Server) config() string {
	p := func(name string) string { return filepath.Join(n.Prefix, name) }
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Started by root, workers run as nobody, who cannot enter the 0700
		// parents of a t.TempDir: responses that spill to proxy_temp get
		// truncated and large request bodies fail. Workers as root can.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, `daemon on;
pid %s;
error_log %s info;
worker_processes 1;
events { worker_connections 1024; }
http {
    access_log off;
    log_format bluegreen '$upstream_addr $upstream_status $request_time';
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    include %s;
    server {
        listen 127.0.0.1:%d;
        location / {
            access_log %s bluegreen;
            proxy_pass http://%s;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, n.PIDFile, n.ErrorLog, p("client_body_temp"), p("proxy_temp"), p("fastcgi_temp"),
		p("uwsgi_temp"), p("scgi_temp"), n.UpstreamFile, n.Port, n.AccessLog, n.Upstream)
	return b.String()
}

// command is nginx with this server's prefix, config and startup error log,
// followed by args (e.g. "-s", "reload").
func (n *Server) command(args ...string) *exec.Cmd {
	base := []string{"-p", n.Prefix, "-c", n.Conf, "-e", n.ErrorLog}
	return exec.Command(n.Binary, append(base, args...)...)
}

// Reload asks the master to re-read the configuration (nginx -s reload). It
// returns once the signal is sent; new workers take over shortly after.
func (n *Server) Reload() error {
	if out, err := n.command("-s", "reload").CombinedOutput(); err != nil {
		return fmt.Errorf("reload nginx: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// Close stops nginx gracefully (nginx -s quit), waits up to 10s for the
// master to exit and kills the process group after that. It is safe to call
// more than once.
func (n *Server) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Server) close() error {
	pid, err := n.pid()
	if err != nil {
		return fmt.Errorf("stop nginx: %w", err)
	}
	if out, err := n.command("-s", "quit").CombinedOutput(); err != nil {
		n.kill()
		return fmt.Errorf("stop nginx: quit: %w: %s", err, bytes.TrimSpace(out))
	}
	if localhost.WaitExit(pid, 10*time.Second) {
		return nil
	}
	n.kill()
	return fmt.Errorf("stop nginx: master %d still running 10s after quit, killed", pid)
}

// kill ends master and workers at once: the master calls setsid when it
// daemonizes, so its pid is also its process group.
func (n *Server) kill() {
	if pid, err := n.pid(); err == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		localhost.WaitExit(pid, 2*time.Second)
	}
}

func (n *Server) pid() (int, error) {
	data, err := os.ReadFile(n.PIDFile)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(data)))
}

// ErrorLogTail returns at most max bytes from the end of the error log.
func (n *Server) ErrorLogTail(max int) string {
	return localhost.FileTail(n.ErrorLog, max)
}

// Section returns the nginx keys of an x-bluegreen section that drive this
// server, indented by four spaces to sit under "  nginx:".
func (n *Server) Section() string {
	return fmt.Sprintf("    upstream: %s\n    upstream_file: %s\n    conf: %s\n    prefix: %s\n    binary: %s\n",
		n.Upstream, n.UpstreamFile, n.Conf, n.Prefix, n.Binary)
}

// ErrMissing is returned when no nginx binary can be found.
var ErrMissing = errors.New("nginx binary not found (looked in PATH and /usr/sbin/nginx)")

// Binary returns the path of the nginx binary, or ErrMissing. PATH often
// lacks /usr/sbin, so that is tried as well.
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
		return p, nil
	}
	return "", ErrMissing
}
