// Package appimage builds the test app image: a static Go binary (the
// embedded testapp/main.go) in a FROM scratch image, through the Docker API,
// so that neither a registry nor a Dockerfile on disk is needed. The tests
// (through internal/testutil) and the example CLI's demo use it.
//
// The test app answers its VERSION on /, /healthz and /version, and
// misbehaves on request: BOOT_DELAY, FAIL=500|crash, SLOW, IGNORE_SIGTERM.
package appimage

import (
	"archive/tar"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// DefaultTag is the tag Build gives the image when given none.
const DefaultTag = "bluegreen-testapp"

//go:embed testapp/main.go
var testAppSource []byte

const testAppGoMod = "module testapp\n\ngo 1.22\n"

const testAppDockerfile = `FROM scratch
COPY app /app
EXPOSE 8000
ENTRYPOINT ["/app"]
`

// Build compiles the test app (embedded, so it works from any working
// directory; it needs the go tool) into a static binary and builds a FROM
// scratch image of it, tagged with every tag given (DefaultTag when none is).
func Build(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		tags = []string{DefaultTag}
	}
	dir, err := os.MkdirTemp("", "bluegreen-testapp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin, err := compileTestApp(ctx, dir)
	if err != nil {
		return err
	}
	buildCtx, err := imageContext(bin)
	if err != nil {
		return err
	}
	return BuildContext(ctx, buildCtx, tags...)
}

// BuildContext builds the image of a build context (a tar stream holding a
// Dockerfile) with the engine's classic builder and tags it with every tag
// given: at least one.
func BuildContext(ctx context.Context, buildCtx io.Reader, tags ...string) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()

	resp, err := cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags:        tags[:1],
		Remove:      true,
		ForceRemove: true,
		// The API default on engine 20.10 is the legacy builder as well; say
		// so, because BuildKit through the API needs a session.
		Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tags[0], err)
	}
	defer resp.Body.Close()
	if err := readBuildOutput(resp.Body); err != nil {
		return fmt.Errorf("build image %s: %w", tags[0], err)
	}
	for _, tag := range tags[1:] {
		if err := cli.ImageTag(ctx, tags[0], tag); err != nil {
			return fmt.Errorf("tag image %s as %s: %w", tags[0], tag, err)
		}
	}
	return nil
}

// compileTestApp writes the embedded source to dir and builds it for linux
// without cgo, so the binary runs in an empty image.
func compileTestApp(ctx context.Context, dir string) ([]byte, error) {
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), testAppSource, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(testAppGoMod), 0o644); err != nil {
		return nil, err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("build test app: %w", err)
	}
	out := filepath.Join(dir, "app")
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH,
		// Keep the build to this directory and this toolchain: no go.work of
		// a surrounding tree, no toolchain download.
		"GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false",
	)
	if output, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build test app: %w\n%s", err, output)
	}
	return os.ReadFile(out)
}

// imageContext is the tar stream that ImageBuild sends to the engine.
func imageContext(bin []byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(testAppDockerfile)},
		{"app", 0o755, bin},
	} {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: now, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// readBuildOutput reads the engine's JSON message stream to its end: a
// build that fails still answers 200 and reports the error in the stream.
func readBuildOutput(r io.Reader) error {
	dec := json.NewDecoder(r)
	var tail []string
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if msg.Error != nil {
			return fmt.Errorf("%w (output: %s)", msg.Error, strings.Join(tail, ""))
		}
		if msg.ErrorMessage != "" {
			return fmt.Errorf("%s (output: %s)", msg.ErrorMessage, strings.Join(tail, ""))
		}
		if msg.Stream != "" {
			tail = append(tail, msg.Stream)
			if len(tail) > 20 {
				tail = tail[1:]
			}
		}
	}
}
