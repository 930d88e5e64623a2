package bench_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// The bare reference procedure is what a blue/green deploy strictly needs,
// through the engine API directly: remove the idle slot's container of two
// deploys ago, create and start the new one with the slot's port published,
// poll its health at the library's interval until it answers once, write
// the upstream file and reload nginx (no nginx -t, no confirmation), and
// stop the old container. Its containers join a bridge network of their
// own, created once, as a compose service joins its project's network
// (which bluegreen's slots share with the shared services): the engine
// starts a container on such a network about 150 ms slower (idle, bench/README.md) than on its
// default bridge (the embedded DNS server's setup), and that cost is the
// network's, not the deploy tool's. No history, lock, guard, drain or second health
// round: it is the floor that bluegreen's steps are compared with, not a
// safe procedure (its stop right after the reload fails the requests that
// nginx's old workers still send to the old release).

// setupBare starts the first release in blue and routes nginx to it; both
// containers are removed at the end.
func (w *world) setupBare(b *testing.B, p *procedure) {
	b.Helper()
	ctx := context.Background()
	if _, err := w.docker.NetworkCreate(ctx, bareNetwork(p), network.CreateOptions{Driver: "bridge"}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
			if err := w.bareRemove(context.Background(), p, slot); err != nil {
				b.Errorf("bare cleanup: %v", err)
			}
		}
		if err := w.docker.NetworkRemove(context.Background(), bareNetwork(p)); err != nil {
			b.Errorf("bare cleanup: %v", err)
		}
	})
	if err := w.bareStart(ctx, p, bluegreen.Blue, "b0"); err != nil {
		b.Fatalf("bare first start: %v", err)
	}
	if err := bareWait(ctx, p, bluegreen.Blue); err != nil {
		b.Fatal(err)
	}
	if err := naiveRoute(p, bluegreen.Blue, map[string]time.Duration{}); err != nil {
		b.Fatal(err)
	}
	p.live = bluegreen.Blue
	wantServing(b, p.nginx.URL, "b0")
}

// deployBare deploys the next release with the bare procedure, under load.
func (w *world) deployBare(b *testing.B, p *procedure) sample {
	ctx := context.Background()
	w.release++
	version := fmt.Sprintf("b%d", w.release)
	from := p.live
	to := from.Other()
	steps := map[string]time.Duration{}
	step := timedSteps(b, p.name+" "+version, steps)

	m := w.measure(b, p.nginx.URL+"/version", p.ports.Port(to))
	start := time.Now()
	step("prepare", func() error { return w.bareRemove(ctx, p, to) })
	step("start", func() error { return w.bareStart(ctx, p, to, version) })
	step("wait-healthy", func() error { return bareWait(ctx, p, to) })
	step("switch", func() error { return naiveRoute(p, to, steps) })
	switched := time.Now()
	retire := time.Now()
	step("retire", func() error {
		return each(p, func(i int) error {
			return w.docker.ContainerStop(ctx, bareName(p, from, i), container.StopOptions{})
		})
	})
	end := time.Now()
	p.live = to

	s := m.finish(start, end)
	s.steps = steps
	s.toSwitch = switched.Sub(start)
	w.exited(b, s.steps, retire, p.project+"-"+string(from)+"-")
	if s.ready > 0 {
		s.steps["wait-healthy.after-answer"] = steps["prepare"] + steps["start"] + steps["wait-healthy"] - s.ready
	}
	wantServing(b, p.nginx.URL, version)
	b.Logf("%s %s %s->%s: %s; %s", p.name, version, from, to, s, naiveSteps(steps))
	if w.api != nil {
		note("%s %s: %s", p.name, version, w.api.since(start))
	}
	return s
}

// bareName names replica i (from 1) of slot.
func bareName(p *procedure, slot bluegreen.Slot, i int) string {
	return fmt.Sprintf("%s-%s-%d", p.project, slot, i)
}

// each runs fn for every replica at once.
func each(p *procedure, fn func(i int) error) error {
	errs := make([]error, p.replicas)
	var wg sync.WaitGroup
	for i := range p.replicas {
		wg.Go(func() { errs[i] = fn(i + 1) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func bareNetwork(p *procedure) string { return p.project + "_default" }

// bareStart is docker run -d -p 127.0.0.1:PORT:8000 of the test app, for
// every replica at once.
func (w *world) bareStart(ctx context.Context, p *procedure, slot bluegreen.Slot, version string) error {
	return each(p, func(i int) error { return w.bareStartOne(ctx, p, slot, i, version) })
}

func (w *world) bareStartOne(ctx context.Context, p *procedure, slot bluegreen.Slot, i int, version string) error {
	cfg := &container.Config{
		Image:        image,
		Env:          []string{"VERSION=" + version, "BOOT_DELAY=" + bootDelay.String()},
		ExposedPorts: nat.PortSet{"8000/tcp": {}},
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(bareNetwork(p)),
		PortBindings: nat.PortMap{
			"8000/tcp": {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(p.ports.Port(slot) + i - 1)}},
		},
	}
	created, err := w.docker.ContainerCreate(ctx, cfg, host, nil, nil, bareName(p, slot, i))
	if err != nil {
		return err
	}
	return w.docker.ContainerStart(ctx, created.ID, container.StartOptions{})
}

// bareRemove is docker rm -f, of containers that may not exist.
func (w *world) bareRemove(ctx context.Context, p *procedure, slot bluegreen.Slot) error {
	return each(p, func(i int) error {
		err := w.docker.ContainerRemove(ctx, bareName(p, slot, i), container.RemoveOptions{Force: true})
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// bareWait polls the health of every replica of slot at the library's
// interval until each has answered 200 once.
func bareWait(ctx context.Context, p *procedure, slot bluegreen.Slot) error {
	return each(p, func(i int) error { return bareWaitOne(ctx, p.ports.Port(slot)+i-1) })
}

func bareWaitOne(ctx context.Context, port int) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	tick := time.NewTicker(healthInterval())
	defer tick.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer after 60s", url)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// exited records in steps["retire.exited"] how long after since the last
// container whose name starts with prefix exited (the engine's FinishedAt):
// the rest of the retire step is the engine's teardown after the exit.
func (w *world) exited(b *testing.B, steps map[string]time.Duration, since time.Time, prefix string) {
	ctx := context.Background()
	cs, err := w.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("name", "^/"+prefix))})
	if err != nil {
		b.Fatal(err)
	}
	var last time.Time
	for _, c := range cs {
		info, err := w.docker.ContainerInspect(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		if t, err := time.Parse(time.RFC3339Nano, info.State.FinishedAt); err == nil && t.After(last) {
			last = t
		}
	}
	if !last.IsZero() {
		steps["retire.exited"] = last.Sub(since)
	}
}
