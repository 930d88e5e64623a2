package bluegreen_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/caddy"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// env is one test's world: a compose file, a private nginx, the engine.
type env struct {
	t       *testing.T
	project string
	file    string
	nginx   *testutil.NginxServer // the host nginx, when the test uses one
	url     string                // where the test's clients send requests
	compose *bluegreen.Engine
	ports   bluegreen.SlotPorts
}

// webServices is the usual file: the test app as the one service.
const webServices = `services:
  web:
    image: ${IMAGE:-bluegreen-testapp}:${IMAGE_TAG:?IMAGE_TAG must be set}
    environment:
      VERSION: ${IMAGE_TAG}
      BOOT_DELAY: ${BOOT_DELAY:-1s}
      FAIL: ${FAIL:-}
      FAIL_RATE: ${FAIL_RATE:-0}
      SLOW: ${SLOW:-0s}
      IGNORE_SIGTERM: ${IGNORE_SIGTERM:-}
    stop_grace_period: ${STOP_GRACE:-10s}
    ports: ["8000"]
`

// maxReplicas is the most replicas a test's service may have: the slot
// ports are that many apart.
const maxReplicas = 3

// xBluegreen completes a file: slot ports and the nginx of the test.
const xBluegreen = `x-bluegreen:
  service: web
  port: 8000
  slots: {blue: %d, green: %d}
  health: {path: /healthz, interval: 100ms, timeout: "${HEALTH_TIMEOUT:-30s}", healthy_threshold: 2}
  drain_timeout: 30s
  verify_url: "${VERIFY_URL:-}"
%s`

// front starts the proxy of a test and returns its x-bluegreen section
// (the nginx: key, or caddy:..., indented by two spaces) and its URL.
type front func(t *testing.T) (section, url string)

// nginxSection is the x-bluegreen section of nginx with keys, indented by
// four spaces, under it.
func nginxSection(keys string) string { return "  nginx:\n" + keys }

// hostNginx is a private nginx on the host, with a managed upstream file.
func (e *env) hostNginx(t *testing.T) (string, string) {
	e.nginx = testutil.Nginx(t)
	return nginxSection(e.nginx.Section()), e.nginx.URL
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, webServices)
}

// newEnvWith makes a test's world from a compose file's services part,
// behind a host nginx.
func newEnvWith(t *testing.T, services string) *env {
	t.Helper()
	return newEnvFront(t, services, nil)
}

