package haproxy_test

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestHAProxyHonoursSwitcherContract runs bluegreentest's Switcher
// contract against the Switcher on a private HAProxy per subtest, whose
// backend is as a user writes it before the first deploy. The contract's
// slots answer on ports the kernel picks, which Switch sets with "set
// server ... addr".
func TestHAProxyHonoursSwitcherContract(t *testing.T) {
	testutil.RequireHAProxy(t)
	bluegreentest.SwitcherContract(t, func(t *testing.T) bluegreen.Switcher {
		return newSwitcher(t, testutil.HAProxy(t))
	})
}
