package bluegreen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
)

// exampleFile writes a compose file for the examples: one web service whose
// image tag is the release, on two free slot ports.
func exampleFile() (file string, cleanup func()) {
	dir, _ := os.MkdirTemp("", "bluegreen-example")
	file = filepath.Join(dir, "compose.yaml")
	_ = os.WriteFile(file, []byte(fmt.Sprintf(`services:
  web:
    image: shop:${TAG:?}
    ports: ["8000"]
x-bluegreen:
  slots: {blue: %d, green: %d}
  health: {interval: 10ms}
`, freePort(), freePort())), 0o644)
	return file, func() { os.RemoveAll(dir) }
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// The minimal program that deploys a release: load it, give the Deployer
// an engine and a Switcher, deploy. (bluegreentest's fakes stand in for
// Docker and the proxy here; a real program passes bluegreen.NewEngine and
// a proxy package's FromProject, as the package documentation shows.)
func Example() {
	file, cleanup := exampleFile()
	defer cleanup()
	ctx := context.Background()
	p, err := bluegreen.Load(ctx, bluegreen.Source{Files: []string{file}, ProjectName: "shop", Env: []string{"TAG=v1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	d := &bluegreen.Deployer{Project: p, Compose: &bluegreentest.Compose{}, Switcher: &bluegreentest.Switcher{}}
	report, err := d.Deploy(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("release %d is live in %s\n", report.Release.ID, report.To)
	// Output: release 1 is live in blue
}

// A deploy service embeds the Deployer behind an HTTP endpoint: POST
// /deploy?tag=v2 deploys that release. The lock in the Deployer already
// refuses a second deploy of the project; the mutex keeps this service's
// own calls in order. (bluegreentest's fakes stand in for Docker and nginx
// here; a real service passes bluegreen.NewEngine and nginxconf.FromProject.)
func Example_deployService() {
	file, cleanup := exampleFile()
	defer cleanup()
	engine, router := &bluegreentest.Compose{}, &bluegreentest.Switcher{}
	var mu sync.Mutex
	deploy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		src := bluegreen.Source{Files: []string{file}, ProjectName: "shop", Env: []string{"TAG=" + r.URL.Query().Get("tag")}}
		p, err := bluegreen.Load(r.Context(), src)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		d := &bluegreen.Deployer{Project: p, Compose: engine, Switcher: router}
		report, err := d.Deploy(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"release": report.Release.ID, "slot": report.To})
	})
	srv := httptest.NewServer(deploy)
	defer srv.Close()
	for _, tag := range []string{"v1", "v2", ""} {
		resp, err := http.Post(srv.URL+"/deploy?tag="+tag, "", nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		var body strings.Builder
		_, _ = fmt.Fprint(&body, resp.Status)
		var out map[string]any
		if json.NewDecoder(resp.Body).Decode(&out) == nil {
			fmt.Fprintf(&body, " release %v in %v", out["release"], out["slot"])
		}
		resp.Body.Close()
		fmt.Printf("tag %q: %s\n", tag, body.String())
	}
	p, _ := bluegreen.Load(context.Background(), bluegreen.Source{Files: []string{file}, ProjectName: "shop", Env: []string{"TAG=v2"}})
	d := &bluegreen.Deployer{Project: p, Compose: engine, Switcher: router}
	_ = d.Down(context.Background(), false)
	// Output:
	// tag "v1": 200 OK release 1 in blue
	// tag "v2": 200 OK release 2 in green
	// tag "": 400 Bad Request
}

// A test harness drives the Deployer and watches its progress events: the
// steps a deploy goes through, in order.
func ExampleDeployer_Deploy() {
	file, cleanup := exampleFile()
	defer cleanup()
	ctx := context.Background()
	p, err := bluegreen.Load(ctx, bluegreen.Source{Files: []string{file}, ProjectName: "shop", Env: []string{"TAG=v1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	d := &bluegreen.Deployer{Project: p, Compose: &bluegreentest.Compose{}, Switcher: &bluegreentest.Switcher{}}
	var steps []string
	d.OnEvent = func(e bluegreen.Event) {
		if e.Phase == bluegreen.PhaseDone {
			steps = append(steps, string(e.Step))
		}
	}
	for _, tag := range []string{"v1", "v2"} {
		// A new release: the same file with other variables.
		if d.Project, err = p.WithEnv(ctx, "TAG="+tag); err != nil {
			fmt.Println(err)
			return
		}
		steps = nil
		report, err := d.Deploy(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s to %s: %s\n", tag, report.To, strings.Join(steps, ", "))
	}
	_ = d.Down(ctx, false)
	// Output:
	// v1 to blue: prepare, start, wait-healthy, switch, drain, retire
	// v2 to green: prepare, start, wait-healthy, switch, drain, retire
}

// logSwitcher is a custom Switcher: it routes nothing itself, but asks an
// outside router (here, a map) and reports which slot is live. A Switcher
// must leave the old routing live when Switch fails.
type logSwitcher struct {
	mu     sync.Mutex
	routes map[string][]string // the "load balancer": name -> backends
	live   bluegreen.Slot
}

func (s *logSwitcher) Switch(_ context.Context, slot bluegreen.Slot, addrs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(addrs) == 0 {
		return fmt.Errorf("no backend for %s", slot) // nothing changed
	}
	s.routes["shop"] = addrs
	s.live = slot
	fmt.Printf("routing shop to the %s slot\n", slot)
	return nil
}

func (s *logSwitcher) Active(context.Context) (bluegreen.Slot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, nil
}

// A custom Switcher plugs into the Deployer in place of nginx.
func ExampleSwitcher() {
	file, cleanup := exampleFile()
	defer cleanup()
	ctx := context.Background()
	sw := &logSwitcher{routes: map[string][]string{}}
	d := &bluegreen.Deployer{Compose: &bluegreentest.Compose{}, Switcher: sw}
	for _, tag := range []string{"v1", "v2"} {
		var err error
		d.Project, err = bluegreen.Load(ctx, bluegreen.Source{Files: []string{file}, ProjectName: "shop", Env: []string{"TAG=" + tag}})
		if err != nil {
			fmt.Println(err)
			return
		}
		if _, err := d.Deploy(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}
	_ = d.Down(ctx, false)
	// Output:
	// routing shop to the blue slot
	// routing shop to the green slot
}
