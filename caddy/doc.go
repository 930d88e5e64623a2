// Package caddy switches a Caddy reverse proxy between the blue and the
// green slot through Caddy's admin API, and tells what Caddy lets it see of
// the requests still held by the old slot.
//
// Caddy must run from a JSON config in which the reverse_proxy handler that
// routes to the app carries an "@id" (the Caddyfile has no way to set one:
// `caddy adapt --config Caddyfile --pretty` gives the JSON to start from):
//
//	{
//	  "admin": {"listen": "127.0.0.1:2019"},
//	  "apps": {"http": {"servers": {"srv0": {
//	    "listen": [":443"],
//	    "routes": [{
//	      "match": [{"host": ["shop.example.com"]}],
//	      "handle": [{
//	        "@id": "web",
//	        "handler": "reverse_proxy",
//	        "upstreams": [{"dial": "127.0.0.1:8081"}]
//	      }]
//	    }]
//	  }}}}
//	}
//
// A deploy switches, then drains before it stops the old slot:
//
//	sw := &caddy.Switcher{Admin: "http://127.0.0.1:2019", ID: "web"}
//	if err := sw.Switch(ctx, bluegreen.Green, []string{"127.0.0.1:8080"}); err != nil {
//		return err // Caddy still routes as before
//	}
//	if err := sw.Drain(ctx); err != nil {
//		return err
//	}
//
// # Switch
//
// Switch reads the handler (GET /id/<ID>, whose ETag names the handler's
// path in the config and a hash of it), then replaces its upstreams with
// PATCH /id/<ID>/upstreams, sending that ETag as If-Match: when anything
// changed the handler in between, Caddy answers 412 and nothing changes
// (ErrConflict). Caddy applies every change by loading the whole changed
// config, and answers only once it runs; when the load fails (a
// certificate file gone, say) it keeps the config it ran and Switch returns
// Caddy's reason (ErrRefused). Switch then reads the routing back: the
// handler's upstreams, and GET /reverse_proxy/upstreams, which lists the
// upstreams of the config Caddy runs. Caddy takes nearly any string as an
// address, placeholders included ("{http.request.header.X}" would let a
// client choose the upstream), so every address is checked to be
// host:port with a numeric port before anything is sent. Each upstream is
// written as {"dial": "<addr>"}: settings of the hand-written upstreams
// (max_requests) are not kept.
//
// # Active
//
// The addresses do not say which slot they are, and Caddy refuses a field
// that the module does not know ("json: unknown field"), so the slot is
// kept in an "@id", which Caddy keeps on any object of its config and
// strips before it provisions the module: Switch gives the first upstream
// the id "bluegreen.<ID>.<slot>", in the same PATCH as the addresses:
//
//	"upstreams": [{"@id": "bluegreen.web.green", "dial": "127.0.0.1:8080"}]
//
// Active reads it back. Upstreams with no marker (written by hand, as Caddy
// needs some to start) are no slot: None. Markers moved or added by hand
// are an error wrapping ErrUnmanaged.
//
// # What a config change does to traffic in flight
//
// Measured with Caddy 2.6.2 (Debian bookworm), by this package's tests:
//
//   - A switch takes 3-90 ms (median 9-18 ms with load, over 3 runs of 20
//     switches). 8 keep-alive clients sending requests without pause
//     through 20 switches saw no failed request (6,081, 8,947 and 10,426
//     sent in three runs): Caddy closes the idle client connections of the
//     old config, and the clients reconnect.
//   - A request in flight at the switch (3 s long) finishes on the old
//     upstream and answers normally, 3.0 s after it started; so it does
//     with the http app's grace_period set to 1 s.
//   - A streaming response (text/event-stream, a line every 100 ms) runs to
//     its end on the old upstream: 4.6 s past the switch in the test.
//   - Upgraded connections (websockets) are closed by Caddy during the
//     switch (the client reads EOF within 5 ms of Switch's return), towards
//     the client and towards the upstream alike, and not only those
//     through the switched handler: those of every handler of that Caddy.
//     Caddy 2.6 has no stream_close_delay (it refuses the key; later
//     releases have it, caddyserver/caddy#5567), so clients must reconnect
//     (caddyserver/caddy#5471, #6420). Switch makes no change when the
//     handler already routes as asked, so as not to close them for nothing.
//   - Caddy restarts its admin endpoint with each change, and resets the
//     admin connections open at that instant: reads are sent again.
//   - Caddy binds a new listening socket for its server at each change
//     (SO_REUSEPORT) and closes the old one. The kernel resets the
//     connections still queued on the old socket, unless
//     net.ipv4.tcp_migrate_req is 1 (Linux 5.14+), which hands them to the
//     new one: with clients opening a new connection per request, 22-43 of
//     about 12,000 requests failed over 20 switches at 0, none at 1
//     (TestCaddySwitchNewConnections). Warnings says so while the setting
//     is not 1 on this host.
//
// # Drain
//
// Drain waits until GET /reverse_proxy/upstreams counts no request in
// flight (num_requests) to the addresses the switch took out. But Caddy
// lists an address only while a config it runs uses it: Caddy 2.6 drops
// the old address at the switch even while requests to it are in flight
// (caddyserver/caddy#7277; newer Caddy lists them, caddyserver/caddy#7517).
// There Drain finds nothing to count and returns at once (in 1-2 ms,
// logging that it could not count), and a long request to the old slot
// lives only as long as the old slot answers it: stopping the old slot
// must let its requests finish (a graceful stop on SIGTERM). When the old
// address stays listed (another handler proxies to it too, or a Caddy
// with #7517) Drain waits for its requests: 3.0 s for the 3 s request of
// the test.
//
// # Keeping the routing over a restart
//
// Caddy saves each change made through the admin API to autosave.json
// (unless admin.config.persist is false), and `caddy run --resume` starts
// from it. A restart or a reload from the original file (Debian's
// caddy.service runs `caddy reload --config /etc/caddy/Caddyfile` on
// systemctl reload) puts back the file's upstreams and drops the marker:
// Active then reports None, and a deploy refuses to go on while a slot of
// ours runs. Run Caddy with --resume (Debian's caddy-api.service does), or
// only ever change it through the admin API.
//
// # Preflight
//
// Preflight checks, with reads only, what a Switch needs: the admin API
// answers, ID names a reverse_proxy handler with static upstreams, the
// markers are a switch's, Caddy sends ETags. It cannot try the load itself
// (the admin API has no dry run, and a change would close the websockets).
// A deploy calls it before it starts a slot; its errors wrap ErrPreflight
// and name the x-bluegreen setting at fault:
//
//	caddy preflight failed: caddy handler not usable: caddy.id web: Caddy's config (admin API http://127.0.0.1:2019) has no object with "@id": "web" (...)
package caddy
