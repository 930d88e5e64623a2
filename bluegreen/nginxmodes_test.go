package bluegreen_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
			return fmt.Sprintf("    upstream: %s\n    upstream_file: %s\n    conf: %s\n    binary: %s\n    container: %s\n    network: %s\n",
				ngx.Upstream, ngx.UpstreamFile, ngx.Conf, testutil.NginxImageBinary, ngx.Name, network), ngx.URL
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
