package testutil

import (
	"maps"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"

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

// CanarySteps records what load counted during each canary step of a
// deploy: pass Event to the Deployer's OnEvent (it calls next, when not
// nil, with each event), then read Steps, keyed by step number from 1.
type CanarySteps struct {
	Load *LoadGenerator
	Next func(bluegreen.Event)

	mu    sync.Mutex
	step  int
	at    LoadResult
	steps map[int]LoadResult
}

// Event is an OnEvent function.
func (c *CanarySteps) Event(ev bluegreen.Event) {
	if ev.Step == bluegreen.StepCanary {
		c.mu.Lock()
		switch ev.Phase {
		case bluegreen.PhaseBegin:
			c.step++
			c.at = c.Load.Snapshot()
		case bluegreen.PhaseDone, bluegreen.PhaseFail:
			if c.steps == nil {
				c.steps = map[int]LoadResult{}
			}
			c.steps[c.step] = c.Load.Snapshot().Sub(c.at)
		}
		c.mu.Unlock()
	}
	if c.Next != nil {
		c.Next(ev)
	}
}

// Steps returns the load's figures of each step that ended.
func (c *CanarySteps) Steps() map[int]LoadResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.steps)
}
