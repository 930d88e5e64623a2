package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/appimage"
	"github.com/bluegreen-dev/bluegreen/internal/loadgen"
	"github.com/bluegreen-dev/bluegreen/internal/localhost"
	"github.com/bluegreen-dev/bluegreen/internal/localnginx"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
	"github.com/bluegreen-dev/bluegreen/proxy"
)

const demoCompose = `# The demo's compose file: one web service whose image tag is the release.
services:
  web:
    image: bluegreen-testapp:${IMAGE_TAG:?IMAGE_TAG must be set}
    environment:
      VERSION: ${IMAGE_TAG}
      BOOT_DELAY: 2s   # the app answers 2 s after its container starts
x-bluegreen:
  service: web
  port: 8000
  slots: {blue: %d, green: %d}
  health: {path: /healthz, interval: 100ms, timeout: 60s, healthy_threshold: 2}
  drain_timeout: 30s
%s`

func newDemoCommand(stdout, stderr io.Writer) *cobra.Command {
	var verbose bool
	var front string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build a demo image, start a private proxy, deploy two releases under load, print what happened, clean up",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.DiscardHandler)
			if verbose {
				logger = slog.New(slog.NewTextHandler(stderr, nil))
			}
			if front != "auto" && front != "nginx" && front != "go" {
				return &usageError{fmt.Errorf("--proxy %q: want auto, nginx or go", front)}
			}
			return runDemo(cmd.Context(), stdout, logger, front)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print the library's log lines on stderr")
	cmd.Flags().StringVar(&front, "proxy", "auto", "the proxy in front: nginx (a private nginx), go (bluegreen's in-process proxy), auto (nginx when installed)")
	return cmd
}

// demoProxy is the proxy in front of the demo's slots.
type demoProxy struct {
	name     string
	url      string
	section  string // the proxy's section of x-bluegreen, if it has one
	switcher func(*bluegreen.Project) (bluegreen.Switcher, error)
	close    func()
}

// startProxy starts a private nginx, or bluegreen's in-process proxy when
// asked or when nginx is not installed, on a free 127.0.0.1 port.
func startProxy(ctx context.Context, mode, dir string, logger *slog.Logger) (*demoProxy, error) {
	if mode == "auto" {
		mode = "nginx"
		if _, err := localnginx.Binary(); err != nil {
			mode = "go"
		}
	}
	if mode == "nginx" {
		ngx, err := localnginx.Start(filepath.Join(dir, "nginx"))
		if err != nil {
			return nil, fmt.Errorf("demo: starting nginx: %w", err)
		}
		return &demoProxy{
			name:     "private nginx",
			url:      ngx.URL,
			section:  "  nginx:\n" + ngx.Section(),
			switcher: func(p *bluegreen.Project) (bluegreen.Switcher, error) { return nginxconf.FromProject(p, logger) },
			close:    func() { _ = ngx.Close() },
		}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy.Switcher{Logger: logger}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Serve(sctx, ln) }()
	return &demoProxy{
		name:     "bluegreen's in-process Go proxy",
		url:      "http://" + ln.Addr().String(),
		switcher: func(*bluegreen.Project) (bluegreen.Switcher, error) { return p, nil },
		close:    func() { cancel(); <-done },
	}, nil
}

// demo is one run of the demo command: its proxy, its compose file and
// project, and the engine that runs the slots.
type demo struct {
	out     io.Writer
	logger  *slog.Logger
	front   *demoProxy
	file    string
	project string
	engine  *bluegreen.Engine
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, "demo: "+format+"\n", args...) }

