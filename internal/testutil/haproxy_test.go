package testutil_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestHAProxy routes a private HAProxy to an httptest backend through its
// runtime API, sends load through it and checks that Close frees the port.
func TestHAProxy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "backend")
	}))
	defer backend.Close()

	h := testutil.HAProxy(t)
	if resp, err := http.Get(h.URL); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before routing: GET %s = %v, %v; want 503 (both servers at the placeholder, DOWN)", h.URL, resp, err)
	} else {
		resp.Body.Close()
	}
	if want := fmt.Sprintf("    socket: %s\n    backend: web\n", h.Socket); h.Section() != want {
		t.Errorf("Section() = %q, want %q", h.Section(), want)
	}

	addr := backend.Listener.Addr().(*net.TCPAddr)
	haproxyRun(t, h, fmt.Sprintf("set server web/blue addr 127.0.0.1 port %d", addr.Port))
	haproxyRun(t, h, "set server web/green state maint")
	if body, _ := pollGet(t, h.URL, 10*time.Second); body != "backend" {
		t.Fatalf("after set server addr: body %q, want backend", body)
	}

	load := testutil.Load(t, h.URL)
	time.Sleep(time.Second)
	res := load.Stop()
	t.Log(res)
	if res.Sent <= 100 || res.Failed != 0 || res.Versions["backend"] != res.Sent {
		t.Errorf("load through haproxy: %v; want more than 100 sent, none failed, all from backend", res)
	}

	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(h.Port), time.Second); err == nil {
		conn.Close()
		t.Errorf("port %d still accepts connections after Close", h.Port)
	}
}

// TestHAProxyReloadKeepsServerStates checks the recipe the docs give for
// keeping runtime changes across a reload: save "show servers state" to
// the server-state-file before the reload, and load it. Without it, a
// reload brings back the states and addresses of the config.
func TestHAProxyReloadKeepsServerStates(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("state file %v", keep), func(t *testing.T) {
			var opts testutil.HAProxyOptions
			stateFile := filepath.Join(t.TempDir(), "server-state")
			if keep {
				opts.Global = []string{"server-state-file " + stateFile}
				opts.Defaults = []string{"load-server-state-from-file global"}
			}
			h := testutil.HAProxyWith(t, opts)
			haproxyRun(t, h, "set server web/green addr 127.0.0.1 port 8080")
			haproxyRun(t, h, "set server web/blue state maint")
			if keep {
				saveHAProxyState(t, h, stateFile)
			}
			if err := h.Reload(); err != nil {
				t.Fatal(err)
			}
			blue, green := haproxyServerLine(t, h, "blue"), haproxyServerLine(t, h, "green")
			t.Logf("after the reload:\n%s\n%s", blue, green)
			// Fields: be_id be_name srv_id srv_name srv_addr srv_op_state
			// srv_admin_state ... srv_port (the 19th).
			blueAdmin, greenPort := strings.Fields(blue)[6], strings.Fields(green)[18]
			if keep && (blueAdmin != "1" || greenPort != "8080") {
				t.Errorf("with the state file: blue admin state %s, green port %s; want 1 (maint) and 8080", blueAdmin, greenPort)
			}
			if !keep && (blueAdmin != "0" || greenPort != "1") {
				t.Errorf("without a state file: blue admin state %s, green port %s; want the config's: 0 and 1", blueAdmin, greenPort)
			}
		})
	}
}

func haproxyRun(t *testing.T, h *testutil.HAProxyServer, cmd string) string {
	t.Helper()
	out, err := h.Run(cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

// saveHAProxyState writes the server-state-file as the docs say to before a
// reload: echo "show servers state" | socat stdio SOCKET > FILE.
func saveHAProxyState(t *testing.T, h *testutil.HAProxyServer, file string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(haproxyRun(t, h, "show servers state")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func haproxyServerLine(t *testing.T, h *testutil.HAProxyServer, name string) string {
	t.Helper()
	for _, line := range strings.Split(haproxyRun(t, h, "show servers state web"), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[3] == name {
			return line
		}
	}
	t.Fatalf("no server %s in show servers state", name)
	return ""
}
