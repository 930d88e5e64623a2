package nginxconf

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/google/go-cmp/cmp"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestSwitchMovesTraffic(t *testing.T) {
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	sw := n.switcher(t)
	ctx := t.Context()

	if got, err := get(n.url); err != nil || got != "blue" {
		t.Fatalf("before the switch: got %q, %v; want blue", got, err)
	}
	if got, err := sw.Active(ctx); err != nil || got != bluegreen.Blue {
		t.Fatalf("Active before the switch = %v, %v; want blue", got, err)
	}
	before := n.workers(t)

	if err := sw.Switch(ctx, bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	// No retry: once Drain returns, the old workers are gone.
	drained(t, sw)
	for i := range 20 {
		if got, err := get(n.url); err != nil || got != "green" {
			t.Fatalf("request %d after the switch: got %q, %v; want green", i, got, err)
		}
	}
	if got, err := sw.Active(ctx); err != nil || got != bluegreen.Green {
		t.Errorf("Active after the switch = %v, %v; want green", got, err)
	}
	for _, pid := range n.workers(t) {
		for _, old := range before {
			if pid == old && alive(pid) {
				if title, _ := cmdline(pid); !strings.Contains(title, "shutting down") {
					t.Errorf("worker %d from before the switch still runs as %q", pid, title)
				}
			}
		}
	}

	// And back, with two addresses.
	if err := sw.Switch(ctx, bluegreen.Blue, []string{blue.addr(), blue.addr()}); err != nil {
		t.Fatalf("Switch back: %v", err)
	}
	drained(t, sw)
	if got, err := get(n.url); err != nil || got != "blue" {
		t.Errorf("after switching back: got %q, %v; want blue", got, err)
	}
}

// TestSwitchReplicas routes to a slot of three replicas: one server line
// each, and nginx spreads the requests over all of them.
func TestSwitchReplicas(t *testing.T) {
	n := startNginx(t, newBackend(t, "blue", 0).addr())
	var addrs []string
	for _, name := range []string{"green-1", "green-2", "green-3"} {
		addrs = append(addrs, newBackend(t, name, 0).addr())
	}
	sw := n.switcher(t)
	if err := sw.Switch(t.Context(), bluegreen.Green, addrs); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	drained(t, sw)
	seen := map[string]int{}
	for i := range 30 {
		got, err := get(n.url)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		seen[got]++
	}
	if len(seen) != 3 || seen["blue"] != 0 {
		t.Errorf("answered by %v; want green-1, green-2 and green-3", seen)
	}
}

