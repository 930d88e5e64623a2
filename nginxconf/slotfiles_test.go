package nginxconf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/google/go-cmp/cmp"
)

// slotLayout is how a setup splits its per-slot files.
type slotLayout struct {
	name string
	// files writes the blue and green files for n, routing to the given
	// addresses, and returns the live file and the two slot files.
	files func(t *testing.T, n *testNginx, blue, green string) (live, blueFile, greenFile string)
}

var slotLayouts = []slotLayout{
	{"included file", func(t *testing.T, n *testNginx, blue, green string) (string, string, string) {
		dir := filepath.Join(n.prefix, "slots")
		return n.file,
			writeTestFile(t, filepath.Join(dir, "blue.conf"), "upstream backend { server "+blue+"; }\n"),
			writeTestFile(t, filepath.Join(dir, "green.conf"), "upstream backend { server "+green+"; }\n")
	}},
	{"main config", func(t *testing.T, n *testNginx, blue, green string) (string, string, string) {
		// nginx.blue.conf and nginx.green.conf: the whole config, with the
		// upstream written in.
		conf, err := os.ReadFile(n.conf)
		if err != nil {
			t.Fatal(err)
		}
		slotConf := func(addr string) string {
			return strings.Replace(string(conf), "include "+n.file+";", "upstream backend { server "+addr+"; }", 1)
		}
		return n.conf,
			writeTestFile(t, filepath.Join(n.prefix, "nginx.blue.conf"), slotConf(blue)),
			writeTestFile(t, filepath.Join(n.prefix, "nginx.green.conf"), slotConf(green))
	}},
}

func writeTestFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (n *testNginx) slotFiles(t *testing.T, live, blue, green string) *SlotFiles {
	return &SlotFiles{
		Live:          live,
		Blue:          blue,
		Green:         green,
		Conf:          n.conf,
		Prefix:        n.prefix,
		Binary:        n.bin,
		Logger:        testLogger(t),
		ReloadTimeout: 5 * time.Second,
	}
}

