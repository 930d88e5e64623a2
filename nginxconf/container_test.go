package nginxconf

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func TestParseTop(t *testing.T) {
	titles := []string{"PID", "PPID", "COMMAND"}
	for _, tc := range []struct {
		name       string
		top        container.TopResponse
		want       []topProcess
		wantMaster int
		wantErr    error // from findMaster
	}{
		{
			name: "master, workers and an exec",
			top: container.TopResponse{Titles: titles, Processes: [][]string{
				{"100", "90", "nginx: master process /usr/sbin/nginx"},
				{"101", "100", "nginx: worker process"},
				{"102", "100", "nginx: worker process is shutting down"},
				{"110", "95", "nginx -s reload"},
			}},
			want: []topProcess{
				{process{100, "nginx: master process /usr/sbin/nginx"}, 90},
				{process{101, "nginx: worker process"}, 100},
				{process{102, "nginx: worker process is shutting down"}, 100},
				{process{110, "nginx -s reload"}, 95},
			},
			wantMaster: 100,
		},
		{
			name: "no master",
			top: container.TopResponse{Titles: titles, Processes: [][]string{
				{"100", "90", "/app"},
			}},
			want:    []topProcess{{process{100, "/app"}, 90}},
			wantErr: ErrNotRunning,
		},
		{
			name: "two masters",
			top: container.TopResponse{Titles: titles, Processes: [][]string{
				{"100", "90", "nginx: master process nginx"},
				{"200", "100", "nginx: master process nginx"},
			}},
			want:    []topProcess{{process{100, "nginx: master process nginx"}, 90}, {process{200, "nginx: master process nginx"}, 100}},
			wantErr: ErrNotRunning,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTop(tc.top)
			if err != nil {
				t.Fatalf("parseTop: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(topProcess{}, process{})); diff != "" {
				t.Errorf("parseTop (-want +got):\n%s", diff)
			}
			master, err := findMaster(got)
			if master != tc.wantMaster || !errors.Is(err, tc.wantErr) {
				t.Errorf("findMaster = %d, %v; want %d, %v", master, err, tc.wantMaster, tc.wantErr)
			}
		})
	}

	for _, top := range []container.TopResponse{
		{Titles: []string{"UID", "PID", "CMD"}, Processes: [][]string{{"0", "1", "nginx"}}},
		{Titles: []string{"PID", "PPID", "CMD"}, Processes: [][]string{{"x", "1", "nginx"}}},
		{Titles: []string{"PID", "PPID", "CMD"}, Processes: [][]string{{"1", "nginx"}}},
	} {
		if got, err := parseTop(top); err == nil {
			t.Errorf("parseTop(%v) = %v; want an error", top, got)
		}
	}
}

// TestContainerInvalid fails before it talks to an engine.
func TestContainerInvalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		c     *Container
		slot  bluegreen.Slot
		addrs []string
	}{
		{"no container", &Container{Upstream: "backend", File: "/etc/nginx/conf.d/up.conf"}, bluegreen.Blue, []string{"a:80"}},
		{"relative file", &Container{Container: "x", Upstream: "backend", File: "conf.d/up.conf"}, bluegreen.Blue, []string{"a:80"}},
		{"no file", &Container{Container: "x", Upstream: "backend"}, bluegreen.Blue, []string{"a:80"}},
		{"file with a newline", &Container{Container: "x", Upstream: "backend", File: "/up.conf\n"}, bluegreen.Blue, []string{"a:80"}},
		{"bad address", &Container{Container: "x", Upstream: "backend", File: "/up.conf"}, bluegreen.Blue, []string{"a;b:80"}},
		{"slot none", &Container{Container: "x", Upstream: "backend", File: "/up.conf"}, bluegreen.None, []string{"a:80"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Switch(t.Context(), tc.slot, tc.addrs); !errors.Is(err, ErrInvalid) {
				t.Errorf("Switch: %v; want an error wrapping ErrInvalid", err)
			}
		})
	}
}

