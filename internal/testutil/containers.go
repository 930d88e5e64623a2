package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// containerLabel marks what these helpers create, to find leftovers.
const containerLabel = "bluegreen.testutil"

// uniqueName returns prefix followed by a random suffix, as docker names
// want it.
func uniqueName(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:10])
}

func newClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// Network creates a user-defined bridge network, on which containers reach
// each other by name, and removes it when the test ends (after the
// containers the test started later). It returns the network's name.
func Network(t testing.TB) string {
	t.Helper()
	RequireDocker(t)
	cli, err := newClient()
	if err != nil {
		t.Fatalf("testutil.Network: %v", err)
	}
	name := uniqueName("bluegreen-test")
	if _, err := cli.NetworkCreate(context.Background(), name, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{containerLabel: "network"},
	}); err != nil {
		cli.Close()
		t.Fatalf("testutil.Network: %v", err)
	}
	t.Cleanup(func() {
		defer cli.Close()
		if err := cli.NetworkRemove(context.Background(), name); err != nil {
			t.Errorf("testutil.Network: remove %s: %v", name, err)
		}
	})
	return name
}

// DockerContainer is a container that a helper of this package started,
// with a port published on 127.0.0.1 (or bound there, on the host network).
type DockerContainer struct {
	ID   string
	Name string
	Port int    // on 127.0.0.1
	URL  string // "http://127.0.0.1:PORT"

	cli       *client.Client
	closeOnce sync.Once
	closeErr  error
}

// Logs returns the container's output (stdout and stderr), or why it
// could not be read.
func (c *DockerContainer) Logs(ctx context.Context) string {
	rc, err := c.cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "100"})
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		fmt.Fprintf(&out, "(%v)", err)
	}
	return out.String()
}

// Close removes the container, stopping it first with SIGKILL. It is safe
// to call more than once.
func (c *DockerContainer) Close() error {
	c.closeOnce.Do(func() {
		defer c.cli.Close()
		err := c.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		if err != nil {
			c.closeErr = fmt.Errorf("remove container %s: %w", c.Name, err)
		}
	})
	return c.closeErr
}

// runSpec is what startContainer runs.
type runSpec struct {
	name        string
	image       string
	env         []string
	label       string // value of containerLabel
	port        int    // the container port to publish on 127.0.0.1
	network     string // user-defined network to join; "host" for the host's
	hostPort    int    // on the host network: the port the caller configured
	beforeStart func(ctx context.Context, cli *client.Client, id string) error
	ready       func(*http.Response) bool // on GET URL; nil: 200
}

// startContainer creates and starts a container from spec, publishing
// spec.port on a free 127.0.0.1 port, and returns once GET on it satisfies
// spec.ready. It removes the container again on any error.
func startContainer(ctx context.Context, spec runSpec) (_ *DockerContainer, err error) {
	cli, err := newClient()
	if err != nil {
		return nil, err
	}
	c := &DockerContainer{Name: spec.name, cli: cli, Port: spec.hostPort}
	cport := nat.Port(strconv.Itoa(spec.port) + "/tcp")
	cfg := &container.Config{
		Image:        spec.image,
		Env:          spec.env,
		ExposedPorts: nat.PortSet{cport: {}},
		Labels:       map[string]string{containerLabel: spec.label},
	}
	hostCfg := &container.HostConfig{NetworkMode: container.NetworkMode(spec.network)}
	if spec.network != "host" {
		if c.Port, err = FreePort(); err != nil {
			cli.Close()
			return nil, err
		}
		hostCfg.PortBindings = nat.PortMap{cport: {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(c.Port)}}}
	}
	c.URL = "http://127.0.0.1:" + strconv.Itoa(c.Port)
	created, err := cli.ContainerCreate(ctx, cfg, hostCfg, nil, nil, spec.name)
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("create container %s: %w", spec.name, err)
	}
	c.ID = created.ID
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w; output: %s", err, c.Logs(context.Background()))
			c.Close()
		}
	}()
	if spec.beforeStart != nil {
		if err := spec.beforeStart(ctx, cli, c.ID); err != nil {
			return nil, err
		}
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start container %s: %w", spec.name, err)
	}
	if err := c.waitReady(ctx, spec.ready); err != nil {
		return nil, err
	}
	return c, nil
}

// waitReady GETs the container's URL until ready accepts the response, the
// container stops running, or 30s pass. Before its process listens, a
// published port may accept connections and close them at once.
func (c *DockerContainer) waitReady(ctx context.Context, ready func(*http.Response) bool) error {
	if ready == nil {
		ready = func(r *http.Response) bool { return r.StatusCode == http.StatusOK }
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	for {
		resp, err := hc.Get(c.URL)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if ready(resp) {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if ins, ierr := c.cli.ContainerInspect(ctx, c.ID); ierr == nil && !ins.State.Running {
			return fmt.Errorf("container %s exited (code %d) before it answered", c.Name, ins.State.ExitCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container %s: GET %s: not ready: %w (last: %v)", c.Name, c.URL, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cleanup closes c when the test ends, logging its output first if the
// test failed.
func (c *DockerContainer) cleanup(t testing.TB, helper string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s: output of container %s:\n%s", helper, c.Name, c.Logs(context.Background()))
		}
		if err := c.Close(); err != nil {
			t.Errorf("%s: %v", helper, err)
		}
	})
}

// AppOptions configures App.
type AppOptions struct {
	// Image of the test app; empty means Image(t).
	Image string
	// Name of the container; empty means a unique one. On a user-defined
	// network other containers reach the app at Name:8000.
	Name string
	// Network is a user-defined network to join; empty means the default
	// bridge.
	Network string
	// Env is the app's environment: VERSION, SLOW... (see doc.go).
	Env []string
}

// App runs the test app in a container, published on 127.0.0.1, and
// returns once it answers GET /; it removes the container when the test
// ends.
func App(t testing.TB, opts AppOptions) *DockerContainer {
	t.Helper()
	if opts.Image == "" {
		opts.Image = Image(t)
	}
	if opts.Name == "" {
		opts.Name = uniqueName("bluegreen-app")
	}
	c, err := startContainer(context.Background(), runSpec{
		name: opts.Name, image: opts.Image, env: opts.Env, label: "app", port: 8000, network: opts.Network,
	})
	if err != nil {
		t.Fatalf("testutil.App: %v", err)
	}
	c.cleanup(t, "testutil.App")
	return c
}
