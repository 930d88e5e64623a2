package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// ProjectWithSection loads, as project "shop", a compose file of one
// service web (container port 8000) whose x-bluegreen has section (a flow
// mapping such as "{id: web}") under key: for the tests of a proxy
// package's section.
func ProjectWithSection(t testing.TB, key, section string) *bluegreen.Project {
	t.Helper()
	file := filepath.Join(t.TempDir(), "compose.yaml")
	yaml := "services: {web: {image: app, ports: [\"8000\"]}}\nx-bluegreen:\n  " + key + ": " + section + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := bluegreen.Load(t.Context(), bluegreen.Source{Files: []string{file}, ProjectName: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
