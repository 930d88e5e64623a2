package bluegreen

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// upstreams are the addresses that the proxy sends slot's traffic to, one
// per running container of the routed service: its host port on 127.0.0.1,
// or, when the slots join the proxy's network, its name.
func (d *Deployer) upstreams(ctx context.Context, slot Slot) ([]string, error) {
	cs, err := d.routed(ctx, slot, false)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("no running container of %s in %s", d.Project.Config.Service, slot)
	}
	addrs := make([]string, 0, len(cs))
	for _, c := range cs {
		addr := net.JoinHostPort(c.Name, strconv.Itoa(d.Project.Config.Port))
		if d.network() == "" {
			if addr, err = d.hostAddr(c); err != nil {
				return nil, err
			}
		}
		addrs = append(addrs, addr)
	}
	return addrs, nil
}

// replicaNote says how many replicas a slot runs, when more than one.
func replicaNote(n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf(", %d replicas", n)
}
