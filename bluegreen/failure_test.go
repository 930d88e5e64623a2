package bluegreen_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// The failure-path tests below each run under continuous load through a
// real nginx, and each ends by asserting that no request failed and that
// traffic is on a good release.

func TestMain(m *testing.M) {
	if os.Getenv(childFileEnv) != "" {
		os.Exit(childDeploy())
	}
	logrus.SetOutput(io.Discard) // compose's own warnings
	os.Exit(m.Run())
}

// underLoad deploys v1, starts the load and returns a function that stops
// it and checks that nothing failed and nginx serves version.
func (e *env) underLoad() (finish func(version string) testutil.LoadResult) {
	e.t.Helper()
	return e.underLoadAt("/version")
}

// underLoadAt is underLoad with the clients requesting path; finish returns
// what they saw.
func (e *env) underLoadAt(path string) (finish func(version string) testutil.LoadResult) {
	e.t.Helper()
	e.deploy("IMAGE_TAG=v1")
	e.wantServing("v1")
	load := testutil.Load(e.t, e.url+path)
	time.Sleep(300 * time.Millisecond)
	return func(version string) testutil.LoadResult {
		e.t.Helper()
		time.Sleep(300 * time.Millisecond)
		res := load.Stop()
		e.t.Logf("load through the proxy: %s", res)
		if res.Sent < 500 {
			e.t.Errorf("only %d requests sent: the load did not run", res.Sent)
		}
		if res.Failed != 0 {
			e.t.Errorf("%d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
		}
		e.wantServing(version)
		return res
	}
}

// running returns the IDs of the running containers of slot.
func (e *env) running(slot bluegreen.Slot) []string {
	e.t.Helper()
	return e.containerIDs(slot, false)
}

// containerIDs returns the IDs of slot's containers, sorted: the running
// ones, or all of them.
func (e *env) containerIDs(slot bluegreen.Slot, all bool) []string {
	e.t.Helper()
	cs, err := e.compose.Ps(context.Background(), e.project+"-"+string(slot), api.PsOptions{All: all})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func (e *env) wantNoContainers(slot bluegreen.Slot) {
	e.t.Helper()
	cs, err := e.compose.Ps(context.Background(), e.project+"-"+string(slot), api.PsOptions{All: true})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(cs) != 0 {
		e.t.Errorf("slot %s has %d container(s) left, want none: %s (%s)", slot, len(cs), cs[0].Name, cs[0].State)
	}
}

func wantStepError(t *testing.T, err error, step bluegreen.Step, live bluegreen.Slot, cause error) {
	t.Helper()
	var se *bluegreen.StepError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *StepError", err)
	}
	if se.Step != step || se.Live != live {
		t.Errorf("failed at %s with %s live, want %s with %s live (err: %v)", se.Step, se.Live, step, live, err)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("err = %v, want it to wrap %v", err, cause)
	}
}

func TestBadReleasesNeverTakeTraffic(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vars     []string
		mention  string
		fastFail bool // detected at once, not after the health timeout
	}{
		{"answers 500", []string{"FAIL=500", "HEALTH_TIMEOUT=4s"}, "status 500", false},
		{"crashes at start", []string{"FAIL=crash", "BOOT_DELAY=200ms"}, "exited with code 1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			finish := e.underLoad()
			start := time.Now()
			_, err := e.deployer(append([]string{"IMAGE_TAG=v2"}, tc.vars...)...).Deploy(context.Background())
			took := time.Since(start)
			t.Logf("failed deploy took %s: %v", took.Round(time.Millisecond), err)
			wantStepError(t, err, bluegreen.StepWaitHealthy, bluegreen.Blue, bluegreen.ErrUnhealthy)
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err %q does not say %q", err, tc.mention)
			}
			if tc.fastFail && took > 10*time.Second {
				t.Errorf("a crashed release took %s to detect; the health timeout is 30s", took)
			}
			e.wantNoContainers(bluegreen.Green)
			finish("v1")
			hist, _ := e.deployer("IMAGE_TAG=v1").History()
			if last := hist[len(hist)-1]; last.Outcome != bluegreen.OutcomeFailed || last.Step != bluegreen.StepWaitHealthy {
				t.Errorf("history's last entry: %+v, want a failed release at wait-healthy", last)
			}
		})
	}
}

func TestSlowBootingRelease(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	r := e.deploy("IMAGE_TAG=v2", "BOOT_DELAY=15s")
	t.Logf("deploy of a release that boots in 15s: %s; %s", r.Elapsed.Round(time.Millisecond), durations(r))
	if r.Elapsed < 15*time.Second {
		t.Errorf("deploy took %s: it cannot have waited for a 15s boot", r.Elapsed)
	}
	finish("v2")
}

