package bluegreen_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// replicated is webServices with n replicas of web.
func replicated(n int) string {
	return webServices + fmt.Sprintf("    deploy: {replicas: %d}\n", n)
}

// wantReplicas checks that the n containers of slot run version, each on
// its own port of the slot's range, and returns their host names (the
// short container IDs that testapp's /host tells).
func (e *env) wantReplicas(slot bluegreen.Slot, version string, n int) []string {
	e.t.Helper()
	cs, err := e.compose.Ps(context.Background(), e.project+"-"+string(slot), api.PsOptions{Services: []string{"web"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(cs) != n {
		e.t.Fatalf("slot %s runs %d containers of web, want %d", slot, len(cs), n)
	}
	first := e.ports.Port(slot)
	for port := first; port < first+n; port++ {
		if got, err := get(fmt.Sprintf("http://127.0.0.1:%d/version", port)); err != nil || got != version {
			e.t.Errorf("port %d of %s answers %q (err %v), want %s", port, slot, got, err, version)
		}
	}
	var hosts []string
	for _, c := range cs {
		hosts = append(hosts, c.ID[:12])
	}
	return hosts
}

// wantBalanced checks, while no other client sends requests, that nginx
// sends requests to each of hosts in turn.
func (e *env) wantBalanced(version string, hosts []string) {
	e.t.Helper()
	seen := map[string]int{}
	for range 4 * len(hosts) {
		got, err := get(e.url + "/host")
		if err != nil {
			e.t.Fatalf("GET /host through nginx: %v", err)
		}
		seen[got]++
	}
	want := map[string]int{}
	for _, h := range hosts {
		want[version+" "+h] = 4
	}
	if !maps.Equal(seen, want) {
		e.t.Errorf("nginx sent %d requests to %v, want 4 to each of %v", 4*len(hosts), seen, want)
	}
}

// wantUpstream checks the server lines of the upstream file nginx
// includes, sorted.
func (e *env) wantUpstream(want ...string) {
	e.t.Helper()
	b, err := os.ReadFile(e.nginx.UpstreamFile)
	if err != nil {
		e.t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "server" {
			got = append(got, strings.TrimSuffix(f[1], ";"))
		}
	}
	// The order is the replicas', whose ports the engine hands out in
	// any order.
	slices.Sort(got)
	if !slices.Equal(got, want) {
		e.t.Errorf("upstream servers %q, want %q\n%s", got, want, b)
	}
}

// addrs are the host addresses of slot's first n ports.
func (e *env) addrs(slot bluegreen.Slot, n int) []string {
	var out []string
	for port := e.ports.Port(slot); len(out) < n; port++ {
		out = append(out, fmt.Sprintf("127.0.0.1:%d", port))
	}
	return out
}

// TestReplicasUnderLoad deploys a service of three replicas per slot
// through a real nginx while clients send requests without pause: each
// replica gets a port of its slot's range and a server line, all of them
// take requests, the old slot's three stop, and not one request fails.
func TestReplicasUnderLoad(t *testing.T) {
	const n = 3
	e := newEnvWith(t, replicated(n))
	// The clients ask /host: the load counts the answers of each container.
	finish := e.underLoadAt("/host")
	hosts := map[string][]string{"v1": e.wantReplicas(bluegreen.Blue, "v1", n)}
	e.wantUpstream(e.addrs(bluegreen.Blue, n)...)
	for _, tc := range nextReleases {
		r := e.deployRelease(tc.version, tc.from, tc.to)
		t.Logf("deploy %s of %d replicas under load: %s total; %s", tc.version, n, r.Elapsed.Round(time.Millisecond), durations(r))
		hosts[tc.version] = e.wantReplicas(tc.to, tc.version, n)
		e.wantUpstream(e.addrs(tc.to, n)...)
		e.wantStopped(tc.from)
		for _, addr := range e.addrs(tc.from, n) {
			if body, err := get("http://" + addr + "/version"); err == nil {
				t.Errorf("retired %s still answers at %s: %q", tc.from, addr, body)
			}
		}
	}
	res := finish("v3")
	for version, hs := range hosts {
		for _, h := range hs {
			if res.Versions[version+" "+h] == 0 {
				t.Errorf("container %s of %s took no request under load: %v", h, version, res.Versions)
			}
		}
	}
	e.wantBalanced("v3", hosts["v3"])
}

// TestOneBadReplicaNeverTakesTraffic: a release of which one replica in
// three answers 500 fails at wait-healthy, under load, naming that
// replica, and traffic stays on the three good replicas of the old one.
func TestOneBadReplicaNeverTakesTraffic(t *testing.T) {
	const n = 3
	// The replicas of a release share a directory; the first one to claim
	// it fails (testapp's FAIL_ONE).
	shared := t.TempDir()
	services := strings.Replace(replicated(n), "      FAIL: ${FAIL:-}\n",
		"      FAIL: ${FAIL:-}\n      FAIL_ONE: ${FAIL_ONE:-}\n", 1) +
		"    volumes: [\"${SHARED:-/nonexistent}:/shared\"]\n"
	e := newEnvWith(t, services)
	finish := e.underLoad()
	start := time.Now()
	r, err := e.deployer("IMAGE_TAG=v2", "FAIL=500", "FAIL_ONE=/shared", "SHARED="+shared, "HEALTH_TIMEOUT=4s").Deploy(context.Background())
	var se *bluegreen.StepError
	if !errors.As(err, &se) || se.Step != bluegreen.StepWaitHealthy || se.Live != bluegreen.Blue || !errors.Is(err, bluegreen.ErrUnhealthy) {
		t.Fatalf("Deploy = %v, want a StepError at wait-healthy wrapping ErrUnhealthy, with blue live", err)
	}
	t.Logf("the deploy with one bad replica failed after %s (%s): %v", time.Since(start).Round(time.Millisecond), durations(r), err)
	m := regexp.MustCompile(`container (\S+-green-web-\d): GET http://127\.0\.0\.1:\d+/healthz: status 500`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the error does not name the failing replica and its probe: %v", err)
	}
	// The log lines are that replica's, which says it is the failing one.
	if want := "last log lines of " + m[1] + ": "; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "FAIL_ONE: this replica fails") {
		t.Errorf("the error does not end with the failing replica's log lines (%q): %v", want, err)
	}
	finish("v1")
	e.wantBalanced("v1", e.wantReplicas(bluegreen.Blue, "v1", n))
	e.wantUpstream(e.addrs(bluegreen.Blue, n)...)
	e.wantStopped(bluegreen.Green)
}
