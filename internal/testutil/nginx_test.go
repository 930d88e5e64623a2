package testutil_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// TestNginx routes a private nginx to an httptest backend, sends load
// through it and checks that Close frees the port.
func TestNginx(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "backend")
	}))
	defer backend.Close()

	n := testutil.Nginx(t)
	if resp, err := http.Get(n.URL); err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("before routing: GET %s = %v, %v; want 502 from the placeholder upstream", n.URL, resp, err)
	} else {
		resp.Body.Close()
	}

	route(t, n, backend.Listener.Addr().String())
	if body, _ := pollGet(t, n.URL, 10*time.Second); body != "backend" {
		t.Fatalf("after reload: body %q, want backend", body)
	}

	load := testutil.Load(t, n.URL)
	time.Sleep(time.Second)
	res := load.Stop()
	t.Log(res)
	if res.Sent <= 100 || res.Failed != 0 || res.Versions["backend"] != res.Sent {
		t.Errorf("load through nginx: %v; want more than 100 sent, none failed, all from backend", res)
	}

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(n.Port), time.Second); err == nil {
		conn.Close()
		t.Errorf("port %d still accepts connections after Close", n.Port)
	}
}

// TestNginxBuffersToTemp makes nginx spill a response and a request body to
// its temp paths: the workers must be able to write there although the
// parents of t.TempDir are 0700.
func TestNginxBuffersToTemp(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Request-Bytes", strconv.FormatInt(got, 10))
		w.Write(big)
	}))
	defer backend.Close()
	n := testutil.Nginx(t)
	route(t, n, backend.Listener.Addr().String())
	pollGet(t, n.URL, 10*time.Second)

	// Above client_body_buffer_size (16k), below client_max_body_size (1m).
	upload := big[:512<<10]
	resp, err := http.Post(n.URL, "application/octet-stream", bytes.NewReader(upload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(300 * time.Millisecond) // the backend is faster than us: nginx buffers to proxy_temp
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(body) != len(big) || resp.Header.Get("X-Request-Bytes") != strconv.Itoa(len(upload)) {
		t.Errorf("status %d, got %d of %d response bytes, backend got %s request bytes", resp.StatusCode, len(body), len(big), resp.Header.Get("X-Request-Bytes"))
	}
	if log := n.ErrorLogTail(1 << 16); strings.Contains(log, "[crit]") {
		t.Errorf("error log has critical errors:\n%s", log)
	}
}

// route points the upstream at addr and reloads nginx.
func route(t *testing.T, n *testutil.NginxServer, addr string) {
	t.Helper()
	// The Switcher confirms the reload (new workers run) and its drain
	// waits for the old ones, which would still answer 502 from the
	// placeholder upstream for about 100ms.
	sw := &nginxconf.Switcher{Upstream: n.Upstream, File: n.UpstreamFile, Conf: n.Conf, Prefix: n.Prefix, Binary: n.Binary}
	if err := sw.Switch(t.Context(), bluegreen.Blue, []string{addr}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
}