// TestContainer runs nginx in a container, from an image of the host's
// nginx built for the test, and switches it through the Docker API both
// ways a caller names a slot: by container name on a shared network, and by
// 127.0.0.1:PORT with nginx on the host network. Test traffic goes only to
// 127.0.0.1.
func TestContainer(t *testing.T) {
	image := testutil.NginxImage(t)
	t.Run("shared network", func(t *testing.T) { testContainerSharedNetwork(t, image) })
	t.Run("host network", func(t *testing.T) { testContainerHostNetwork(t, image) })
	t.Run("not running", func(t *testing.T) {
		sw := &Container{Container: "bluegreen-no-such-container", Upstream: "backend", File: "/etc/nginx/conf.d/upstream.conf"}
		if err := sw.Switch(t.Context(), bluegreen.Blue, []string{"127.0.0.1:8081"}); !errors.Is(err, ErrNotRunning) {
			t.Errorf("Switch: %v; want an error wrapping ErrNotRunning", err)
		}
		if got, err := sw.Active(t.Context()); err == nil {
			t.Errorf("Active = %v; want an error for a missing container", got)
		}
	})
}

// slotContainerName is how compose names a slot's container: project
// <base>-<slot>, service web, first replica. The underscore is allowed in
// project names and must pass validation and nginx's resolver.
func slotContainerName(base string, slot bluegreen.Slot) string {
	return base + "-" + slot.String() + "-web-1"
}

