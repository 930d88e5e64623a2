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
	// ErrLiveSlot reports a refusal to stop, remove or recreate the slot that
	// the proxy routes to. Whatever step asked, the slot was left alone.
	ErrLiveSlot = errors.New("the slot takes traffic")
	// ErrFailedAfterSwitch reports a release that passed its health checks
	// and took traffic, then stopped answering before the old slot was
	// retired; traffic went back to the old slot when there was one.
	ErrFailedAfterSwitch = errors.New("release failed after taking traffic")
	// ErrHistory reports that the history could not be written after the
	// proxy had switched: traffic stays where the proxy sends it, and the
	// old slot was not retired.
	ErrHistory = errors.New("history not written")
	// ErrTask reports a release task (tasks.before_switch or after_switch)
	// that exited non-zero or did not finish within tasks.timeout.
	ErrTask = errors.New("release task failed")
)

// StepError tells which step of a deploy failed, on which slot, and why.
// Match the cause with errors.Is / errors.As on the StepError itself.
type StepError struct {
	Step Step
	Slot Slot
	Err  error
	// Live is the slot that the proxy routes to after the failure, read
	// back from the proxy (None if none). When it could not be read back,
	// LiveErr says why and Live is None.
	Live    Slot
	LiveErr error
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

// ErrNoContainers reports a slot that holds no containers (of the services
// asked for).
var ErrNoContainers = errors.New("no containers")
