package testutil

import "github.com/bluegreen-dev/bluegreen/internal/localhost"

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (see
// localhost.FreePort).
func FreePort() (int, error) { return localhost.FreePort() }

// FreePorts returns n distinct free TCP ports on 127.0.0.1 (see
// localhost.FreePorts).
func FreePorts(n int) ([]int, error) { return localhost.FreePorts(n) }
