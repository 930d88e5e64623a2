package bluegreen

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/docker/compose/v2/pkg/api"
)

// routed lists the containers of the routed service in slot (stopped ones
// too with all), in the order of their number: replica 1 first.
func (d *Deployer) routed(ctx context.Context, slot Slot, all bool) ([]api.ContainerSummary, error) {
	name := slotProjectName(d.Project.Config.Project, slot)
	cs, err := d.Compose.Ps(ctx, name, api.PsOptions{All: all, Services: []string{d.Project.Config.Service}})
	if err != nil {
		return nil, fmt.Errorf("listing the containers of %s in %s: %w", d.Project.Config.Service, name, err)
	}
	slices.SortStableFunc(cs, func(a, b api.ContainerSummary) int {
		return cmp.Or(cmp.Compare(containerNumber(a), containerNumber(b)), cmp.Compare(a.Name, b.Name))
	})
	return cs, nil
}

// containerNumber is compose's replica number of c, 0 when unknown.
func containerNumber(c api.ContainerSummary) int {
	n, _ := strconv.Atoi(c.Labels[api.ContainerNumberLabel])
	return n
}

// hostAddr is where c's routed port is published on the host, as
// 127.0.0.1:<port>. With several replicas each container has its own port
// of the slot's range, which only the engine knows.
func (d *Deployer) hostAddr(c api.ContainerSummary) (string, error) {
	port := d.hostPort(c)
	if port == 0 {
		return "", fmt.Errorf("container %s does not publish port %d on the host", c.Name, d.Project.Config.Port)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// hostPort is the host port that publishes c's routed port, or 0.
func (d *Deployer) hostPort(c api.ContainerSummary) int {
	for _, p := range c.Publishers {
		if p.TargetPort == d.Project.Config.Port && p.PublishedPort != 0 && (p.Protocol == "" || p.Protocol == "tcp") {
			return p.PublishedPort
		}
	}
	return 0
}

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
