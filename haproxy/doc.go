// Package haproxy switches an HAProxy backend between the blue and the
// green slot through HAProxy's runtime API, with no reload, and tells when
// the sessions the old slot holds have finished.
//
// HAProxy's config names an admin socket in its global section (Debian's
// default config has one) and declares, in the backend that serves the
// app, one server per slot named after it, at the slot's port:
//
//	global
//	    stats socket /run/haproxy/admin.sock mode 660 level admin
//
//	backend web
//	    server blue  127.0.0.1:8081 check inter 500ms fastinter 100ms
//	    server green 127.0.0.1:8080 check inter 500ms fastinter 100ms
//
// With replicas a slot has one server per replica, named after the slot
// and a number: blue1, blue2, blue3, as "server-template blue 3
// 127.0.0.1:8081 check" declares them (or three server lines). Switch gets
// one address per replica; a server that has one of them keeps it, the
// others are given theirs with "set server BK/SRV addr IP port N", so the
// ports the engine gives the replicas need not match the config. Servers
// of the backend named otherwise (a backup "sorry" server) are left alone.
//
// A deploy switches, then drains before it stops the old slot:
//
//	sw := &haproxy.Switcher{Socket: "/run/haproxy/admin.sock", Backend: "web"}
//	if err := sw.Switch(ctx, bluegreen.Green, []string{"127.0.0.1:8080"}); err != nil {
//		return err // the servers are as they were
//	}
//	if err := sw.Drain(ctx); err != nil {
//		return err
//	}
//
// # Switch
//
// Switch puts the new slot's servers in state ready and, once HAProxy
// reads them back ready and UP at their addresses, puts the old slot's in
// state drain, then reads them all back. A server leaving maintenance is UP
// at once for HAProxy, whatever answers at its address (HAProxy trusts it
// until a check fails), so a server with health checks is first staged in
// drain, its health forced down, and made ready only when HAProxy's own
// checks pass. That wait is most of a switch: up to inter plus rise-1
// times fastinter. In the tests a switch took 130-215 ms with "check inter
// 100ms", 0.49-0.61 s with "check inter 500ms fastinter 100ms" (HAProxy's
// defaults, inter 2s and rise 2, make it up to 4 s), and 1-8 ms without
// "check". At every instant some server is ready. A refused command (HAProxy answers any "set" that fails with a
// message, which the error quotes), a server not UP within Timeout, or a
// read-back that disagrees makes Switch set back, in reverse order, what it
// changed: the routing that was live before is live again.
//
// # Active and the first deploy
//
// Active reads the servers' administrative states: the slot with a server
// in state ready while the other slot has none is active. Both slots ready
// (the config as above, before any switch) or neither is None. So before
// the first deploy either write both servers enabled (Active: none, the
// first deploy goes to blue), or, when the app already serves on one of
// the ports, the other server "disabled" (Active: the serving slot, the
// first deploy goes to the other one).
//
// Runtime changes do not survive a reload or restart of HAProxy by
// themselves: the servers come back as the config has them, both ready,
// and Active says None while a release runs, which the Deployer refuses.
// Keep them with HAProxy's server-state-file:
//
//	global
//	    server-state-file /var/lib/haproxy/server-state
//	defaults
//	    load-server-state-from-file global
//
// and save them just before each reload:
//
//	echo "show servers state" | socat stdio /run/haproxy/admin.sock > /var/lib/haproxy/server-state
//
// # Drain
//
// Drain finds the slots' servers in state drain, waits until "show stat"
// counts no session and no queued request on them (scur, qcur) twice in a
// row, 50 ms apart, then puts them in state maint. HAProxy leaves on the
// old server what it holds: a request in flight, a streamed response and
// an upgraded connection (websocket) all go on through the switch. In the
// tests a 3 s request held across a switch was answered by the old slot,
// and Drain, called just after the switch, waited 2.87 s, until it was; a
// 3 s streamed response ended whole, and Drain waited 2.78 s for it. An upgraded
// connection holds its session for as long as it is open, so Drain waits
// until its ctx ends (the Deployer's drain_timeout), then puts the server
// in maint all the same and returns ctx's error naming the server: maint
// takes no session away, and the connection works on until the old slot
// stops. Drain with nothing in flight takes about 50 ms. Sticky clients
// (cookie or stick-table persistence) still reach a server in drain, so
// Drain also waits for them.
//
// # Canary
//
// Switcher is a bluegreen.Splitter, which strategy canary needs. Split
// sends a percent of new requests to the new slot by the servers' weights
// ("set weight BK/SRV W", weighted round robin): for one server each, 10%
// is blue 9 and green 1, 50% blue 3 and green 3, the same weight for each
// server of a slot, such that the canary's servers have percent of the
// total. It makes the canary's servers ready as Switch does (staged until
// their checks pass), then reads the split back. The weights are the
// split's record in HAProxy, and the server-state-file above keeps them
// across a reload: Active reads the base (the slot that had all traffic)
// and Canary the canary and its percent, in any process, from "show
// servers state". Both slots ready at weights other than the config's is
// a split; the two weights' greatest common divisor tells which slot is
// the base, odd for blue and even for green (10% to blue beside green is
// green 18 and blue 2). The share is exact whenever the weights, up to
// 256, allow it, as they do for any percent with as many servers in both
// slots; else, as for 1% to three servers beside one, it is the nearest,
// and Canary reads that back. Switch ends a split: the other slot drains,
// and the weights go back to the config's. In the tests 1000 requests
// through a 10% split gave the canary 99 of them, and a 50% split 500.
//
// Counts adds up "show stat" of the slot's servers: their responses
// (hrsp_1xx to hrsp_other), the requests they gave no response to (eresp
// less srv_abrt, to which HAProxy answers 502 or 504 itself) and their
// failed connection attempts (econ, wretr, wredis), all requests; the
// 5xx, the unanswered and the failed are errors. With "retries" and
// "option redispatch" HAProxy sends a request whose connection is refused
// to another server, so the client gets an answer while the canary's
// failed attempt counts against it. PreflightSplit checks that the backend
// is in mode http, where HAProxy counts responses by status, and balances
// by weights set at run time: roundrobin (the default), leastconn or
// random, not static-rr, first or a hash.
//
// # Settings and errors
//
// Socket is a unix socket path, or "ipv4@IP:PORT" / "ipv6@[IP]:PORT" for a
// stats socket bound to TCP, as the "stats socket" line writes them; it
// must be a worker's stats socket at level admin (not the master CLI of
// master-worker mode). Every value that reaches the socket is checked
// first, since a runtime API command is one line and ';' separates
// commands in it: names are held to letters, digits, '_', '.', ':' and '-',
// and addresses must be IP:PORT, parsed and written again. Bad values wrap
// bluegreen.ErrBadInput and send nothing. HAProxy's set server addr takes
// IP addresses only, so a proxy that reaches the slots by container name
// on a docker network is not supported: HAProxy must reach them at their
// published ports.
//
// Switcher is a bluegreen.Preflighter: Preflight checks, changing nothing,
// that the socket answers at level admin, that the backend exists and that
// both slots have servers a switch can set. Its errors wrap ErrPreflight
// and the cause, and name the x-bluegreen setting at fault:
//
//	haproxy preflight failed: haproxy.backend: haproxy servers do not fit the slots: backend web has no server named green (or green1, green2... for replicas): declare one, such as "server green 127.0.0.1:8080 check"
package haproxy
