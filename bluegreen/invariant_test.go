package bluegreen_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"
	"github.com/docker/docker/client"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// The tests of this file prove the one promise under load through a real
// nginx: a slot that takes traffic is never stopped or removed, and a
// deploy never reports success while nginx does not serve the new release.

// ids returns the IDs of every container of slot, stopped ones too.
func (e *env) ids(slot bluegreen.Slot) []string {
	e.t.Helper()
	return e.containerIDs(slot, true)
}

// withUpstreamFile points d's nginx at another upstream file.
func withUpstreamFile(t *testing.T, path string) func(*bluegreen.Deployer) func() {
	return func(d *bluegreen.Deployer) func() {
		sw, err := nginxconf.FromProject(d.Project, d.Logger, func(c *nginxconf.Config) { c.UpstreamFile = path })
		if err != nil {
			t.Fatal(err)
		}
		d.Switcher = sw
		return nil
	}
}

// TestRefusalsChangeNothing deploys v1 then v2 (v1 kept, stopped, for a
// rollback), then tries deploys that must be refused: a wrong proxy
// configuration, an image that cannot be had, a slot port taken, a state
// file that is not the project's. Each is refused at prepare with
// ErrBadInput; no container of either slot is touched, the history is
// unchanged, v2 serves throughout, and the kept v1 is still there for the
// rollback at the end.
func TestRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	e.deploy("IMAGE_TAG=v2")
	blue, green := e.ids(bluegreen.Blue), e.ids(bluegreen.Green)
	history := func() []bluegreen.Release {
		t.Helper()
		h, err := e.deployer("IMAGE_TAG=v1").History()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := history()

	dir := filepath.Dir(e.nginx.UpstreamFile)
	unmanaged := filepath.Join(dir, "unmanaged.conf")
	if err := os.WriteFile(unmanaged, []byte("server_tokens off;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(filepath.Dir(e.file), ".bluegreen", e.project+".json")
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	replaceState := func(content string) func(*bluegreen.Deployer) func() {
		return func(*bluegreen.Deployer) func() {
			if err := os.WriteFile(statePath, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			return nil
		}
	}

	for _, tc := range []struct {
		name string
		vars []string
		// edit changes d, or the world, and returns how to undo it.
		edit    func(*bluegreen.Deployer) (undo func())
		mention string
		// inDoubt: the proxy's routing cannot be read, so the error must
		// not claim which slot takes traffic.
		inDoubt bool
	}{
		{"upstream_file with a typo", nil, withUpstreamFile(t, filepath.Join(dir, "upstreams.conf")), "routes to no slot, yet green runs", true},
		{"upstream_file in a missing directory", nil, withUpstreamFile(t, filepath.Join(dir, "conf.d", "upstream.conf")), "does not exist", true},
		{"upstream_file not written by bluegreen", nil, withUpstreamFile(t, unmanaged), unmanaged, true},
		{"image that cannot be had", []string{"IMAGE=127.0.0.1:1/missing"}, nil, "127.0.0.1:1/missing:v3 of service web is not present", false},
		{"slot port taken", nil, func(*bluegreen.Deployer) func() {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.ports.Blue))
			if err != nil {
				t.Fatal(err)
			}
			return func() { l.Close() }
		}, "taken by another process", false},
		{"state file of another project", nil, replaceState(`{"project": "another", "releases": []}`), "another", false},
		{"state file truncated", nil, replaceState(string(state[:len(state)/2])), statePath, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := e.deployer(append([]string{"IMAGE_TAG=v3"}, tc.vars...)...)
			if tc.edit != nil {
				if undo := tc.edit(d); undo != nil {
					defer undo()
				}
			}
			_, err := d.Deploy(context.Background())
			t.Logf("refused: %v", err)
			live := bluegreen.Green
			if tc.inDoubt {
				live = bluegreen.None
			}
			wantStepError(t, err, bluegreen.StepPrepare, live, bluegreen.ErrBadInput)
			var se *bluegreen.StepError
			if errors.As(err, &se) && tc.inDoubt != (se.LiveErr != nil) {
				t.Errorf("LiveErr = %v: the error must say the live slot is unknown exactly when the proxy's routing is in doubt", se.LiveErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err %q does not say %q", err, tc.mention)
			}
			if err := os.WriteFile(statePath, state, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := e.ids(bluegreen.Blue); !slices.Equal(got, blue) {
				t.Errorf("blue holds %v after the refusal, want the kept release %v untouched", got, blue)
			}
			if got := e.ids(bluegreen.Green); !slices.Equal(got, green) {
				t.Errorf("green holds %v after the refusal, want %v untouched", got, green)
			}
			if got := history(); len(got) != len(before) {
				t.Errorf("the history has %d releases after the refusal, want %d", len(got), len(before))
			}
			e.wantServing("v2")
		})
	}

	// The kept v1 is what the rollback starts.
	if _, err := e.deployer("IMAGE_TAG=v2").Rollback(context.Background()); err != nil {
		t.Fatalf("Rollback: %v", err)
	}
	if got := e.ids(bluegreen.Blue); !slices.Equal(got, blue) {
		t.Errorf("rollback ran %v, want the kept %v", got, blue)
	}
	finish("v1")
}

// switchHook is a Switcher that runs after once a Switch has succeeded, and
// passes everything else to the nginx Switcher.
type switchHook struct {
	*nginxconf.Switcher
	after func()
}

func (s *switchHook) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	err := s.Switcher.Switch(ctx, slot, addrs)
	if err == nil && s.after != nil {
		s.after()
		s.after = nil
	}
	return err
}

// smallFS mounts a tmpfs of size bytes on a new directory.
func smallFS(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mounting a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// fill writes to dir until its filesystem is full.
func fill(t *testing.T, dir string) {
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Error(err)
		return
	}
	if err != nil {
		return
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			return
		}
	}
}