func TestVerifyFailureSwitchesBack(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	_, err := e.deployer("IMAGE_TAG=v2", "FAIL=verify", "VERIFY_URL="+e.url+"/verify").Deploy(context.Background())
	t.Logf("deploy: %v", err)
	wantStepError(t, err, bluegreen.StepVerify, bluegreen.Blue, bluegreen.ErrVerify)
	e.wantNoContainers(bluegreen.Green)
	finish("v1")
	// The same check passes on a good release.
	e.deploy("IMAGE_TAG=v3", "VERIFY_URL="+e.url+"/verify")
	e.wantServing("v3")
}

func TestBadInputChangesNothing(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()

	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.ports.Green))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.deployer("IMAGE_TAG=v2").Deploy(context.Background())
	l.Close()
	t.Logf("slot port taken: %v", err)
	wantStepError(t, err, bluegreen.StepPrepare, bluegreen.Blue, bluegreen.ErrBadInput)
	if err != nil && !strings.Contains(err.Error(), "taken by another process") {
		t.Errorf("err %q does not say the port is taken", err)
	}

	// A registry on a closed loopback port: the pull fails at once, and
	// never leaves the machine.
	_, err = e.deployer("IMAGE_TAG=v2", "IMAGE=127.0.0.1:1/missing").Deploy(context.Background())
	t.Logf("image missing: %v", err)
	wantStepError(t, err, bluegreen.StepPrepare, bluegreen.Blue, bluegreen.ErrBadInput)
	if err != nil && !strings.Contains(err.Error(), "127.0.0.1:1/missing:v2 of service web is not present") {
		t.Errorf("err %q does not name the missing image", err)
	}
	e.wantNoContainers(bluegreen.Green)
	finish("v1")
}

func TestCancelBeforeSwitchRemovesTheNewSlot(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	ctx, cancel := context.WithCancel(context.Background())
	d := e.deployer("IMAGE_TAG=v2", "BOOT_DELAY=3s")
	d.OnEvent = func(ev bluegreen.Event) {
		if ev.Step == bluegreen.StepWaitHealthy && ev.Phase == bluegreen.PhaseBegin {
			cancel()
		}
	}
	_, err := d.Deploy(ctx)
	t.Logf("cancelled deploy: %v", err)
	wantStepError(t, err, bluegreen.StepWaitHealthy, bluegreen.Blue, context.Canceled)
	e.wantNoContainers(bluegreen.Green)
	finish("v1")
}

func TestConcurrentDeploys(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()

	// Without waiting: one deploys, the other fails at once naming the holder.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tag := range []string{"v2", "v3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.deployer("IMAGE_TAG=" + tag).Deploy(context.Background())
		}()
	}
	wg.Wait()
	t.Logf("concurrent deploys: %v / %v", errs[0], errs[1])
	var locked *bluegreen.LockError
	winner := ""
	switch {
	case errs[0] == nil && errors.As(errs[1], &locked):
		winner = "v2"
	case errs[1] == nil && errors.As(errs[0], &locked):
		winner = "v3"
	default:
		t.Fatalf("want one success and one ErrLocked, got %v and %v", errs[0], errs[1])
	}
	if locked.Holder.PID != os.Getpid() || !errors.Is(locked, bluegreen.ErrLocked) {
		t.Errorf("lock error names holder %+v, want this process", locked.Holder)
	}
	e.wantServing(winner)

	// Waiting: both run, one after the other.
	for i, tag := range []string{"v3", "v2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := e.deployer("IMAGE_TAG=" + tag)
			d.WaitLock = true
			_, errs[i] = d.Deploy(context.Background())
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("deploys waiting for the lock: %v / %v", errs[0], errs[1])
	}
	hist, err := e.deployer("IMAGE_TAG=v1").History()
	if err != nil {
		t.Fatal(err)
	}
	last := hist[len(hist)-1]
	if last.Outcome != bluegreen.OutcomeSucceeded {
		t.Errorf("last release %+v did not succeed", last)
	}
	finish(strings.TrimPrefix(last.Images["web"], "bluegreen-testapp:"))
}