func TestActive(t *testing.T) {
	dir := t.TempDir()
	managed, err := render(upstream{Slot: bluegreen.Green, Name: "backend", Addrs: []string{"127.0.0.1:8080"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		content []byte // nil: no file
		want    bluegreen.Slot
		wantErr error
	}{
		{name: "no file", want: bluegreen.None},
		{name: "managed", content: managed, want: bluegreen.Green},
		{name: "hand-written upstream, adopted", content: []byte("upstream backend {\n    server 127.0.0.1:8080;\n}\n"), want: bluegreen.None},
		{name: "not ours", content: []byte("server {\n    listen 80;\n}\n"), wantErr: ErrUnmanaged},
		{name: "other upstream", content: []byte("upstream api {\n    server 127.0.0.1:8080;\n}\n"), wantErr: ErrUnmanaged},
		{name: "edited", content: append(bytes.Clone(managed), "# mine\n"...), wantErr: ErrUnmanaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".conf")
			if tc.content != nil {
				if err := os.WriteFile(file, tc.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sw := &Switcher{Upstream: "backend", File: file}
			got, err := sw.Active(t.Context())
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Active = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	if _, err := (&Switcher{}).Active(t.Context()); !errors.Is(err, ErrInvalid) {
		t.Errorf("Active with no File: %v; want ErrInvalid", err)
	}
}

func TestSwitchConfigTestFails(t *testing.T) {
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())

	// "taken" is an upstream of the main config: a second one makes nginx -t
	// fail ("duplicate upstream") with addresses that pass our validation.
	for _, tc := range []struct {
		name string
		file string
	}{
		{"previous file restored", n.file},
		{"new file removed", filepath.Join(n.prefix, "extra-new.conf")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeErr := os.ReadFile(tc.file)
			workers := n.workers(t)
			sw := n.switcher(t)
			sw.Upstream, sw.File = "taken", tc.file

			err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()})
			if !errors.Is(err, ErrConfigTest) {
				t.Fatalf("Switch: %v; want an error wrapping ErrConfigTest", err)
			}
			if !strings.Contains(err.Error(), `duplicate upstream "taken"`) {
				t.Errorf("Switch error does not hold nginx's output: %v", err)
			}
			after, afterErr := os.ReadFile(tc.file)
			if !bytes.Equal(before, after) || (beforeErr == nil) != (afterErr == nil) {
				t.Errorf("upstream file changed: before %q (%v), after %q (%v)", before, beforeErr, after, afterErr)
			}
			if diff := cmp.Diff(workers, n.workers(t)); diff != "" {
				t.Errorf("workers changed, so nginx reloaded (-before +after):\n%s", diff)
			}
			if got, err := get(n.url); err != nil || got != "blue" {
				t.Errorf("after the failed switch: got %q, %v; want blue", got, err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(n.prefix, ".*.tmp-*"))
			if len(leftovers) > 0 {
				t.Errorf("temporary files left: %v", leftovers)
			}
		})
	}
}

func TestSwitchInvalid(t *testing.T) {
	file := filepath.Join(t.TempDir(), "upstream.conf")
	original, err := render(upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{"127.0.0.1:8081"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, original, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		upstream string
		file     string
		slot     bluegreen.Slot
		addrs    []string
	}{
		{"upstream name with ;", "backend; include /etc/passwd;", file, bluegreen.Green, []string{"127.0.0.1:8080"}},
		{"upstream name with }", "backend}", file, bluegreen.Green, []string{"127.0.0.1:8080"}},
		{"empty upstream name", "", file, bluegreen.Green, []string{"127.0.0.1:8080"}},
		{"no file", "backend", "", bluegreen.Green, []string{"127.0.0.1:8080"}},
		{"file with a newline", "backend", file + "\ninclude /etc/passwd;", bluegreen.Green, []string{"127.0.0.1:8080"}},
		{"file with a NUL", "backend", file + "\x00", bluegreen.Green, []string{"127.0.0.1:8080"}},
		{"slot none", "backend", file, bluegreen.None, []string{"127.0.0.1:8080"}},
		{"no addresses", "backend", file, bluegreen.Green, nil},
		{"address with space", "backend", file, bluegreen.Green, []string{"127.0.0.1 :8080"}},
		{"address with newline", "backend", file, bluegreen.Green, []string{"127.0.0.1:8080\n}"}},
		{"address with ;", "backend", file, bluegreen.Green, []string{"127.0.0.1:8080;"}},
		{"host with ;", "backend", file, bluegreen.Green, []string{"evil;host:8080"}},
		{"bad port", "backend", file, bluegreen.Green, []string{"127.0.0.1:99999"}},
		{"port 0", "backend", file, bluegreen.Green, []string{"127.0.0.1:0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No nginx runs, and none could: validation comes first.
			sw := &Switcher{Upstream: tc.upstream, File: tc.file, Binary: "/nonexistent/nginx"}
			err := sw.Switch(t.Context(), tc.slot, tc.addrs)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Switch: %v; want an error wrapping ErrInvalid", err)
			}
			if got, _ := os.ReadFile(file); !bytes.Equal(got, original) {
				t.Errorf("upstream file changed to %q", got)
			}
		})
	}
}

func TestSwitchNotRunning(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "upstream.conf")
	sw := &Switcher{Upstream: "backend", File: file, PIDFile: filepath.Join(dir, "nginx.pid")}
	err := sw.Switch(t.Context(), bluegreen.Blue, []string{"127.0.0.1:8081"})
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Switch: %v; want an error wrapping ErrNotRunning", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("upstream file written although nginx does not run: %v", err)
	}
}

