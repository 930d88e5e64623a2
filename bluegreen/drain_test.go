package bluegreen_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// TestLongRequestsSurviveTheSwitch: requests of 3 s are in flight through
// the old release when traffic switches; the old slot is retired only once
// nginx's old workers have finished them.
func TestLongRequestsSurviveTheSwitch(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	slow := testutil.LoadWith(t, e.url+"/slow", testutil.LoadOptions{Workers: 4})
	vars := []string{"SLOW=3s"}
	e.deploy(append(vars, "IMAGE_TAG=v2")...) // v2 answers /slow in 3 s too

	// One more 3 s request, sent just before the switch, is in flight
	// through v2 while v3 takes over: the old slot may be retired only once
	// it has been answered.
	held := make(chan string, 1)
	var heldDone, switchDone, retireBegin time.Time
	d := e.deployer(append(vars, "IMAGE_TAG=v3")...)
	d.OnEvent = func(ev bluegreen.Event) {
		switch {
		case ev.Step == bluegreen.StepSwitch && ev.Phase == bluegreen.PhaseBegin:
			go func() {
				body, err := get(e.url + "/slow")
				heldDone = time.Now()
				held <- fmt.Sprint(body, err)
			}()
			time.Sleep(200 * time.Millisecond) // it reaches v2 before the reload
		case ev.Step == bluegreen.StepSwitch && ev.Phase == bluegreen.PhaseDone:
			switchDone = ev.Time
		case ev.Step == bluegreen.StepRetire && ev.Phase == bluegreen.PhaseBegin:
			retireBegin = ev.Time
		}
	}
	r, err := d.Deploy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("deploy with 3 s requests in flight: %s; %s", r.Elapsed.Round(time.Millisecond), durations(r))
	if got := <-held; got != "v2<nil>" {
		t.Errorf("the request held across the switch got %q, want v2's answer", got)
	}
	switch {
	case heldDone.Before(switchDone):
		// The switch step stalled (its fsynced history record, on a
		// loaded disk) for longer than the request: it did not cross the
		// switch, and the drain had nothing of it to wait for.
		t.Logf("the held request was answered %s before the switch ended (switch step %s): it did not cross the switch",
			switchDone.Sub(heldDone).Round(time.Millisecond), stepTime(r, bluegreen.StepSwitch).Round(time.Millisecond))
	case retireBegin.Before(heldDone):
		t.Errorf("the retire of v2 began %s before the request held across the switch was answered (drain %s)",
			heldDone.Sub(retireBegin).Round(time.Millisecond), stepTime(r, bluegreen.StepDrain).Round(time.Millisecond))
	default:
		t.Logf("the held request was answered %s after the switch, the retire began %s after that",
			heldDone.Sub(switchDone).Round(time.Millisecond), retireBegin.Sub(heldDone).Round(time.Millisecond))
	}
	time.Sleep(3500 * time.Millisecond) // let the /slow requests sent to v3 finish
	res := slow.Stop()
	t.Logf("3 s requests: %s", res)
	if res.Sent < 4 || res.Failed != 0 {
		t.Errorf("3 s requests: %d sent, %d failed (%v); want some, none failed", res.Sent, res.Failed, res.Failures)
	}
	finish("v3")
}

// TestOldReleaseIgnoringSIGTERM: an old release that ignores SIGTERM is
// killed after its stop grace period; by then it holds no request.
func TestOldReleaseIgnoringSIGTERM(t *testing.T) {
	testOldReleaseIgnoringSIGTERM(t, nil)
}

// testOldReleaseIgnoringSIGTERM is TestOldReleaseIgnoringSIGTERM behind
// the proxy that proxy starts (a host nginx when nil).
func testOldReleaseIgnoringSIGTERM(t *testing.T, proxy func(e *env) front) {
	e := newEnvFront(t, webServices, proxy)
	vars := []string{"IGNORE_SIGTERM=1", "STOP_GRACE=2s"}
	e.deploy(append(vars, "IMAGE_TAG=v1")...)
	load := testutil.Load(t, e.url+"/version")
	r := e.deploy(append(vars, "IMAGE_TAG=v2")...)
	retire := stepTime(r, bluegreen.StepRetire)
	t.Logf("deploy over a release that ignores SIGTERM: %s; %s", r.Elapsed.Round(time.Millisecond), durations(r))
	if retire < 2*time.Second {
		t.Errorf("retire took %s: the old release ignores SIGTERM, so stopping it takes its 2 s grace period", retire)
	}
	time.Sleep(300 * time.Millisecond)
	res := load.Stop()
	t.Logf("load: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
	}
	e.wantServing("v2")
	e.wantStopped(bluegreen.Blue)
}

// TestNginxConfigTestFails: someone broke nginx.conf. Broken before the
// deploy, it is refused at prepare (nginx -t of the configuration as it
// is) and nothing starts. Broken during the deploy, the deploy fails at the
// switch: the upstream file is as it was, nginx was not reloaded, the new
// release is removed and traffic never moved.
func TestNginxConfigTestFails(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	before, err := os.ReadFile(e.nginx.UpstreamFile)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(e.nginx.Conf)
	if err != nil {
		t.Fatal(err)
	}
	breakConf := func() {
		if err := os.WriteFile(e.nginx.Conf, append(conf, []byte("\nthis_is_not_a_directive;\n")...), 0o644); err != nil {
			t.Error(err)
		}
	}

	breakConf()
	_, err = e.deployer("IMAGE_TAG=v2").Deploy(context.Background())
	t.Logf("deploy with nginx.conf broken before: %v", err)
	wantStepError(t, err, bluegreen.StepPrepare, bluegreen.None, bluegreen.ErrBadInput)
	if err != nil && !strings.Contains(err.Error(), "this_is_not_a_directive") {
		t.Errorf("err %q does not quote nginx -t", err)
	}
	e.wantNoContainers(bluegreen.Green)
	if err := os.WriteFile(e.nginx.Conf, conf, 0o644); err != nil {
		t.Fatal(err)
	}

	d := e.deployer("IMAGE_TAG=v2")
	d.OnEvent = func(ev bluegreen.Event) {
		if ev.Step == bluegreen.StepStart && ev.Phase == bluegreen.PhaseBegin {
			breakConf()
		}
	}
	_, err = d.Deploy(context.Background())
	t.Logf("deploy with nginx.conf broken during it: %v", err)
	wantStepError(t, err, bluegreen.StepSwitch, bluegreen.Blue, nginxconf.ErrConfigTest)
	after, _ := os.ReadFile(e.nginx.UpstreamFile)
	if !bytes.Equal(before, after) {
		t.Errorf("upstream file changed:\n%s\nwant:\n%s", after, before)
	}
	e.wantNoContainers(bluegreen.Green)
	if err := os.WriteFile(e.nginx.Conf, conf, 0o644); err != nil { // repaired
		t.Fatal(err)
	}
	finish("v1")
	e.deploy("IMAGE_TAG=v2")
	e.wantServing("v2")
}

func stepTime(r *bluegreen.Report, step bluegreen.Step) time.Duration {
	for _, s := range r.Steps {
		if s.Step == step {
			return s.Elapsed
		}
	}
	return 0
}
