package testutil

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/appimage"
)

// TestAppImage is the default tag of the test app image.
const TestAppImage = appimage.DefaultTag

// BuildImage builds the test app image (see internal/appimage) tagged with
// every tag given (TestAppImage when none is).
func BuildImage(ctx context.Context, tags ...string) error {
	return appimage.Build(ctx, tags...)
}

// built remembers the tag sets that Image built in this process.
var built sync.Map

// Image builds the test app image with the given tags (TestAppImage when
// none) once per test process and fails the test if it cannot. It skips
// like RequireDocker when no engine answers.
//
// The image is not removed in cleanup: tests and packages reuse it, and a
// rebuild is cheap (the go build cache keeps the binary, the engine's cache
// the layers).
func Image(t testing.TB, tags ...string) string {
	t.Helper()
	RequireDocker(t)
	if len(tags) == 0 {
		tags = []string{TestAppImage}
	}
	key := strings.Join(tags, "\x00")
	if _, ok := built.Load(key); ok {
		return tags[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := BuildImage(ctx, tags...); err != nil {
		t.Fatalf("testutil.Image: %v", err)
	}
	t.Logf("testutil.Image: built %s in %v", strings.Join(tags, ", "), time.Since(start).Round(time.Millisecond))
	built.Store(key, true)
	return tags[0]
}
