package testutil_test

import (
	"fmt"
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
