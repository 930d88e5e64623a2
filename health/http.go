package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// DefaultProbeTimeout bounds one HTTP probe when HTTP.ProbeTimeout is zero.
const DefaultProbeTimeout = 2 * time.Second

// HTTP passes when a GET of URL answers with a 2xx or 3xx status. Redirects
// are not followed: a 3xx already shows the app is serving.
type HTTP struct {
	URL string
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
	timeout := h.ProbeTimeout
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return Permanent(fmt.Errorf("health URL %q: %w", h.URL, err))
	}
	client := h.Client
	if client == nil {
		client = probeClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", h.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: status %d", h.URL, resp.StatusCode)
	}
	return nil
}

// String describes the check for logs and errors.
func (h HTTP) String() string { return "GET " + h.URL }
