package nginxconf

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// preflightCase is one setup for a Preflight, and what it must say.
type preflightCase[S any] struct {
	name string
	// setup makes files under dir and adjusts sw, a Preflighter for a
	// running private nginx.
	setup func(t *testing.T, dir string, sw S)
	// want is the error message, with D for dir; empty: no error.
	want string
	// wantPrefix, when set instead of want, is the start of the message
	// (with D for dir): for causes that differ between systems.
	wantPrefix string
	// wantIs are errors that the error must wrap besides ErrPreflight.
	wantIs []error
}

// checkPreflight runs sw.Preflight and checks its error against tc, and
// that it changed nothing in dir and no nginx worker changed.
func checkPreflight[S bluegreen.Preflighter](t *testing.T, tc preflightCase[S], dir string, sw S, workers func() []int) {
	t.Helper()
	before, workersBefore := tree(t, dir), workers()
	err := sw.Preflight(t.Context())
	t.Logf("Preflight: %v", err)
	switch {
	case tc.want == "" && tc.wantPrefix == "":
		if err != nil {
			t.Errorf("Preflight: %v; want nil", err)
		}
	case err == nil:
		t.Errorf("Preflight: nil; want an error")
	default:
		got := strings.ReplaceAll(err.Error(), dir, "D")
		if tc.want != "" && got != tc.want {
			t.Errorf("Preflight error:\n got %s\nwant %s", got, tc.want)
		}
		if tc.wantPrefix != "" && !strings.HasPrefix(got, tc.wantPrefix) {
			t.Errorf("Preflight error:\n got %s\nwant it to start with %s", got, tc.wantPrefix)
		}
		for _, want := range append([]error{ErrPreflight}, tc.wantIs...) {
			if !errors.Is(err, want) {
				t.Errorf("Preflight error does not wrap %v: %v", want, err)
			}
		}
	}
	if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
		t.Errorf("Preflight changed files (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(workersBefore, workers()); diff != "" {
		t.Errorf("Preflight changed nginx's workers, so it reloaded nginx (-before +after):\n%s", diff)
	}
}

