package bluegreentest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/internal/loadgen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/proxy"
)

// inFlight bounds the failures the load may see that the canary did not
// count: those answered between its last reading of the proxy's counts and
// the switch back (a few milliseconds of requests, and the 8 in flight).
const inFlight = 64

const canarySection = "  strategy: canary\n  canary: {steps: [10, 50], step_time: 1s, max_error_rate: 1%, min_requests: 30}\n"

// failing answers 500 to every fifth request once on says so (from the
// start when on is nil), 200 with ref otherwise; /healthz always passes.
func failing(ref string, on *atomic.Bool) http.Handler {
	var n atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && (on == nil || on.Load()) && n.Add(1)%5 == 0 {
			http.Error(w, ref+": failing", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, ref+"\n") //nolint:errcheck
	})
}

// canaryShop is a shop behind the Go proxy with strategy canary, v1 live.
func canaryShop(t *testing.T) (*shop, *proxy.Switcher, string) {
	t.Helper()
	p := &proxy.Switcher{}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	s := newShopFile(t, p, fmt.Sprintf(shopFile, freePort(t), freePort(t))+canarySection)
	if _, err := s.deploy("v1"); err != nil {
		t.Fatal(err)
	}
	return s, p, front.URL
}

// canaryDeploy deploys tag with onEvent watching, and the figures of the
// load in each canary step.
func (s *shop) canaryDeploy(tag string, load *testutil.LoadGenerator, onEvent func(bluegreen.Event)) (*bluegreen.Report, error, map[int]loadgen.Result) {
	src := s.project.Source()
	src.Env = []string{"TAG=" + tag}
	p, err := bluegreen.Load(s.t.Context(), src)
	if err != nil {
		s.t.Fatal(err)
	}
	d := &bluegreen.Deployer{Project: p, Compose: s.compose, Switcher: s.sw}
	steps := &testutil.CanarySteps{Load: load, Next: onEvent}
	d.OnEvent = steps.Event
	r, err := d.Deploy(s.t.Context())
	return r, err, steps.Steps()
}

