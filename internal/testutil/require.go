package testutil

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

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
