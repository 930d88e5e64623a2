package haproxy_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/haproxy"
)

// HAProxy's config has "stats socket /run/haproxy/admin.sock mode 600
// level admin" in its global section, and a backend "web" with "server
// blue 127.0.0.1:8081 check" and "server green 127.0.0.1:8080 check". A
// deploy checks the setup, switches to the idle slot, then drains before
// it stops the previous one.
func ExampleSwitcher() {
	sw := &haproxy.Switcher{
		Socket:  "/run/haproxy/admin.sock",
		Backend: "web",
		Logger:  slog.Default(),
	}
	ctx := context.Background()
	if err := sw.Preflight(ctx); err != nil {
		log.Fatal(err) // such as: no server named green in backend web
	}
	live, err := sw.Active(ctx)
	if err != nil {
		log.Fatal(err)
	}
	next := live.Other()
	addr := map[bluegreen.Slot]string{bluegreen.Blue: "127.0.0.1:8081", bluegreen.Green: "127.0.0.1:8080"}[next]
	if err := sw.Switch(ctx, next, []string{addr}); err != nil {
		log.Fatal(err) // the servers are as they were: live still takes the traffic
	}
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sw.Drain(drainCtx); err != nil {
		log.Printf("the previous slot still holds sessions: %v", err)
	}
	// Now the previous slot can be stopped.
}

// With three replicas a slot has three servers, blue1 to blue3 (declared
// one by one, or with "server-template blue 3 127.0.0.1:8081 check"), and
// Switch gets one address per replica. A server that has one of the
// addresses keeps it; the others are set with "set server ... addr".
func ExampleSwitcher_replicas() {
	sw := &haproxy.Switcher{Socket: "/run/haproxy/admin.sock", Backend: "web"}
	err := sw.Switch(context.Background(), bluegreen.Green,
		[]string{"127.0.0.1:8093", "127.0.0.1:8091", "127.0.0.1:8092"})
	if err != nil {
		log.Fatal(err)
	}
}
