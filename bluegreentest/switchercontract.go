package bluegreentest

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// SwitcherContract checks, in subtests, what the Deployer relies on from
// every bluegreen.Switcher: no slot is active at first; Active reports the
// slot of the last Switch that succeeded; a Switch that fails, whether it
// refuses its input or fails on its own (for Switchers with a FailNext(error)
// method, as Switcher has), leaves the routing as it was; and Drain, when
// the Switcher is a Drainer, returns at once with nothing in flight.
//
// newSwitcher returns a fresh Switcher with no slot active; it is called
// once per subtest. The slots' addresses are HTTP servers on 127.0.0.1 that
// answer with their slot's name.
func SwitcherContract(t *testing.T, newSwitcher func(t *testing.T) bluegreen.Switcher) {
	addrs := map[bluegreen.Slot][]string{}
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		srv := httptest.NewServer(imageHandler(slot.String()))
		t.Cleanup(srv.Close)
		addrs[slot] = []string{srv.Listener.Addr().String()}
	}
	switchTo := func(t *testing.T, sw bluegreen.Switcher, slot bluegreen.Slot) {
		t.Helper()
		if err := sw.Switch(t.Context(), slot, addrs[slot]); err != nil {
			t.Fatalf("Switch(%s, %v): %v", slot, addrs[slot], err)
		}
	}

	t.Run("NoSlotAtFirst", func(t *testing.T) {
		wantActive(t, newSwitcher(t), bluegreen.None)
	})
	t.Run("ActiveIsTheLastSwitch", func(t *testing.T) {
		sw := newSwitcher(t)
		for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green, bluegreen.Green, bluegreen.Blue} {
			switchTo(t, sw, slot)
			wantActive(t, sw, slot)
		}
	})
	t.Run("RefusedSwitchKeepsRouting", func(t *testing.T) {
		sw := newSwitcher(t)
		switchTo(t, sw, bluegreen.Blue)
		for _, tc := range []struct {
			slot  bluegreen.Slot
			addrs []string
		}{
			{bluegreen.None, addrs[bluegreen.Green]},
			{"red", addrs[bluegreen.Green]},
			{bluegreen.Green, nil},
			{bluegreen.Green, []string{"no port"}},
		} {
			if err := sw.Switch(t.Context(), tc.slot, tc.addrs); err == nil {
				t.Errorf("Switch(%q, %q) = nil, want an error", tc.slot, tc.addrs)
			}
			wantActive(t, sw, bluegreen.Blue)
		}
	})
	// The next two hold for Switchers that can be made to fail and that
	// drain; for others there is nothing to check (and no skip to report).
	t.Run("FailedSwitchKeepsRouting", func(t *testing.T) {
		sw := newSwitcher(t)
		failer, ok := sw.(interface{ FailNext(error) })
		if !ok {
			t.Logf("%T cannot be made to fail (no FailNext method): its failure paths need tests of their own", sw)
			return
		}
		switchTo(t, sw, bluegreen.Blue)
		boom := errors.New("injected failure")
		failer.FailNext(boom)
		if err := sw.Switch(t.Context(), bluegreen.Green, addrs[bluegreen.Green]); !errors.Is(err, boom) {
			t.Errorf("Switch after FailNext: %v, want %v", err, boom)
		}
		wantActive(t, sw, bluegreen.Blue)
		switchTo(t, sw, bluegreen.Green) // the failure was for one call
		wantActive(t, sw, bluegreen.Green)
	})
	t.Run("DrainWithNothingInFlight", func(t *testing.T) {
		sw := newSwitcher(t)
		dr, ok := sw.(bluegreen.Drainer)
		if !ok {
			t.Logf("%T is not a Drainer", sw)
			return
		}
		wantDrain(t, dr) // before any switch
		switchTo(t, sw, bluegreen.Blue)
		switchTo(t, sw, bluegreen.Green)
		wantDrain(t, dr)
	})
	t.Run("ActiveWhileSwitching", func(t *testing.T) {
		sw := newSwitcher(t)
		readers, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		defer wg.Wait()
		defer stop()
		for range 4 {
			wg.Go(func() {
				for readers.Err() == nil {
					if slot, err := sw.Active(t.Context()); err != nil || (slot != bluegreen.None && slot != bluegreen.Blue && slot != bluegreen.Green) {
						t.Errorf("Active while switching = %q, %v", slot, err)
						return
					}
				}
			})
		}
		for i := range 6 {
			switchTo(t, sw, []bluegreen.Slot{bluegreen.Blue, bluegreen.Green}[i%2])
		}
		wantActive(t, sw, bluegreen.Green)
	})
}

func wantActive(t *testing.T, sw bluegreen.Switcher, want bluegreen.Slot) {
	t.Helper()
	got, err := sw.Active(t.Context())
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	if got != want {
		t.Errorf("Active = %s, want %s", got, want)
	}
}

// drainPrompt is how long a Drain with nothing in flight may take.
const drainPrompt = time.Second

func wantDrain(t *testing.T, dr bluegreen.Drainer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*drainPrompt)
	defer cancel()
	start := time.Now()
	if err := dr.Drain(ctx); err != nil {
		t.Fatalf("Drain with nothing in flight: %v", err)
	}
	if took := time.Since(start); took > drainPrompt {
		t.Errorf("Drain with nothing in flight took %s, want at most %s", took, drainPrompt)
	}
}
