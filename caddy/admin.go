package caddy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/redact"
)

const (
	// readTimeout bounds one read of the admin API; writeTimeout one change,
	// for which Caddy provisions and starts a whole new config.
	readTimeout  = 10 * time.Second
	writeTimeout = 60 * time.Second
	// maxBody bounds what is read of an answer: a handler's config, the
	// upstream pool.
	maxBody = 8 << 20
)

// defaultClient talks to the admin API without keep-alive: Caddy restarts
// its admin server with every config change and closes the connections it
// held, and a PATCH sent on such a connection would fail without a retry.
var defaultClient = &http.Client{
	Timeout: writeTimeout,
	Transport: &http.Transport{
		Proxy:                 nil, // the admin API is local, or named as it is reached
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: writeTimeout,
	},
}

// admin is one Switcher's view of the admin API.
type admin struct {
	base   *url.URL
	client *http.Client
}

// answer is what the admin API sent back.
type answer struct {
	status int
	body   []byte
	etag   string
}

// apiError is Caddy's refusal: an answer whose status is not 2xx.
type apiError struct {
	method, url string
	status      int
	msg         string // Caddy's "error", sanitized
	fromCaddy   bool   // the body was Caddy's JSON error
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.method, e.url, e.status, http.StatusText(e.status), e.msg)
}

// url joins path to the admin URL (whose path, if any, is a prefix).
func (a *admin) url(path string) string {
	u := *a.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	return u.String()
}

// readAttempts bounds the tries of a read. Caddy restarts its admin server
// with every config change and resets the connections it holds or is
// accepting at that instant (seen under concurrent reads and switches), so
// a read that fails in transport is sent again; a change is not.
const readAttempts = 5

// do sends one request. A transport failure, or an answer that is not
// 2xx (an *apiError), is returned as an error wrapping ErrAdmin and the
// cause. URLs in errors have their secrets masked.
func (a *admin) do(ctx context.Context, method, path string, body []byte, ifMatch string) (answer, error) {
	for attempt := 1; ; attempt++ {
		ans, inTransport, err := a.once(ctx, method, path, body, ifMatch)
		if err == nil || method != http.MethodGet || !inTransport || attempt == readAttempts || ctx.Err() != nil {
			return ans, err
		}
		select {
		case <-ctx.Done():
			return ans, err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

// once sends one request; inTransport reports a failure in transport (no
// answer), which a read may retry.
func (a *admin) once(ctx context.Context, method, path string, body []byte, ifMatch string) (ans answer, inTransport bool, err error) {
	full := a.url(path)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, rd)
	if err != nil {
		return answer{}, false, fmt.Errorf("%w: %s %s: %v", ErrAdmin, method, redact.URL(full), err)
	}
	req.Close = true
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return answer{}, true, transportError(method, full, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return answer{}, true, transportError(method, full, err)
	}
	if len(data) > maxBody {
		return answer{}, false, fmt.Errorf("%w: %s %s: answer longer than %d bytes", ErrAdmin, method, redact.URL(full), maxBody)
	}
	// Caddy sends the ETag of a GET as a trailer (it hashes the config as it
	// writes it), so it is known only once the body has been read.
	etag := resp.Trailer.Get("Etag")
	if etag == "" {
		etag = resp.Header.Get("Etag")
	}
	ans = answer{status: resp.StatusCode, body: data, etag: etag}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg, fromCaddy := caddyMessage(data)
		return ans, false, fmt.Errorf("%w: %w", ErrAdmin, &apiError{method: method, url: redact.URL(full), status: resp.StatusCode, msg: msg, fromCaddy: fromCaddy})
	}
	return ans, false, nil
}

// transportError wraps ErrAdmin and the cause, without the URL the cause
// repeats (a *url.Error's message holds it with its query).
func transportError(method, full string, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return fmt.Errorf("%w: %s %s: %w", ErrAdmin, method, redact.URL(full), redact.Error(err))
}

// caddyMessage is the "error" of Caddy's JSON answer, or the answer itself,
// on one line, without control characters and cut to a readable length. It
// reports whether the answer was Caddy's JSON error.
func caddyMessage(body []byte) (msg string, fromCaddy bool) {
	var e struct {
		Error string `json:"error"`
	}
	msg = strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		msg, fromCaddy = e.Error, true
	}
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > 600 {
		msg = msg[:600] + "..."
	}
	if msg == "" {
		msg = "(no message)"
	}
	return redact.Text(msg), fromCaddy
}

// idPath is the admin path of the object with "@id" id.
func idPath(id string) string { return "/id/" + url.PathEscape(id) }

// upstreamStatus is one entry of GET /reverse_proxy/upstreams.
type upstreamStatus struct {
	Address     string `json:"address"`
	NumRequests int    `json:"num_requests"`
	Fails       int    `json:"fails"`
}

// pool reads Caddy's upstream pool: every upstream address of the running
// config, with the requests in flight to it.
func (a *admin) pool(ctx context.Context) ([]upstreamStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	ans, err := a.do(ctx, http.MethodGet, "/reverse_proxy/upstreams", nil, "")
	if err != nil {
		return nil, err
	}
	var pool []upstreamStatus
	if err := json.Unmarshal(ans.body, &pool); err != nil {
		return nil, fmt.Errorf("%w: GET %s: not a list of upstreams: %v", ErrAdmin, redact.URL(a.url("/reverse_proxy/upstreams")), err)
	}
	return pool, nil
}