// nginxWorkers returns a function that lists the workers of n's master.
func nginxWorkers(t *testing.T, n *testutil.NginxServer) func() []int {
	return func() []int {
		t.Helper()
		h := &host{pidFile: n.PIDFile}
		kids, err := h.workers(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var pids []int
		for _, k := range kids {
			pids = append(pids, k.pid)
		}
		return pids
	}
}

func managedFile(t *testing.T, name string) string {
	t.Helper()
	data, err := render(upstream{Slot: bluegreen.Green, Name: name, Addrs: []string{"127.0.0.1:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestSwitcherPreflight runs Preflight against a running private nginx,
// with the upstream file set up right and wrong.
func TestSwitcherPreflight(t *testing.T) {
	n := testutil.Nginx(t)
	// A config that nginx -t refuses, for the running master (the pid
	// directive stays the same).
	conf, err := os.ReadFile(n.Conf)
	if err != nil {
		t.Fatal(err)
	}
	brokenConf := writeTestFile(t, filepath.Join(t.TempDir(), "broken.conf"), string(conf)+"bogus_directive on;\n")

	const plain = "upstream backend {\n    server 127.0.0.1:8081;\n}\n"
	for _, tc := range []preflightCase[*Switcher]{
		{name: "the running nginx's own upstream file (plain, hand-written)", setup: func(t *testing.T, dir string, sw *Switcher) {
			sw.File = n.UpstreamFile
		}},
		{name: "managed file", setup: func(t *testing.T, dir string, sw *Switcher) {
			sw.File = writeTestFile(t, filepath.Join(dir, "up.conf"), managedFile(t, "backend"))
		}},
		{name: "no file yet", setup: func(t *testing.T, dir string, sw *Switcher) {
			sw.File = filepath.Join(dir, "up.conf")
		}},
		{name: "link to a managed file", setup: func(t *testing.T, dir string, sw *Switcher) {
			writeTestFile(t, filepath.Join(dir, "real", "up.conf"), managedFile(t, "backend"))
			sw.File = symlink(t, "real/up.conf", filepath.Join(dir, "up.conf"))
		}},
		{name: "link to a read-only file in a writable directory", setup: func(t *testing.T, dir string, sw *Switcher) {
			// The rename replaces the file; its own mode does not matter.
			f := writeTestFile(t, filepath.Join(dir, "up.conf"), plain)
			if err := os.Chmod(f, 0o444); err != nil {
				t.Fatal(err)
			}
			sw.File = f
		}},

		{
			name: "missing directory",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = filepath.Join(dir, "etc/ngnix/conf.d/web-upstream.conf")
			},
			want:   "nginx preflight failed: nginx.upstream_file D/etc/ngnix/conf.d/web-upstream.conf: directory D/etc/ngnix/conf.d does not exist",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "parent is a regular file",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = filepath.Join(writeTestFile(t, filepath.Join(dir, "conf.d"), "x"), "up.conf")
			},
			want:   "nginx preflight failed: nginx.upstream_file D/conf.d/up.conf: D/conf.d is not a directory",
			wantIs: []error{syscall.ENOTDIR},
		},
		{
			name: "a regular file higher up the path",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = filepath.Join(writeTestFile(t, filepath.Join(dir, "nginx"), "x"), "conf.d", "up.conf")
			},
			want:   "nginx preflight failed: nginx.upstream_file D/nginx/conf.d/up.conf: directory D/nginx/conf.d does not exist (D/nginx is a file, not a directory)",
			wantIs: []error{syscall.ENOTDIR},
		},
		{
			name: "file is a directory",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = filepath.Join(dir, "conf.d")
				if err := os.Mkdir(sw.File, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want:   "nginx preflight failed: nginx.upstream_file D/conf.d is a directory, not a regular file",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "unmanaged file",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = writeTestFile(t, filepath.Join(dir, "default.conf"), "server {\n    listen 80;\n}\n")
			},
			want: `nginx preflight failed: nginx.upstream_file D/default.conf was not written by bluegreen and is not a plain upstream block named "backend": ` +
				`a switch does not replace it (write "upstream backend { server 127.0.0.1:8081; }" there, or name another file)`,
			wantIs: []error{ErrUnmanaged},
		},
		{
			name: "plain upstream of another name",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = writeTestFile(t, filepath.Join(dir, "up.conf"), strings.Replace(plain, "backend", "api", 1))
			},
			want: `nginx preflight failed: nginx.upstream_file D/up.conf was not written by bluegreen and is not a plain upstream block named "backend": ` +
				`a switch does not replace it (write "upstream backend { server 127.0.0.1:8081; }" there, or name another file)`,
			wantIs: []error{ErrUnmanaged},
		},
		{
			name: "managed file edited by hand",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = writeTestFile(t, filepath.Join(dir, "up.conf"), managedFile(t, "backend")+"# mine\n")
			},
			want:   "nginx preflight failed: nginx.upstream_file D/up.conf: file not managed by bluegreen: content differs from what bluegreen writes (edited by hand?)",
			wantIs: []error{ErrUnmanaged},
		},
		{
			name: "managed file of another upstream",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = writeTestFile(t, filepath.Join(dir, "up.conf"), managedFile(t, "api"))
			},
			want:   `nginx preflight failed: nginx.upstream_file D/up.conf defines upstream "api", but nginx.upstream is "backend": make them agree`,
			wantIs: []error{ErrInvalid},
		},
		{
			// Root may write anywhere it has permission bits for, so the
			// unwritable directory is one no file can be created in, even
			// by root: /proc (procfs refuses new files, with ENOENT).
			name: "unwritable directory: /proc",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = "/proc/web-upstream.conf"
			},
			want:   "nginx preflight failed: nginx.upstream_file /proc/web-upstream.conf: cannot create a file in directory /proc, as a switch must: no such file or directory",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			// /sys: sysfs refuses new files with EACCES, even to root, or
			// EROFS when mounted read-only, as in most containers.
			name: "unwritable directory: /sys",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				if fi, err := os.Stat("/sys/kernel"); err != nil || !fi.IsDir() {
					testutil.SkipOrFail(t, fmt.Errorf("no /sys/kernel directory: %v", err))
				}
				sw.File = "/sys/kernel/web-upstream.conf"
			},
			wantPrefix: "nginx preflight failed: nginx.upstream_file /sys/kernel/web-upstream.conf: cannot create a file in directory /sys/kernel, as a switch must: ",
		},
		{
			name: "dangling link",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = symlink(t, "/etc/nginx/conf.d/missing-upstream.conf", filepath.Join(dir, "up.conf"))
			},
			want: "nginx preflight failed: nginx.upstream_file D/up.conf is a symbolic link to /etc/nginx/conf.d/missing-upstream.conf, " +
				"which does not exist (a switch writes through the link and does not create its target)",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "link to a directory",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
					t.Fatal(err)
				}
				sw.File = symlink(t, "real", filepath.Join(dir, "up.conf"))
			},
			want:   "nginx preflight failed: nginx.upstream_file D/up.conf is a symbolic link to D/real, which is a directory, not a regular file",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "link whose target's directory cannot take a new file",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				// /proc/version exists and is regular, but its directory
				// refuses new files: the write goes there, not beside the link.
				sw.File = symlink(t, "/proc/version", filepath.Join(dir, "up.conf"))
			},
			want:   "nginx preflight failed: nginx.upstream_file D/up.conf: cannot create a file in directory /proc, as a switch must: no such file or directory",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "control character",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File = filepath.Join(dir, "up\n.conf")
			},
			want:   `nginx preflight failed: nginx.upstream_file "D/up\n.conf" holds a control character, which nginx config cannot hold safely`,
			wantIs: []error{ErrInvalid},
		},
		{
			name:   "no file named",
			setup:  func(t *testing.T, dir string, sw *Switcher) { sw.File = "" },
			want:   "nginx preflight failed: nginx.upstream_file is empty",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "bad upstream name",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File, sw.Upstream = n.UpstreamFile, "backend;"
			},
			want:   `nginx preflight failed: nginx.upstream "backend;": want letters, digits, '_', '.' or '-'`,
			wantIs: []error{ErrInvalid},
		},
		{
			name: "keepalive out of range",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File, sw.Keepalive = n.UpstreamFile, -1
			},
			want:   "nginx preflight failed: nginx.keepalive -1: want 0-" + strconv.Itoa(MaxKeepalive),
			wantIs: []error{ErrInvalid},
		},
		{
			name: "nginx not running",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File, sw.PIDFile = n.UpstreamFile, filepath.Join(dir, "nginx.pid")
			},
			want:   "nginx preflight failed: nginx master not found: read pid file: open D/nginx.pid: no such file or directory (a switch reloads the running nginx: start it first)",
			wantIs: []error{ErrNotRunning, fs.ErrNotExist},
		},
		{
			name: "no nginx binary",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File, sw.Binary = n.UpstreamFile, filepath.Join(dir, "nginx")
			},
			want:   "nginx preflight failed: nginx.binary D/nginx: no such file or directory",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "nginx -t fails",
			setup: func(t *testing.T, dir string, sw *Switcher) {
				sw.File, sw.Conf = n.UpstreamFile, brokenConf
			},
			wantPrefix: "nginx preflight failed: nginx -t fails on the configuration as it is now, before any change: exit status 1: ",
			wantIs:     []error{ErrConfigTest},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sw := &Switcher{Upstream: n.Upstream, Conf: n.Conf, Prefix: n.Prefix, Binary: n.Binary, Logger: testLogger(t)}
			tc.setup(t, dir, sw)
			checkPreflight(t, tc, dir, sw, nginxWorkers(t, n))
			if tc.name == "nginx -t fails" {
				err := sw.Preflight(t.Context())
				if err == nil || !strings.Contains(err.Error(), `unknown directive "bogus_directive"`) {
					t.Errorf("Preflight error does not hold nginx's output: %v", err)
				}
			}
		})
	}
	if got, err := os.ReadFile(n.UpstreamFile); err != nil || string(got) != testutil.PlaceholderUpstream {
		t.Errorf("nginx's upstream file changed: %q, %v", got, err)
	}
}

