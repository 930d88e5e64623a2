package nginxconf_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// The nginx config includes /etc/nginx/conf.d/app-upstream.conf in its http
// block and proxies to http://backend. A deploy switches to the other slot,
// then drains before it stops the previous one.
func ExampleSwitcher() {
	sw := &nginxconf.Switcher{
		Upstream: "backend",
		File:     "/etc/nginx/conf.d/app-upstream.conf",
		Logger:   slog.Default(),
	}
	ctx := context.Background()
	live, err := sw.Active(ctx)
	if err != nil {
		log.Fatal(err)
	}
	next := live.Other()
	addr := map[bluegreen.Slot]string{bluegreen.Blue: "127.0.0.1:8081", bluegreen.Green: "127.0.0.1:8080"}[next]
	if err := sw.Switch(ctx, next, []string{addr}); err != nil {
		log.Fatal(err) // live still takes the traffic
	}
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sw.Drain(drainCtx); err != nil {
		log.Printf("old nginx workers still busy: %v", err)
	}
	// Now the previous slot can be stopped.
}

// An existing setup keeps one complete nginx config per slot and copies the
// live one over nginx.conf. The per-slot files name their own upstream
// servers, so Switch ignores the addresses.
func ExampleSlotFiles() {
	sw := &nginxconf.SlotFiles{
		Live:   "/etc/nginx/nginx.conf",
		Blue:   "/etc/nginx/nginx.blue.conf",
		Green:  "/etc/nginx/nginx.green.conf",
		Conf:   "/etc/nginx/nginx.conf",
		Logger: slog.Default(),
	}
	if err := sw.Switch(context.Background(), bluegreen.Green, nil); err != nil {
		log.Fatal(err) // nginx.conf is as it was, and still live
	}
}

// nginx runs in the container "proxy", which shares a docker network with
// the slots of project "shop": the upstream names the slot's container and
// its container port. (With nginx on the host network, pass the slot's
// published port instead: "127.0.0.1:8080".)
func ExampleContainer() {
	sw := &nginxconf.Container{
		Container: "proxy",
		Upstream:  "backend",
		File:      "/etc/nginx/conf.d/upstream.conf",
		Logger:    slog.Default(),
	}
	ctx := context.Background()
	if err := sw.Switch(ctx, bluegreen.Green, []string{"shop-green-web-1:8000"}); err != nil {
		log.Fatal(err)
	}
	if err := sw.Drain(ctx); err != nil {
		log.Print(err)
	}
}
