package bluegreen

import (
	"fmt"
)

// Slot is one of the two places a release can run in. The zero value means
// "no slot": nothing is live yet.
type Slot string

const (
	// None is the zero Slot: no release takes traffic yet.
	None Slot = ""
	// Blue is the slot a first deploy goes to.
	Blue Slot = "blue"
	// Green is the other slot.
	Green Slot = "green"
)

// Other returns the slot a deploy goes to when s is live. A first deploy
// (s == None) goes to Blue.
func (s Slot) Other() Slot {
	if s == Blue {
		return Green
	}
	return Blue
}

// String returns "blue", "green", or "none" for the zero Slot.
func (s Slot) String() string {
	if s == None {
		return "none"
	}
	return string(s)
}

// ParseSlot reads "blue" or "green". The empty string and "none" give None.
func ParseSlot(s string) (Slot, error) {
	switch s {
	case "blue":
		return Blue, nil
	case "green":
		return Green, nil
	case "", "none":
		return None, nil
	}
	return None, fmt.Errorf("%w: unknown slot %q: want blue or green", ErrBadInput, s)
}

// Validate fails, wrapping ErrBadInput, unless s is Blue or Green: the
// slots that traffic can go to.
func (s Slot) Validate() error {
	if s != Blue && s != Green {
		return fmt.Errorf("%w: slot %q: want blue or green", ErrBadInput, string(s))
	}
	return nil
}