func TestRollback(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	v1 := e.running(bluegreen.Blue)
	e.deploy("IMAGE_TAG=v2")
	e.wantServing("v2")

	// The retired v1 is kept, stopped: rollback starts the same container.
	r, err := e.deployer("IMAGE_TAG=v2").Rollback(context.Background())
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	t.Logf("rollback to kept v1: %s; %s", r.Elapsed.Round(time.Millisecond), durations(r))
	e.wantServing("v1")
	if got := e.running(bluegreen.Blue); len(got) != 1 || got[0] != v1[0] {
		t.Errorf("rollback ran container %v, want the kept %v", got, v1)
	}

	// With the retired v2 gone, rollback deploys it again from the history.
	if err := e.compose.Down(context.Background(), e.project+"-green", api.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err = e.deployer("IMAGE_TAG=v1").Rollback(context.Background())
	if err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	t.Logf("rollback to removed v2: %s; %s", r.Elapsed.Round(time.Millisecond), durations(r))
	if r.Release.Kind != "rollback" || r.Release.Images["web"] != "bluegreen-testapp:v2" {
		t.Errorf("recorded %+v, want a rollback to bluegreen-testapp:v2", r.Release)
	}
	finish("v2")
}

func TestRollbackWithNothingBefore(t *testing.T) {
	e := newEnv(t)
	e.deploy("IMAGE_TAG=v1")
	_, err := e.deployer("IMAGE_TAG=v1").Rollback(context.Background())
	wantStepError(t, err, bluegreen.StepPrepare, bluegreen.Blue, bluegreen.ErrNoRollback)
	e.wantServing("v1")
}

// The child side of TestKilledDeploy: a deploy in a process of its own,
// printing "<step> <phase>" per event, for its parent to kill.
const (
	childFileEnv    = "BLUEGREEN_CHILD_FILE"
	childProjectEnv = "BLUEGREEN_CHILD_PROJECT"
	childVarsEnv    = "BLUEGREEN_CHILD_VARS"
)

func childDeploy() int {
	ctx := context.Background()
	src := bluegreen.Source{
		Files:       []string{os.Getenv(childFileEnv)},
		ProjectName: os.Getenv(childProjectEnv),
		Env:         strings.Split(os.Getenv(childVarsEnv), ","),
	}
	p, err := bluegreen.Load(ctx, src)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	sw, err := switcherFor(p, nil)
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	engine, err := bluegreen.NewEngine(ctx, "")
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	d := &bluegreen.Deployer{
		Project: p, Compose: engine, Switcher: sw,
		OnEvent: func(ev bluegreen.Event) { fmt.Printf("%s %s\n", ev.Step, ev.Phase) },
	}
	if _, err := d.Deploy(ctx); err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("deployed")
	return 0
}

// killChild runs a deploy of vars in a child process (childDeploy) and
// kills it with SIGKILL delay after it reports the event at ("switch
// begin").
func (e *env) killChild(at string, delay time.Duration, vars ...string) {
	t := e.t
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		childFileEnv+"="+e.file, childProjectEnv+"="+e.project, childVarsEnv+"="+strings.Join(vars, ","))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if lines.Text() == at {
			time.Sleep(delay)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
			break
		}
	}
	go io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("the child deploy ended before %q", at)
	}
}

// TestKilledDeploy kills a deploy with SIGKILL at several moments, then
// deploys again: traffic stays on a good release throughout, and the next
// deploy cleans up and succeeds.
func TestKilledDeploy(t *testing.T) {
	testKilledDeploy(t, nil)
}

// testKilledDeploy is TestKilledDeploy behind the proxy that proxy starts
// (a host nginx when nil).
func testKilledDeploy(t *testing.T, proxy func(e *env) front) {
	e := newEnvFront(t, webServices, proxy)
	finish := e.underLoad()
	for i, killAt := range []string{"start begin", "wait-healthy begin", "switch begin", "drain begin", "retire begin"} {
		version := fmt.Sprintf("v%d", i%2+2) // v2, v3, v2...: the images the test built
		e.killChild(killAt, 0, "IMAGE_TAG="+version)
		t.Logf("killed a deploy of %s at %q", version, killAt)

		// Traffic is on a good release right now, whichever it is.
		if body, err := get(e.url + "/version"); err != nil {
			t.Fatalf("after the kill at %q nginx answers %v", killAt, err)
		} else {
			t.Logf("nginx serves %s after the kill", body)
		}
		// The next deploy cleans up and succeeds, lock included.
		r := e.deploy("IMAGE_TAG=v1")
		t.Logf("next deploy: %s -> %s in %s; %s", r.From, r.To, r.Elapsed.Round(time.Millisecond), durations(r))
		e.wantServing("v1")
		if n := len(e.running(r.To.Other())); n != 0 {
			t.Errorf("after the next deploy %d container(s) still run in %s", n, r.To.Other())
		}
	}
	finish("v1")
}
