package caddy

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// backend is an HTTP server on 127.0.0.1 that answers its name on /, and
// misbehaves on request: /slow answers after slowFor, /stream sends a line
// every 100ms for streamFor, /upgrade switches to a line echo protocol.
type backend struct {
	name string
	srv  *httptest.Server

	slowStarted  chan struct{} // receives when a /slow request arrives
	slowFinished atomic.Int32
	streamEnd    chan string // how each /stream ended: "complete" or "cancelled after N lines"
	upgradeEnd   chan string // how each /upgrade ended: the read error
}

const (
	slowFor   = 3 * time.Second
	streamFor = 5 * time.Second
)

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name, slowStarted: make(chan struct{}, 16), streamEnd: make(chan string, 16), upgradeEnd: make(chan string, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, name) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		b.slowStarted <- struct{}{}
		time.Sleep(slowFor)
		fmt.Fprintln(w, name)
		b.slowFinished.Add(1)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		n := int(streamFor / (100 * time.Millisecond))
		for i := range n {
			fmt.Fprintf(w, "data: %s %d\n\n", name, i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				b.streamEnd <- fmt.Sprintf("cancelled after %d lines", i+1)
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		b.streamEnd <- "complete"
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		rw.Flush()
		for {
			line, err := rw.ReadString('\n')
			if err != nil {
				b.upgradeEnd <- fmt.Sprint(err)
				return
			}
			rw.WriteString(name + " " + line)
			rw.Flush()
		}
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// get sends one GET without keep-alive and returns the trimmed body.
func get(url string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return strings.TrimSpace(string(body)), nil
}

// switcher returns a Switcher of the private Caddy c.
func switcher(t *testing.T, c *testutil.CaddyServer) *Switcher {
	return &Switcher{Admin: c.Admin, ID: c.ID, Logger: testLogger(t)}
}

// routedToBlue starts a blue and a green backend and returns a quiet
// switcher of c that routes to blue, with the two backends' addresses.
func routedToBlue(t *testing.T, c *testutil.CaddyServer) (*Switcher, map[bluegreen.Slot]string) {
	t.Helper()
	addrs := map[bluegreen.Slot]string{bluegreen.Blue: newBackend(t, "blue").addr(), bluegreen.Green: newBackend(t, "green").addr()}
	sw := switcher(t, c)
	sw.Logger = nil
	mustSwitch(t, sw, bluegreen.Blue, addrs[bluegreen.Blue])
	return sw, addrs
}

func mustSwitch(t *testing.T, sw *Switcher, slot bluegreen.Slot, addrs ...string) {
	t.Helper()
	if err := sw.Switch(t.Context(), slot, addrs); err != nil {
		t.Fatalf("Switch(%s, %v): %v", slot, addrs, err)
	}
}

// pool reads Caddy's upstream pool.
func pool(t *testing.T, sw *Switcher) []upstreamStatus {
	t.Helper()
	a, err := sw.admin()
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.pool(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// adminDo sends one request to the admin API of c and fails the test on an
// answer that is not 2xx.
func adminDo(t *testing.T, c *testutil.CaddyServer, method, path, body string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.Admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	return string(data)
}

// echoConn is an upgraded connection to a backend's /upgrade, through
// Caddy.
type echoConn struct {
	r *bufio.Reader
	w io.Writer
}

// roundTrip sends a line and reads the echo.
func (e *echoConn) roundTrip(line string) (string, error) {
	if _, err := io.WriteString(e.w, line+"\n"); err != nil {
		return "", err
	}
	got, err := e.r.ReadString('\n')
	return strings.TrimSpace(got), err
}

// openUpgrade opens an upgraded connection through Caddy at url to
// /upgrade, with host as the Host header when set.
func openUpgrade(t *testing.T, url, host string) *echoConn {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/upgrade", nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		t.Fatalf("GET /upgrade: %s, want 101", resp.Status)
	}
	rwc := resp.Body.(io.ReadWriteCloser)
	t.Cleanup(func() { rwc.Close() })
	return &echoConn{r: bufio.NewReader(rwc), w: rwc}
}
