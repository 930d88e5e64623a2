package bluegreen_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// haproxyFront is a private HAProxy in front of the slots, switched through
// its runtime API: backend web with a server blue and a server green.
func haproxyFront(*env) front {
	return func(t *testing.T) (string, string) {
		h := testutil.HAProxy(t)
		return "  haproxy:\n" + h.Section(), h.URL
	}
}

// TestHAProxyUnderLoad: three deploys in a row behind a real HAProxy,
// switched with no reload (servers ready / drain / maint), with clients
// sending requests without pause; then 3 s requests held across a switch,
// which the drain waits for.
func TestHAProxyUnderLoad(t *testing.T) {
	e := newEnvFront(t, webServices, haproxyFront)
	e.deployThree()
	r := e.longRequestsAcrossTheSwitch()
	if d := stepTime(r, bluegreen.StepDrain); d < 2*time.Second {
		t.Errorf("drain took %s: it cannot have waited for the 3 s request sent just before the switch", d)
	}
}

// TestHAProxyRefusesTheChange: a backend that HAProxy does not have is
// refused at prepare, before anything starts; traffic stays where it is.
func TestHAProxyRefusesTheChange(t *testing.T) {
	e := newEnvFront(t, webServices, haproxyFront)
	finish := e.underLoad()
	d := e.deployer("IMAGE_TAG=v2")
	sw, err := haproxy.FromProject(d.Project, d.Logger, func(c *haproxy.Config) { c.Backend = "nosuchbackend" })
	if err != nil {
		t.Fatal(err)
	}
	d.Switcher = sw
	_, err = d.Deploy(context.Background())
	t.Logf("deploy with a wrong backend: %v", err)
	wantStepError(t, err, bluegreen.StepPrepare, bluegreen.None, bluegreen.ErrBadInput)
	if !errors.Is(err, haproxy.ErrNoBackend) {
		t.Errorf("err = %v, want it to wrap haproxy.ErrNoBackend", err)
	}
	e.wantNoContainers(bluegreen.Green)
	finish("v1")
}

// TestHAProxyKilledDeploy: deploys killed with SIGKILL at each step, the
// switch included, behind HAProxy; the next deploy repairs and succeeds.
func TestHAProxyKilledDeploy(t *testing.T) {
	testKilledDeploy(t, haproxyFront)
}

// TestHAProxyOldReleaseIgnoringSIGTERM: behind HAProxy, the retire waits
// out the grace period of an old release that ignores SIGTERM; nothing
// fails.
func TestHAProxyOldReleaseIgnoringSIGTERM(t *testing.T) {
	testOldReleaseIgnoringSIGTERM(t, haproxyFront)
}
