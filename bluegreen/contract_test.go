package bluegreen_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/internal/composelabel"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// TestEngineHonoursComposeContract runs bluegreentest's Compose contract
// against compose's own service on the real engine: the fake that users test
// with behaves as the real thing does.
func TestEngineHonoursComposeContract(t *testing.T) {
	testutil.RequireDocker(t)
	testutil.Image(t, "bluegreen-testapp:v1")
	engine, err := bluegreen.NewEngine(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	n := 0
	bluegreentest.ComposeContract(t, engine, func(t *testing.T) *types.Project {
		n++
		ports, err := testutil.FreePorts(2)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "compose.yaml")
		yaml := fmt.Sprintf(`services:
  web: {image: "bluegreen-testapp:v1", ports: ["127.0.0.1:%d:8000"]}
  worker: {image: "bluegreen-testapp:v1", ports: ["127.0.0.1:%d:8000"]}
`, ports[0], ports[1])
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		opts, err := cli.NewProjectOptions([]string{file}, cli.WithName(fmt.Sprintf("bgcontract%d-%d", time.Now().UnixNano()%100000, n)))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		composelabel.Services(p)
		return p
	})
}

// TestNginxHonoursSwitcherContract runs bluegreentest's Switcher contract
// against the nginx Switcher on a real nginx, as it runs against the
// recording Switcher and the in-process proxy.
func TestNginxHonoursSwitcherContract(t *testing.T) {
	testutil.RequireNginx(t)
	bluegreentest.SwitcherContract(t, func(t *testing.T) bluegreen.Switcher {
		ngx := testutil.Nginx(t)
		return nginxconf.Config{
			Upstream: ngx.Upstream, UpstreamFile: ngx.UpstreamFile, Conf: ngx.Conf, Prefix: ngx.Prefix, Binary: ngx.Binary,
		}.Switcher(nil)
	})
}
