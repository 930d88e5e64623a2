package health

import (
	"context"
	"errors"
)

// Checker probes one aspect of a release's readiness. Check returns nil when
// the probe passed.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to the Checker interface.
type CheckerFunc func(ctx context.Context) error

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) error { return f(ctx) }

// ErrPermanent marks a failure that waiting cannot fix, such as a container
// that exited. Wait stops at the first one.
var ErrPermanent = errors.New("will not become healthy")

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() []error {
	return []error{e.err, ErrPermanent}
}

// Permanent wraps err so that Wait gives up at once; errors.Is(result,
// ErrPermanent) and errors.Is(result, err) both hold.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}
