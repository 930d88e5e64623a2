package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// oursFile is the test app with x-bluegreen at its defaults, except the
// health path (the app answers 404 on nothing else but / anyway) and the
// private nginx.
func oursFile(p procedure) string {
	return fmt.Sprintf(`services:
  web:
    image: %s
    environment:
      VERSION: ${VERSION:?}
      BOOT_DELAY: ${BOOT_DELAY:?}
    ports: ["8000"]
x-bluegreen:
  service: web
  port: 8000
  slots: {blue: %d, green: %d}
  health: {path: /healthz%s}
  nginx: {upstream: backend, upstream_file: %s, conf: %s, prefix: %s, binary: %s}
`, image, p.ports.Blue, p.ports.Green, healthInterval(),
		p.nginx.UpstreamFile, p.nginx.Conf, p.nginx.Prefix, p.nginx.Binary)
}

// setupOurs deploys the first release, without load, and removes both
// slots and the base project at the end.
func (w *world) setupOurs(b *testing.B) {
	b.Helper()
	d, _ := w.deployer(b, "r0")
	b.Cleanup(func() {
		if err := d.Down(context.Background(), true); err != nil {
			b.Errorf("Down %s: %v", w.ours.project, err)
		}
	})
	r, err := d.Deploy(context.Background())
	if err != nil {
		b.Fatalf("first deploy: %v", err)
	}
	w.ours.live = r.To
	note("bluegreen first deploy (no load): %v; %s", r.Elapsed.Round(time.Millisecond), stepList(r))
}

// deployer loads the configuration as the CLI would, for release version.
func (w *world) deployer(b *testing.B, version string) (*bluegreen.Deployer, time.Duration) {
	b.Helper()
	start := time.Now()
	src := bluegreen.Source{Files: []string{w.ours.file}, ProjectName: w.ours.project,
		Env: []string{"VERSION=" + version, "BOOT_DELAY=" + bootDelay.String()}}
	cfg, err := bluegreen.LoadConfig(context.Background(), src)
	if err != nil {
		b.Fatal(err)
	}
	return &bluegreen.Deployer{
		Compose:  w.engine,
		Switcher: nginxconf.FromConfig(cfg.Nginx, nil),
		Source:   src,
		Config:   cfg,
	}, time.Since(start)
}

// deployOurs deploys the next release with Deployer.Deploy under load.
func (w *world) deployOurs(b *testing.B) sample {
	w.release++
	version := fmt.Sprintf("r%d", w.release)
	d, loadTook := w.deployer(b, version)
	to := w.ours.live.Other()
	var events []bluegreen.Event
	d.OnEvent = func(e bluegreen.Event) { events = append(events, e) }

	m := w.measure(b, w.ours.nginx.URL+"/version", w.ours.ports.Port(to))
	start := time.Now()
	r, err := d.Deploy(context.Background())
	end := time.Now()
	s := m.finish(start, end)
	if err != nil {
		b.Fatalf("deploy %s: %v", version, err)
	}
	w.ours.live = r.To
	s.steps["load-config"] = loadTook
	for _, st := range r.Steps {
		s.steps[string(st.Step)] += st.Elapsed
	}
	for _, e := range events {
		if e.Step == bluegreen.StepSwitch && e.Phase == bluegreen.PhaseDone {
			s.toSwitch = e.Time.Sub(start)
		}
	}
	wantServing(b, w.ours.nginx.URL, version)
	b.Logf("bluegreen %s %s->%s: %s; %s; timeline: %s", version, r.From, r.To, s, stepList(r), timeline(start, events))
	return s
}

func stepList(r *bluegreen.Report) string {
	var parts []string
	for _, s := range r.Steps {
		parts = append(parts, fmt.Sprintf("%s=%v", s.Step, s.Elapsed.Round(time.Millisecond)))
	}
	return strings.Join(parts, " ")
}

// timeline lists the events as milliseconds after start: where the time
// between the steps goes.
func timeline(start time.Time, events []bluegreen.Event) string {
	var parts []string
	for _, e := range events {
		what := string(e.Phase)
		if e.Phase == bluegreen.PhaseInfo {
			what = fmt.Sprintf("%q", e.Message)
		}
		parts = append(parts, fmt.Sprintf("%d:%s/%s", e.Time.Sub(start).Milliseconds(), e.Step, what))
	}
	return strings.Join(parts, " ")
}
