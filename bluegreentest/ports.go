package bluegreentest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
)

// FreePortRanges returns the first ports of count ranges of n consecutive
// TCP ports on 127.0.0.1 that were free a moment ago and do not overlap:
// the slot ports of a service with n replicas, for a test. They lie below
// the kernel's ephemeral range (32768 and up on Linux), so that the test's
// client connections do not take them meanwhile.
func FreePortRanges(count, n int) ([]int, error) {
	const lowest, highest = 20000, 32000
	var (
		firsts []int
		held   []net.Listener
	)
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for tries := 0; len(firsts) < count; tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("no %d ranges of %d free ports in %d-%d", count, n, lowest, highest)
		}
		first := lowest + rand.IntN(highest-lowest-n)
		var lns []net.Listener
		for port := first; port < first+n; port++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		held = append(held, lns...)
		if len(lns) == n {
			firsts = append(firsts, first)
		}
	}
	return firsts, nil
}
