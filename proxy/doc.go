// Package proxy is a blue/green switch inside the Go process: an HTTP
// reverse proxy that implements bluegreen.Switcher and bluegreen.Drainer,
// for Go test harnesses, demos, and services that serve their own traffic
// without nginx.
//
//	p := &proxy.Switcher{Logger: slog.Default()}
//	go p.ListenAndServe(ctx, "127.0.0.1:8000")
//	d := &bluegreen.Deployer{Project: project, Compose: engine, Switcher: p}
//	report, err := d.Deploy(ctx)
//
// A Switcher is an http.Handler, so it also serves from an http.Server of
// the caller's or from httptest.NewServer. Switch replaces the backend
// atomically: each request goes to the backend that was live when it
// arrived and finishes there. Drain waits until no request that arrived
// before the last Switch is in flight. Before the first Switch every request
// gets 503; a backend that cannot be reached gives 502.
package proxy
