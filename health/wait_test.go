package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

var fast = Policy{Interval: time.Millisecond, Timeout: 2 * time.Second, HealthyThreshold: 3}

func TestWaitNeedsConsecutivePasses(t *testing.T) {
	// fail, pass, fail, pass, pass, pass: only the last run of three counts.
	script := []bool{false, true, false, true, true, true}
	var n atomic.Int32
	check := CheckerFunc(func(context.Context) error {
		i := int(n.Add(1)) - 1
		if i < len(script) && script[i] {
			return nil
		}
		if i >= len(script) {
			return nil
		}
		return errors.New("not yet")
	})
	res, err := Wait(context.Background(), fast, check)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if res.Probes != len(script) {
		t.Errorf("Probes = %d, want %d", res.Probes, len(script))
	}
}

func TestWaitAllChecksMustPass(t *testing.T) {
	ok := CheckerFunc(func(context.Context) error { return nil })
	bad := CheckerFunc(func(context.Context) error { return errors.New("port closed") })
	p := fast
	p.Timeout = 50 * time.Millisecond
	res, err := Wait(context.Background(), p, ok, bad)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if res.Last == nil || res.Last.Error() != "port closed" {
		t.Errorf("Last = %v, want the failing probe's error", res.Last)
	}
}

func TestWaitStopsAtPermanent(t *testing.T) {
	exited := errors.New("container exited (1)")
	var n atomic.Int32
	check := CheckerFunc(func(context.Context) error {
		n.Add(1)
		return Permanent(exited)
	})
	_, err := Wait(context.Background(), Policy{Interval: time.Millisecond, Timeout: time.Minute}, check)
	if !errors.Is(err, ErrPermanent) || !errors.Is(err, exited) {
		t.Fatalf("err = %v, want ErrPermanent wrapping the cause", err)
	}
	if n.Load() != 1 {
		t.Errorf("probed %d times after a permanent failure, want 1", n.Load())
	}
}

func TestWaitHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	bad := CheckerFunc(func(context.Context) error { return errors.New("no") })
	_, err := Wait(ctx, Policy{Interval: time.Millisecond, Timeout: time.Minute}, bad)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestHTTPStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		pass   bool
	}{
		{200, true}, {204, true}, {302, true}, {404, false}, {500, false}, {503, false},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.status == 302 {
				http.Redirect(w, r, "/elsewhere-that-404s", tc.status)
				return
			}
			w.WriteHeader(tc.status)
		}))
		err := HTTP{URL: srv.URL + "/healthz"}.Check(context.Background())
		if (err == nil) != tc.pass {
			t.Errorf("status %d: err = %v, want pass=%v", tc.status, err, tc.pass)
		}
		srv.Close()
	}
}

func TestHTTPRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if err := (HTTP{URL: url}).Check(context.Background()); err == nil {
		t.Fatal("Check passed against a closed port")
	}
}