// TestSlotFilesPreflight runs Preflight against a running private nginx,
// with the per-slot files set up right and wrong.
func TestSlotFilesPreflight(t *testing.T) {
	n := testutil.Nginx(t)
	const blue, green = "upstream backend { server 127.0.0.1:8081; }\n", "upstream backend { server 127.0.0.1:8080; }\n"
	// files writes the two slot files in dir and points sw at them, with a
	// live file that does not exist yet.
	files := func(t *testing.T, dir string, sw *SlotFiles) {
		sw.Blue = writeTestFile(t, filepath.Join(dir, "slots", "blue.conf"), blue)
		sw.Green = writeTestFile(t, filepath.Join(dir, "slots", "green.conf"), green)
		sw.Live = filepath.Join(dir, "live.conf")
	}
	for _, tc := range []preflightCase[*SlotFiles]{
		{name: "live file holds another config", setup: func(t *testing.T, dir string, sw *SlotFiles) {
			files(t, dir, sw)
			writeTestFile(t, sw.Live, "# anything: a switch replaces it\n")
		}},
		{name: "no live file yet", setup: files},
		{name: "links everywhere", setup: func(t *testing.T, dir string, sw *SlotFiles) {
			files(t, dir, sw)
			writeTestFile(t, filepath.Join(dir, "real", "live.conf"), blue)
			symlink(t, "real/live.conf", sw.Live)
			sw.Blue = symlink(t, sw.Blue, filepath.Join(dir, "blue-link.conf"))
		}},
		{
			name: "no blue file named",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Blue = ""
			},
			want:   "nginx preflight failed: nginx.blue_file is empty (live_file, blue_file and green_file go together)",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "control character",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Green += "\r"
			},
			want:   `nginx preflight failed: nginx.green_file "D/slots/green.conf\r" holds a control character, which nginx config cannot hold safely`,
			wantIs: []error{ErrInvalid},
		},
		{
			name: "live is the blue file",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Live = sw.Blue
			},
			want:   "nginx preflight failed: nginx.live_file, nginx.blue_file and nginx.green_file must name three different files",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "missing green file",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Green = filepath.Join(dir, "slots", "gren.conf")
			},
			want:   "nginx preflight failed: nginx.green_file D/slots/gren.conf does not exist",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "blue file is a dangling link",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Blue = symlink(t, "missing.conf", filepath.Join(dir, "slots", "blue-link.conf"))
			},
			want:   "nginx preflight failed: nginx.blue_file D/slots/blue-link.conf is a symbolic link to missing.conf, which does not exist (a switch writes through the link and does not create its target)",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "blue file is a directory",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Blue = filepath.Dir(sw.Blue)
			},
			want:   "nginx preflight failed: nginx.blue_file D/slots is a directory, not a regular file",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "slot files alike",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				writeTestFile(t, sw.Green, blue)
			},
			want:   "nginx preflight failed: nginx.blue_file D/slots/blue.conf and nginx.green_file D/slots/green.conf have the same content, so the live slot cannot be told",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "live file's directory missing",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Live = filepath.Join(dir, "ngnix", "nginx.conf")
			},
			want:   "nginx preflight failed: nginx.live_file D/ngnix/nginx.conf: directory D/ngnix does not exist",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "live file is a dangling link",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				symlink(t, "real/live.conf", sw.Live)
			},
			want:   "nginx preflight failed: nginx.live_file D/live.conf is a symbolic link to real/live.conf, which does not exist (a switch writes through the link and does not create its target)",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "live file is a directory",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				if err := os.Mkdir(sw.Live, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			want:   "nginx preflight failed: nginx.live_file D/live.conf is a directory, not a regular file",
			wantIs: []error{ErrInvalid},
		},
		{
			// See TestSwitcherPreflight: root cannot create a file in /proc.
			name: "live file's directory unwritable",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.Live = "/proc/nginx.conf"
			},
			want:   "nginx preflight failed: nginx.live_file /proc/nginx.conf: cannot create a file in directory /proc, as a switch must: no such file or directory",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "nginx not running",
			setup: func(t *testing.T, dir string, sw *SlotFiles) {
				files(t, dir, sw)
				sw.PIDFile = filepath.Join(dir, "nginx.pid")
			},
			want:   "nginx preflight failed: nginx master not found: read pid file: open D/nginx.pid: no such file or directory (a switch reloads the running nginx: start it first)",
			wantIs: []error{ErrNotRunning},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sw := &SlotFiles{Conf: n.Conf, Prefix: n.Prefix, Binary: n.Binary, Logger: testLogger(t)}
			tc.setup(t, dir, sw)
			checkPreflight(t, tc, dir, sw, nginxWorkers(t, n))
		})
	}
}

