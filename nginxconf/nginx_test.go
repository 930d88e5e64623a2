package nginxconf

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// testNginx is a private nginx master, started for one test.
type testNginx struct {
	bin    string
	prefix string
	conf   string
	file   string // the upstream file, included by conf
	url    string // http://127.0.0.1:port
}

// mainConf is the private nginx's config. The upstream "taken" exists so
// that a Switcher writing an upstream of that name makes nginx -t fail
// without any DNS lookup. extra-*.conf lets a test use a managed file that
// does not exist yet.
const mainConf = `daemon on;
worker_processes 2;
pid %[1]s/nginx.pid;
lock_file %[1]s/nginx.lock;
error_log %[1]s/error.log info;
events { worker_connections 64; }
http {
    log_format bluegreen '$upstream_addr $upstream_status $request_time';
    access_log %[1]s/bluegreen.log bluegreen;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream taken { server 127.0.0.1:9; }
    include %[1]s/upstream.conf;
    include %[1]s/extra-*.conf;
    server {
        listen 127.0.0.1:%[2]d;
        location / { proxy_pass http://backend; }
    }
}
`

// nginxBinary returns the nginx to test with: testutil.RequireNginx skips
// the test without one, or fails it when CI=true.
func nginxBinary(t *testing.T) string {
	t.Helper()
	testutil.RequireNginx(t)
	bin, err := testutil.NginxBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// startNginx starts a private nginx whose upstream "backend" goes to addr as
// the blue slot, and stops it when the test ends.
func startNginx(t *testing.T, addr string) *testNginx {
	t.Helper()
	bin := nginxBinary(t)
	// Not t.TempDir: its parent is 0700, and the workers run as nobody.
	prefix, err := os.MkdirTemp("", "nginxconf-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	if err := os.Chmod(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	n := &testNginx{
		bin:    bin,
		prefix: prefix,
		conf:   filepath.Join(prefix, "nginx.conf"),
		file:   filepath.Join(prefix, "upstream.conf"),
	}
	data, err := render(upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	n.url = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := os.WriteFile(n.conf, fmt.Appendf(nil, mainConf, prefix, port), 0o644); err != nil {
		t.Fatal(err)
	}

	// A file, not a pipe: the daemon must not hold our output open.
	out, err := os.Create(filepath.Join(prefix, "start.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-p", prefix, "-c", n.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		t.Fatalf("start nginx: %v: %s", err, msg)
	}
	t.Cleanup(func() { n.stop(t) })
	waitFor(t, 5*time.Second, "nginx answers", func() bool {
		_, err := get(n.url)
		return err == nil
	})
	return n
}

// switcher returns a Switcher for this nginx that finds the master through
// the pid directive of its config.
func (n *testNginx) switcher(t *testing.T) *Switcher {
	return &Switcher{
		Upstream:      "backend",
		File:          n.file,
		Conf:          n.conf,
		Prefix:        n.prefix,
		Binary:        n.bin,
		Logger:        testLogger(t),
		ReloadTimeout: 5 * time.Second,
	}
}

func (n *testNginx) master(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(n.prefix, "nginx.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// workers returns the PIDs of the master's children, sorted by /proc.
func (n *testNginx) workers(t *testing.T) []int {
	t.Helper()
	kids, err := children(n.master(t))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, p := range kids {
		pids = append(pids, p.pid)
	}
	return pids
}

// settledWorkers is workers once the master has finished its last reload:
// Switch returns at the first worker of the new generation, and the master
// may still fork the others, and the old ones keep running for nginx's
// 100 ms (reloadWindow) before they are told to exit.
func (n *testNginx) settledWorkers(t *testing.T) []int {
	t.Helper()
	prev := n.workers(t)
	for range 20 {
		time.Sleep(2 * reloadWindow)
		now := n.workers(t)
		if slices.Equal(prev, now) {
			return now
		}
		prev = now
	}
	t.Fatalf("the workers of nginx did not settle in 5s: %v", prev)
	return nil
}

// stop ends the master quickly (SIGTERM), and kills it and its workers if
// they linger.
func (n *testNginx) stop(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(n.prefix, "nginx.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 || !alive(pid) {
		return
	}
	kids, _ := children(pid)
	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("nginx master %d still runs 5s after SIGTERM; killing it", pid)
		syscall.Kill(pid, syscall.SIGKILL)
		for _, k := range kids {
			syscall.Kill(k.pid, syscall.SIGKILL)
		}
	}
	if t.Failed() {
		if log, err := os.ReadFile(filepath.Join(n.prefix, "error.log")); err == nil {
			t.Logf("nginx error.log:\n%s", log)
		}
	}
}

// backend is an upstream server on 127.0.0.1 that answers with its name.
// GET /slow holds the request for the given time first.
type backend struct {
	*httptest.Server
	name     string
	started  chan struct{} // gets a value when a /slow request arrives
	finished atomic.Int32  // /slow requests answered
}

func newBackend(t *testing.T, name string, slow time.Duration) *backend {
	t.Helper()
	b := &backend{name: name, started: make(chan struct{}, 16)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			b.started <- struct{}{}
			time.Sleep(slow)
			io.WriteString(w, name)
			b.finished.Add(1)
			return
		}
		io.WriteString(w, name)
	}))
	b.Listener.Close()
	b.Listener = ln
	b.Start()
	t.Cleanup(b.Close)
	return b
}

// addr returns the backend's 127.0.0.1:port.
func (b *backend) addr() string { return b.Listener.Addr().String() }

var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// get fetches url (always on 127.0.0.1) and returns the body of a 200.
func get(url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return string(body), nil
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s", what, timeout)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// drained waits for the old workers to exit: until then, for about 100 ms
// after a reload, they may still accept connections for the previous
// upstream.
func drained(t *testing.T, d bluegreen.Drainer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := d.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}
