package caddy

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/hostport"
	"github.com/bluegreen-dev/bluegreen/internal/redact"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// Every value that reaches Caddy is checked here first. Caddy itself takes
// nearly anything as a dial address ("127.0.0.1:abc", or a placeholder such
// as "{http.request.header.X}", which it resolves per request from what the
// client sends), so these checks are the only guard against a value that
// would route traffic somewhere else or fail only at request time.

// idPattern is what an ID may hold: it becomes a path segment of the admin
// URL and part of the marker's "@id".
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// maxAddrs bounds the upstreams of one Switch; a slot has one per replica.
const maxAddrs = 1000

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{bluegreen.ErrBadInput}, args...)...)
}

// checkAdmin parses the admin URL: http or https, a host, and optionally a
// path prefix (an admin API behind a proxy); no query or fragment. Errors
// show it with its secrets masked.
func checkAdmin(raw string) (*url.URL, error) {
	if raw == "" {
		raw = DefaultAdmin
	}
	shown := redact.URL(raw)
	if xvalue.HasControl(raw) {
		return nil, badInput("caddy.admin %q holds a control character", shown)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, badInput("caddy.admin %s is not a URL", shown)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, badInput("caddy.admin %s: want an http:// or https:// URL, such as %s", shown, DefaultAdmin)
	case u.Host == "" || u.Hostname() == "":
		return nil, badInput("caddy.admin %s has no host", shown)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, badInput("caddy.admin %s: want no query or fragment", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, badInput("caddy.admin %s: port %s is not 1-65535", shown, p)
		}
	}
	return u, nil
}

func checkID(id string) error {
	// "." and ".." would make the admin path /id/.. mean another path.
	if !idPattern.MatchString(id) || strings.Trim(id, ".") == "" {
		return badInput("caddy.id %q: want 1-128 letters, digits, '_', '.' or '-' (the \"@id\" of the reverse_proxy handler)", id)
	}
	return nil
}

func checkSlot(slot bluegreen.Slot) error {
	if slot != bluegreen.Blue && slot != bluegreen.Green {
		return badInput("slot %q: want blue or green", string(slot))
	}
	return nil
}

// checkAddrs checks the upstreams of a Switch: each "host:port" with a
// numeric port, the host a name, an IPv4 address or a bracketed IPv6
// address.
func checkAddrs(addrs []string) error {
	if len(addrs) == 0 {
		return badInput("no upstream address: a slot needs at least one")
	}
	if len(addrs) > maxAddrs {
		return badInput("%d upstream addresses: want at most %d", len(addrs), maxAddrs)
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return err
		}
	}
	return nil
}

func checkAddr(a string) error {
	if xvalue.HasControl(a) {
		return badInput("upstream address %q holds a control character", a)
	}
	c, err := hostport.Parse(a)
	if err != nil {
		return fmt.Errorf("%w: upstream %w", bluegreen.ErrBadInput, err)
	}
	if c.String() != a {
		// Caddy dials the address as written: no text it would read
		// another way than nginx does ("[127.0.0.1]", a port "080").
		return badInput("upstream address %q: write it as %s", a, c)
	}
	return nil
}