func runDemo(ctx context.Context, out io.Writer, logger *slog.Logger, mode string) (err error) {
	d := &demo{out: out, logger: logger, project: fmt.Sprintf("bluegreen-demo-%d", os.Getpid())}
	d.say("building the demo image (a static Go app in a FROM scratch image)")
	if err := appimage.Build(ctx, "bluegreen-testapp:v1", "bluegreen-testapp:v2", "bluegreen-testapp:v3"); err != nil {
		return fmt.Errorf("demo: building the image: %w", err)
	}
	dir, err := os.MkdirTemp("", "bluegreen-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if d.front, err = startProxy(ctx, mode, dir, logger); err != nil {
		return err
	}
	defer d.front.close()
	d.say("%s listening on %s", d.front.name, d.front.url)
	if err := d.writeFile(dir); err != nil {
		return err
	}
	if d.engine, err = bluegreen.NewEngine(ctx, ""); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer d.engine.Close()
	defer func() { err = errors.Join(err, d.cleanup(ctx)) }()

	if _, err := d.deploy(ctx, "v1"); err != nil {
		return err
	}
	d.say("v1 is live; starting 8 clients sending requests through the proxy without pause")
	load := loadgen.Start(d.front.url+"/version", loadgen.Options{})
	defer load.Stop()
	var reports []*bluegreen.Report
	for _, tag := range []string{"v2", "v3"} {
		r, err := d.deploy(ctx, tag)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	return d.summary(reports, load.Stop())
}

// writeFile writes the demo's compose file, with two free slot ports, into
// dir.
func (d *demo) writeFile(dir string) error {
	ports, err := localhost.FreePorts(2)
	if err != nil {
		return err
	}
	d.file = filepath.Join(dir, "compose.yaml")
	d.say("compose project %s, slots blue=127.0.0.1:%d green=127.0.0.1:%d", d.project, ports[0], ports[1])
	return os.WriteFile(d.file, []byte(fmt.Sprintf(demoCompose, ports[0], ports[1], d.front.section)), 0o644)
}

// deployer is the Deployer of release tag.
func (d *demo) deployer(ctx context.Context, tag string) (*bluegreen.Deployer, error) {
	src := bluegreen.Source{Files: []string{d.file}, ProjectName: d.project, Env: []string{"IMAGE_TAG=" + tag}}
	p, err := bluegreen.Load(ctx, src)
	if err != nil {
		return nil, err
	}
	sw, err := d.front.switcher(p)
	if err != nil {
		return nil, err
	}
	return &bluegreen.Deployer{
		Project: p, Compose: d.engine, Switcher: sw, Logger: d.logger,
		OnEvent: newProgressPrinter(d.out, outputLines).event,
	}, nil
}

func (d *demo) deploy(ctx context.Context, tag string) (*bluegreen.Report, error) {
	dep, err := d.deployer(ctx, tag)
	if err != nil {
		return nil, err
	}
	d.say("deploying %s", tag)
	return dep.Deploy(ctx)
}

// cleanup removes the slots and the network that the demo started, even
// after Ctrl-C. The demo's images stay: a later run reuses them.
func (d *demo) cleanup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	dep, err := d.deployer(cctx, "v1")
	if err == nil {
		dep.OnEvent = nil
		err = dep.Down(cctx, true)
	}
	if err != nil {
		return fmt.Errorf("demo: cleaning up: %w", err)
	}
	d.say("cleaned up: slots, network and proxy removed; the demo images (bluegreen-testapp:v1, v2, v3) are kept for the next run")
	return nil
}

// summary prints what the deploys did and what the clients saw, and fails
// if any request failed.
func (d *demo) summary(reports []*bluegreen.Report, res loadgen.Result) error {
	d.say("summary")
	for i, r := range reports {
		fmt.Fprintf(d.out, "  deploy v%d: %s -> %s in %s\n", i+2, r.From, r.To, r.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(d.out, "  requests through the proxy during the deploys: %d sent, %d failed (%.0f req/s)\n",
		res.Sent, res.Failed, float64(res.Sent)/res.Duration.Seconds())
	fmt.Fprintf(d.out, "  answered by: v1=%d v2=%d v3=%d\n", res.Versions["v1"], res.Versions["v2"], res.Versions["v3"])
	if res.Failed > 0 {
		return fmt.Errorf("demo: %d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
	}
	return nil
}