// TestCanaryThroughProxy: with the Go proxy, a good release goes through
// 10% and 50% and is promoted with no failed request, and takes about 10%
// of the requests in the first step; a release failing a fifth of its
// requests is aborted in the first step with the old release serving, and
// one that fails from the second step on is aborted in the second.
func TestCanaryThroughProxy(t *testing.T) {
	s, p, url := canaryShop(t)
	load := testutil.Load(t, url)

	r, err, steps := s.canaryDeploy("v2", load, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("good release: %v", r.Canary)
	if len(r.Canary) != 2 || r.Canary[0].Percent != 10 || r.Canary[1].Percent != 50 {
		t.Errorf("canary steps %+v, want 10%% then 50%%", r.Canary)
	}
	first := steps[1]
	share := float64(first.Versions["shop:v2"]) / float64(first.Sent)
	t.Logf("step 1: %s; share of v2 %.3f", first, share)
	if share < 0.07 || share > 0.13 {
		t.Errorf("v2's share in the first step is %.3f, want about 0.10", share)
	}
	if active, _ := p.Active(t.Context()); active != bluegreen.Green {
		t.Errorf("Active after the promotion = %s, want green", active)
	}
	if c, _, _ := p.Canary(t.Context()); c != bluegreen.None {
		t.Errorf("after the promotion the proxy still splits to %s", c)
	}
	if res := load.Snapshot(); res.Failed != 0 {
		t.Errorf("%d requests failed during the good release's canary: %v", res.Failed, res.Failures)
	}

	// A release that fails a fifth of its requests.
	s.compose.SetImage("shop:bad", bluegreentest.Image{Handler: failing("shop:bad", nil)})
	before := load.Snapshot()
	r, err, _ = s.canaryDeploy("bad", load, nil)
	during := load.Snapshot().Sub(before)
	wantStepError(t, err, bluegreen.StepCanary, bluegreen.Green, bluegreen.ErrCanary)
	t.Logf("failing release: %v; load during the deploy: %s", err, during)
	if len(r.Canary) != 1 {
		t.Errorf("aborted after %d steps, want in the first: %+v", len(r.Canary), r.Canary)
	}
	// With the fake engine the deploy lasts a few polls, so the share of
	// failed requests means little here (the nginx and HAProxy proofs
	// state it); what the load saw fail is what the canary counted, and
	// nothing fails once traffic is back.
	if judged := r.Canary[0].Errors; during.Failed > judged+inFlight || during.Failed == 0 {
		t.Errorf("the load saw %d failures, the canary judged on %d", during.Failed, judged)
	}
	after := load.Snapshot()
	time.Sleep(200 * time.Millisecond)
	if res := load.Snapshot().Sub(after); res.Failed != 0 {
		t.Errorf("%d requests failed after the abort", res.Failed)
	}
	s.wantSlot(bluegreen.Blue, "", "")
	if active, _ := p.Active(t.Context()); active != bluegreen.Green {
		t.Errorf("Active after the abort = %s, want green", active)
	}
	if !strings.Contains(err.Error(), "max_error_rate 1%") {
		t.Errorf("the error does not give the rate and its bound: %v", err)
	}

	// A release that fails from the second step on.
	var on atomic.Bool
	s.compose.SetImage("shop:late", bluegreentest.Image{Handler: failing("shop:late", &on)})
	begins := 0
	r, err, _ = s.canaryDeploy("late", load, func(ev bluegreen.Event) {
		if ev.Step == bluegreen.StepCanary && ev.Phase == bluegreen.PhaseBegin {
			begins++
			on.Store(begins >= 2)
		}
	})
	wantStepError(t, err, bluegreen.StepCanary, bluegreen.Green, bluegreen.ErrCanary)
	if len(r.Canary) != 2 {
		t.Errorf("aborted after %d steps, want in the second: %+v", len(r.Canary), r.Canary)
	}
	s.wantSlot(bluegreen.Blue, "", "")
	res := load.Stop()
	t.Logf("load through the proxy: %s", res)
	if res.Versions["shop:v2"] == 0 {
		t.Errorf("v2 answered nothing: %v", res.Versions)
	}
}

// TestCanaryCancelled: a canary whose context ends during a step puts all
// traffic back on the old release and removes the new one.
func TestCanaryCancelled(t *testing.T) {
	s, p, url := canaryShop(t)
	load := testutil.Load(t, url)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	src := s.project.Source()
	src.Env = []string{"TAG=v2"}
	proj, err := bluegreen.Load(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	d := &bluegreen.Deployer{Project: proj, Compose: s.compose, Switcher: s.sw}
	d.OnEvent = func(ev bluegreen.Event) {
		if ev.Step == bluegreen.StepCanary && ev.Phase == bluegreen.PhaseInfo && ev.Canary != nil {
			cancel()
		}
	}
	_, err = d.Deploy(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Deploy = %v, want context.Canceled", err)
	}
	if c, _, _ := p.Canary(t.Context()); c != bluegreen.None {
		t.Errorf("after the cancel the proxy still splits to %s", c)
	}
	if active, _ := p.Active(t.Context()); active != bluegreen.Blue {
		t.Errorf("Active = %s, want blue", active)
	}
	s.wantSlot(bluegreen.Green, "", "")
	if res := load.Stop(); res.Failed != 0 {
		t.Errorf("%d requests failed: %v", res.Failed, res.Failures)
	}
}

// TestCanaryNeedsASplitter: strategy canary with a Switcher that cannot
// split is refused before anything changes.
func TestCanaryNeedsASplitter(t *testing.T) {
	sw := &bluegreentest.Switcher{}
	s := newShopFile(t, sw, fmt.Sprintf(shopFile, freePort(t), freePort(t))+canarySection)
	_, err := s.deploy("v1")
	if !errors.Is(err, bluegreen.ErrBadInput) || !strings.Contains(err.Error(), "cannot split traffic") {
		t.Fatalf("Deploy = %v, want ErrBadInput saying the switcher cannot split", err)
	}
	t.Logf("refused: %v", err)
	for _, project := range []string{"shop", "shop-blue", "shop-green"} {
		if cs := s.ps(project); len(cs) != 0 {
			t.Errorf("%s holds %d containers after the refusal", project, len(cs))
		}
	}
}

// TestCanaryWithoutTraffic: a step that never gets min_requests is extended
// to three times step_time, then the deploy fails as "not enough traffic to
// judge", with traffic back on the old release.
func TestCanaryWithoutTraffic(t *testing.T) {
	s, p, _ := canaryShop(t)
	start := time.Now()
	_, err := s.deploy("v2")
	took := time.Since(start)
	wantStepError(t, err, bluegreen.StepCanary, bluegreen.Blue, bluegreen.ErrCanary)
	t.Logf("without traffic: %v (after %s)", err, took.Round(time.Millisecond))
	if !strings.Contains(err.Error(), "not enough traffic to judge") {
		t.Errorf("err = %v, want it to say there was not enough traffic", err)
	}
	if took < 3*time.Second {
		t.Errorf("failed after %s, want the step extended to 3 s first", took)
	}
	if c, _, _ := p.Canary(t.Context()); c != bluegreen.None {
		t.Errorf("the proxy still splits to %s", c)
	}
	s.wantSlot(bluegreen.Green, "", "")
}

var errSwitchRefused = errors.New("switch refused by the test")

// failingSwitch is the Go proxy, but a Switch to green fails, with the
// routing before it left live.
type failingSwitch struct{ *proxy.Switcher }

func (f failingSwitch) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	if slot == bluegreen.Green {
		return errSwitchRefused
	}
	return f.Switcher.Switch(ctx, slot, addrs)
}

// TestCanaryFailedSwitchGoesBack: when the switch after the last step
// fails, the split it left is undone (all traffic on the old release) and
// the new release is removed, not left taking half the traffic.
func TestCanaryFailedSwitchGoesBack(t *testing.T) {
	p := &proxy.Switcher{}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	s := newShopFile(t, failingSwitch{p}, fmt.Sprintf(shopFile, freePort(t), freePort(t))+canarySection)
	if _, err := s.deploy("v1"); err != nil {
		t.Fatal(err)
	}
	load := testutil.Load(t, front.URL)
	_, err := s.deploy("v2")
	wantStepError(t, err, bluegreen.StepSwitch, bluegreen.Blue, errSwitchRefused)
	t.Logf("failed switch after the canary: %v", err)
	if c, _, _ := p.Canary(t.Context()); c != bluegreen.None {
		t.Errorf("the proxy still splits to %s", c)
	}
	s.wantSlot(bluegreen.Green, "", "")
	if res := load.Stop(); res.Failed != 0 {
		t.Errorf("%d requests failed: %v", res.Failed, res.Failures)
	}
}
