package bench_test

import (
	"context"
	"fmt"
	"github.com/bluegreen-dev/bluegreen/internal/composelabel"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// naiveFile is what the naive script brings up as <project>-blue or
// <project>-green: the same app, its port published by the file itself.
const naiveFile = `services:
  web:
    image: ` + image + `
    environment:
      VERSION: ${VERSION:?}
      BOOT_DELAY: ${BOOT_DELAY:?}
    ports: ["127.0.0.1:${PORT:?}:8000"]
`

// setupNaive brings up the first release in blue and routes nginx to it;
// both naive projects are removed at the end.
func (w *world) setupNaive(b *testing.B, p *procedure) {
	b.Helper()
	b.Cleanup(func() {
		for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
			if err := w.naiveDown(context.Background(), p, slot); err != nil {
				b.Errorf("naive cleanup: %v", err)
			}
		}
	})
	ctx := context.Background()
	proj, err := naiveProject(ctx, p, bluegreen.Blue, "n0")
	if err != nil {
		b.Fatal(err)
	}
	if err := w.engine.Up(ctx, proj, upOptions(proj)); err != nil {
		b.Fatalf("naive first up: %v", err)
	}
	p.live = bluegreen.Blue
	if err := naiveRoute(p, bluegreen.Blue, map[string]time.Duration{}); err != nil {
		b.Fatal(err)
	}
	// Unlike the script, wait until nginx serves it: the load starts next.
	deadline := time.Now().Add(30 * time.Second)
	for get(p.nginx.URL+"/version") != "n0" {
		if time.Now().After(deadline) {
			b.Fatal("naive first release never served through nginx")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deployNaive runs the script of shared/docs/zero-downtime.md, with its
// branch test corrected: up the idle colour, sleep 10 s, switch if the
// container shows running, reload without checking, down the old colour.
func (w *world) deployNaive(b *testing.B, np *procedure) sample {
	ctx := context.Background()
	w.release++
	version := fmt.Sprintf("n%d", w.release)
	from := np.live
	to := from.Other()
	steps := map[string]time.Duration{}
	step := timedSteps(b, np.name+" "+version, steps)

	m := w.measure(b, np.nginx.URL+"/version", np.ports.Port(to))
	start := time.Now()
	var p *types.Project
	step("prepare", func() (err error) {
		p, err = naiveProject(ctx, np, to, version)
		return err
	})
	step("start", func() error { return w.engine.Up(ctx, p, upOptions(p)) })
	step("wait-healthy", func() error {
		time.Sleep(naiveSleep)
		cs, err := w.engine.Ps(ctx, p.Name, api.PsOptions{})
		if err == nil && (len(cs) == 0 || cs[0].State != "running") {
			err = fmt.Errorf("%s is not up after %v", p.Name, naiveSleep)
		}
		return err
	})
	step("switch", func() error { return naiveRoute(np, to, steps) })
	switched := time.Now()
	step("retire", func() error { return w.naiveDown(ctx, np, from) })
	end := time.Now()
	np.live = to

	s := m.finish(start, end)
	s.steps = steps
	s.toSwitch = switched.Sub(start)
	wantServing(b, np.nginx.URL, version)
	b.Logf("%s %s %s->%s: %s; %s", np.name, version, from, to, s, naiveSteps(steps))
	return s
}

// naiveProject loads the file as <project>-<slot>, with the labels that
// compose's CLI would add.
func naiveProject(ctx context.Context, np *procedure, slot bluegreen.Slot, version string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{np.file},
		cli.WithName(np.project+"-"+string(slot)),
		cli.WithEnv([]string{
			"VERSION=" + version,
			"BOOT_DELAY=" + bootDelay.String(),
			fmt.Sprintf("PORT=%d", np.ports.Port(slot)),
		}),
	)
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, err
	}
	composelabel.Services(p)
	return p, nil
}

// upOptions are those of `docker compose up -d`.
func upOptions(p *types.Project) api.UpOptions {
	return api.UpOptions{
		Create: api.CreateOptions{Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateDiverged, QuietPull: true, AssumeYes: true},
		Start:  api.StartOptions{Project: p},
	}
}

// naiveRoute overwrites the upstream file (one server per replica) and
// signals nginx, as the script copies its per-colour config: no nginx -t,
// no check that the reload took.
func naiveRoute(p *procedure, slot bluegreen.Slot, steps map[string]time.Duration) error {
	start := time.Now()
	ka := ""
	if p.keepalive > 0 {
		ka = fmt.Sprintf(" keepalive %d;", p.keepalive)
	}
	servers := ""
	for i := range max(p.replicas, 1) {
		servers += fmt.Sprintf(" server 127.0.0.1:%d;", p.ports.Port(slot)+i)
	}
	conf := fmt.Sprintf("upstream backend {%s%s }\n", servers, ka)
	if err := os.WriteFile(p.nginx.UpstreamFile, []byte(conf), 0o644); err != nil {
		return err
	}
	wrote := time.Now()
	steps["switch.write"] = wrote.Sub(start)
	err := p.nginx.Reload()
	steps["switch.reload"] = time.Since(wrote)
	return err
}

// naiveDown is `docker compose -p <project>-<slot> down`.
func (w *world) naiveDown(ctx context.Context, p *procedure, slot bluegreen.Slot) error {
	name := p.project + "-" + string(slot)
	cs, err := w.engine.Ps(ctx, name, api.PsOptions{All: true})
	if err != nil || len(cs) == 0 {
		return err
	}
	return w.engine.Down(ctx, name, api.DownOptions{RemoveOrphans: true})
}

func naiveSteps(steps map[string]time.Duration) string {
	var parts []string
	for _, name := range stepNames {
		if d, ok := steps[name]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", name, d.Round(time.Millisecond)))
		}
	}
	return strings.Join(parts, " ")
}
