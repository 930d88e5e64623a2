package bench_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// oursFile is the test app with x-bluegreen at its defaults (health
// interval 100 ms, healthy_threshold 2, retired slots kept) but for the
// health path, the slot ports, the private nginx, and the procedure's
// keepalive and replicas. With BENCH_SHARED=1 the file also has a shared
// service (kv), which runs once in the base project.
func oursFile(p *procedure) string {
	shared := ""
	if os.Getenv("BENCH_SHARED") == "1" {
		shared = fmt.Sprintf(`  kv:
    image: %s
    environment: {MODE: kv, DATA_DIR: /}
`, image)
	}
	web := ""
	if p.replicas > 1 {
		web = fmt.Sprintf("    deploy: {replicas: %d}\n", p.replicas)
	}
	interval := ""
	if v := os.Getenv("BENCH_HEALTH_INTERVAL"); v != "" {
		interval = ", interval: " + v
	}
	ka := ""
	if p.keepalive > 0 {
		ka = fmt.Sprintf(", keepalive: %d", p.keepalive)
	}
	return fmt.Sprintf(`services:
  web:
    image: %s
    environment:
      VERSION: ${VERSION:?}
      BOOT_DELAY: ${BOOT_DELAY:?}
    ports: ["8000"]
%s%sx-bluegreen:
  service: web
  port: 8000
  slots: {blue: %d, green: %d}
  health: {path: /healthz%s}
  nginx: {upstream: backend, upstream_file: %s, conf: %s, prefix: %s, binary: %s%s}
`, image, web, shared, p.ports.Blue, p.ports.Green, interval,
		p.nginx.UpstreamFile, p.nginx.Conf, p.nginx.Prefix, p.nginx.Binary, ka)
}

// setupOurs deploys the first release, without load, and removes both
// slots and the base project at the end.
func (w *world) setupOurs(b *testing.B, p *procedure) {
	b.Helper()
	d, _ := w.deployer(b, p, "r0", nil)
	b.Cleanup(func() {
		if err := d.Down(context.Background(), true); err != nil {
			b.Errorf("Down %s: %v", p.project, err)
		}
	})
	r, err := d.Deploy(context.Background())
	if err != nil {
		b.Fatalf("first deploy: %v", err)
	}
	p.live = r.To
	note("%s first deploy (no load): %v; %s", p.name, r.Elapsed.Round(time.Millisecond), stepList(r))
}

// costs times, 20 times each, the calls a deploy repeats: the compose Ps of
// every health probe round and the nginx -t of every switch.
func (w *world) costs(b *testing.B, p *procedure) {
	b.Helper()
	ctx := context.Background()
	name := p.project + "-" + string(p.live)
	ps := timeIt(20, func() error {
		_, err := w.engine.Ps(ctx, name, api.PsOptions{All: true, Services: []string{"web"}})
		return err
	})
	n := p.nginx
	test := timeIt(20, func() error {
		return exec.Command(n.Binary, "-p", n.Prefix, "-c", n.Conf, "-t", "-q").Run()
	})
	note("costs (median of 20, no load): compose Ps of one slot %v; nginx -t %v", ps, test)
}

func timeIt(n int, fn func() error) time.Duration {
	xs := make([]float64, n)
	for i := range xs {
		start := time.Now()
		if err := fn(); err != nil {
			return -1
		}
		xs[i] = float64(time.Since(start))
	}
	return time.Duration(median(xs)).Round(100 * time.Microsecond)
}

// deployer loads the configuration as the CLI would, for release version.
// The Switcher logs to rec when rec is not nil.
func (w *world) deployer(b *testing.B, p *procedure, version string, rec *logRecorder) (*bluegreen.Deployer, time.Duration) {
	b.Helper()
	start := time.Now()
	src := bluegreen.Source{Files: []string{p.file}, ProjectName: p.project,
		Env: []string{"VERSION=" + version, "BOOT_DELAY=" + bootDelay.String()}}
	proj, err := bluegreen.Load(context.Background(), src)
	if err != nil {
		b.Fatal(err)
	}
	var logger *slog.Logger
	if rec != nil {
		logger = slog.New(rec)
	}
	sw, err := nginxconf.FromProject(proj, logger)
	if err != nil {
		b.Fatal(err)
	}
	return &bluegreen.Deployer{Project: proj, Compose: w.engine, Switcher: sw}, time.Since(start)
}

// deployOurs deploys the next release with Deployer.Deploy under load.
func (w *world) deployOurs(b *testing.B, p *procedure) sample {
	w.release++
	version := fmt.Sprintf("r%d", w.release)
	rec := &logRecorder{}
	d, loadTook := w.deployer(b, p, version, rec)
	to := p.live.Other()
	var events []bluegreen.Event
	d.OnEvent = func(e bluegreen.Event) { events = append(events, e) }

	m := w.measure(b, p.nginx.URL+"/version", p.ports.Port(to))
	start := time.Now()
	var r *bluegreen.Report
	var err error
	// The label lets a CPU profile single out the deploy from the load:
	// go tool pprof -tagfocus deploy=bluegreen.
	pprof.Do(context.Background(), pprof.Labels("deploy", "bluegreen"), func(ctx context.Context) {
		r, err = d.Deploy(ctx)
	})
	end := time.Now()
	s := m.finish(start, end)
	if err != nil {
		b.Fatalf("deploy %s: %v", version, err)
	}
	p.live = r.To
	s.steps["load-config"] = loadTook
	for _, st := range r.Steps {
		s.steps[string(st.Step)] += st.Elapsed
	}
	var switchBegin, switchDone, healthy, retireBegin time.Time
	for _, e := range events {
		switch {
		case e.Step == bluegreen.StepRetire && e.Phase == bluegreen.PhaseBegin:
			retireBegin = e.Time
		case e.Step == bluegreen.StepSwitch && e.Phase == bluegreen.PhaseBegin:
			switchBegin = e.Time
		case e.Step == bluegreen.StepSwitch && e.Phase == bluegreen.PhaseDone:
			switchDone = e.Time
		case e.Step == bluegreen.StepWaitHealthy && e.Phase == bluegreen.PhaseDone:
			healthy = e.Time
		}
	}
	s.toSwitch = switchDone.Sub(start)
	if s.ready > 0 {
		s.steps["wait-healthy.after-answer"] = healthy.Sub(start) - s.ready
	}
	splitSwitch(s.steps, switchBegin, switchDone, rec)
	if r.From != bluegreen.None {
		w.exited(b, s.steps, retireBegin, p.project+"-"+string(r.From))
	}
	wantServing(b, p.nginx.URL, version)
	b.Logf("%s %s %s->%s: %s; %s; timeline: %s", p.name, version, r.From, r.To, s, stepList(r), timeline(start, events))
	if w.api != nil {
		note("%s %s: %s", p.name, version, w.api.since(start))
	}
	return s
}

// splitSwitch splits the switch step at the Switcher's log records.
func splitSwitch(steps map[string]time.Duration, begin, done time.Time, rec *logRecorder) {
	wrote := rec.at("wrote file")
	if wrote.IsZero() {
		wrote = rec.at("wrote upstream file") // nginxconf before its nginx modes
	}
	marks := []time.Time{begin, wrote, rec.at("nginx -t passed"),
		rec.at("reload signalled"), rec.at("switched"), done}
	for _, m := range marks {
		if m.IsZero() {
			return // the Switcher logs differently: no split
		}
	}
	for i, name := range []string{"switch.write", "switch.nginx-t", "switch.reload", "switch.confirm", "switch.record"} {
		steps[name] = marks[i+1].Sub(marks[i])
	}
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
