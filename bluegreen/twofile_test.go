package bluegreen_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// slotFile is one slot's file of the classic two-file layout: its own
// container name and its own published port.
const slotFile = `services:
  web:
    image: bluegreen-testapp:${IMAGE_TAG:?IMAGE_TAG must be set}
    container_name: %s-web-%s
    environment:
      VERSION: ${IMAGE_TAG}
      BOOT_DELAY: 1s
    ports: ["127.0.0.1:%d:8000"]
`

// TestTwoFileLayout: a team moving from a hand-written script keeps its
// docker-compose.blue.yaml and docker-compose.green.yaml; x-bluegreen names
// them, and the deploys under load lose nothing.
func TestTwoFileLayout(t *testing.T) {
	e := newEnvWith(t, "services: {}\n")
	dir := filepath.Dir(e.file)
	main, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		yaml := fmt.Sprintf(slotFile, e.project, slot, e.ports.Port(slot))
		if err := os.WriteFile(filepath.Join(dir, "docker-compose."+string(slot)+".yaml"), []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The slots key names the files instead of the ports.
	main = []byte(replaceOnce(t, string(main), fmt.Sprintf("slots: {blue: %d, green: %d}", e.ports.Blue, e.ports.Green),
		"slots: {blue: {file: docker-compose.blue.yaml}, green: {file: docker-compose.green.yaml}}"))
	if err := os.WriteFile(e.file, main, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := e.deployer("IMAGE_TAG=v1").Project.Config
	if cfg.Slots != e.ports {
		t.Fatalf("slot ports read from the files: %+v, want %+v", cfg.Slots, e.ports)
	}

	finish := e.underLoad()
	e.deploy("IMAGE_TAG=v2")
	e.wantServing("v2")
	e.deploy("IMAGE_TAG=v3")
	finish("v3")
	cs, err := e.compose.Ps(context.Background(), e.project+"-blue", api.PsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := e.project + "-web-blue"; len(cs) != 1 || cs[0].Name != want {
		t.Errorf("blue runs %+v, want the file's container %s", cs, want)
	}
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found in:\n%s", old, s)
	}
	return strings.Replace(s, old, new, 1)
}
