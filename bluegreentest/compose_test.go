package bluegreentest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"
	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreentest"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// loadProject loads a compose file as compose itself would.
func loadProject(t *testing.T, name, yaml string) *types.Project {
	t.Helper()
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{file}, cli.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// webProject has a web service published on port and a worker.
func webProject(t *testing.T, name, tag string, port int) *types.Project {
	return loadProject(t, name, fmt.Sprintf(`services:
  web:
    image: shop:%s
    ports: ["127.0.0.1:%d:8000"]
  worker:
    image: worker:%s
`, tag, port, tag))
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, strings.TrimSpace(string(body))
}

func up(t *testing.T, c *bluegreentest.Compose, p *types.Project) error {
	t.Helper()
	t.Cleanup(func() { _ = c.Down(context.Background(), p.Name, api.DownOptions{}) })
	return c.Up(t.Context(), p, api.UpOptions{Create: api.CreateOptions{RemoveOrphans: true}})
}

func TestComposeContract(t *testing.T) {
	n := 0
	var mu sync.Mutex
	bluegreentest.ComposeContract(t, &bluegreentest.Compose{}, func(t *testing.T) *types.Project {
		mu.Lock()
		defer mu.Unlock()
		n++
		return webProject(t, fmt.Sprintf("contract%d", n), "v1", freePort(t))
	})
}

func TestComposeServesPublishedPorts(t *testing.T) {
	c := &bluegreentest.Compose{}
	port := freePort(t)
	if err := up(t, c, webProject(t, "shop", "v1", port)); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	if code, body := get(t, url); code != http.StatusOK || body != "shop:v1" {
		t.Errorf("GET %s = %d %q, want 200 shop:v1", url, code, body)
	}
	cs, err := c.Ps(t.Context(), "shop", api.PsOptions{Services: []string{"web"}})
	if err != nil {
		t.Fatal(err)
	}
	want := api.PortPublishers{{URL: "127.0.0.1", TargetPort: 8000, PublishedPort: port, Protocol: "tcp"}}
	if len(cs) != 1 || !cmp.Equal(cs[0].Publishers, want) {
		t.Fatalf("Ps web = %+v, want one container publishing %+v", cs, want)
	}

	if err := c.Stop(t.Context(), "shop", api.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPortFree(t, port)
	if err := c.Start(t.Context(), "shop", api.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, url); code != http.StatusOK || body != "shop:v1" {
		t.Errorf("GET %s after a restart = %d %q, want 200 shop:v1", url, code, body)
	}
	if err := c.Down(t.Context(), "shop", api.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	wantPortFree(t, port)
}

func wantPortFree(t *testing.T, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d is still taken: %v", port, err)
	}
	ln.Close()
}

func TestComposeImages(t *testing.T) {
	c := &bluegreentest.Compose{}
	c.SetImage("shop:crash", bluegreentest.Image{Crash: true, ExitCode: 3, Logs: []string{"starting", "panic: boom"}})
	c.SetImage("shop:500", bluegreentest.Image{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database down", http.StatusInternalServerError)
	})})
	c.SetImage("shop:gone", bluegreentest.Image{Missing: true})

	t.Run("Crash", func(t *testing.T) {
		port := freePort(t)
		if err := up(t, c, webProject(t, "crash", "crash", port)); err != nil {
			t.Fatal(err)
		}
		cs, err := c.Ps(t.Context(), "crash", api.PsOptions{All: true, Services: []string{"web"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 || cs[0].State != "exited" || cs[0].ExitCode != 3 {
			t.Errorf("Ps = %+v, want web exited with code 3", cs)
		}
		wantPortFree(t, port)
		var logs lines
		if err := c.Logs(t.Context(), "crash", &logs, api.LogOptions{Services: []string{"web"}, Tail: "1"}); err != nil {
			t.Fatal(err)
		}
		if want := []string{"crash-web-1: panic: boom"}; !cmp.Equal(logs.got, want) {
			t.Errorf("Logs tail 1 = %q, want %q", logs.got, want)
		}
	})
	t.Run("Answers500", func(t *testing.T) {
		port := freePort(t)
		if err := up(t, c, webProject(t, "err", "500", port)); err != nil {
			t.Fatal(err)
		}
		if code, body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); code != http.StatusInternalServerError {
			t.Errorf("GET = %d %q, want 500", code, body)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		p := webProject(t, "gone", "gone", freePort(t))
		if present, err := c.ImagePresent(t.Context(), "shop:gone"); present || err != nil {
			t.Errorf("ImagePresent(shop:gone) = %t, %v; want false", present, err)
		}
		if err := c.Pull(t.Context(), p, api.PullOptions{}); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("Pull = %v, want ErrNotFound", err)
		}
		if err := c.Pull(t.Context(), p, api.PullOptions{IgnoreFailures: true}); err != nil {
			t.Errorf("Pull ignoring failures = %v", err)
		}
		if err := up(t, c, p); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("Up = %v, want ErrNotFound", err)
		}
		if cs, _ := c.Ps(t.Context(), "gone", api.PsOptions{All: true}); len(cs) != 0 {
			t.Errorf("Up of a missing image created %+v", cs)
		}
	})
}

type lines struct{ got []string }

func (l *lines) Log(name, msg string)  { l.got = append(l.got, name+": "+msg) }
func (l *lines) Err(name, msg string)  { l.Log(name, msg) }
func (l *lines) Status(string, string) {}

func TestComposeUp(t *testing.T) {
	c := &bluegreentest.Compose{}
	port := freePort(t)
	ids := func(project string) map[string]string {
		t.Helper()
		cs, err := c.Ps(t.Context(), project, api.PsOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range cs {
			out[c.Service] = c.ID
		}
		return out
	}
	v1 := webProject(t, "shop", "v1", port)
	if err := up(t, c, v1); err != nil {
		t.Fatal(err)
	}
	first := ids("shop")

	for _, tc := range []struct {
		name     string
		project  *types.Project
		recreate string
		same     []string // services that keep their container
	}{
		{"unchanged", webProject(t, "shop", "v1", port), "", []string{"web", "worker"}},
		{"force", v1, api.RecreateForce, nil},
		{"changed", webProject(t, "shop", "v2", port), api.RecreateDiverged, nil},
		{"never", webProject(t, "shop", "v3", port), api.RecreateNever, []string{"web", "worker"}},
	} {
		before := ids("shop")
		err := c.Up(t.Context(), tc.project, api.UpOptions{Create: api.CreateOptions{Recreate: tc.recreate}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		after := ids("shop")
		for _, svc := range []string{"web", "worker"} {
			same, want := before[svc] == after[svc], slices.Contains(tc.same, svc)
			if same != want {
				t.Errorf("%s: %s kept its container: %t, want %t", tc.name, svc, same, want)
			}
		}
	}
	if ids("shop")["web"] == first["web"] {
		t.Error("web was never recreated")
	}

	// Without the worker, with RemoveOrphans: the worker goes.
	p := webProject(t, "shop", "v2", port)
	delete(p.Services, "worker")
	if err := up(t, c, p); err != nil {
		t.Fatal(err)
	}
	if got := ids("shop"); len(got) != 1 || got["web"] == "" {
		t.Errorf("after Up without worker, removing orphans: %v, want only web", got)
	}

	// A port taken by another project: the container stays created.
	if err := up(t, c, webProject(t, "other", "v1", port)); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Up on a taken port = %v, want address already in use", err)
	}
	cs, _ := c.Ps(t.Context(), "other", api.PsOptions{All: true, Services: []string{"web"}})
	if len(cs) != 1 || cs[0].State != "created" {
		t.Errorf("Ps after a failed start = %+v, want web created", cs)
	}
}