// TestSwitchReloadNotConfirmed watches a process that is not the nginx
// master, so no new workers ever show: Switch must give up, restore the file
// and reload nginx with it.
func TestSwitchReloadNotConfirmed(t *testing.T) {
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	before, err := os.ReadFile(n.file)
	if err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleep.Process.Kill(); sleep.Wait() })
	pidFile := filepath.Join(t.TempDir(), "not-nginx.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(sleep.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sw := n.switcher(t)
	sw.PIDFile, sw.ReloadTimeout = pidFile, 200*time.Millisecond

	err = sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()})
	if !errors.Is(err, ErrReload) {
		t.Fatalf("Switch: %v; want an error wrapping ErrReload", err)
	}
	if after, _ := os.ReadFile(n.file); !bytes.Equal(before, after) {
		t.Errorf("upstream file not restored: %q", after)
	}
	// nginx did load green (its master is not the watched process); the
	// reload back must bring blue again.
	waitFor(t, 5*time.Second, "traffic back on blue", func() bool {
		got, err := get(n.url)
		return err == nil && got == "blue"
	})
}

// TestDrainWaitsForOldWorkers holds a slow request through the blue
// upstream across a switch: Drain must not return before it is answered,
// and the answer must come from blue.
func TestDrainWaitsForOldWorkers(t *testing.T) {
	const slow = time.Second
	blue, green := newBackend(t, "blue", slow), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	sw := n.switcher(t)

	type result struct {
		body string
		err  error
	}
	held := make(chan result, 1)
	go func() {
		body, err := get(n.url + "/slow")
		held <- result{body, err}
	}()
	<-blue.started

	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	// For about 100 ms the old workers still accept; then new requests go
	// to green while the slow one is still held by an old worker.
	deadline := time.Now().Add(2 * time.Second)
	for got, err := get(n.url); err != nil || got != "green"; got, err = get(n.url) {
		if time.Now().After(deadline) {
			t.Fatalf("new request after the switch: got %q, %v; want green", got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if blue.finished.Load() != 0 {
		t.Fatal("the slow request finished before Drain was called; the test proves nothing")
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sw.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if blue.finished.Load() != 1 {
		t.Errorf("Drain returned after %s, before the request held by an old worker was answered", time.Since(start))
	}
	if r := <-held; r.err != nil || r.body != "blue" {
		t.Errorf("request in flight during the switch: got %q, %v; want blue", r.body, r.err)
	}
	if kids, err := children(n.master(t)); err != nil || shuttingDown(kids) != 0 {
		t.Errorf("after Drain: %d workers shutting down, %v; want 0", shuttingDown(kids), err)
	}
}

func TestDrainContextEnds(t *testing.T) {
	blue, green := newBackend(t, "blue", 700*time.Millisecond), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	sw := n.switcher(t)

	held := make(chan error, 1)
	go func() {
		_, err := get(n.url + "/slow")
		held <- err
	}()
	<-blue.started
	if err := sw.Switch(t.Context(), bluegreen.Green, []string{green.addr()}); err != nil {
		t.Fatalf("Switch: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := sw.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Drain with a short deadline: %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if err := <-held; err != nil {
		t.Errorf("request in flight during the switch: %v", err)
	}
}

// TestDrainNothingToDrain returns at once when no reload happened.
func TestDrainNothingToDrain(t *testing.T) {
	n := startNginx(t, newBackend(t, "blue", 0).addr())
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := n.switcher(t).Drain(ctx); err != nil {
		t.Errorf("Drain: %v", err)
	}
}
