package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/compose/v2/pkg/api"
	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
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
  nginx:
    upstream: backend
    upstream_file: %s
    conf: %s
    prefix: %s
    binary: %s
`

func newDemoCommand(stdout, stderr io.Writer) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build a demo image, start a private nginx, deploy two releases under load, print what happened, clean up",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.DiscardHandler)
			if verbose {
				logger = slog.New(slog.NewTextHandler(stderr, nil))
			}
			return runDemo(cmd.Context(), stdout, logger)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print the library's log lines on stderr")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, logger *slog.Logger) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, "demo: "+format+"\n", args...) }

	say("building the demo image (a static Go app in a FROM scratch image)")
	if err := testutil.BuildImage(ctx, "bluegreen-testapp:v1", "bluegreen-testapp:v2", "bluegreen-testapp:v3"); err != nil {
		return fmt.Errorf("demo: building the image: %w", err)
	}
	dir, err := os.MkdirTemp("", "bluegreen-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ngx, err := testutil.StartNginx(filepath.Join(dir, "nginx"))
	if err != nil {
		return fmt.Errorf("demo: starting nginx: %w", err)
	}
	defer ngx.Close()
	say("private nginx listening on %s (prefix %s)", ngx.URL, ngx.Prefix)

	var ports [2]int
	for i := range ports {
		if ports[i], err = testutil.FreePort(); err != nil {
			return err
		}
	}
	file := filepath.Join(dir, "compose.yaml")
	yaml := fmt.Sprintf(demoCompose, ports[0], ports[1], ngx.UpstreamFile, ngx.Conf, ngx.Prefix, ngx.Binary)
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		return err
	}
	backend, err := bluegreen.NewCompose(ctx, "")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	project := fmt.Sprintf("bluegreen-demo-%d", os.Getpid())
	defer func() {
		// Remove whatever the demo started, even after Ctrl-C.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
			if derr := backend.Down(cctx, project+"-"+string(slot), api.DownOptions{RemoveOrphans: true}); derr != nil {
				err = errors.Join(err, fmt.Errorf("demo: cleaning up %s: %w", slot, derr))
			}
		}
		say("cleaned up: both slots removed, nginx stopped")
	}()
	say("compose project %s, slots blue=127.0.0.1:%d green=127.0.0.1:%d", project, ports[0], ports[1])

	deploy := func(tag string) (*bluegreen.Report, error) {
		src := bluegreen.Source{Files: []string{file}, ProjectName: project, Env: []string{"IMAGE_TAG=" + tag}}
		cfg, err := bluegreen.LoadConfig(ctx, src)
		if err != nil {
			return nil, err
		}
		say("deploying %s", tag)
		d := &bluegreen.Deployer{
			Compose: backend, Switcher: nginxconf.FromConfig(cfg.Nginx, logger),
			Source: src, Config: cfg, Logger: logger,
			OnEvent: newProgressPrinter(out, outputLines).event,
		}
		return d.Deploy(ctx)
	}

	if _, err := deploy("v1"); err != nil {
		return err
	}
	say("v1 is live; starting 8 clients sending requests through nginx without pause")
	load := testutil.StartLoad(ngx.URL+"/version", testutil.LoadOptions{})
	defer load.Stop()
	var reports []*bluegreen.Report
	for _, tag := range []string{"v2", "v3"} {
		r, err := deploy(tag)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	res := load.Stop()

	say("summary")
	for i, r := range reports {
		fmt.Fprintf(out, "  deploy v%d: %s -> %s in %s\n", i+2, r.From, r.To, r.Elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(out, "  requests through nginx during the deploys: %d sent, %d failed (%.0f req/s)\n",
		res.Sent, res.Failed, float64(res.Sent)/res.Duration.Seconds())
	fmt.Fprintf(out, "  answered by: v1=%d v2=%d v3=%d\n", res.Versions["v1"], res.Versions["v2"], res.Versions["v3"])
	if res.Failed > 0 {
		return fmt.Errorf("demo: %d of %d requests failed: %v", res.Failed, res.Sent, res.Failures)
	}
	return nil
}
