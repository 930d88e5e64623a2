package bluegreen_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// deployThree deploys v1, then v2 and v3 under load, and checks that no
// request failed.
func (e *env) deployThree() {
	e.t.Helper()
	finish := e.underLoad()
	for _, tag := range []string{"v2", "v3"} {
		r := e.deploy("IMAGE_TAG=" + tag)
		e.t.Logf("deploy %s: %s -> %s in %s; %s", tag, r.From, r.To, r.Elapsed, durations(r))
		e.wantServing(tag)
	}
	finish("v3")
}

// TestNginxInAContainer: nginx runs in a container on a docker network that
// the slots join; bluegreen validates and reloads it through the engine and
// names the slots' containers in the upstream, one per replica (two here).
// The test's clients reach nginx at its port published on 127.0.0.1.
func TestNginxInAContainer(t *testing.T) {
	const replicas = 2
	e := newEnvFront(t, replicated(replicas), func(e *env) front {
		return func(t *testing.T) (string, string) {
			network := testutil.Network(t)
			ngx := testutil.NginxContainer(t, testutil.NginxContainerOptions{Network: network})
			return nginxSection(fmt.Sprintf("    upstream: %s\n    upstream_file: %s\n    conf: %s\n    binary: %s\n    container: %s\n    network: %s\n",
				ngx.Upstream, ngx.UpstreamFile, ngx.Conf, testutil.NginxImageBinary, ngx.Name, network)), ngx.URL
		}
	})
	e.deployThree()
	e.wantBalanced("v3", e.wantReplicas(bluegreen.Blue, "v3", replicas))
	cs, err := e.compose.Ps(context.Background(), e.project+"-blue", api.PsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if len(c.Networks) != 2 {
			t.Errorf("container %s of the live slot is on networks %v, want the project's and nginx's", c.Name, c.Networks)
		}
	}
}

// TestPerSlotNginxFiles: an existing setup with nginx.blue.conf and
// nginx.green.conf, one of which is copied over the file nginx includes.
func TestPerSlotNginxFiles(t *testing.T) {
	e := newEnvFront(t, webServices, func(e *env) front {
		return func(t *testing.T) (string, string) {
			section, url := e.hostNginx(t)
			dir := t.TempDir()
			for _, slot := range []string{"blue", "green"} {
				port := e.ports.Blue
				if slot == "green" {
					port = e.ports.Green
				}
				conf := fmt.Sprintf("upstream backend { server 127.0.0.1:%d; }\n", port)
				if err := os.WriteFile(filepath.Join(dir, "nginx."+slot+".conf"), []byte(conf), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The team's nginx runs the blue file today.
			blue, _ := os.ReadFile(filepath.Join(dir, "nginx.blue.conf"))
			if err := os.WriteFile(e.nginx.UpstreamFile, blue, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := e.nginx.Reload(); err != nil {
				t.Fatal(err)
			}
			return section + fmt.Sprintf("    live_file: %s\n    blue_file: %s\n    green_file: %s\n",
				e.nginx.UpstreamFile, filepath.Join(dir, "nginx.blue.conf"), filepath.Join(dir, "nginx.green.conf")), url
		}
	})
	e.deployThree()
}

// TestUpstreamKeepalive: with nginx.keepalive, nginx reuses its connections
// to the slot instead of opening one per request, and deploys under load
// still lose nothing (the old workers' idle connections to the old slot
// close as the workers exit, before the old slot stops).
func TestUpstreamKeepalive(t *testing.T) {
	e := newEnvFront(t, webServices, func(e *env) front {
		return func(t *testing.T) (string, string) {
			section, url := e.hostNginx(t)
			return section + "    keepalive: 16\n", url
		}
	})
	e.deployThree()
	if b, err := os.ReadFile(e.nginx.UpstreamFile); err != nil || !strings.Contains(string(b), "    keepalive 16;\n") {
		t.Fatalf("upstream file (err %v) has no keepalive line:\n%s", err, b)
	}
	// v3 runs in blue. Count the connections its app accepts while 500
	// requests go through nginx, one after another.
	conns := func() int {
		t.Helper()
		body, err := get(fmt.Sprintf("http://127.0.0.1:%d/conns", e.ports.Blue))
		n, aerr := strconv.Atoi(body)
		if err != nil || aerr != nil {
			t.Fatalf("GET /conns: %q, %v %v", body, err, aerr)
		}
		return n
	}
	before := conns()
	const requests = 500
	for range requests {
		if _, err := get(e.url + "/version"); err != nil {
			t.Fatal(err)
		}
	}
	opened := conns() - before
	t.Logf("%d requests through nginx opened %d connection(s) to the slot", requests, opened)
	if opened > 5 {
		t.Errorf("%d requests through nginx opened %d connections to the slot: nginx does not keep them alive", requests, opened)
	}
}
