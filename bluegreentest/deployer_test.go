package bluegreentest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"
	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/proxy"
)

const shopFile = `name: shop
services:
  web:
    image: shop:${TAG:?}
    ports: ["8000"]
  db:
    image: db:16
x-bluegreen:
  service: web
  port: 8000
  slots: {blue: %d, green: %d}
  health: {path: /healthz, interval: 10ms, timeout: 5s, healthy_threshold: 2}
  drain_timeout: 5s
  state_dir: state
`

// shop is a project deployed with the fake Compose, through sw.
type shop struct {
	t       *testing.T
	compose *bluegreentest.Compose
	sw      bluegreen.Switcher
	project *bluegreen.Project
	edits   []func(*bluegreen.Config) // applied to each release's Load
	dbID    string                    // the shared db's container
}

func newShop(t *testing.T, sw bluegreen.Switcher) *shop {
	t.Helper()
	return newShopFile(t, sw, fmt.Sprintf(shopFile, freePort(t), freePort(t)))
}

// newShopFile is newShop with a compose file of the caller's.
func newShopFile(t *testing.T, sw bluegreen.Switcher, yaml string) *shop {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	src := bluegreen.Source{Files: []string{file}, Env: []string{"TAG=v1"}}
	p, err := bluegreen.Load(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	s := &shop{t: t, compose: &bluegreentest.Compose{}, sw: sw, project: p}
	t.Cleanup(func() {
		for _, project := range []string{"shop", "shop-blue", "shop-green"} {
			_ = s.compose.Down(context.Background(), project, api.DownOptions{})
		}
	})
	return s
}

func (s *shop) deploy(tag string) (*bluegreen.Report, error) {
	src := s.project.Source()
	src.Env = []string{"TAG=" + tag}
	p, err := bluegreen.Load(s.t.Context(), src, s.edits...)
	if err != nil {
		return nil, err
	}
	d := &bluegreen.Deployer{Project: p, Compose: s.compose, Switcher: s.sw}
	return d.Deploy(s.t.Context())
}

func (s *shop) ps(project string) []api.ContainerSummary {
	s.t.Helper()
	cs, err := s.compose.Ps(s.t.Context(), project, api.PsOptions{All: true})
	if err != nil {
		s.t.Fatal(err)
	}
	return cs
}

// wantSlot checks the web container of slot: release tag in state, or none
// when state is "".
func (s *shop) wantSlot(slot bluegreen.Slot, tag, state string) {
	s.t.Helper()
	var got, want []string
	for _, c := range s.ps("shop-" + slot.String()) {
		got = append(got, c.Image+" "+c.State)
	}
	if state != "" {
		want = []string{"shop:" + tag + " " + state}
	}
	if !cmp.Equal(got, want) {
		s.t.Errorf("slot %s: %q, want %q", slot, got, want)
	}
}

// wantShared checks that the shared db runs, once, in the same container
// as at first.
func (s *shop) wantShared() {
	s.t.Helper()
	cs := s.ps("shop")
	if len(cs) != 1 || cs[0].Service != "db" || cs[0].State != "running" {
		s.t.Fatalf("shared services: %+v, want db running", cs)
	}
	if s.dbID == "" {
		s.dbID = cs[0].ID
	}
	if cs[0].ID != s.dbID {
		s.t.Errorf("shared db was recreated: container %s, was %s", cs[0].ID, s.dbID)
	}
}

func (s *shop) addr(slot bluegreen.Slot) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.project.Config.Slots.Port(slot)))
}

func wantStepError(t *testing.T, err error, step bluegreen.Step, live bluegreen.Slot, cause error) {
	t.Helper()
	var se *bluegreen.StepError
	if !errors.As(err, &se) || se.Step != step || se.Live != live || !errors.Is(err, cause) {
		t.Fatalf("Deploy = %v, want a StepError at %s, traffic on %s, wrapping %v", err, step, live, cause)
	}
}

