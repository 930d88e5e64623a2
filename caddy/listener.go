package caddy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// migrateReqPath is the kernel setting Warnings reads; tests point it
// elsewhere.
var migrateReqPath = "/proc/sys/net/ipv4/tcp_migrate_req"

// migrateReqSetting is the kernel setting without which a Caddy on Linux
// fails connections at a switch (see Warnings).
const migrateReqSetting = "net.ipv4.tcp_migrate_req"

// Warnings reports, changing nothing, when the kernel would reset
// connections at a switch. At each config change, Caddy (2.6 on Linux,
// measured) binds a new listening socket beside the old one
// (SO_REUSEPORT) and closes the old one; the kernel resets the connections
// that were still queued on the old socket, not yet accepted: a client that
// had just connected reads "connection reset by peer". With
// net.ipv4.tcp_migrate_req set to 1 (Linux 5.14 and later) the kernel moves
// them to the new socket instead.
//
// It reads the setting of this host only when caddy.admin is on a loopback
// address, so that Caddy is taken to run here; in another network namespace
// (Caddy in a container) the setting that counts is that namespace's, which
// this cannot see.
func (s *Switcher) Warnings(context.Context) []string {
	if runtime.GOOS != "linux" {
		return nil
	}
	a, err := s.admin()
	if err != nil || !loopback(a.base.Hostname()) {
		return nil
	}
	const why = "at each switch Caddy binds a new listening socket and closes the old one, and the kernel resets the connections still queued on the old one"
	b, err := os.ReadFile(migrateReqPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return []string{fmt.Sprintf("this kernel has no %s (Linux 5.14 and later have it): %s, so a switch can fail a few new connections",
			migrateReqSetting, why)}
	case err != nil:
		return []string{fmt.Sprintf("%s cannot be read (%v): if it is 0, %s", migrateReqSetting, err, why)}
	case strings.TrimSpace(string(b)) != "1":
		return []string{fmt.Sprintf("%s is %s on this host: %s, so a switch can fail a few new connections; "+
			"`sysctl -w %s=1` (and a file in /etc/sysctl.d to keep it) makes the kernel hand them to the new socket",
			migrateReqSetting, strings.TrimSpace(string(b)), why, migrateReqSetting)}
	}
	return nil
}

// loopback reports whether host names this machine: localhost or a
// loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var _ bluegreen.Warner = (*Switcher)(nil)
