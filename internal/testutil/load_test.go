package testutil_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func TestLoadCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	defer srv.Close()

	load := testutil.Load(t, srv.URL)
	time.Sleep(200 * time.Millisecond)
	res := load.Stop()
	if res.Sent == 0 || res.Failed != res.Sent || res.Failures["status 500"] != res.Sent || len(res.Versions) != 0 {
		t.Errorf("against a server answering 500: %v; want every request failed with status 500", res)
	}
	if again := load.Stop(); again.Sent != res.Sent || again.Duration != res.Duration {
		t.Errorf("second Stop = %v, want the same as the first %v", again, res)
	}
}

func TestLoadCountsTransportErrors(t *testing.T) {
	port, err := testutil.FreePort() // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	load := testutil.LoadWith(t, "http://127.0.0.1:"+strconv.Itoa(port), testutil.LoadOptions{Workers: 2})
	time.Sleep(100 * time.Millisecond)
	res := load.Stop()
	if res.Sent == 0 || res.Failures["dial: connect: connection refused"] != res.Sent {
		t.Errorf("against a closed port: %v; want every request refused", res)
	}
}

func TestLoadCountsVersions(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Requests of one connection alternate between two versions.
		fmt.Fprintf(w, " v%d\n", n.Add(1)%2)
	}))
	defer srv.Close()

	load := testutil.LoadWith(t, srv.URL, testutil.LoadOptions{Workers: 1})
	time.Sleep(100 * time.Millisecond)
	snap := load.Snapshot()
	res := load.Stop()
	if res.Sent < snap.Sent || res.Duration < snap.Duration {
		t.Errorf("Stop %v is behind the earlier Snapshot %v", res, snap)
	}
	if res.Failed != 0 || res.Versions["v0"]+res.Versions["v1"] != res.Sent || res.Versions["v0"] == 0 || res.Versions["v1"] == 0 {
		t.Errorf("load: %v; want only v0 and v1, both seen", res)
	}
}

// TestLoadStopDoesNotCountCutRequests: requests in flight when Stop is
// called are neither sent nor failed.
func TestLoadStopDoesNotCountCutRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()

	load := testutil.Load(t, srv.URL)
	time.Sleep(100 * time.Millisecond)
	if res := load.Stop(); res.Sent != 0 || res.Failed != 0 {
		t.Errorf("Stop with only slow requests in flight: %v; want nothing counted", res)
	}
}

func TestLoadStopsByItself(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	load := testutil.LoadWith(t, srv.URL, testutil.LoadOptions{MaxDuration: 100 * time.Millisecond})
	time.Sleep(300 * time.Millisecond)
	first := load.Snapshot()
	time.Sleep(100 * time.Millisecond)
	if second := load.Snapshot(); second.Sent != first.Sent || first.Duration >= 300*time.Millisecond {
		t.Errorf("after MaxDuration: %v then %v; want stopped after about 100ms", first, second)
	}
}

// TestLoadNewConnections: with NewConnections each request comes on a
// connection of its own; without, the workers keep theirs.
func TestLoadNewConnections(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		var conns atomic.Int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "v1")
		}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		load := testutil.LoadWith(t, srv.URL, testutil.LoadOptions{Workers: 2, NewConnections: fresh})
		time.Sleep(100 * time.Millisecond)
		res := load.Stop()
		srv.Close()
		switch {
		case res.Failed != 0 || res.Sent < 10:
			t.Errorf("NewConnections %v: %v; want some requests, none failed", fresh, res)
		case fresh && (conns.Load() < res.Sent || conns.Load() > res.Sent+2):
			// Stop does not count the requests it cuts: one per worker at most.
			t.Errorf("NewConnections: %d connections for %d requests; want one each", conns.Load(), res.Sent)
		case !fresh && conns.Load()*100 > res.Sent:
			// A worker may dial again while its connection is on its way
			// back to the pool: a few more than 2, never one per request.
			t.Errorf("keep-alive: %d connections for %d requests by 2 workers; want them kept", conns.Load(), res.Sent)
		}
		t.Logf("NewConnections %v: %d requests on %d connections", fresh, res.Sent, conns.Load())
	}
}