func TestDeployerWithFakes(t *testing.T) {
	sw := &bluegreentest.Switcher{}
	s := newShop(t, sw)
	wantSwitches := func(want ...bluegreen.Slot) {
		t.Helper()
		var got []string
		for _, c := range sw.Calls() {
			got = append(got, fmt.Sprintf("%s %v %v", c.Slot, c.Addrs, c.Err))
		}
		var wantCalls []string
		for _, slot := range want {
			wantCalls = append(wantCalls, fmt.Sprintf("%s [%s] <nil>", slot, s.addr(slot)))
		}
		if diff := cmp.Diff(wantCalls, got); diff != "" {
			t.Errorf("switches (-want +got):\n%s", diff)
		}
	}

	// First deploy: blue.
	r, err := s.deploy("v1")
	if err != nil {
		t.Fatal(err)
	}
	if r.From != bluegreen.None || r.To != bluegreen.Blue {
		t.Errorf("first deploy: %s -> %s, want none -> blue", r.From, r.To)
	}
	wantSwitches(bluegreen.Blue)
	s.wantSlot(bluegreen.Blue, "v1", "running")
	s.wantShared()
	if code, body := get(t, "http://"+s.addr(bluegreen.Blue)+"/"); code != http.StatusOK || body != "shop:v1" {
		t.Errorf("blue answers %d %q, want 200 shop:v1", code, body)
	}

	// Second: green; blue is stopped and kept, after a drain.
	if r, err = s.deploy("v2"); err != nil {
		t.Fatal(err)
	}
	if r.From != bluegreen.Blue || r.To != bluegreen.Green {
		t.Errorf("second deploy: %s -> %s, want blue -> green", r.From, r.To)
	}
	wantSwitches(bluegreen.Blue, bluegreen.Green)
	s.wantSlot(bluegreen.Green, "v2", "running")
	s.wantSlot(bluegreen.Blue, "v1", "exited")
	s.wantShared()
	if n := sw.Drains(); n != 2 { // after each switch, the first one's too
		t.Errorf("Drain called %d times, want 2", n)
	}

	// A release that crashes fails at once at wait-healthy; traffic stays.
	s.compose.SetImage("shop:v3", bluegreentest.Image{Crash: true, ExitCode: 3, Logs: []string{"panic: boom"}})
	start := time.Now()
	_, err = s.deploy("v3")
	wantStepError(t, err, bluegreen.StepWaitHealthy, bluegreen.Green, bluegreen.ErrUnhealthy)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a crash took %s to fail the deploy, want it at once", took)
	}
	if !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("error %q does not carry the release's last log line", err)
	}
	wantSwitches(bluegreen.Blue, bluegreen.Green)
	s.wantSlot(bluegreen.Blue, "", "")
	s.wantSlot(bluegreen.Green, "v2", "running")

	// A switch the proxy refuses: the new release is removed; traffic stays.
	refused := errors.New("proxy refused the new routing")
	sw.FailNext(refused)
	_, err = s.deploy("v4")
	wantStepError(t, err, bluegreen.StepSwitch, bluegreen.Green, refused)
	if active, _ := sw.Active(t.Context()); active != bluegreen.Green {
		t.Errorf("Active after a failed switch = %s, want green", active)
	}
	s.wantSlot(bluegreen.Blue, "", "")
	s.wantSlot(bluegreen.Green, "v2", "running")
	s.wantShared()
}

