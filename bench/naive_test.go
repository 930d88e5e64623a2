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
func (w *world) setupNaive(b *testing.B) {
	b.Helper()
	b.Cleanup(func() {
		for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
			if err := w.naiveDown(context.Background(), slot); err != nil {
				b.Errorf("naive cleanup: %v", err)
			}
		}
	})
	ctx := context.Background()
	p, err := w.naiveProject(ctx, bluegreen.Blue, "n0")
	if err != nil {
		b.Fatal(err)
	}
	if err := w.engine.Up(ctx, p, upOptions(p)); err != nil {
		b.Fatalf("naive first up: %v", err)
	}
	w.naive.live = bluegreen.Blue
	if err := w.naiveRoute(bluegreen.Blue, map[string]time.Duration{}); err != nil {
		b.Fatal(err)
	}
	// Unlike the script, wait until nginx serves it: the load starts next.
	deadline := time.Now().Add(30 * time.Second)
	for get(w.naive.nginx.URL+"/version") != "n0" {
		if time.Now().After(deadline) {
			b.Fatal("naive first release never served through nginx")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deployNaive runs the script of shared/docs/zero-downtime.md, with its
// branch test corrected: up the idle colour, sleep 10 s, switch if the
// container shows running, reload without checking, down the old colour.
func (w *world) deployNaive(b *testing.B) sample {
	ctx := context.Background()
	w.release++
	version := fmt.Sprintf("n%d", w.release)
	from := w.naive.live
	to := from.Other()
	steps := map[string]time.Duration{}
	step := func(name string, fn func() error) {
		t := time.Now()
		err := fn()
		steps[name] = time.Since(t)
		if err != nil {
			b.Fatalf("naive %s: %s: %v", version, name, err)
		}
	}

	m := w.measure(b, w.naive.nginx.URL+"/version", w.naive.ports.Port(to))
	start := time.Now()
	var p *types.Project
	step("prepare", func() (err error) {
		p, err = w.naiveProject(ctx, to, version)
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
	step("switch", func() error { return w.naiveRoute(to, steps) })
	switched := time.Now()
	step("retire", func() error { return w.naiveDown(ctx, from) })
	end := time.Now()
	w.naive.live = to

	s := m.finish(start, end)
	s.steps = steps
	s.toSwitch = switched.Sub(start)
	wantServing(b, w.naive.nginx.URL, version)
	b.Logf("naive %s %s->%s: %s; %s", version, from, to, s, naiveSteps(steps))
	return s
}

// naiveProject loads the file as <project>-<slot>, with the labels that
// compose's CLI would add.
func (w *world) naiveProject(ctx context.Context, slot bluegreen.Slot, version string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{w.naive.file},
		cli.WithName(w.naive.project+"-"+string(slot)),
		cli.WithEnv([]string{
			"VERSION=" + version,
			"BOOT_DELAY=" + bootDelay.String(),
			fmt.Sprintf("PORT=%d", w.naive.ports.Port(slot)),
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

// naiveRoute overwrites the upstream file and signals nginx, as the script
// copies its per-colour config: no nginx -t, no check that the reload took.
func (w *world) naiveRoute(slot bluegreen.Slot, steps map[string]time.Duration) error {
	start := time.Now()
	conf := fmt.Sprintf("upstream backend { server 127.0.0.1:%d; }\n", w.naive.ports.Port(slot))
	if err := os.WriteFile(w.naive.nginx.UpstreamFile, []byte(conf), 0o644); err != nil {
		return err
	}
	wrote := time.Now()
	steps["switch.write"] = wrote.Sub(start)
	err := w.naive.nginx.Reload()
	steps["switch.reload"] = time.Since(wrote)
	return err
}

// naiveDown is `docker compose -p <project>-<slot> down`.
func (w *world) naiveDown(ctx context.Context, slot bluegreen.Slot) error {
	name := w.naive.project + "-" + string(slot)
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