// TestSwitchThroughLink switches a real nginx through an upstream file
// that is a symbolic link: the link stays, its target gets the new
// upstream, nginx serves it and Active reads it back. nginx includes either
// the link or, with File a link elsewhere, the target itself: the way a
// switch that replaced the link with a file would go unseen by nginx.
func TestSwitchThroughLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		// link makes a symbolic link for n's upstream file and returns the
		// link, the text it holds and its target.
		link func(t *testing.T, n *testNginx) (link, text, target string)
	}{
		{"nginx includes a relative link", func(t *testing.T, n *testNginx) (string, string, string) {
			return n.file, "real/upstream.conf", moveUpstreamFile(t, n, "real/upstream.conf", false)
		}},
		{"nginx includes an absolute link", func(t *testing.T, n *testNginx) (string, string, string) {
			target := moveUpstreamFile(t, n, "real/upstream.conf", true)
			return n.file, target, target
		}},
		{"nginx includes the target", func(t *testing.T, n *testNginx) (string, string, string) {
			link := filepath.Join(n.prefix, "links", "upstream.conf")
			if err := os.Mkdir(filepath.Dir(link), 0o755); err != nil {
				t.Fatal(err)
			}
			return symlink(t, n.file, link), n.file, n.file
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
			n := startNginx(t, blue.addr())
			link, text, target := tc.link(t, n)
			sw := n.switcher(t)
			sw.File = link
			if err := sw.Preflight(t.Context()); err != nil {
				t.Fatalf("Preflight: %v", err)
			}
			for _, slot := range []bluegreen.Slot{bluegreen.Green, bluegreen.Blue} {
				addr := map[bluegreen.Slot]string{bluegreen.Blue: blue.addr(), bluegreen.Green: green.addr()}[slot]
				if err := sw.Switch(t.Context(), slot, []string{addr}); err != nil {
					t.Fatalf("Switch to %s: %v", slot, err)
				}
				drained(t, sw)
				for i := range 10 {
					if got, err := get(n.url); err != nil || got != slot.String() {
						t.Fatalf("request %d after the switch to %s: got %q, %v", i, slot, got, err)
					}
				}
				if got, err := sw.Active(t.Context()); err != nil || got != slot {
					t.Errorf("Active after the switch to %s = %v, %v", slot, got, err)
				}
				want, err := render(upstream{Slot: slot, Name: "backend", Addrs: []string{addr}})
				if err != nil {
					t.Fatal(err)
				}
				if got, err := os.ReadFile(target); err != nil || !bytes.Equal(got, want) {
					t.Errorf("link target after the switch to %s: %q, %v; want %q", slot, got, err, want)
				}
				if got, err := os.Readlink(link); err != nil || got != text {
					t.Errorf("upstream file after the switch to %s: link to %q, %v; want the link to %q as it was", slot, got, err, text)
				}
			}
			noTempFiles(t, filepath.Dir(link), filepath.Dir(target))
		})
	}
}

