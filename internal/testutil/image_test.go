package testutil_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestImage builds the test app image, runs one container of it published
// on 127.0.0.1, reads its version once it is up and stops it with SIGTERM.
func TestImage(t *testing.T) {
	image := testutil.Image(t, "bluegreen-testapp:selftest")
	ctx := context.Background()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })

	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	created, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image:        image,
			Env:          []string{"VERSION=x", "BOOT_DELAY=300ms"},
			ExposedPorts: nat.PortSet{"8000/tcp": {}},
			Labels:       map[string]string{"bluegreen.testutil": "selftest"},
		},
		&container.HostConfig{
			PortBindings: nat.PortMap{"8000/tcp": {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(port)}}},
		}, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cli.ContainerRemove(context.Background(), created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("remove container: %v", err)
		}
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}

	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/version"
	body, header := pollGet(t, url, 20*time.Second)
	if body != "x" || header.Get("X-Version") != "x" {
		t.Errorf("GET %s = %q (X-Version %q), want x", url, body, header.Get("X-Version"))
	}

	// The app handles SIGTERM as PID 1: it exits 0 well before the stop
	// timeout would have sent SIGKILL.
	start := time.Now()
	timeout := 10
	if err := cli.ContainerStop(ctx, created.ID, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	inspect, err := cli.ContainerInspect(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); inspect.State.ExitCode != 0 || took > 5*time.Second {
		t.Errorf("stop: exit code %d after %v, want 0 within 5s", inspect.State.ExitCode, took)
	}
}

// pollGet GETs url until it answers 200 and returns the trimmed body.
func pollGet(t *testing.T, url string, timeout time.Duration) (string, http.Header) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{}}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return strings.TrimSpace(string(body)), resp.Header
			}
			err = rerr
			if err == nil {
				err = &statusError{resp.StatusCode}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no 200 after %v: %v", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }
