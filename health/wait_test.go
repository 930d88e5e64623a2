package health

import (
	"context"
	"errors"
	"strings"
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

func TestWaitTimeoutSaysWhatItSaw(t *testing.T) {
	srv := statusServer(t)
	failing := HTTP{URL: srv.URL + "/healthz?status=500"}
	var n atomic.Int32
	flaky := CheckerFunc(func(context.Context) error {
		if n.Add(1)%2 == 0 {
			return nil
		}
		return errors.New("flaky")
	})
	for _, tc := range []struct {
		name  string
		check Checker
		want  []string
	}{
		{name: "always 500", check: failing, want: []string{
			"best run 0 of 2 passes",
			"; last: " + failing.String() + ": status 500, want 2xx/3xx)",
		}},
		{name: "every other probe passes", check: flaky, want: []string{
			"best run 1 of 2 passes", "; last: flaky)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Interval: time.Millisecond, Timeout: 50 * time.Millisecond, HealthyThreshold: 2}
			_, err := Wait(context.Background(), p, tc.check)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// A check that hangs until its context ends must not hold Wait much past
// the timeout, and must not hide an earlier, more telling failure.
func TestWaitBoundsHangingCheck(t *testing.T) {
	hang := func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
	for _, tc := range []struct {
		name     string
		check    func(*atomic.Int32) Checker
		wantLast string
	}{
		{
			name: "hangs from the start",
			check: func(*atomic.Int32) Checker {
				return CheckerFunc(hang)
			},
			wantLast: "last: context deadline exceeded",
		},
		{
			name: "fails, then hangs",
			check: func(n *atomic.Int32) Checker {
				return CheckerFunc(func(ctx context.Context) error {
					if n.Add(1) == 1 {
						return errors.New("status 500")
					}
					return hang(ctx)
				})
			},
			wantLast: "last: status 500",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Policy{Interval: 50 * time.Millisecond, Timeout: 100 * time.Millisecond}
			start := time.Now()
			_, err := Wait(context.Background(), p, tc.check(new(atomic.Int32)))
			took := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if took > p.Timeout+p.Interval {
				t.Errorf("Wait took %s, want at most Timeout+Interval = %s", took, p.Timeout+p.Interval)
			}
			if !strings.Contains(err.Error(), tc.wantLast) {
				t.Errorf("err = %q, want it to contain %q", err, tc.wantLast)
			}
		})
	}
}

func TestWaitContextEndsHangingCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	hang := CheckerFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	_, err := Wait(ctx, Policy{Interval: time.Millisecond, Timeout: time.Minute}, hang)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ctx's deadline, not ErrTimeout", err)
	}
}

// readyAt fails until at, then passes; as a Poller it says when at passed.
type readyAt struct {
	at     time.Time
	checks atomic.Int32
	times  []time.Time // of the rounds
}

func (r *readyAt) Check(context.Context) error {
	r.checks.Add(1)
	r.times = append(r.times, time.Now())
	if time.Now().Before(r.at) {
		return errors.New("connection refused")
	}
	return nil
}

func (r *readyAt) Poll(ctx context.Context) bool {
	select {
	case <-time.After(time.Until(r.at)):
		return true
	case <-ctx.Done():
		return false
	}
}

func TestWaitPollsForTheFirstPass(t *testing.T) {
	// Rounds every 300 ms; the check passes 100 ms in. Without the poll
	// the first pass would come at 300 ms and the second at 600 ms.
	start := time.Now()
	r := &readyAt{at: start.Add(100 * time.Millisecond)}
	p := Policy{Interval: 300 * time.Millisecond, Timeout: 5 * time.Second, HealthyThreshold: 2}
	res, err := Wait(context.Background(), p, r)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if res.Probes != 3 || len(r.times) != 3 {
		t.Fatalf("Probes = %d, want 3 (fail, pass at the poll's word, pass)", res.Probes)
	}
	if first := r.times[1].Sub(start); first < 100*time.Millisecond || first > 250*time.Millisecond {
		t.Errorf("the first passing round came %v after the start, want just after 100ms", first)
	}
	// The threshold's rounds stay one interval apart.
	if gap := r.times[2].Sub(r.times[1]); gap < 290*time.Millisecond {
		t.Errorf("the confirming round came %v after the first pass, want an interval (300ms)", gap)
	}
}

// eager says yes to every poll, yet its rounds fail.
type eager struct{ checks atomic.Int32 }

func (e *eager) Check(context.Context) error { e.checks.Add(1); return errors.New("503") }
func (e *eager) Poll(context.Context) bool   { return true }

func TestWaitPollCannotSpin(t *testing.T) {
	e := &eager{}
	p := Policy{Interval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond, HealthyThreshold: 2}
	if _, err := Wait(context.Background(), p, e); !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// One early round per interval at most: about 2 x 10 rounds in 500 ms.
	if n := e.checks.Load(); n > 25 {
		t.Errorf("%d rounds in 500ms at a 50ms interval: a Poller that always says yes made Wait spin", n)
	}
}
