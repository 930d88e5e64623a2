package bluegreen

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/health"
)

// ps lists the containers of a compose project (only the running ones when
// running is true), of the given services or of all: the one place the
// engine is asked what runs.
func (d *Deployer) ps(ctx context.Context, project string, running bool, services ...string) ([]api.ContainerSummary, error) {
	cs, err := d.Compose.Ps(ctx, project, api.PsOptions{All: !running, Services: services})
	if err != nil {
		return nil, fmt.Errorf("listing the containers of %s: %w", project, err)
	}
	return cs, nil
}

// containerRunning fails while c is not running or its own healthcheck
// (from the compose file or the image) does not say healthy yet, and fails
// for good when it has exited or is unhealthy.
func containerRunning(c api.ContainerSummary) error {
	switch {
	case c.State == "exited" || c.State == "dead":
		return health.Permanent(fmt.Errorf("container %s %s with code %d", c.Name, c.State, c.ExitCode))
	case c.Health == "unhealthy":
		return health.Permanent(fmt.Errorf("container %s: its healthcheck says unhealthy", c.Name))
	case c.State != "running":
		return fmt.Errorf("container %s is %s", c.Name, c.State)
	case c.Health == "starting":
		return fmt.Errorf("container %s: its healthcheck is still starting", c.Name)
	}
	return nil
}

// containers describes the containers of a compose project.
func (d *Deployer) containers(ctx context.Context, project string) ([]ContainerStatus, error) {
	cs, err := d.ps(ctx, project, false)
	if err != nil {
		return nil, err
	}
	out := []ContainerStatus{}
	for _, c := range cs {
		st := ContainerStatus{
			Name: c.Name, Service: c.Service, Image: c.Image,
			State: c.State, Health: c.Health, ExitCode: c.ExitCode,
		}
		if c.Service == d.Project.Config.Service {
			st.Port = d.hostPort(c)
		}
		out = append(out, st)
	}
	return out, nil
}

// tailLogs returns the last n log lines of the routed service in slot (of
// its replica number index only, when not 0), for errors that explain why a
// release failed. A failure to read them is logged and gives no lines.
func (d *Deployer) tailLogs(slot Slot, index, n int) []string {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var lc lineCollector
	err := d.Compose.Logs(ctx, slotProjectName(d.Project.Config.Project, slot), &lc, api.LogOptions{
		Services: []string{d.Project.Config.Service},
		Index:    index,
		Tail:     fmt.Sprint(n),
	})
	if err != nil {
		d.log().Warn("reading the logs of the failed release", "slot", slot, "err", err)
	}
	return lc.lines
}

// lastLines formats up to n lines for the end of an error message; whose
// says whose lines they are (" of web-2"), or is empty.
func lastLines(whose string, lines []string, n int) string {
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "; last log lines" + whose + ": " + strings.Join(lines, " | ")
}

// routed lists the containers of the routed service in slot (stopped ones
// too with all), in the order of their number: replica 1 first.
func (d *Deployer) routed(ctx context.Context, slot Slot, all bool) ([]api.ContainerSummary, error) {
	name := slotProjectName(d.Project.Config.Project, slot)
	cs, err := d.ps(ctx, name, !all, d.Project.Config.Service)
	if err != nil {
		return nil, err
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

// containerIDs maps each service of a project to its container's ID.
func (d *Deployer) containerIDs(ctx context.Context, project string) (map[string]string, error) {
	cs, err := d.ps(ctx, project, false)
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, c := range cs {
		ids[c.Service] = c.ID
	}
	return ids, nil
}

// lineCollector is an api.LogConsumer that keeps the lines it is given,
// and passes each to onLine when set.
type lineCollector struct {
	mu     sync.Mutex
	lines  []string
	onLine func(line string)
}

func (c *lineCollector) add(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		l = strings.TrimRight(l, "\r")
		c.lines = append(c.lines, l)
		if c.onLine != nil {
			c.onLine(l)
		}
	}
}

func (c *lineCollector) Log(_, msg string) { c.add(msg) }

func (c *lineCollector) Err(_, msg string) { c.add(msg) }

func (c *lineCollector) Status(_, msg string) {}
