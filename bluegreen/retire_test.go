package bluegreen_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
)

// TestRetireSaysWhatItRetired: a first deploy has no old slot, and the
// retire step says so; the second stops the first release's containers.
func TestRetireSaysWhatItRetired(t *testing.T) {
	file, cleanup := exampleFile()
	defer cleanup()
	ctx := context.Background()
	p, err := bluegreen.Load(ctx, bluegreen.Source{Files: []string{file}, ProjectName: "shop", Env: []string{"TAG=v1"}})
	if err != nil {
		t.Fatal(err)
	}
	var infos []string
	d := &bluegreen.Deployer{Project: p, Compose: &bluegreentest.Compose{}, Switcher: &bluegreentest.Switcher{},
		OnEvent: func(e bluegreen.Event) {
			if e.Step == bluegreen.StepRetire && e.Phase == bluegreen.PhaseInfo {
				infos = append(infos, e.Message)
			}
		}}
	defer d.Down(ctx, false)
	for i, want := range []string{"shop-green has no containers: nothing to retire", "stopping 1 container(s) of shop-blue"} {
		infos = nil
		if _, err := d.Deploy(ctx); err != nil {
			t.Fatal(err)
		}
		if len(infos) != 1 || !strings.HasPrefix(infos[0], want) {
			t.Errorf("deploy %d: retire said %q, want %q", i+1, infos, want)
		}
	}
}