// moveUpstreamFile moves n's upstream file to rel under n's prefix and
// puts a symbolic link to it in its place: to rel, or to the absolute path
// with abs. It returns the new path.
func moveUpstreamFile(t *testing.T, n *testNginx, rel string, abs bool) string {
	t.Helper()
	target := filepath.Join(n.prefix, rel)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(n.file, target); err != nil {
		t.Fatal(err)
	}
	if abs {
		symlink(t, target, n.file)
	} else {
		symlink(t, rel, n.file)
	}
	return target
}

func noTempFiles(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		if leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(leftovers) > 0 {
			t.Errorf("temporary files left: %v", leftovers)
		}
	}
}

// TestSwitchThroughLinkConfigTestFails makes nginx -t refuse a switch
// through a linked upstream file: the target's content is back byte for
// byte, the link stays, and nginx did not reload.
func TestSwitchThroughLinkConfigTestFails(t *testing.T) {
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	target := moveUpstreamFile(t, n, "real/upstream.conf", false)
	// nginx writes its logs meanwhile: the access log gets the line of a
	// request that was answered before (startNginx's probe) when it likes.
	before := tree(t, n.prefix)
	delete(before, "error.log")
	delete(before, "bluegreen.log")
	workers := n.workers(t)

	// "taken" is an upstream of the main config: a second one fails nginx -t.
	sw := n.switcher(t)
	sw.Upstream = "taken"
	err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()})
	if !errors.Is(err, ErrConfigTest) || !strings.Contains(err.Error(), `duplicate upstream "taken"`) {
		t.Fatalf("Switch: %v; want an error wrapping ErrConfigTest with nginx's output", err)
	}
	after := tree(t, n.prefix)
	delete(after, "error.log")
	delete(after, "bluegreen.log")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("files changed, link and target included (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(workers, n.workers(t)); diff != "" {
		t.Errorf("workers changed, so nginx reloaded (-before +after):\n%s", diff)
	}
	if got, err := get(n.url); err != nil || got != "blue" {
		t.Errorf("after the failed switch: got %q, %v; want blue", got, err)
	}
	noTempFiles(t, n.prefix, filepath.Dir(target))
}

