package bluegreen_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// canaryKeys make the test's deploys canaries: 10% then 50%, 3 s each.
const canaryKeys = "  strategy: canary\n  canary: {steps: [10, 50], step_time: 3s, max_error_rate: 1%, min_requests: 50}\n"

// canaryFront is proxy (a host nginx, with its access log, when nil) with
// canaryKeys added to x-bluegreen.
func canaryFront(proxy func(e *env) front) func(e *env) front {
	return func(e *env) front {
		start := func(t *testing.T) (string, string) {
			section, url := e.hostNginx(t)
			return section + "    access_log: " + e.nginx.AccessLog + "\n", url
		}
		if proxy != nil {
			start = proxy(e)
		}
		return func(t *testing.T) (string, string) {
			section, url := start(t)
			return canaryKeys + section, url
		}
	}
}

// TestCanaryUnderLoad: canaries behind a host nginx, judged by what nginx
// logs, with clients sending requests without pause.
func TestCanaryUnderLoad(t *testing.T) {
	testCanary(t, nil)
}

// TestHAProxyCanaryUnderLoad: the same behind HAProxy, with server weights
// set through its runtime API and judged by its per-server counters.
func TestHAProxyCanaryUnderLoad(t *testing.T) {
	testCanary(t, haproxyFront)
}

