// Package bluegreentest provides fakes of the parts a bluegreen.Deployer
// drives, in the manner of net/http/httptest, so that a service built on
// bluegreen can be tested without Docker and without a proxy:
//
//	fake := &bluegreentest.Compose{}           // containers in memory; they serve HTTP on their published ports
//	fake.SetImage("shop:v3", bluegreentest.Image{Crash: true, ExitCode: 2})
//	sw := &bluegreentest.Switcher{}            // records every Switch
//	p, err := bluegreen.Load(ctx, src)          // the compose file, as for a real deploy
//	d := &bluegreen.Deployer{Project: p, Compose: fake, Switcher: sw}
//	report, err := d.Deploy(ctx)
//	sw.Calls()                                 // [{Slot: blue, Addrs: [127.0.0.1:8081]}]
//
// A running fake container answers HTTP on 127.0.0.1 at its published ports
// (200 with its image reference, or Image.Handler), so the Deployer's health
// probes pass, and an in-process proxy (package proxy) can route real
// requests to it. The Deployer probes 127.0.0.1:<slot port>: give the
// file's slots free ports, and its state_dir a temporary directory.
//
// The fakes honour the contracts of the real parts. SwitcherContract and
// ComposeContract check them, for these fakes and for any other Switcher or
// Compose:
//
//	func TestMySwitcher(t *testing.T) {
//		bluegreentest.SwitcherContract(t, func(t *testing.T) bluegreen.Switcher { return newMySwitcher(t) })
//	}
package bluegreentest
