package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// DefaultProbeTimeout bounds one probe when a ProbeTimeout field is zero.
const DefaultProbeTimeout = 2 * time.Second

// HTTP passes when a GET of URL answers with the expected status: Status when
// set, else any 2xx or 3xx. Redirects are not followed: a 3xx already shows
// the app is serving.
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
		return Permanent(fmt.Errorf("health URL %q: %w", h.URL, err))
	}
	req.Host = h.Host
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
	if !h.statusOK(resp.StatusCode) {
		return fmt.Errorf("GET %s: status %d, want %s", h.URL, resp.StatusCode, h.wantStatus())
	}
	return nil
}

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

// String describes the check for logs and errors.
func (h HTTP) String() string { return "GET " + h.URL }

func probeTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultProbeTimeout
	}
	return d
}
