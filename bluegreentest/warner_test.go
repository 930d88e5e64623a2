package bluegreentest_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/proxy"
)

// warningSwitch is the Go proxy, with a warning of its own.
type warningSwitch struct{ *proxy.Switcher }

func (warningSwitch) Warnings(context.Context) []string {
	return []string{"the host's setting X is off"}
}

// TestProxyWarnings: a Warner's warnings reach the deploy's events at its
// prepare step and Check's proxy line, and stop neither.
func TestProxyWarnings(t *testing.T) {
	p := &proxy.Switcher{}
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	s := newShop(t, warningSwitch{p})
	d := &bluegreen.Deployer{Project: s.project, Compose: s.compose, Switcher: s.sw}

	items, err := d.Check(t.Context())
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	i := slices.IndexFunc(items, func(c bluegreen.CheckItem) bool { return c.Name == "proxy" })
	if i < 0 || !items[i].OK || items[i].Detail != "ready to switch; warning: the host's setting X is off" {
		t.Errorf("Check's proxy line: %+v; want OK with the warning", items)
	}

	var warned []bluegreen.Event
	d.OnEvent = func(e bluegreen.Event) {
		if strings.Contains(e.Message, "setting X") {
			warned = append(warned, e)
		}
	}
	if _, err := d.Deploy(t.Context()); err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if len(warned) != 1 || warned[0].Step != bluegreen.StepPrepare || warned[0].Phase != bluegreen.PhaseInfo ||
		warned[0].Message != "warning: the host's setting X is off" {
		t.Errorf("events naming the warning: %+v; want one info event of prepare", warned)
	}
	s.wantSlot(bluegreen.Blue, "v1", "running")
}