func testContainerSharedNetwork(t *testing.T, image string) {
	net := testutil.Network(t)
	base := "bgtest_" + strings.ToLower(rand.Text()[:8])
	addr := map[bluegreen.Slot]string{}
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		name := slotContainerName(base, slot)
		testutil.App(t, testutil.AppOptions{Name: name, Network: net, Env: []string{"VERSION=" + slot.String(), "SLOW=4s"}})
		addr[slot] = name + ":8000"
	}
	ngx := testutil.NginxContainer(t, testutil.NginxContainerOptions{Image: image, Network: net})
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	sw := &Container{
		Container:     ngx.Name,
		Upstream:      ngx.Upstream,
		File:          ngx.UpstreamFile,
		Client:        cli,
		Logger:        testLogger(t),
		ReloadTimeout: 5 * time.Second,
	}
	d := &docker{cli: cli, container: ngx.Name}
	ctx := t.Context()

	// The image starts with a hand-written placeholder upstream, which a
	// switch may replace.
	if err := sw.Preflight(ctx); err != nil {
		t.Fatalf("Preflight on the placeholder: %v", err)
	}
	if got, err := sw.Active(ctx); err != nil || got != bluegreen.None {
		t.Fatalf("Active on the placeholder = %v, %v; want none", got, err)
	}
	if err := sw.Switch(ctx, bluegreen.Blue, []string{addr[bluegreen.Blue]}); err != nil {
		t.Fatalf("Switch to blue: %v", err)
	}
	drained(t, sw)
	expectAnswers(t, ngx.URL, "blue")

	t.Run("switch under load", func(t *testing.T) {
		load := testutil.Load(t, ngx.URL)
		for _, slot := range []bluegreen.Slot{bluegreen.Green, bluegreen.Blue, bluegreen.Green} {
			start := time.Now()
			if err := sw.Switch(ctx, slot, []string{addr[slot]}); err != nil {
				t.Fatalf("Switch to %s: %v", slot, err)
			}
			t.Logf("switch to %s: %v", slot, time.Since(start).Round(time.Millisecond))
			drained(t, sw)
			expectAnswers(t, ngx.URL, slot.String())
			if got, err := sw.Active(ctx); err != nil || got != slot {
				t.Errorf("Active after the switch to %s = %v, %v", slot, got, err)
			}
		}
		res := load.Stop()
		t.Logf("load: %v", res)
		if res.Failed != 0 || res.Versions["blue"] == 0 || res.Versions["green"] == 0 {
			t.Errorf("load through the switches: %v; want none failed, answers from blue and green", res)
		}
		s, err := d.copyFrom(ctx, ngx.UpstreamFile)
		if err != nil || s.perm != 0o644 || s.uid != 0 || s.gid != 0 {
			t.Errorf("upstream file: mode %v, owner %d:%d, %v; want 0644 root:root as the image had it", s.perm, s.uid, s.gid, err)
		}
	})

	t.Run("drain waits for a request held by an old worker", func(t *testing.T) {
		type result struct {
			body string
			err  error
			at   time.Time
		}
		held := make(chan result, 1)
		go func() {
			body, err := get(ngx.URL + "/slow")
			held <- result{strings.TrimSpace(body), err, time.Now()}
		}()
		time.Sleep(500 * time.Millisecond) // the request reaches green, which holds it 4s: long enough for a slow switch
		if err := sw.Switch(ctx, bluegreen.Blue, []string{addr[bluegreen.Blue]}); err != nil {
			t.Fatalf("Switch to blue: %v", err)
		}
		select {
		case r := <-held:
			t.Fatalf("the held request ended before Drain (%q, %v): the test proves nothing", r.body, r.err)
		default:
		}
		drainCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := sw.Drain(drainCtx); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		drained := time.Now()
		t.Logf("drain: %v", drained.Sub(start).Round(time.Millisecond))
		expectAnswers(t, ngx.URL, "blue")
		r := <-held
		if r.err != nil || r.body != "green" {
			t.Errorf("request in flight during the switch: got %q, %v; want green", r.body, r.err)
		}
		if r.at.After(drained) {
			t.Errorf("Drain returned %v before the held request was answered", r.at.Sub(drained))
		}
	})

	t.Run("nginx -t fails", func(t *testing.T) {
		// A second upstream "taken" makes nginx -t fail, with addresses
		// that pass validation.
		if err := d.write(ctx, "/etc/nginx/conf.d/taken.conf", []byte("upstream taken { server 127.0.0.1:9; }\n"), snapshot{perm: 0o644}); err != nil {
			t.Fatal(err)
		}
		before, err := d.copyFrom(ctx, ngx.UpstreamFile)
		if err != nil {
			t.Fatal(err)
		}
		workers, err := d.workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bad := &Container{Container: sw.Container, Upstream: "taken", File: sw.File, Conf: sw.Conf, Prefix: sw.Prefix, Binary: sw.Binary, Client: sw.Client, Logger: sw.Logger}
		err = bad.Switch(ctx, bluegreen.Green, []string{addr[bluegreen.Green]})
		if !errors.Is(err, ErrConfigTest) || !strings.Contains(err.Error(), `duplicate upstream "taken"`) {
			t.Fatalf("Switch: %v; want an error wrapping ErrConfigTest with nginx's output", err)
		}
		after, err := d.copyFrom(ctx, ngx.UpstreamFile)
		if err != nil || !bytes.Equal(before.data, after.data) || after.perm != before.perm {
			t.Errorf("upstream file not restored: before %q (%v), after %q (%v), %v", before.data, before.perm, after.data, after.perm, err)
		}
		now, err := d.workers(ctx)
		if diff := cmp.Diff(workers, now, cmp.AllowUnexported(process{})); err != nil || diff != "" {
			t.Errorf("workers changed, so nginx reloaded (-before +after), %v:\n%s", err, diff)
		}
		expectAnswers(t, ngx.URL, "blue")
	})
}

