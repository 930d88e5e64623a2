package bluegreentest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
)

// A deploy service tested without Docker: the fake Compose runs the
// release, whose containers answer HTTP on the slot ports, and the
// recording Switcher takes the place of nginx.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "compose.yaml")
	_ = os.WriteFile(file, []byte(fmt.Sprintf(`services:
  web:
    image: shop:${TAG:?}
    ports: ["8000"]
x-bluegreen:
  slots: {blue: %d, green: %d}
  health: {interval: 10ms}
  state_dir: state
`, port(), port())), 0o644)

	src := bluegreen.Source{Files: []string{file}, ProjectName: "shop"}
	fake := &bluegreentest.Compose{}
	sw := &bluegreentest.Switcher{}
	fake.SetImage("shop:v3", bluegreentest.Image{Crash: true, ExitCode: 2})
	for _, tag := range []string{"v1", "v2", "v3"} {
		src.Env = []string{"TAG=" + tag}
		p, err := bluegreen.Load(ctx, src)
		if err != nil {
			fmt.Println(err)
			return
		}
		d := &bluegreen.Deployer{Project: p, Compose: fake, Switcher: sw}
		report, err := d.Deploy(ctx)
		var failed *bluegreen.StepError
		if errors.As(err, &failed) {
			fmt.Printf("%s: failed at %s in %s (unhealthy: %t); traffic on %s\n",
				tag, failed.Step, failed.Slot, errors.Is(err, bluegreen.ErrUnhealthy), failed.Live)
			continue
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: %s -> %s\n", tag, report.From, report.To)
	}
	live, _ := sw.Active(ctx)
	fmt.Printf("%d switches; traffic on %s\n", len(sw.Calls()), live)
	for _, slot := range []string{"shop-blue", "shop-green"} {
		_ = fake.Down(ctx, slot, api.DownOptions{})
	}
	// Output:
	// v1: none -> blue
	// v2: blue -> green
	// v3: failed at wait-healthy in blue (unhealthy: true); traffic on green
	// 2 switches; traffic on green
}

// port returns a port on 127.0.0.1 that was free a moment ago.
func port() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
