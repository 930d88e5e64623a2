package bluegreentest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// ErrInvalid is returned (wrapped) by the fakes for input the real parts
// would refuse too. It is bluegreen.ErrBadInput, the one bad-input
// sentinel of the module.
var ErrInvalid = bluegreen.ErrBadInput

// SwitchCall is one call of Switcher.Switch.
type SwitchCall struct {
	Slot  bluegreen.Slot
	Addrs []string
	Time  time.Time
	Err   error // what Switch returned
}

// Switcher is a bluegreen.Switcher and bluegreen.Drainer that routes nothing
// and records every Switch. The zero value has no slot live; its methods are
// safe for concurrent use.
type Switcher struct {
	mu       sync.Mutex
	active   bluegreen.Slot
	calls    []SwitchCall
	failNext error
	drains   int
}

var (
	_ bluegreen.Switcher = (*Switcher)(nil)
	_ bluegreen.Drainer  = (*Switcher)(nil)
)

// Switch records the call and makes slot the active one. As with the real
// Switchers, a slot other than blue or green, no addresses or an address
// that is not host:port is refused, and a failed Switch leaves the active
// slot as it was.
func (s *Switcher) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.failNext
	s.failNext = nil
	if err == nil {
		err = checkSwitch(ctx, slot, addrs)
	}
	s.calls = append(s.calls, SwitchCall{Slot: slot, Addrs: slices.Clone(addrs), Time: time.Now(), Err: err})
	if err != nil {
		return err
	}
	s.active = slot
	return nil
}

func checkSwitch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	if err := slot.Validate(); err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("switch %s: %w: no addresses", slot, ErrInvalid)
	}
	for _, a := range addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("switch %s: %w: address %q: %v", slot, ErrInvalid, a, err)
		}
	}
	return nil
}

// Active returns the slot of the last Switch that succeeded, or None.
func (s *Switcher) Active(context.Context) (bluegreen.Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active, nil
}

// Drain returns at once: nothing is ever in flight. It counts the calls.
func (s *Switcher) Drain(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drains++
	return nil
}

// FailNext makes the next Switch return err, as a proxy that refuses a new
// configuration would, and leave the routing as it is.
func (s *Switcher) FailNext(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = err
}

// Calls returns the Switch calls so far, oldest first, failed ones
// included.
func (s *Switcher) Calls() []SwitchCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Drains returns how many times Drain was called.
func (s *Switcher) Drains() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drains
}