// TestStateDirFull fills the filesystem of the state directory at each step
// of a deploy under load. Whatever the step, no request fails, nginx serves
// the release that it routes to, and the next deploy (with room again)
// succeeds. Before the switch, the deploy is refused or removes the new
// release; from the switch on, the new release keeps the traffic and the
// deploy fails loudly with ErrHistory.
func TestStateDirFull(t *testing.T) {
	e := newEnv(t)
	stateDir := smallFS(t, 256<<10)
	deployer := func(version string) *bluegreen.Deployer {
		d := e.deployer("IMAGE_TAG=" + version)
		d.Project.Config.StateDir = stateDir
		return d
	}
	if _, err := deployer("v1").Deploy(context.Background()); err != nil {
		t.Fatal(err)
	}
	load := testutil.Load(t, e.url+"/version")
	serving := "v1"
	for i, moment := range []string{"prepare begin", "start begin", "wait-healthy begin", "switch begin", "switched", "drain begin", "retire begin"} {
		version := []string{"v2", "v3"}[i%2]
		d := deployer(version)
		full := func() { fill(t, stateDir) }
		if moment == "switched" {
			d.Switcher = &switchHook{Switcher: d.Switcher.(*nginxconf.Switcher), after: full}
		} else {
			d.OnEvent = func(ev bluegreen.Event) {
				if fmt.Sprintf("%s %s", ev.Step, ev.Phase) == moment {
					full()
				}
			}
		}
		r, err := d.Deploy(context.Background())
		if err == nil {
			t.Errorf("full at %q: the deploy succeeded though the history could not be written", moment)
		}
		if r.Switched {
			serving = version
		}
		t.Logf("full at %q: %s serves; %v", moment, serving, err)
		e.wantServing(serving)
		var se *bluegreen.StepError
		if errors.As(err, &se) && (se.Live == bluegreen.None || se.LiveErr != nil) {
			t.Errorf("full at %q: the error says no slot is live (%v), though %s serves", moment, se.LiveErr, serving)
		}
		if r.Switched && !errors.Is(err, bluegreen.ErrHistory) {
			t.Errorf("full at %q after the switch: err %v, want ErrHistory", moment, err)
		}
		if err := os.Remove(filepath.Join(stateDir, "filler")); err != nil {
			t.Fatal(err)
		}
	}
	r, err := deployer("v1").Deploy(context.Background())
	if err != nil {
		t.Fatalf("deploy with room again: %v", err)
	}
	t.Logf("deploy with room again: %s -> %s; %s", r.From, r.To, durations(r))
	e.wantServing("v1")
	res := load.Stop()
	t.Logf("load through nginx: %s", res)
	if res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
	}
}

