package testutil_test

import (
	"fmt"
	"io"
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

// TestCaddy routes a private Caddy to an httptest backend through its admin
// API, sends load through it and checks that Close frees both ports.
func TestCaddy(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "backend")
	}))
	defer backend.Close()

	c := testutil.Caddy(t)
	if resp, err := http.Get(c.URL); err != nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("before routing: GET %s = %v, %v; want 502 from the placeholder upstream", c.URL, resp, err)
	} else {
		resp.Body.Close()
	}
	if got, want := c.Section(), "    admin: "+c.Admin+"\n    id: web\n"; got != want {
		t.Errorf("Section() = %q, want %q", got, want)
	}

	body := fmt.Sprintf(`[{"dial": %q}]`, backend.Listener.Addr().String())
	req, err := http.NewRequest(http.MethodPatch, c.Admin+"/id/"+c.ID+"/upstreams", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH upstreams: %s: %s", resp.Status, msg)
	}

	load := testutil.Load(t, c.URL)
	time.Sleep(time.Second)
	res := load.Stop()
	t.Log(res)
	if res.Sent <= 100 || res.Failed != 0 || res.Versions["backend"] != res.Sent {
		t.Errorf("load through caddy: %v; want more than 100 sent, none failed, all from backend", res)
	}

	// Caddy keeps its state inside the test's directory.
	for _, sub := range []string{"data", "config", "home"} {
		if _, err := os.Stat(filepath.Join(c.Dir, sub)); err != nil {
			t.Error(err)
		}
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	admin := strings.TrimPrefix(c.Admin, "http://")
	for _, addr := range []string{"127.0.0.1:" + strconv.Itoa(c.Port), admin} {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Close", addr)
		}
	}
}
