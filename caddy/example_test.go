package caddy_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/caddy"
)

// Caddy runs from a JSON config whose reverse_proxy handler has "@id":
// "web", its admin API on the default 127.0.0.1:2019. A deploy checks the
// setup, switches to the other slot, then drains before it stops the
// previous one.
func ExampleSwitcher() {
	sw := &caddy.Switcher{ID: "web", Logger: slog.Default()}
	ctx := context.Background()
	if err := sw.Preflight(ctx); err != nil {
		log.Fatal(err) // such as: no object with "@id": "web"
	}
	live, err := sw.Active(ctx)
	if err != nil {
		log.Fatal(err)
	}
	next := live.Other()
	addr := map[bluegreen.Slot]string{bluegreen.Blue: "127.0.0.1:8081", bluegreen.Green: "127.0.0.1:8080"}[next]
	if err := sw.Switch(ctx, next, []string{addr}); err != nil {
		log.Fatal(err) // Caddy routes as it did
	}
	drainCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sw.Drain(drainCtx); err != nil {
		log.Printf("requests still in flight to the previous slot: %v", err)
	}
	// Now the previous slot can be stopped.
}
