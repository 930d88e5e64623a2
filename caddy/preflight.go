package caddy

import (
	"context"
	"errors"
	"fmt"

	"github.com/bluegreen-dev/bluegreen/internal/redact"
)

// ErrPreflight is returned (wrapped) by Preflight when a Switch would not
// work. The error wraps the cause as well: bluegreen.ErrBadInput, ErrAdmin,
// ErrNoHandler or ErrUnmanaged.
var ErrPreflight = errors.New("caddy preflight failed")

// Preflight checks, changing nothing (it only reads), that a Switch would
// work, and returns the first fault it finds as an error wrapping
// ErrPreflight and the cause. Errors name the x-bluegreen settings:
// caddy.admin for Admin, caddy.id for ID.
//
// It checks that Admin is an http or https URL and ID a valid "@id"; that
// the admin API answers; that ID names a reverse_proxy handler with a static
// "upstreams" list and no dynamic_upstreams; that the upstreams hold no
// slot marker a Switch did not write; that Caddy sends the ETag a Switch
// needs for its If-Match; and that GET /reverse_proxy/upstreams, which
// Switch and Drain read, answers.
//
// It cannot tell whether Caddy would load the changed config: the admin API
// has no dry run, and a change made only to test would close the
// websockets Caddy proxies.
func (s *Switcher) Preflight(ctx context.Context) error {
	a, err := s.admin()
	if err != nil {
		return fail(err)
	}
	h, err := readHandler(ctx, a, s.ID)
	switch {
	case errors.Is(err, ErrAdmin) && !isAPIError(err):
		return fail(fmt.Errorf("caddy.admin %s: Caddy's admin API does not answer (is Caddy running, with its admin endpoint there?): %w",
			redact.URL(a.base.String()), err))
	case err != nil:
		var aerr *apiError
		if errors.As(err, &aerr) && !aerr.fromCaddy {
			err = fmt.Errorf("%w (not an answer of Caddy's admin API: is caddy.admin %s its address?)", err, redact.URL(a.base.String()))
		}
		return fail(err)
	case h.etag == "":
		return fail(fmt.Errorf("%w: caddy.admin %s sends no ETag with the config, which a switch needs to guard its change (Caddy has sent one since 2.5.2)",
			ErrAdmin, redact.URL(a.base.String())))
	}
	if _, err := h.slot(s.ID); err != nil {
		return fail(err)
	}
	if _, err := a.pool(ctx); err != nil {
		return fail(fmt.Errorf("caddy.admin %s: the upstream pool cannot be read: %w", redact.URL(a.base.String()), err))
	}
	return nil
}

func isAPIError(err error) bool {
	var aerr *apiError
	return errors.As(err, &aerr)
}

// preflightError is what Preflight returns: ErrPreflight's text and the
// cause's, wrapping both.
type preflightError struct{ cause error }

func (e *preflightError) Error() string   { return ErrPreflight.Error() + ": " + e.cause.Error() }
func (e *preflightError) Unwrap() []error { return []error{ErrPreflight, e.cause} }

func fail(cause error) error { return &preflightError{cause: cause} }
