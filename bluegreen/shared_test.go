package bluegreen_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// kvServices adds a shared key-value service, with its data in a named
// volume and a Docker healthcheck, that web reaches by name.
const kvServices = `services:
  web:
    image: bluegreen-testapp:${IMAGE_TAG:?IMAGE_TAG must be set}
    environment:
      VERSION: ${IMAGE_TAG}
      BOOT_DELAY: 1s
      FAIL: ${FAIL:-}
      KV_URL: http://kv:8000
    depends_on:
      kv: {condition: service_healthy}
  kv:
    image: bluegreen-testapp:v1
    environment: {MODE: kv, DATA_DIR: /data}
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "/app", "probe", "http://127.0.0.1:8000/healthz"]
      interval: 500ms
      start_period: 5s
volumes:
  data: {}
`

// kv sends one request through nginx to the web release, which forwards it
// to the shared key-value service.
func (e *env) kv(method, key, value string) (string, error) {
	req, err := http.NewRequest(method, e.url+"/kv/"+key, strings.NewReader(value))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("%s %s: status %d: %s", method, key, resp.StatusCode, b)
	}
	return string(b), err
}

func (e *env) kvContainer() string {
	e.t.Helper()
	cs, err := e.compose.Ps(context.Background(), e.project, api.PsOptions{All: true})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Service != "kv" || cs[0].State != "running" {
		e.t.Fatalf("base project %s holds %+v, want one running kv", e.project, cs)
	}
	return cs[0].ID
}

// TestSharedServicesStaySingle: the key-value service runs once, in the base
// project, while three releases of web are deployed under load; its
// container and its data survive them all, and a failed deploy too.
func TestSharedServicesStaySingle(t *testing.T) {
	e := newEnvWith(t, kvServices)
	finish := e.underLoad()
	kvID := e.kvContainer()
	const keys = 50
	for i := range keys {
		if _, err := e.kv(http.MethodPut, fmt.Sprintf("k%d", i), fmt.Sprintf("value %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{"v2", "v3", "v2"} {
		r := e.deploy("IMAGE_TAG=" + tag)
		t.Logf("deploy %s: %s -> %s in %s; %s", tag, r.From, r.To, r.Elapsed, durations(r))
		e.wantServing(tag)
	}
	_, err := e.deployer("IMAGE_TAG=v3", "FAIL=500", "HEALTH_TIMEOUT=3s").Deploy(context.Background())
	wantStepError(t, err, bluegreen.StepWaitHealthy, bluegreen.Green, bluegreen.ErrUnhealthy)
	finish("v2")

	if got := e.kvContainer(); got != kvID {
		t.Errorf("kv container is %.12s, want the same %.12s throughout", got, kvID)
	}
	for i := range keys {
		got, err := e.kv(http.MethodGet, fmt.Sprintf("k%d", i), "")
		if want := fmt.Sprintf("value %d", i); err != nil || got != want {
			t.Fatalf("k%d = %q, %v; want %q", i, got, err, want)
		}
	}
	st, err := e.deployer("IMAGE_TAG=v1").Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Shared) != 1 || st.Shared[0].Service != "kv" || st.Shared[0].Health != "healthy" {
		t.Errorf("status shows shared %+v, want the healthy kv", st.Shared)
	}
	for _, s := range st.Slots {
		for _, c := range s.Containers {
			if c.Service != "web" {
				t.Errorf("slot %s runs %s: only web switches", s.Slot, c.Service)
			}
		}
	}
}
