package testutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// NginxContainerOptions configures StartNginxContainer.
type NginxContainerOptions struct {
	// Image is an image from BuildNginxImage. NginxContainer builds one for
	// the test when it is empty.
	Image string
	// Network is a user-defined network to join, so that nginx reaches the
	// containers on it by name ("app-blue-web-1:8000"). Empty means the
	// default bridge.
	Network string
	// HostNetwork runs nginx in the host's network namespace, listening on
	// 127.0.0.1:Port only, so that it reaches upstreams at 127.0.0.1:PORT
	// as a host nginx does. Network must be empty then.
	HostNetwork bool
}

// NginxContainerServer is an nginx from BuildNginxImage running in a
// container, its port published on 127.0.0.1 (or bound there, on the host
// network). Its upstream "backend" starts on the placeholder, so requests
// answer 502 until a switch routes it.
type NginxContainerServer struct {
	*DockerContainer
	Conf         string // NginxImageConf, inside the container
	UpstreamFile string // NginxImageUpstream, inside the container
	Upstream     string // "backend"
}

// StartNginxContainer runs opts.Image and returns once nginx answers on
// 127.0.0.1. The caller must Close it.
func StartNginxContainer(ctx context.Context, opts NginxContainerOptions) (*NginxContainerServer, error) {
	if opts.Image == "" {
		return nil, errors.New("start nginx container: no image")
	}
	spec := runSpec{
		name:    uniqueName("bluegreen-nginx"),
		image:   opts.Image,
		label:   "nginx",
		port:    NginxImagePort,
		network: opts.Network,
		// Any answer from nginx: the placeholder upstream gives 502.
		ready: func(r *http.Response) bool { return strings.HasPrefix(r.Header.Get("Server"), "nginx") },
	}
	if opts.HostNetwork {
		if opts.Network != "" {
			return nil, errors.New("start nginx container: HostNetwork and Network are exclusive")
		}
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		spec.network, spec.hostPort = "host", port
		conf := NginxImageConfig("127.0.0.1:" + strconv.Itoa(port))
		spec.beforeStart = func(ctx context.Context, cli *client.Client, id string) error {
			return copyToContainer(ctx, cli, id, NginxImageConf, []byte(conf))
		}
	}
	c, err := startContainer(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("start nginx container: %w", err)
	}
	return &NginxContainerServer{
		DockerContainer: c,
		Conf:            NginxImageConf,
		UpstreamFile:    NginxImageUpstream,
		Upstream:        "backend",
	}, nil
}

// NginxContainer starts an nginx container for the test and removes it
// when the test ends, logging nginx's output first when the test failed.
// Without opts.Image it builds one with NginxImage.
func NginxContainer(t testing.TB, opts NginxContainerOptions) *NginxContainerServer {
	t.Helper()
	if opts.Image == "" {
		opts.Image = NginxImage(t)
	}
	n, err := StartNginxContainer(context.Background(), opts)
	if err != nil {
		t.Fatalf("testutil.NginxContainer: %v", err)
	}
	n.cleanup(t, "testutil.NginxContainer")
	return n
}

// copyToContainer writes data to file in container id, mode 0644.
func copyToContainer(ctx context.Context, cli *client.Client, id, file string, data []byte) error {
	var buf bytes.Buffer
	if err := writeTar(&buf, map[string]tarEntry{path.Base(file): {mode: 0o644, data: data}}); err != nil {
		return err
	}
	if err := cli.CopyToContainer(ctx, id, path.Dir(file), &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy %s into container: %w", file, err)
	}
	return nil
}