// TestSwitchDanglingLink refuses to switch through a link whose target is
// missing, before it writes: the link stays, no target appears.
func TestSwitchDanglingLink(t *testing.T) {
	n := startNginx(t, newBackend(t, "blue", 0).addr())
	dir := t.TempDir()
	sw := n.switcher(t)
	sw.File = symlink(t, "missing/upstream.conf", filepath.Join(dir, "upstream.conf"))
	before := tree(t, dir)
	err := sw.Switch(t.Context(), bluegreen.Green, []string{"127.0.0.1:8080"})
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link to missing/upstream.conf, which does not exist") {
		t.Fatalf("Switch: %v; want an error about the dangling link", err)
	}
	if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
		t.Errorf("files changed (-before +after):\n%s", diff)
	}
	if _, err := sw.Active(t.Context()); err == nil {
		t.Errorf("Active through a dangling link: no error")
	}
}

// TestContainerPreflightFake covers what Container.Preflight finds through
// the engine before it runs nginx -t, with a fake engine.
func TestContainerPreflightFake(t *testing.T) {
	running := func() fakeEngine {
		return fakeEngine{
			state: &container.State{Running: true, Status: "running"},
			top: container.TopResponse{Titles: []string{"PID", "PPID", "COMMAND"}, Processes: [][]string{
				{"100", "90", "nginx: master process nginx"},
				{"101", "100", "nginx: worker process"},
			}},
			files: map[string]string{"/etc/nginx/conf.d/upstream.conf": testutil.PlaceholderUpstream},
			dirs:  map[string]bool{"/etc/nginx/conf.d": true, "/etc/nginx": true},
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(e *fakeEngine, c *Container)
		want   string
		wantIs []error
	}{
		{
			name:   "no such container",
			edit:   func(e *fakeEngine, c *Container) { e.state = nil },
			want:   "nginx preflight failed: nginx.container proxy: no such container",
			wantIs: []error{ErrNotRunning},
		},
		{
			name:   "container stopped",
			edit:   func(e *fakeEngine, c *Container) { e.state = &container.State{Status: "exited"} },
			want:   "nginx preflight failed: nginx.container proxy is not running (status exited)",
			wantIs: []error{ErrNotRunning},
		},
		{
			name:   "no nginx master",
			edit:   func(e *fakeEngine, c *Container) { e.top.Processes = e.top.Processes[1:] },
			want:   `nginx preflight failed: container proxy: nginx master not found: no process titled "nginx: master process" (master_process off?)`,
			wantIs: []error{ErrNotRunning},
		},
		{
			name:   "missing directory",
			edit:   func(e *fakeEngine, c *Container) { c.File = "/etc/ngnix/conf.d/upstream.conf" },
			want:   "nginx preflight failed: nginx.upstream_file /etc/ngnix/conf.d/upstream.conf: directory /etc/ngnix/conf.d does not exist in container proxy",
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "missing file",
			edit: func(e *fakeEngine, c *Container) { c.File = "/etc/nginx/conf.d/web-upstream.conf" },
			want: `nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/web-upstream.conf does not exist in container proxy: ` +
				`write a plain upstream block there first, such as "upstream backend { server 127.0.0.1:8081; }" ` +
				`(nginx needs it to start, and a switch that fails could not remove a file it created)`,
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name: "unmanaged file",
			edit: func(e *fakeEngine, c *Container) { e.files[c.File] = "server { listen 80; }\n" },
			want: `nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/upstream.conf in container proxy was not written by bluegreen and is not a plain upstream block named "backend": ` +
				`a switch does not replace it (write "upstream backend { server 127.0.0.1:8081; }" there, or name another file)`,
			wantIs: []error{ErrUnmanaged},
		},
		{
			name: "file is a link",
			edit: func(e *fakeEngine, c *Container) {
				delete(e.files, c.File)
				e.links = map[string]string{c.File: "/etc/nginx/upstreams/web.conf"}
			},
			want: "nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/upstream.conf in container proxy is a symbolic link to /etc/nginx/upstreams/web.conf: " +
				"name the file itself (in a container a switch would replace the link)",
			wantIs: []error{ErrInvalid},
		},
		{
			name:   "file is a directory",
			edit:   func(e *fakeEngine, c *Container) { c.File = "/etc/nginx/conf.d" },
			want:   "nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d in container proxy is a directory, not a regular file",
			wantIs: []error{ErrInvalid},
		},
		{
			name: "read-only mount",
			edit: func(e *fakeEngine, c *Container) {
				e.mounts = []container.MountPoint{{Destination: "/etc/nginx", RW: false}, {Destination: "/etc/nginx/certs", RW: true}}
			},
			want:   "nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/upstream.conf is on a read-only mount of /etc/nginx in container proxy: a switch cannot write it",
			wantIs: []error{syscall.EROFS},
		},
		{
			name:   "read-only root file system",
			edit:   func(e *fakeEngine, c *Container) { e.readOnlyRoot = true },
			want:   "nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/upstream.conf is on the read-only root file system in container proxy: a switch cannot write it",
			wantIs: []error{syscall.EROFS},
		},
		{
			name:   "relative file",
			edit:   func(e *fakeEngine, c *Container) { c.File = "conf.d/upstream.conf" },
			want:   "nginx preflight failed: nginx.upstream_file conf.d/upstream.conf: want an absolute path inside the container",
			wantIs: []error{ErrInvalid},
		},
		{
			name:   "control character",
			edit:   func(e *fakeEngine, c *Container) { c.File = "/etc/nginx/conf.d/up\x1b.conf" },
			want:   `nginx preflight failed: nginx.upstream_file "/etc/nginx/conf.d/up\x1b.conf" holds a control character, which nginx config cannot hold safely`,
			wantIs: []error{ErrInvalid},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := running()
			c := &Container{Container: "proxy", Upstream: "backend", File: "/etc/nginx/conf.d/upstream.conf", Client: &e}
			tc.edit(&e, c)
			err := c.Preflight(t.Context())
			if err == nil || err.Error() != tc.want {
				t.Errorf("Preflight error:\n got %v\nwant %s", err, tc.want)
			}
			for _, want := range append([]error{ErrPreflight}, tc.wantIs...) {
				if !errors.Is(err, want) {
					t.Errorf("Preflight error does not wrap %v: %v", want, err)
				}
			}
			if e.writes != 0 {
				t.Errorf("Preflight copied %d files into the container", e.writes)
			}
		})
	}
}

