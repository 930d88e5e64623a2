// Package hostport checks the upstream addresses that a Switcher is given,
// once for every proxy package: host:port, with a port 1-65535 and a host
// that is an IP address (no IPv6 zone) or a plain host name. What a proxy
// takes beyond that (HAProxy's runtime API takes IP addresses only) is the
// proxy package's own check.
package hostport

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// name is a plain host name: letters, digits, '_', '.' and '-', starting
// with a letter or a digit, at most 253 characters ('_' is in: compose
// names containers <project>-<service>-<n>, and both names may hold one). It leaves out
// everything a proxy's config or command language could read as syntax.
var name = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$`)

// Addr is a checked address. IP is valid when the host is an IP address
// (an IPv4-mapped IPv6 address is unmapped to IPv4); Host is then its
// canonical text.
type Addr struct {
	Host string
	IP   netip.Addr
	Port uint16
}

// String is the canonical host:port ("127.0.0.1:8080", "[::1]:8080",
// "web:8000").
func (a Addr) String() string { return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port))) }

// AddrPort is a as a netip.AddrPort; it is valid only when a.IP is.
func (a Addr) AddrPort() netip.AddrPort { return netip.AddrPortFrom(a.IP, a.Port) }

// Parse checks addr and returns it with its host and port apart; String
// gives it back in canonical form ("[127.0.0.1]:080" is 127.0.0.1:80). Its errors
// name the address and what was wanted; callers wrap them with their
// bad-input sentinel.
func Parse(addr string) (Addr, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Addr{}, fmt.Errorf("address %q: want host:port, such as 127.0.0.1:8080", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || strings.TrimLeft(port, "0123456789") != "" || n < 1 || n > 65535 {
		return Addr{}, fmt.Errorf("address %q: port %q: want a number 1-65535", addr, port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return Addr{}, fmt.Errorf("address %q: IPv6 zones are not supported", addr)
		}
		ip = ip.Unmap()
		return Addr{Host: ip.String(), IP: ip, Port: uint16(n)}, nil
	}
	if strings.HasPrefix(addr, "[") {
		return Addr{}, fmt.Errorf("address %q: %q in brackets is not an IPv6 address", addr, host)
	}
	if !name.MatchString(host) {
		return Addr{}, fmt.Errorf("address %q: host %q: want an IP address or a plain host name (letters, digits, '_', '.', '-')", addr, host)
	}
	return Addr{Host: host, Port: uint16(n)}, nil
}
