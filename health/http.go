package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/redact"
)

// DefaultProbeTimeout bounds one probe when a ProbeTimeout field is zero.
const DefaultProbeTimeout = 2 * time.Second

// HTTP passes when a GET of URL answers with the expected status: Status when
// set, else any 2xx or 3xx. Redirects are not followed: a 3xx already shows
// the app is serving.
//
// Its errors and String show URL without its secrets: the password and
// query values are masked, the fragment is left out
// (https://user:xxxxx@host/healthz?token=xxxxx).
type HTTP struct {
	URL string
	// Host, when set, is sent as the Host header. Apps that route or
	// validate by Host reject a probe addressed to 127.0.0.1:port.
	Host string
	// Status, when non-zero, is the only status that passes.
	Status int
	// ProbeTimeout bounds one request; zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Client sends the probes; nil means a client that keeps no idle
	// connections, so each probe sees the server as a new client does.
	Client *http.Client
}

var probeClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Check sends one GET to h.URL.
func (h HTTP) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(h.ProbeTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return Permanent(fmt.Errorf("health URL %q does not parse: %w", redact.URL(h.URL), parseError(err)))
	}
	req.Host = h.Host
	client := h.Client
	if client == nil {
		client = probeClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error's text holds the URL with its query: say what
		// went wrong with the URL masked instead.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("GET %s: %w", redact.URL(h.URL), redact.Error(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if !h.statusOK(resp.StatusCode) {
		return fmt.Errorf("GET %s: status %d, want %s", redact.URL(h.URL), resp.StatusCode, h.wantStatus())
	}
	return nil
}

// quoted matches the parts of net/url's parse errors that quote the URL
// (invalid port ":12" after host): a piece of a password, when one holds an
// unescaped '/'.
var quoted = regexp.MustCompile(`\s*"(?:[^"\\]|\\.)*"`)

// parseError is err, from parsing a URL, without the URL or its pieces in
// its text; it unwraps to err.
func parseError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return &maskedError{msg: quoted.ReplaceAllString(err.Error(), ""), err: err}
}

type maskedError struct {
	msg string
	err error
}

func (e *maskedError) Error() string { return e.msg }
func (e *maskedError) Unwrap() error { return e.err }

func (h HTTP) statusOK(code int) bool {
	if h.Status != 0 {
		return code == h.Status
	}
	return code >= 200 && code < 400
}

func (h HTTP) wantStatus() string {
	if h.Status != 0 {
		return strconv.Itoa(h.Status)
	}
	return "2xx/3xx"
}

// String describes the check for logs and errors, with the URL's secrets
// masked.
func (h HTTP) String() string { return "GET " + redact.URL(h.URL) }

func probeTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultProbeTimeout
	}
	return d
}
