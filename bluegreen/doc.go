// Package bluegreen deploys a docker compose service with zero downtime by
// the blue/green method.
//
// A service runs in one of two slots, Blue or Green, each a compose project
// of its own (<project>-blue, <project>-green) whose routed service is
// published on 127.0.0.1 at the slot's host port (one port per replica from
// there). A release goes to the idle slot; once it answers its health
// checks a Switcher routes new traffic to it; once the requests held by the
// old routing have finished, and the new slot still answers, the old slot is
// stopped (kept for a rollback). A release that fails before the switch is
// removed and traffic is not touched; one that fails after it sends traffic
// back to the old slot. No step ever stops or removes the slot that the
// proxy routes to.
//
// The package knows no proxy: a proxy package builds the Switcher from its
// own section of x-bluegreen. The compose lifecycle runs in-process through
// compose's own API. A deploy of the release in ./compose.yaml:
//
//	p, err := bluegreen.Load(ctx, bluegreen.Source{Env: []string{"IMAGE_TAG=v2"}})
//	engine, err := bluegreen.NewEngine(ctx, "")   // DOCKER_HOST or the docker context
//	sw, err := proxypkg.FromProject(p, slog.Default()) // the proxy package's Switcher
//	d := &bluegreen.Deployer{Project: p, Compose: engine, Switcher: sw}
//	report, err := d.Deploy(ctx)
//
// Each step (prepare, start, wait-healthy, before-switch when the file has
// release tasks, switch, drain, verify, retire, after-switch, and
// switch-back or cleanup after a failure) is logged through log/slog and
// sent to Deployer.OnEvent. A failed step returns a *StepError that names
// the step, the slot, the cause, and the slot the proxy routes to
// afterwards; the causes wrap sentinel errors such as ErrBadInput and
// ErrUnhealthy.
package bluegreen