// fakeEngine is the part of the Docker Engine API that Container.Preflight
// uses before nginx -t; the other calls panic (nil DockerClient).
type fakeEngine struct {
	DockerClient
	state        *container.State // nil: no such container
	top          container.TopResponse
	files        map[string]string
	links        map[string]string // link: target
	dirs         map[string]bool
	mounts       []container.MountPoint
	readOnlyRoot bool
	writes       int
}

func (e *fakeEngine) ContainerInspect(ctx context.Context, name string) (container.InspectResponse, error) {
	if e.state == nil {
		return container.InspectResponse{}, fmt.Errorf("no such container: %s: %w", name, cerrdefs.ErrNotFound)
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{State: e.state, HostConfig: &container.HostConfig{ReadonlyRootfs: e.readOnlyRoot}},
		Mounts:            e.mounts,
	}, nil
}

func (e *fakeEngine) ContainerTop(ctx context.Context, name string, args []string) (container.TopResponse, error) {
	return e.top, nil
}

func (e *fakeEngine) CopyFromContainer(ctx context.Context, name, file string) (io.ReadCloser, container.PathStat, error) {
	data, ok := e.files[file]
	if !ok {
		return nil, container.PathStat{}, fmt.Errorf("could not find %s: %w", file, cerrdefs.ErrNotFound)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Base(file), Mode: 0o644, Size: int64(len(data))}); err != nil {
		return nil, container.PathStat{}, err
	}
	io.WriteString(tw, data)
	tw.Close()
	return io.NopCloser(&buf), container.PathStat{Name: path.Base(file), Mode: 0o644, Size: int64(len(data))}, nil
}

func (e *fakeEngine) ContainerStatPath(ctx context.Context, name, p string) (container.PathStat, error) {
	if data, ok := e.files[p]; ok {
		return container.PathStat{Name: path.Base(p), Mode: 0o644, Size: int64(len(data))}, nil
	}
	if target, ok := e.links[p]; ok {
		return container.PathStat{Name: path.Base(p), Mode: fs.ModeSymlink | 0o777, LinkTarget: target}, nil
	}
	if !e.dirs[p] {
		return container.PathStat{}, fmt.Errorf("could not find %s: %w", p, cerrdefs.ErrNotFound)
	}
	return container.PathStat{Name: path.Base(p), Mode: fs.ModeDir | 0o755}, nil
}

func (e *fakeEngine) CopyToContainer(ctx context.Context, name, dir string, content io.Reader, options container.CopyToContainerOptions) error {
	e.writes++
	return errors.New("fakeEngine: no writes")
}
