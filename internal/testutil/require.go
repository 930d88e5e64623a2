package testutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// ErrNginxMissing is returned when no nginx binary can be found.
var ErrNginxMissing = errors.New("nginx binary not found (looked in PATH and /usr/sbin/nginx)")

// DockerAvailable reports whether a Docker engine answers a ping within 5s.
func DockerAvailable(ctx context.Context) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine does not answer: %w", err)
	}
	return nil
}

// NginxBinary returns the path of the nginx binary, or ErrNginxMissing.
// PATH often lacks /usr/sbin, so that is tried as well.
func NginxBinary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("/usr/sbin/nginx"); err == nil {
		return p, nil
	}
	return "", ErrNginxMissing
}

// RequireDocker skips the test when no Docker engine answers, or fails it
// when CI=true: integration tests may not skip there.
func RequireDocker(t testing.TB) {
	t.Helper()
	if err := DockerAvailable(context.Background()); err != nil {
		SkipOrFail(t, err)
	}
}

// RequireNginx skips the test when nginx is not installed, or fails it when
// CI=true.
func RequireNginx(t testing.TB) {
	t.Helper()
	if _, err := NginxBinary(); err != nil {
		SkipOrFail(t, err)
	}
}

// SkipOrFail skips the test for the reason err, or fails it when CI=true:
// there, a proof may not skip.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: integration tests may not skip: %v", err)
	}
	t.Skip(err)
}
