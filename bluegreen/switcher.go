package bluegreen

import "context"

// Switcher routes new traffic to one slot. A proxy integration (a reverse
// proxy driven through its files or its API, an in-process proxy, a cloud
// load balancer) implements it.
type Switcher interface {
	// Switch routes new requests to slot, served at addrs ("127.0.0.1:8080").
	// When Switch returns nil the new routing is live; when it returns an
	// error, the routing that was live before is still live.
	Switch(ctx context.Context, slot Slot, addrs []string) error
	// Active reports the slot that takes traffic now, or None.
	Active(ctx context.Context) (Slot, error)
}

// Drainer is implemented by Switchers that can tell when the requests
// already routed to the previous slot have finished. The Deployer calls Drain
// after a successful Switch and before it stops the previous slot, with a
// context bounded by the drain timeout.
type Drainer interface {
	Drain(ctx context.Context) error
}

// Preflighter is implemented by Switchers that can check, changing nothing,
// that a Switch would work: the proxy's configuration is where it is said to
// be, bluegreen may write it, and the proxy runs. The Deployer calls
// Preflight before it touches any slot and refuses the deploy with
// ErrBadInput when it fails, so a typo in a path never reaches the live
// release.
type Preflighter interface {
	Preflight(ctx context.Context) error
}

// Warner is implemented by Switchers that can tell, changing nothing, of a
// condition that does not stop a switch but can fail requests at one: a
// setting of the host the proxy runs on, say. A deploy reports each warning
// at its prepare step (an info event, and a warning in its log) and goes on;
// Check shows them on its proxy line.
type Warner interface {
	Warnings(ctx context.Context) []string
}

// Networked is implemented by Switchers whose proxy reaches the slots by
// container name on a docker network (a proxy in a container, say),
// rather than at their ports published on 127.0.0.1. When SlotNetwork returns
// a name, the routed service of each slot joins that network, and Switch
// gets "<project>-<slot>-<service>-<n>:<port>" addresses, one per replica.
type Networked interface {
	SlotNetwork() string
}