// newEnvFront makes a test's world behind the proxy that proxy starts (a
// host nginx when nil).
func newEnvFront(t *testing.T, services string, proxy func(e *env) front) *env {
	t.Helper()
	testutil.RequireDocker(t)
	testutil.RequireNginx(t)
	testutil.Image(t, "bluegreen-testapp:v1", "bluegreen-testapp:v2", "bluegreen-testapp:v3")
	ctx := context.Background()
	e := &env{t: t, project: fmt.Sprintf("bgtest%d", time.Now().UnixNano()%1_000_000)}
	// Each slot has room for up to maxReplicas replicas.
	ports, err := bluegreentest.FreePortRanges(2, maxReplicas)
	if err != nil {
		t.Fatal(err)
	}
	e.ports = bluegreen.SlotPorts{Blue: ports[0], Green: ports[1]}
	start := e.hostNginx
	if proxy != nil {
		start = proxy(e)
	}
	section, url := start(t)
	e.url = url
	e.file = filepath.Join(t.TempDir(), "compose.yaml")
	yaml := services + fmt.Sprintf(xBluegreen, e.ports.Blue, e.ports.Green, section)
	if err := os.WriteFile(e.file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	backend, err := bluegreen.NewEngine(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	e.compose = backend
	t.Cleanup(func() {
		if err := e.deployer("IMAGE_TAG=v1").Down(context.Background(), true); err != nil {
			t.Errorf("Down: %v", err)
		}
		_ = backend.Close()
	})
	return e
}

func (e *env) deployer(vars ...string) *bluegreen.Deployer {
	e.t.Helper()
	src := bluegreen.Source{Files: []string{e.file}, ProjectName: e.project, Env: vars}
	p, err := bluegreen.Load(context.Background(), src)
	if err != nil {
		e.t.Fatalf("Load: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(e.t.Output(), nil))
	sw, err := switcherFor(p, logger)
	if err != nil {
		e.t.Fatalf("the proxy's FromProject: %v", err)
	}
	return &bluegreen.Deployer{Project: p, Compose: e.compose, Switcher: sw, Logger: logger}
}

// switcherFor builds the Switcher of the proxy whose section p has, as the
// CLI does.
func switcherFor(p *bluegreen.Project, logger *slog.Logger) (bluegreen.Switcher, error) {
	switch {
	case p.Section(caddy.SectionKey) != nil:
		return caddy.FromProject(p, logger)
	case p.Section(haproxy.SectionKey) != nil:
		return haproxy.FromProject(p, logger)
	}
	return nginxconf.FromProject(p, logger)
}

func (e *env) deploy(vars ...string) *bluegreen.Report {
	e.t.Helper()
	report, err := e.deployer(vars...).Deploy(context.Background())
	if err != nil {
		e.t.Fatalf("Deploy(%v): %v", vars, err)
	}
	return report
}

// get returns the body nginx answers with, or the error.
func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(b)), err
}

func (e *env) wantServing(version string) {
	e.t.Helper()
	for i := 0; i < 5; i++ { // several requests: every nginx worker must agree
		got, err := get(e.url + "/version")
		if err != nil || got != version {
			e.t.Fatalf("nginx serves %q (err %v), want %q", got, err, version)
		}
	}
}

// wantStopped checks that nothing of slot runs any more: no running
// container (retired ones are kept, stopped), and nothing answers on its port.
func (e *env) wantStopped(slot bluegreen.Slot) {
	e.t.Helper()
	cs, err := e.compose.Ps(context.Background(), e.project+"-"+string(slot), api.PsOptions{All: true})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cs {
		if c.State == "running" {
			e.t.Errorf("slot %s still runs container %s", slot, c.Name)
		}
	}
	if body, err := get(fmt.Sprintf("http://127.0.0.1:%d/version", e.ports.Port(slot))); err == nil {
		e.t.Errorf("slot %s still answers on its port: %q", slot, body)
	}
}

func durations(r *bluegreen.Report) string {
	var parts []string
	for _, s := range r.Steps {
		parts = append(parts, fmt.Sprintf("%s=%s", s.Step, s.Elapsed.Round(time.Millisecond)))
	}
	return strings.Join(parts, " ")
}

// nextReleases are the deploys after v1 went to blue.
var nextReleases = []struct {
	version  string
	from, to bluegreen.Slot
}{
	{"v2", bluegreen.Blue, bluegreen.Green},
	{"v3", bluegreen.Green, bluegreen.Blue},
}

// deployRelease deploys version and checks that it went from -> to.
func (e *env) deployRelease(version string, from, to bluegreen.Slot) *bluegreen.Report {
	e.t.Helper()
	r := e.deploy("IMAGE_TAG=" + version)
	if r.From != from || r.To != to {
		e.t.Fatalf("deploy %s went %s -> %s, want %s -> %s", version, r.From, r.To, from, to)
	}
	return r
}

// TestDeployUnderLoad is the proof of the zero-downtime claim: two releases
// deployed while clients send requests through a real nginx without pause,
// and not one request fails.
func TestDeployUnderLoad(t *testing.T) {
	testDeployUnderLoad(t, testutil.LoadOptions{})
}

// TestDeployUnderNewConnections is TestDeployUnderLoad with clients that
// open a new connection for each request: every request meets nginx's
// listening socket, through each reload (nginx's new workers inherit the
// master's sockets, so none is closed under them).
func TestDeployUnderNewConnections(t *testing.T) {
	testDeployUnderLoad(t, testutil.LoadOptions{NewConnections: true})
}

func testDeployUnderLoad(t *testing.T, opts testutil.LoadOptions) {
	e := newEnv(t)

	first := e.deploy("IMAGE_TAG=v1")
	if first.From != bluegreen.None || first.To != bluegreen.Blue {
		t.Fatalf("first deploy went %s -> %s, want none -> blue", first.From, first.To)
	}
	e.wantServing("v1")
	t.Logf("deploy v1 (first, no load): %s total; %s", first.Elapsed.Round(time.Millisecond), durations(first))

	load := testutil.LoadWith(t, e.url+"/version", opts)
	time.Sleep(500 * time.Millisecond) // load is flowing before the deploy begins

	for _, tc := range nextReleases {
		r := e.deployRelease(tc.version, tc.from, tc.to)
		e.wantServing(tc.version)
		e.wantStopped(tc.from)
		t.Logf("deploy %s under load: %s total; %s; load so far: %s",
			tc.version, r.Elapsed.Round(time.Millisecond), durations(r), load.Snapshot())
	}
	time.Sleep(500 * time.Millisecond)
	res := load.Stop()
	t.Logf("load through nginx during deploys of v2 and v3: %s", res)
	if res.Sent < 1000 {
		t.Errorf("only %d requests sent: the load did not run", res.Sent)
	}
	if res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		if res.Versions[v] == 0 {
			t.Errorf("no request was answered by %s: versions seen %v", v, res.Versions)
		}
	}
}