// TestReleaseDiesAfterTheSwitch kills the new release at moments between
// the switch and the end of the retire, under load. Each time traffic goes
// back to the old release and the dead release is removed: before the
// retire within about a probe interval (100 ms) plus the switch, while the
// old release still runs; during the retire once the old release, stopped
// by it, has started again. The test states the bound it reaches: requests
// failed and the time from the kill to the switch-back.
func TestReleaseDiesAfterTheSwitch(t *testing.T) {
	e := newEnv(t)
	e.deploy("IMAGE_TAG=v1", "SLOW=3s")
	e.wantServing("v1")
	docker, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer docker.Close()

	for _, tc := range []struct {
		name   string
		moment string
		delay  time.Duration
		vars   []string
		held   string // "drain" or "retire": a 3 s request to v1 holds it open
		within time.Duration
	}{
		{"right after the switch", "switch done", 0, nil, "", 1500 * time.Millisecond},
		{"during the drain", "drain begin", 500 * time.Millisecond, nil, "drain", 1500 * time.Millisecond},
		{"during verify", "verify begin", 0, []string{"VERIFY_URL=" + e.url + "/verify"}, "", 1500 * time.Millisecond},
		// The retire waits for the held request (3 s), then blue starts
		// again and passes its health check.
		{"during the retire", "retire begin", 500 * time.Millisecond, nil, "retire", 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			load := testutil.Load(t, e.url+"/version")
			time.Sleep(300 * time.Millisecond)
			var (
				mu             sync.Mutex
				killed, backAt time.Time
				atKill         testutil.LoadResult
			)
			// green's container is found before the switch: a list of
			// containers under load can take longer than the moment lasts.
			var greenID string
			kill := func() {
				time.Sleep(tc.delay)
				mu.Lock()
				killed, atKill = time.Now(), load.Snapshot()
				mu.Unlock()
				if err := docker.ContainerKill(context.Background(), greenID, "KILL"); err != nil {
					t.Errorf("killing green: %v", err)
				}
			}
			d := e.deployer(append([]string{"IMAGE_TAG=v2"}, tc.vars...)...)
			d.OnEvent = func(ev bluegreen.Event) {
				switch at := fmt.Sprintf("%s %s", ev.Step, ev.Phase); {
				case at == "switch begin":
					cs, err := e.compose.Ps(context.Background(), e.project+"-green", api.PsOptions{})
					if err != nil || len(cs) == 0 {
						t.Errorf("finding green's container to kill: %v (%d)", err, len(cs))
						return
					}
					greenID = cs[0].ID
					if tc.held == "drain" {
						go get(e.url + "/slow")
						time.Sleep(100 * time.Millisecond)
					}
				case at == "retire begin" && tc.held == "retire":
					// Straight to blue, which the proxy no longer routes to.
					go get(fmt.Sprintf("http://127.0.0.1:%d/slow", e.ports.Blue))
					time.Sleep(100 * time.Millisecond)
					go kill()
				case at == tc.moment:
					go kill()
				case ev.Step == bluegreen.StepSwitchBack && ev.Phase == bluegreen.PhaseDone:
					mu.Lock()
					backAt = time.Now()
					mu.Unlock()
				}
			}
			r, err := d.Deploy(context.Background())
			afterDeploy := load.Snapshot()
			time.Sleep(500 * time.Millisecond)
			res := load.Stop()
			t.Logf("deploy: %v; %s", err, durations(r))
			var se *bluegreen.StepError
			if !errors.As(err, &se) || se.Live != bluegreen.Blue || !errors.Is(err, bluegreen.ErrFailedAfterSwitch) {
				t.Errorf("err = %v, want a *StepError wrapping ErrFailedAfterSwitch with blue live", err)
			}
			if !r.SwitchedBack {
				t.Errorf("the report does not say traffic went back: %+v", r)
			}
			mu.Lock()
			defer mu.Unlock()
			gap := backAt.Sub(killed)
			t.Logf("killed %s: switched back %s after the kill; %d requests failed, all between the kill and the end of the deploy; load: %s",
				tc.name, gap.Round(time.Millisecond), res.Failed, res)
			if backAt.IsZero() || killed.IsZero() || gap > tc.within {
				t.Errorf("switched back %s after the kill, want within %s (a probe interval is 100 ms)", gap, tc.within)
			}
			// The failures are bounded by that window: none before the
			// kill, none once the deploy has returned.
			if atKill.Failed != 0 {
				t.Errorf("%d requests failed before the kill: %v", atKill.Failed, atKill.Failures)
			}
			if n := res.Failed - afterDeploy.Failed; n != 0 {
				t.Errorf("%d requests failed after the deploy returned: %v", n, res.Failures)
			}
			e.wantServing("v1")
			e.wantNoContainers(bluegreen.Green)
			hist, _ := e.deployer("IMAGE_TAG=v1").History()
			if last := hist[len(hist)-1]; last.Outcome != bluegreen.OutcomeSwitchBack {
				t.Errorf("history's last entry: %+v, want switched-back", last)
			}
		})
	}
	// A good release still deploys after all that.
	e.deploy("IMAGE_TAG=v3")
	e.wantServing("v3")
}