// TestReplicasWithFakes deploys a service with three replicas: each gets
// a port of its slot's range, the proxy gets all three, and a release of
// which one replica fails its probe never takes traffic.
func TestReplicasWithFakes(t *testing.T) {
	firsts, err := bluegreentest.FreePortRanges(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(fmt.Sprintf(shopFile, firsts[0], firsts[1]), "    ports:", "    deploy: {replicas: 3}\n    ports:", 1)
	sw := &bluegreentest.Switcher{}
	s := newShopFile(t, sw, yaml)
	rangeOf := func(slot bluegreen.Slot) []string {
		first := s.project.Config.Slots.Port(slot)
		return []string{
			fmt.Sprintf("127.0.0.1:%d", first), fmt.Sprintf("127.0.0.1:%d", first+1), fmt.Sprintf("127.0.0.1:%d", first+2),
		}
	}
	for i, tag := range []string{"v1", "v2"} {
		r, err := s.deploy(tag)
		if err != nil {
			t.Fatal(err)
		}
		calls := sw.Calls()
		if len(calls) != i+1 {
			t.Fatalf("after deploying %s: %d switches, want %d", tag, len(calls), i+1)
		}
		if diff := cmp.Diff(rangeOf(r.To), calls[i].Addrs); diff != "" {
			t.Errorf("deploy %s to %s: switched to (-want +got):\n%s", tag, r.To, diff)
		}
		for _, addr := range calls[i].Addrs {
			if code, body := get(t, "http://"+addr+"/"); code != http.StatusOK || body != "shop:"+tag {
				t.Errorf("%s answers %d %q, want 200 shop:%s", addr, code, body, tag)
			}
		}
	}

	// v3's second replica answers 500: the deploy fails at wait-healthy,
	// naming it, and traffic stays on v2.
	bad := strconv.Itoa(s.project.Config.Slots.Port(bluegreen.Blue) + 1)
	s.compose.SetImage("shop:v3", bluegreentest.Image{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, port, _ := net.SplitHostPort(r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()); port == bad {
			http.Error(w, "replica 2 is broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "shop:v3")
	})})
	_, err = s.deploy("v3")
	wantStepError(t, err, bluegreen.StepWaitHealthy, bluegreen.Green, bluegreen.ErrUnhealthy)
	if want := "container shop-blue-web-2: GET http://127.0.0.1:" + bad + "/healthz: status 500"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if n := len(sw.Calls()); n != 2 {
		t.Errorf("%d switches, want 2: the bad release took traffic", n)
	}
	s.wantSlot(bluegreen.Blue, "", "")

	// Rolling back to v1, whose containers the failed deploy removed,
	// deploys its three replicas again.
	d := &bluegreen.Deployer{Project: s.project, Compose: s.compose, Switcher: sw}
	if _, err := d.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	calls := sw.Calls()
	if diff := cmp.Diff(rangeOf(bluegreen.Blue), calls[len(calls)-1].Addrs); diff != "" {
		t.Errorf("rollback switched to (-want +got):\n%s", diff)
	}
	for _, addr := range calls[len(calls)-1].Addrs {
		if code, body := get(t, "http://"+addr+"/"); code != http.StatusOK || body != "shop:v1" {
			t.Errorf("after the rollback %s answers %d %q, want 200 shop:v1", addr, code, body)
		}
	}
}

// TestSwitchToEarlierReplicaCount: a slot deployed with one replica still
// takes traffic by SwitchTo after the configuration went to three.
func TestSwitchToEarlierReplicaCount(t *testing.T) {
	firsts, err := bluegreentest.FreePortRanges(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	sw := &bluegreentest.Switcher{}
	s := newShopFile(t, sw, fmt.Sprintf(shopFile, firsts[0], firsts[1]))
	if _, err := s.deploy("v1"); err != nil { // blue, one replica
		t.Fatal(err)
	}
	s.edits = append(s.edits, func(c *bluegreen.Config) { c.Replicas = 3 })
	if _, err := s.deploy("v2"); err != nil { // green, three
		t.Fatal(err)
	}
	if err := s.compose.Start(t.Context(), "shop-blue", api.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	d := &bluegreen.Deployer{Project: s.project, Compose: s.compose, Switcher: sw}
	if _, err := d.SwitchTo(t.Context(), bluegreen.Blue); err != nil {
		t.Fatalf("SwitchTo(blue) with its one replica: %v", err)
	}
	calls := sw.Calls()
	if got, want := calls[len(calls)-1].Addrs, []string{s.addr(bluegreen.Blue)}; !cmp.Equal(got, want) {
		t.Errorf("switched to %v, want %v", got, want)
	}
}

// TestRollbackWithFakes rolls back to the kept release: its stopped
// container starts again.
func TestRollbackWithFakes(t *testing.T) {
	sw := &bluegreentest.Switcher{}
	s := newShop(t, sw)
	if _, err := s.deploy("v1"); err != nil {
		t.Fatal(err)
	}
	v1 := s.ps("shop-blue")[0].ID
	if _, err := s.deploy("v2"); err != nil {
		t.Fatal(err)
	}
	d := &bluegreen.Deployer{Project: s.project, Compose: s.compose, Switcher: sw}
	r, err := d.Rollback(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if r.From != bluegreen.Green || r.To != bluegreen.Blue {
		t.Errorf("rollback: %s -> %s, want green -> blue", r.From, r.To)
	}
	s.wantSlot(bluegreen.Blue, "v1", "running")
	s.wantSlot(bluegreen.Green, "v2", "exited")
	if id := s.ps("shop-blue")[0].ID; id != v1 {
		t.Errorf("blue runs container %s, want the kept %s", id, v1)
	}
	if code, body := get(t, "http://"+s.addr(bluegreen.Blue)+"/"); code != http.StatusOK || body != "shop:v1" {
		t.Errorf("blue answers %d %q, want 200 shop:v1", code, body)
	}
}

// TestSwitchToKeptSlot switches to the release kept stopped in the idle
// slot: its container starts again, the other slot is stopped, and the
// history names the release brought back. A refused switch records nothing.
func TestSwitchToKeptSlot(t *testing.T) {
	sw := &bluegreentest.Switcher{}
	s := newShop(t, sw)
	for _, tag := range []string{"v1", "v2"} {
		if _, err := s.deploy(tag); err != nil {
			t.Fatal(err)
		}
	}
	v1 := s.ps("shop-blue")[0].ID
	d := &bluegreen.Deployer{Project: s.project, Compose: s.compose, Switcher: sw}
	if _, err := d.SwitchTo(t.Context(), bluegreen.Green); !errors.Is(err, bluegreen.ErrBadInput) || !strings.Contains(err.Error(), "green is already live") {
		t.Errorf("SwitchTo(green), the live slot: %v, want ErrBadInput, already live", err)
	}
	r, err := d.SwitchTo(t.Context(), bluegreen.Blue)
	if err != nil {
		t.Fatal(err)
	}
	if r.From != bluegreen.Green || r.To != bluegreen.Blue || r.Release.Of != 1 || r.Release.Kind != "switch" {
		t.Errorf("switch: %s -> %s, release %+v; want green -> blue, a switch of release 1", r.From, r.To, r.Release)
	}
	s.wantSlot(bluegreen.Blue, "v1", "running")
	s.wantSlot(bluegreen.Green, "v2", "exited")
	if id := s.ps("shop-blue")[0].ID; id != v1 {
		t.Errorf("blue runs container %s, want the kept %s", id, v1)
	}
	history, err := d.History()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, rel := range history {
		kinds = append(kinds, fmt.Sprintf("%d %s of %d %s", rel.ID, rel.Kind, rel.Of, rel.Outcome))
	}
	if want := []string{"1 deploy of 0 succeeded", "2 deploy of 0 succeeded", "3 switch of 1 succeeded"}; !cmp.Equal(kinds, want) {
		t.Errorf("history %q, want %q (no entry for the refused switch)", kinds, want)
	}
	// A rollback now goes back to release 2, kept in green.
	if r, err := d.Rollback(t.Context()); err != nil || r.Release.Of != 2 {
		t.Errorf("rollback after the switch: %v, release %+v, want release 2 brought back", err, r.Release)
	}
	s.wantSlot(bluegreen.Green, "v2", "running")
}

// TestDeployUnderLoadThroughProxy deploys with the fake Compose behind the
// in-process proxy while clients send requests without pause: none fails.
func TestDeployUnderLoadThroughProxy(t *testing.T) {
	p := &proxy.Switcher{}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	s := newShop(t, p)
	if _, err := s.deploy("v1"); err != nil {
		t.Fatal(err)
	}
	load := testutil.Load(t, front.URL)
	for _, tag := range []string{"v2", "v3", "v4"} {
		time.Sleep(100 * time.Millisecond)
		if _, err := s.deploy(tag); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	res := load.Stop()
	t.Logf("through the proxy: %v", res)
	if res.Failed != 0 || res.Sent == 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
	}
	for _, v := range []string{"shop:v1", "shop:v2", "shop:v3", "shop:v4"} {
		if res.Versions[v] == 0 {
			t.Errorf("no request answered by %s: %v", v, res.Versions)
		}
	}
	if active, _ := p.Active(t.Context()); active != bluegreen.Green {
		t.Errorf("Active after four deploys = %s, want green", active)
	}
}
