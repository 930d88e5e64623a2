package testutil

import (
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/loadgen"
)

// The load generator lives in internal/loadgen, which the example CLI's demo
// uses too; these names keep the tests' vocabulary.
type (
	LoadOptions   = loadgen.Options
	LoadResult    = loadgen.Result
	LoadGenerator = loadgen.Generator
)

// StartLoad starts sending requests to url. The caller must Stop it.
func StartLoad(url string, opts LoadOptions) *LoadGenerator { return loadgen.Start(url, opts) }

// Load starts a LoadGenerator with default options against url and stops
// it in t.Cleanup.
func Load(t testing.TB, url string) *LoadGenerator {
	t.Helper()
	return LoadWith(t, url, LoadOptions{})
}

// LoadWith is Load with options.
func LoadWith(t testing.TB, url string, opts LoadOptions) *LoadGenerator {
	t.Helper()
	g := StartLoad(url, opts)
	t.Cleanup(func() { g.Stop() })
	return g
}
