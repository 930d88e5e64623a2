package bluegreen_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/caddy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// caddyFront is a private Caddy in front of the slots, switched through its
// admin API.
func caddyFront(*env) front {
	return func(t *testing.T) (string, string) {
		c := testutil.Caddy(t)
		return "  caddy:\n" + c.Section(), c.URL
	}
}

// TestCaddyUnderLoad: three deploys in a row behind a real Caddy, switched
// through its admin API, with clients sending requests without pause; then
// a 3 s request held across a switch, which finishes on the old release.
func TestCaddyUnderLoad(t *testing.T) {
	e := newEnvFront(t, webServices, caddyFront)
	e.deployThree()

	// A long request across the switch: Caddy 2.6 lets it finish on the
	// old upstream, and the old release's graceful stop waits for it.
	e.longRequestsAcrossTheSwitch()
}

// TestCaddyRefusesTheChange: a Caddy whose handler id the file names wrong
// is refused at prepare, before anything starts; traffic stays where it is.
func TestCaddyRefusesTheChange(t *testing.T) {
	e := newEnvFront(t, webServices, caddyFront)
	finish := e.underLoad()
	d := e.deployer("IMAGE_TAG=v2")
	sw, err := caddy.FromProject(d.Project, d.Logger, func(c *caddy.Config) { c.ID = "nosuchhandler" })
	if err != nil {
		t.Fatal(err)
	}
	d.Switcher = sw
	_, err = d.Deploy(context.Background())
	t.Logf("deploy with a wrong handler id: %v", err)
	wantStepError(t, err, bluegreen.StepPrepare, bluegreen.None, bluegreen.ErrBadInput)
	if !errors.Is(err, caddy.ErrNoHandler) && !errors.Is(err, caddy.ErrPreflight) {
		t.Errorf("err = %v, want it to wrap caddy.ErrNoHandler or ErrPreflight", err)
	}
	e.wantNoContainers(bluegreen.Green)
	finish("v1")
}

// TestCaddyKilledDeploy: deploys killed with SIGKILL at each step, the
// switch included, behind Caddy; the next deploy repairs and succeeds.
func TestCaddyKilledDeploy(t *testing.T) {
	testKilledDeploy(t, caddyFront)
}

// longRequestsAcrossTheSwitch deploys v1, whose /slow answers in 3 s, and
// then v2 while clients hold 3 s requests and others send short ones: not
// one request fails, and the long ones sent before the switch are answered
// by v1.
func (e *env) longRequestsAcrossTheSwitch() *bluegreen.Report {
	e.t.Helper()
	e.deploy("IMAGE_TAG=v1", "SLOW=3s")
	load := testutil.Load(e.t, e.url+"/version")
	slow := testutil.LoadWith(e.t, e.url+"/slow", testutil.LoadOptions{Workers: 2})
	time.Sleep(500 * time.Millisecond)
	// One more 3 s request, sent just before the switch: it is in flight
	// on the old release for all of the drain.
	held := make(chan error, 1)
	d := e.deployer("IMAGE_TAG=v2", "SLOW=3s")
	d.OnEvent = func(ev bluegreen.Event) {
		if ev.Step == bluegreen.StepSwitch && ev.Phase == bluegreen.PhaseBegin {
			go func() {
				body, err := get(e.url + "/slow")
				if err == nil && body != "v1" {
					err = fmt.Errorf("answered by %s, want v1", body)
				}
				held <- err
			}()
			time.Sleep(100 * time.Millisecond)
		}
	}
	r, err := d.Deploy(context.Background())
	if err != nil {
		e.t.Fatalf("deploy with 3 s requests in flight: %v", err)
	}
	e.t.Logf("deploy with 3 s requests in flight: %s; %s", r.Elapsed.Round(time.Millisecond), durations(r))
	if err := <-held; err != nil {
		e.t.Errorf("the 3 s request sent just before the switch: %v", err)
	}
	time.Sleep(3500 * time.Millisecond)
	for name, res := range map[string]testutil.LoadResult{"3 s requests": slow.Stop(), "short requests": load.Stop()} {
		e.t.Logf("%s across the switch: %s", name, res)
		if res.Failed != 0 {
			e.t.Errorf("%s: %d of %d failed: %v", name, res.Failed, res.Sent, res.Failures)
		}
	}
	e.wantServing("v2")
	return r
}

// TestCaddyOldReleaseIgnoringSIGTERM: behind Caddy, the retire waits out
// the grace period of an old release that ignores SIGTERM; nothing fails.
func TestCaddyOldReleaseIgnoringSIGTERM(t *testing.T) {
	testOldReleaseIgnoringSIGTERM(t, caddyFront)
}

// TestCaddyRefusesCanary: strategy canary behind Caddy is refused before
// anything starts, saying why; traffic stays where it is.
func TestCaddyRefusesCanary(t *testing.T) {
	e := newEnvFront(t, webServices, canaryFront(caddyFront))
	_, err := e.deployer("IMAGE_TAG=v1").Deploy(context.Background())
	t.Logf("canary behind Caddy: %v", err)
	if !errors.Is(err, bluegreen.ErrBadInput) || !strings.Contains(err.Error(), "weighted_round_robin") {
		t.Errorf("err = %v, want ErrBadInput saying Caddy 2.6 cannot split", err)
	}
	e.wantNoContainers(bluegreen.Blue)
	e.wantNoContainers(bluegreen.Green)
}
