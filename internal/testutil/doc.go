// Package testutil holds the real parts that bluegreen's integration tests
// deploy against, in the manner of net/http/httptest: one call gives a
// running thing with its address, and cleanup goes through t.Cleanup.
//
//	testutil.RequireDocker(t)                // skip without an engine (fail when CI=true)
//	image := testutil.Image(t)               // the test app, built FROM scratch
//	ngx := testutil.Nginx(t)                 // private nginx on 127.0.0.1, upstream "backend"
//	load := testutil.Load(t, ngx.URL)        // keep-alive GETs without pause
//	// ... deploy image behind ngx.UpstreamFile ...
//	res := load.Stop()                       // res.Sent, res.Failed, res.Versions
//
// The test app (internal/appimage/testapp/main.go) answers its VERSION on /,
// /healthz and /version, and misbehaves on request: BOOT_DELAY,
// FAIL=500|crash, SLOW, IGNORE_SIGTERM. The image, the private nginx and the
// load generator live in packages without "testing" (internal/appimage,
// internal/localnginx, internal/loadgen), which the example CLI's demo
// imports; this package wraps them for tests.
//
// All traffic goes to 127.0.0.1 only.
package testutil