func testContainerHostNetwork(t *testing.T, image string) {
	ngx := testutil.NginxContainer(t, testutil.NginxContainerOptions{Image: image, HostNetwork: true})
	sw := &Container{Container: ngx.Name, Upstream: ngx.Upstream, File: ngx.UpstreamFile, Logger: testLogger(t)}
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	for _, step := range []struct {
		slot bluegreen.Slot
		addr string
	}{
		{bluegreen.Green, green.addr()},
		{bluegreen.Blue, blue.addr()},
	} {
		if err := sw.Switch(t.Context(), step.slot, []string{step.addr}); err != nil {
			t.Fatalf("Switch to %s: %v", step.slot, err)
		}
		drained(t, sw)
		expectAnswers(t, ngx.URL, step.slot.String())
		if got, err := sw.Active(t.Context()); err != nil || got != step.slot {
			t.Errorf("Active = %v, %v; want %s", got, err, step.slot)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := sw.Drain(ctx); err != nil {
		t.Errorf("Drain: %v", err)
	}
	t.Run("preflight", func(t *testing.T) { testContainerPreflight(t, sw) })
}

// testContainerPreflight runs Preflight against sw's running nginx
// container, whose upstream file bluegreen wrote: it passes, and fails on
// the wrong settings, and on a configuration nginx -t refuses.
func testContainerPreflight(t *testing.T, sw *Container) {
	ctx := t.Context()
	if err := sw.Preflight(ctx); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(c *Container)
		want   string
		wantIs []error
	}{
		{
			name:   "no such container",
			edit:   func(c *Container) { c.Container = "bluegreen-no-such-container" },
			want:   "nginx preflight failed: nginx.container bluegreen-no-such-container: no such container",
			wantIs: []error{ErrNotRunning},
		},
		{
			name:   "missing directory",
			edit:   func(c *Container) { c.File = "/etc/ngnix/conf.d/upstream.conf" },
			want:   "nginx preflight failed: nginx.upstream_file /etc/ngnix/conf.d/upstream.conf: directory /etc/ngnix/conf.d does not exist in container " + sw.Container,
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name:   "missing file",
			edit:   func(c *Container) { c.File = "/etc/nginx/conf.d/web-upstream.conf" },
			want:   "nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/web-upstream.conf does not exist in container " + sw.Container,
			wantIs: []error{fs.ErrNotExist},
		},
		{
			name:   "file is a directory",
			edit:   func(c *Container) { c.File = "/etc/nginx/conf.d" },
			want:   "nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d in container " + sw.Container + " is a directory, not a regular file",
			wantIs: []error{ErrInvalid},
		},
		{
			name:   "managed file of another upstream",
			edit:   func(c *Container) { c.Upstream = "api" },
			want:   `nginx preflight failed: nginx.upstream_file /etc/nginx/conf.d/upstream.conf in container ` + sw.Container + ` defines upstream "backend", but nginx.upstream is "api": make them agree`,
			wantIs: []error{ErrInvalid},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Container{Container: sw.Container, Upstream: sw.Upstream, File: sw.File, Client: sw.Client, Logger: sw.Logger}
			tc.edit(c)
			err := c.Preflight(ctx)
			t.Logf("Preflight: %v", err)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Preflight error:\n got %v\nwant it to start with %s", err, tc.want)
			}
			for _, want := range append([]error{ErrPreflight}, tc.wantIs...) {
				if !errors.Is(err, want) {
					t.Errorf("Preflight error does not wrap %v: %v", want, err)
				}
			}
		})
	}

	t.Run("nginx -t fails", func(t *testing.T) {
		cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		d := &docker{cli: cli, container: sw.Container}
		if err := d.write(ctx, "/etc/nginx/conf.d/bogus.conf", []byte("bogus_directive on;\n"), snapshot{perm: 0o644}); err != nil {
			t.Fatal(err)
		}
		err = sw.Preflight(ctx)
		t.Logf("Preflight: %v", err)
		if !errors.Is(err, ErrPreflight) || !errors.Is(err, ErrConfigTest) || !strings.Contains(err.Error(), `unknown directive "bogus_directive"`) {
			t.Errorf("Preflight: %v; want an error wrapping ErrPreflight and ErrConfigTest with nginx's output", err)
		}
	})
}

// expectAnswers sends requests to url, with no retry: each must come from
// want.
func expectAnswers(t *testing.T, url, want string) {
	t.Helper()
	for i := range 10 {
		if got, err := get(url); err != nil || strings.TrimSpace(got) != want {
			t.Fatalf("request %d to %s: got %q, %v; want %s", i, url, got, err, want)
		}
	}
}
