// Package bluegreen deploys a docker compose service with zero downtime by
// the blue/green method.
//
// A service runs in one of two slots, Blue or Green, each a compose project
// of its own (<project>-blue, <project>-green) whose routed service is
// published on 127.0.0.1 at the slot's host port (one port per replica
// from there). A release goes to the idle
// slot; once it answers its health checks a Switcher (nginxconf.Switcher for
// nginx) routes new traffic to it; once the requests held by the old routing
// have finished, the old slot is removed. A release that fails before the
// switch is removed and traffic is not touched.
//
// The compose lifecycle runs in-process through compose's own API:
//
//	src := bluegreen.Source{Files: []string{"compose.yaml"}, ProjectName: "shop"}
//	cfg, err := bluegreen.LoadConfig(ctx, src) // reads x-bluegreen
//	...
//	backend, err := bluegreen.NewCompose(ctx, "") // DOCKER_HOST or the docker context
//	...
//	d := &bluegreen.Deployer{
//		Compose:  backend,
//		Switcher: nginxconf.FromConfig(cfg.Nginx, slog.Default()),
//		Source:   src,
//		Config:   cfg,
//		Logger:   slog.Default(),
//	}
//	report, err := d.Deploy(ctx)
//
// Each step (prepare, start, wait-healthy, switch, drain, retire, and cleanup
// after a failure) is logged through log/slog and sent to Deployer.OnEvent.
// A failed step returns a *StepError that names the step, the slot and the
// cause; the causes wrap sentinel errors such as ErrBadInput and ErrUnhealthy.
package bluegreen
