package caddy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestCaddySwitchNewConnections: clients that open a new connection for
// each request, through 20 switches, with net.ipv4.tcp_migrate_req at 0 and
// then at 1. Caddy binds a new listening socket at each config change and
// closes the old one. At 0 the kernel resets the connections queued on the
// old socket: measured and logged, not judged (as many fail as happen to be
// queued), but Warnings must say so. At 1 it hands them to the new socket:
// no request may fail, and Warnings says nothing.
func TestCaddySwitchNewConnections(t *testing.T) {
	c := testutil.Caddy(t)
	sw, addrs := routedToBlue(t, c)
	slot := bluegreen.Blue
	switches := func() testutil.LoadResult {
		load := testutil.LoadWith(t, c.URL, testutil.LoadOptions{NewConnections: true})
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			slot = slot.Other()
			mustSwitch(t, sw, slot, addrs[slot])
		}
		time.Sleep(100 * time.Millisecond)
		return load.Stop()
	}

	testutil.SetMigrateReq(t, "0")
	if w := sw.Warnings(t.Context()); len(w) != 1 || !strings.Contains(w[0], "net.ipv4.tcp_migrate_req is 0 on this host") {
		t.Errorf("Warnings at 0 = %q; want the setting named", w)
	}
	without := switches()
	t.Logf("net.ipv4.tcp_migrate_req=0, a new connection per request, 20 switches: %v", without)

	testutil.SetMigrateReq(t, "1")
	if w := sw.Warnings(t.Context()); len(w) != 0 {
		t.Errorf("Warnings at 1 = %q; want none", w)
	}
	with := switches()
	t.Logf("net.ipv4.tcp_migrate_req=1, a new connection per request, 20 switches: %v", with)
	if with.Failed != 0 {
		t.Errorf("%d of %d requests failed during 20 switches: %v", with.Failed, with.Sent, with.Failures)
	}
	if with.Versions["blue"] == 0 || with.Versions["green"] == 0 || len(with.Versions) != 2 {
		t.Errorf("answered by %v; want blue and green only", with.Versions)
	}
}

// TestWarnings: what Warnings says for each value of the setting, and that
// it reads it only for a Caddy on this host.
func TestWarnings(t *testing.T) {
	dir := t.TempDir()
	was := migrateReqPath
	t.Cleanup(func() { migrateReqPath = was })
	for _, tc := range []struct {
		name, admin, value string // value "" leaves the file out
		want               string
	}{
		{"on", "http://127.0.0.1:2019", "1\n", ""},
		{"off", "http://127.0.0.1:2019", "0\n", "net.ipv4.tcp_migrate_req is 0 on this host: at each switch Caddy binds a new listening socket"},
		{"localhost", "http://localhost:2019", "0\n", "is 0 on this host"},
		{"ipv6 loopback", "http://[::1]:2019", "0\n", "is 0 on this host"},
		{"old kernel", "http://127.0.0.1:2019", "", "this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14 and later have it)"},
		{"another host", "http://10.1.2.3:2019", "0\n", ""},
		{"bad admin", "ftp://127.0.0.1:2019", "0\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			migrateReqPath = filepath.Join(dir, tc.name)
			if tc.value != "" {
				if err := os.WriteFile(migrateReqPath, []byte(tc.value), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got := (&Switcher{Admin: tc.admin, ID: "web"}).Warnings(t.Context())
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("Warnings = %q; want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("Warnings = %q; want one containing %q", got, tc.want)
			}
		})
	}
}
