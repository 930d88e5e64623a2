package haproxy

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/hostport"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// Every value that reaches HAProxy's runtime API is checked here first. A
// command is one line, and HAProxy's CLI splits a line into several
// commands at ';' and reads '\' as an escape: a value holding a newline, a
// ';' or a '\' could run a command of its own. Names are therefore held to
// the characters HAProxy itself allows in proxy and server names, and
// addresses are parsed and formatted again, so that only digits, hex
// letters, '.' and ':' of ours reach the socket.

// namePattern is what HAProxy accepts in a backend or server name
// (letters, digits, '-', '_', '.', ':'), bounded in length.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// maxAddrs bounds the addresses of one Switch; a slot has one per replica.
const maxAddrs = 1000

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{bluegreen.ErrBadInput}, args...)...)
}

// endpoint is where the runtime API listens: network "unix", "tcp4" or
// "tcp6", and the address to dial.
type endpoint struct {
	network, address string
}

func (e endpoint) String() string {
	switch e.network {
	case "tcp4":
		return "ipv4@" + e.address
	case "tcp6":
		return "ipv6@" + e.address
	}
	return e.address
}

// parseSocket reads Socket as HAProxy's "stats socket" line writes it: an
// absolute path (or "unix@" and one), or "ipv4@IP:PORT" / "ipv6@[IP]:PORT"
// for a socket bound to TCP. Host names are refused: the socket must be
// the one this host's HAProxy listens on, not whatever a name resolves to.
func parseSocket(s string) (endpoint, error) {
	const want = `want the path of HAProxy's admin socket (such as /run/haproxy/admin.sock), or ipv4@IP:PORT or ipv6@[IP]:PORT as its "stats socket" line has it`
	switch {
	case s == "":
		return endpoint{}, badInput("haproxy.socket is empty: %s", want)
	case xvalue.HasControl(s):
		return endpoint{}, badInput("haproxy.socket %q holds a control character", s)
	}
	if rest, ok := strings.CutPrefix(s, "unix@"); ok {
		s = rest
	}
	for prefix, network := range map[string]string{"ipv4@": "tcp4", "ipv6@": "tcp6"} {
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			continue
		}
		ap, err := netip.ParseAddrPort(rest)
		switch {
		case err != nil || ap.Port() == 0 || ap.Addr().Zone() != "":
			return endpoint{}, badInput("haproxy.socket %q: %s", s, want)
		case (network == "tcp4") != ap.Addr().Is4():
			return endpoint{}, badInput("haproxy.socket %q: the address is not of the family %s names", s, prefix)
		}
		return endpoint{network: network, address: ap.String()}, nil
	}
	if !filepath.IsAbs(s) {
		return endpoint{}, badInput("haproxy.socket %q: %s", s, want)
	}
	return endpoint{network: "unix", address: filepath.Clean(s)}, nil
}

// checkName checks a backend name, the setting key.
func checkName(key, name string) error {
	if !namePattern.MatchString(name) {
		return badInput("%s %q: want 1 to 128 letters, digits, '_', '.', ':' or '-' (as HAProxy names a backend)", key, name)
	}
	return nil
}

// checkSlot checks the slot of a Switch.
func checkSlot(slot bluegreen.Slot) error {
	if slot != bluegreen.Blue && slot != bluegreen.Green {
		return badInput("slot %q: want blue or green", string(slot))
	}
	return nil
}

// parseAddrs reads the addresses of a Switch: "IP:PORT" each, as
// "set server ... addr" takes them (an IP address, not a host name).
func parseAddrs(addrs []string) ([]netip.AddrPort, error) {
	if len(addrs) == 0 {
		return nil, badInput("no address to switch to")
	}
	if len(addrs) > maxAddrs {
		return nil, badInput("%d addresses: at most %d", len(addrs), maxAddrs)
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		ap, err := hostport.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", bluegreen.ErrBadInput, err)
		}
		if !ap.IP.IsValid() {
			return nil, badInput("address %q: want IP:PORT, such as 127.0.0.1:8080 (HAProxy's set server addr takes an IP address, not a host name)", a)
		}
		out = append(out, ap.AddrPort())
	}
	return out, nil
}

// checkLine is the last guard before a command is sent: one line, with no
// command separator or escape in it. The values in it were checked above,
// so a failure here is a bug of this package, still refused.
func checkLine(cmd string) error {
	if xvalue.HasControl(cmd) || strings.ContainsAny(cmd, `;\`) {
		return badInput("runtime API command %q holds a control character, ';' or '\\'", cmd)
	}
	return nil
}