// TestSlotFilesSwitch switches to green and back under load, for both
// layouts: each switch is live when Switch returns, and no request fails.
func TestSlotFilesSwitch(t *testing.T) {
	for _, layout := range slotLayouts {
		t.Run(layout.name, func(t *testing.T) {
			blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
			n := startNginx(t, blue.addr())
			live, blueFile, greenFile := layout.files(t, n, blue.addr(), green.addr())
			sw := n.slotFiles(t, live, blueFile, greenFile)
			ctx := t.Context()

			// nginx started from a file that is neither slot's.
			if got, err := sw.Active(ctx); !errors.Is(err, ErrUnmanaged) {
				t.Errorf("Active before any switch = %v, %v; want an error wrapping ErrUnmanaged", got, err)
			}
			load := testutil.Load(t, n.url)
			for _, step := range []struct {
				slot bluegreen.Slot
				want string
			}{
				{bluegreen.Green, "green"},
				{bluegreen.Blue, "blue"},
				{bluegreen.Green, "green"},
			} {
				before := n.workers(t)
				start := time.Now()
				// The addresses are ignored: the slot's file names its own.
				if err := sw.Switch(ctx, step.slot, []string{"127.0.0.1:1"}); err != nil {
					t.Fatalf("Switch to %s: %v", step.slot, err)
				}
				took := time.Since(start)
				drained(t, sw)
				for i := range 10 {
					if got, err := get(n.url); err != nil || got != step.want {
						t.Fatalf("request %d after the switch to %s: got %q, %v", i, step.slot, got, err)
					}
				}
				if got, err := sw.Active(ctx); err != nil || got != step.slot {
					t.Errorf("Active after the switch to %s = %v, %v", step.slot, got, err)
				}
				if diff := cmp.Diff(before, n.workers(t)); diff == "" {
					t.Errorf("workers unchanged by the switch to %s: %v", step.slot, before)
				}
				drainCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				start = time.Now()
				err := sw.Drain(drainCtx)
				cancel()
				if err != nil {
					t.Errorf("Drain: %v", err)
				}
				t.Logf("switch to %s: %v, drain: %v", step.slot, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			}
			res := load.Stop()
			t.Logf("load: %v", res)
			if res.Failed != 0 || res.Versions["blue"] == 0 || res.Versions["green"] == 0 {
				t.Errorf("load through the switches: %v; want none failed, answers from blue and green", res)
			}
		})
	}
}

// TestSlotFilesConfigTestFails switches to a green file that nginx -t
// rejects: the live file stays byte for byte, nginx is not reloaded, and
// traffic stays on blue.
func TestSlotFilesConfigTestFails(t *testing.T) {
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	live, blueFile, greenFile := slotLayouts[0].files(t, n, blue.addr(), green.addr())
	// "taken" is an upstream of the main config: a second one fails nginx -t.
	writeTestFile(t, greenFile, "upstream taken { server 127.0.0.1:9; }\nupstream backend { server "+green.addr()+"; }\n")
	sw := n.slotFiles(t, live, blueFile, greenFile)
	if err := sw.Switch(t.Context(), bluegreen.Blue, nil); err != nil {
		t.Fatalf("Switch to blue: %v", err)
	}
	before, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	workers := n.settledWorkers(t)

	err = sw.Switch(t.Context(), bluegreen.Green, nil)
	if !errors.Is(err, ErrConfigTest) || !strings.Contains(err.Error(), `duplicate upstream "taken"`) {
		t.Fatalf("Switch to green: %v; want an error wrapping ErrConfigTest with nginx's output", err)
	}
	if after, _ := os.ReadFile(live); !bytes.Equal(before, after) {
		t.Errorf("live file changed: before %q, after %q", before, after)
	}
	if diff := cmp.Diff(workers, n.workers(t)); diff != "" {
		t.Errorf("workers changed, so nginx reloaded (-before +after):\n%s", diff)
	}
	if got, err := get(n.url); err != nil || got != "blue" {
		t.Errorf("after the failed switch: got %q, %v; want blue", got, err)
	}
	if got, err := sw.Active(t.Context()); err != nil || got != bluegreen.Blue {
		t.Errorf("Active after the failed switch = %v, %v; want blue", got, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(live), ".*.tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestSlotFilesActive(t *testing.T) {
	dir := t.TempDir()
	blue := writeTestFile(t, filepath.Join(dir, "nginx.blue.conf"), "blue\n")
	green := writeTestFile(t, filepath.Join(dir, "nginx.green.conf"), "green\n")
	same := writeTestFile(t, filepath.Join(dir, "nginx.same.conf"), "blue\n")
	for _, tc := range []struct {
		name        string
		live        *string // nil: no live file
		blue, green string
		want        bluegreen.Slot
		wantErr     error
	}{
		{name: "no live file", blue: blue, green: green, want: bluegreen.None},
		{name: "blue", live: ptr("blue\n"), blue: blue, green: green, want: bluegreen.Blue},
		{name: "green", live: ptr("green\n"), blue: blue, green: green, want: bluegreen.Green},
		{name: "neither", live: ptr("green\n# edited\n"), blue: blue, green: green, wantErr: ErrUnmanaged},
		{name: "slot files alike", live: ptr("blue\n"), blue: blue, green: same, wantErr: ErrInvalid},
		{name: "no green file", live: ptr("blue\n"), blue: blue, green: filepath.Join(dir, "missing.conf"), wantErr: os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := filepath.Join(t.TempDir(), "nginx.conf")
			if tc.live != nil {
				writeTestFile(t, live, *tc.live)
			}
			sw := &SlotFiles{Live: live, Blue: tc.blue, Green: tc.green}
			got, err := sw.Active(t.Context())
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Active = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestSlotFilesInvalid fails before it touches anything: no nginx runs, and
// none could.
func TestSlotFilesInvalid(t *testing.T) {
	dir := t.TempDir()
	live := writeTestFile(t, filepath.Join(dir, "nginx.conf"), "live\n")
	blue := writeTestFile(t, filepath.Join(dir, "nginx.blue.conf"), "blue\n")
	green := writeTestFile(t, filepath.Join(dir, "nginx.green.conf"), "green\n")
	for _, tc := range []struct {
		name              string
		live, blue, green string
		slot              bluegreen.Slot
		wantErr           error
	}{
		{"no live file named", "", blue, green, bluegreen.Blue, ErrInvalid},
		{"no green file named", live, blue, "", bluegreen.Blue, ErrInvalid},
		{"live file with a newline", live + "\n", blue, green, bluegreen.Blue, ErrInvalid},
		{"blue file with a tab", live, blue + "\t", green, bluegreen.Blue, ErrInvalid},
		{"live is the blue file", blue, blue, green, bluegreen.Green, ErrInvalid},
		{"same file for both slots", live, blue, dir + "/./nginx.blue.conf", bluegreen.Green, ErrInvalid},
		{"slot none", live, blue, green, bluegreen.None, ErrInvalid},
		{"unknown slot", live, blue, green, "red", ErrInvalid},
		{"missing slot file", live, blue, filepath.Join(dir, "missing.conf"), bluegreen.Green, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &SlotFiles{Live: tc.live, Blue: tc.blue, Green: tc.green, Binary: "/nonexistent/nginx"}
			if err := sw.Switch(t.Context(), tc.slot, nil); !errors.Is(err, tc.wantErr) {
				t.Fatalf("Switch: %v; want an error wrapping %v", err, tc.wantErr)
			}
			if got, _ := os.ReadFile(live); string(got) != "live\n" {
				t.Errorf("live file changed to %q", got)
			}
		})
	}
}