// TestGuardRefusesTheLiveSlot asks the Deployer, through its public API,
// to remove a slot that nginx routes to: a rollback whose target would be
// the live slot cannot happen, but a Switcher that lies about the live slot
// can make the Deployer try. The guard, which reads the routing back before
// each removal, must refuse.
func TestGuardRefusesTheLiveSlot(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	d := e.deployer("IMAGE_TAG=v2")
	real := d.Switcher.(*nginxconf.Switcher)
	// Without a history, and with Active answering "green" once (green
	// runs nothing: nothing would serve), the deploy goes to blue, the live
	// slot. Then Active tells the truth.
	if err := os.Remove(filepath.Join(filepath.Dir(e.file), ".bluegreen", e.project+".json")); err != nil {
		t.Fatal(err)
	}
	d.Switcher = &lyingSwitcher{Switcher: real, lies: 1}
	d.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	_, err := d.Deploy(context.Background())
	t.Logf("deploy into the live slot: %v", err)
	if !errors.Is(err, bluegreen.ErrLiveSlot) {
		t.Errorf("err = %v, want ErrLiveSlot", err)
	}
	if n := len(e.running(bluegreen.Blue)); n != 1 {
		t.Errorf("blue runs %d container(s), want its one", n)
	}
	time.Sleep(time.Second) // enough requests for the count to mean something
	finish("v1")
}

// lyingSwitcher answers Active with green for its first lies calls.
type lyingSwitcher struct {
	*nginxconf.Switcher
	mu   sync.Mutex
	lies int
}

func (s *lyingSwitcher) Active(ctx context.Context) (bluegreen.Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lies > 0 {
		s.lies--
		return bluegreen.Green, nil
	}
	return s.Switcher.Active(ctx)
}

// TestUpstreamFileIsALink: upstream_file names a symbolic link to the file
// that nginx includes. The switch writes through the link: nginx serves
// each new release, the link stays a link, and nothing fails.
func TestUpstreamFileIsALink(t *testing.T) {
	e := newEnv(t)
	finish := e.underLoad()
	link := filepath.Join(t.TempDir(), "upstream-link.conf")
	if err := os.Symlink(e.nginx.UpstreamFile, link); err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"v2", "v3"} {
		d := e.deployer("IMAGE_TAG=" + version)
		withUpstreamFile(t, link)(d)
		r, err := d.Deploy(context.Background())
		if err != nil {
			t.Fatalf("deploy %s through the link: %v", version, err)
		}
		t.Logf("deploy %s through the link: %s -> %s; %s", version, r.From, r.To, durations(r))
		e.wantServing(version)
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("after the switch %s is no longer a link (%v, %v)", link, fi.Mode(), err)
		}
	}
	finish("v3")
}
