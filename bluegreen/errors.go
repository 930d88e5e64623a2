package bluegreen

import (
	"errors"
	"fmt"
)

var (
	// ErrBadInput reports bad input: a compose file that cannot be loaded, an
	// x-bluegreen section that is missing keys or has invalid values, an
	// image that cannot be had, a slot port taken by another process, a
	// switch to a slot that does not run. Nothing live was changed.
	ErrBadInput = errors.New("bad input")
	// ErrUnhealthy reports a new release that did not become ready. It was
	// removed and traffic was not touched.
	ErrUnhealthy = errors.New("release did not become healthy")
	// ErrVerify reports a release that took traffic but failed the check
	// through the proxy (verify_url); traffic went back to the old slot.
	ErrVerify = errors.New("verification through the proxy failed")
	// ErrNoRollback reports that the history holds no release to go back to.
	ErrNoRollback = errors.New("nothing to roll back to")
)

// StepError tells which step of a deploy failed, on which slot, and why.
// Match the cause with errors.Is / errors.As on the StepError itself.
type StepError struct {
	Step Step
	Slot Slot
	Err  error
	// Live is the slot that takes traffic after the failure (None if none).
	Live Slot
	// Cleanup is set when the failed release could not be removed.
	Cleanup error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Step, e.Err)
	if e.Slot != None {
		msg = fmt.Sprintf("%s %s: %v", e.Step, e.Slot, e.Err)
	}
	if e.Cleanup != nil {
		msg += fmt.Sprintf(" (and removing the failed release failed: %v)", e.Cleanup)
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }
