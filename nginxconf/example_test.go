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