// testCanary proves the canary behind the proxy that proxy starts, under
// load: a good release goes through 10% and 50% with no failed request,
// taking about 10% of the requests in the first step; a release failing a
// fifth of its requests is aborted in the first step, with under 1% of the
// requests sent during the deploy failed; one that starts failing in the
// second step is aborted there; a deploy killed during a step leaves both
// releases serving, and the next deploy repairs the split and succeeds.
func testCanary(t *testing.T, proxy func(e *env) front) {
	e := newEnvFront(t, webServices, canaryFront(proxy))
	e.deploy("IMAGE_TAG=v1") // the first release goes live at once: nothing to compare with
	e.wantServing("v1")
	load := testutil.Load(t, e.url+"/version")
	time.Sleep(300 * time.Millisecond)

	// A good release.
	r, err, steps := e.canaryDeploy(load, nil, "IMAGE_TAG=v2")
	if err != nil {
		t.Fatalf("good release: %v", err)
	}
	t.Logf("good release: %v; %s", r.Canary, durations(r))
	if len(r.Canary) != 2 {
		t.Errorf("canary steps %v, want two", r.Canary)
	}
	first := steps[1]
	share := float64(first.Versions["v2"]) / float64(max(first.Sent, 1))
	t.Logf("step 1 (10%%): %s; v2's share %.3f", first, share)
	if share < 0.07 || share > 0.13 {
		t.Errorf("v2's share of the requests in the first step is %.3f, want about 0.10", share)
	}
	if res := load.Snapshot(); res.Failed != 0 {
		t.Errorf("%d requests failed during the good release's canary: %v", res.Failed, res.Failures)
	}
	e.wantServing("v2")

	// A release that fails a fifth of its requests.
	before := load.Snapshot()
	r, err, _ = e.canaryDeploy(load, nil, "IMAGE_TAG=v3", "FAIL_RATE=20")
	during := load.Snapshot().Sub(before)
	wantStepError(t, err, bluegreen.StepCanary, bluegreen.Green, bluegreen.ErrCanary)
	rate := float64(during.Failed) / float64(max(during.Sent, 1))
	t.Logf("failing release: %v; %s; load during the deploy: %s (failed %.4f)", err, durations(r), during, rate)
	if len(r.Canary) != 1 {
		t.Errorf("aborted after %d steps, want in the first: %v", len(r.Canary), r.Canary)
	}
	if rate >= 0.01 {
		t.Errorf("%.4f of the requests sent during the deploy failed, want under 0.01", rate)
	}
	e.wantServing("v2")
	e.wantNoContainers(bluegreen.Blue)
	hist, _ := e.deployer("IMAGE_TAG=v2").History()
	if last := hist[len(hist)-1]; last.Outcome != bluegreen.OutcomeFailed || last.Step != bluegreen.StepCanary || last.Canary == nil || last.Canary.Errors == 0 {
		t.Errorf("history's last entry %+v, want failed at canary with its figures", last)
	}

	// A release that starts failing in the second step (as one that breaks
	// under the larger share would).
	begins := 0
	r, err, _ = e.canaryDeploy(load, func(ev bluegreen.Event) {
		if ev.Step != bluegreen.StepCanary || ev.Phase != bluegreen.PhaseBegin {
			return
		}
		if begins++; begins == 2 {
			setFailRate(t, e.ports.Blue, 20)
		}
	}, "IMAGE_TAG=v3")
	wantStepError(t, err, bluegreen.StepCanary, bluegreen.Green, bluegreen.ErrCanary)
	t.Logf("release failing from the second step: %v", err)
	if len(r.Canary) != 2 {
		t.Errorf("aborted after %d steps, want in the second: %v", len(r.Canary), r.Canary)
	}
	e.wantServing("v2")
	e.wantNoContainers(bluegreen.Blue)

	// Killed during a step: both releases serve; the next deploy repairs.
	atKill := load.Snapshot()
	e.killChild("canary begin", time.Second, "IMAGE_TAG=v3")
	t.Log("killed the deploy a second into its first canary step")
	sp := e.deployer("IMAGE_TAG=v1").Switcher.(bluegreen.Splitter)
	if slot, pct, err := sp.Canary(context.Background()); slot != bluegreen.Blue || err != nil {
		t.Errorf("after the kill the proxy splits to %s (%d%%, %v), want blue", slot, pct, err)
	}
	st, err := e.deployer("IMAGE_TAG=v1").Status(context.Background())
	if err != nil || st.Canary == nil || st.Canary.Slot != bluegreen.Blue || st.Canary.Percent != 10 {
		t.Errorf("status after the kill: %+v, %v; want the split to blue at 10%%", st, err)
	} else {
		t.Logf("status after the kill: canary %s at %d%%, warnings %q", st.Canary.Slot, st.Canary.Percent, st.Warnings)
		if st.Canary.Progress != nil || st.Deploying != nil || len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], "did not finish") {
			t.Errorf("status after the kill: progress %v, deploying %v, warnings %q; want no progress, no deploy and a warning that the release did not finish", st.Canary.Progress, st.Deploying, st.Warnings)
		}
	}
	r = e.deploy("IMAGE_TAG=v1")
	t.Logf("next deploy: %s -> %s; %s", r.From, r.To, durations(r))
	e.wantServing("v1")
	if slot, _, err := sp.Canary(context.Background()); slot != bluegreen.None || err != nil {
		t.Errorf("after the next deploy the proxy splits to %s (%v)", slot, err)
	}
	if n := len(e.running(r.To.Other())); n != 0 {
		t.Errorf("after the next deploy %d container(s) still run in %s", n, r.To.Other())
	}
	res := load.Stop()
	t.Logf("load: %s", res)
	if killed := res.Sub(atKill); killed.Failed != 0 {
		t.Errorf("%d requests failed from the kill on: %v", killed.Failed, killed.Failures)
	}
}

// canaryDeploy deploys vars, calling onEvent on each event, and returns the
// load's figures of each canary step.
func (e *env) canaryDeploy(load *testutil.LoadGenerator, onEvent func(bluegreen.Event), vars ...string) (*bluegreen.Report, error, map[int]testutil.LoadResult) {
	d := e.deployer(vars...)
	steps := &testutil.CanarySteps{Load: load, Next: onEvent}
	d.OnEvent = steps.Event
	r, err := d.Deploy(context.Background())
	return r, err, steps.Steps()
}

// setFailRate makes the test app at port fail pct percent of its requests.
func setFailRate(t *testing.T, port, pct int) {
	req, err := http.NewRequest(http.MethodPut, fmt.Sprintf("http://127.0.0.1:%d/fail-rate", port), strings.NewReader(fmt.Sprint(pct)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("setting the fail rate: %v", err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("setting the fail rate: %s", resp.Status)
	}
}
