package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"
	"github.com/google/go-cmp/cmp"
)

func writeCompose(t *testing.T, yaml string) Source {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return Source{Files: []string{file}, ProjectName: "shop"}
}

func TestLoadConfigFull(t *testing.T) {
	src := writeCompose(t, `
services:
  web: {image: "app:${TAG}", ports: ["8000"]}
  worker: {image: app}
x-bluegreen:
  service: web
  port: 8000
  slots: {blue: 9081, green: 9080}
  health: {path: /healthz, interval: 250ms, timeout: 60s, healthy_threshold: 3}
  drain_timeout: 5s
  nginx:
    upstream: shop_up
    upstream_file: nginx/upstream.conf
    conf: /etc/nginx/nginx.conf
    prefix: ""
    binary: /usr/sbin/nginx
    keepalive: 16
  verify_url: http://127.0.0.1/healthz
  verify_timeout: 3s
  keep_retired: false
  state_dir: /var/lib/bluegreen
`)
	src.Env = []string{"TAG=v1"}
	got, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Project: "shop", Service: "web", Port: 8000, Services: []string{"web"}, Replicas: 1,
		Slots:        SlotPorts{Blue: 9081, Green: 9080},
		Health:       HealthConfig{Path: "/healthz", Interval: 250 * time.Millisecond, Timeout: time.Minute, HealthyThreshold: 3},
		DrainTimeout: 5 * time.Second,
		Nginx: NginxConfig{
			Upstream:     "shop_up",
			UpstreamFile: filepath.Join(filepath.Dir(src.Files[0]), "nginx/upstream.conf"),
			Conf:         "/etc/nginx/nginx.conf",
			Binary:       "/usr/sbin/nginx",
			Keepalive:    16,
		},
		VerifyURL:     "http://127.0.0.1/healthz",
		VerifyTimeout: 3 * time.Second,
		KeepRetired:   false,
		StateDir:      "/var/lib/bluegreen",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LoadConfig mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadConfigDefaultsAndInference(t *testing.T) {
	src := writeCompose(t, `services: {web: {image: app, ports: ["127.0.0.1:3000:8000"]}}`)
	got, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Project: "shop", Service: "web", Port: 8000, Services: []string{"web"}, Replicas: 1,
		Slots:         SlotPorts{Blue: DefaultBluePort, Green: DefaultGreenPort},
		Health:        HealthConfig{Path: "/"},
		DrainTimeout:  DefaultDrainTimeout,
		Nginx:         NginxConfig{Upstream: "backend", UpstreamFile: "/etc/nginx/conf.d/web-upstream.conf", Binary: "nginx"},
		VerifyTimeout: DefaultVerifyTimeout,
		KeepRetired:   true,
		StateDir:      filepath.Join(filepath.Dir(src.Files[0]), ".bluegreen"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadConfigEditsOverrideTheFile(t *testing.T) {
	src := writeCompose(t, `
services: {web: {image: app}, api: {image: app}}
x-bluegreen: {service: web, port: 8000}
`)
	got, err := LoadConfig(context.Background(), src, func(c *Config) { c.Service = "api"; c.Port = 9000 })
	if err != nil {
		t.Fatal(err)
	}
	if got.Service != "api" || got.Port != 9000 {
		t.Errorf("edits not applied: service %q port %d", got.Service, got.Port)
	}
}

func TestLoadConfigBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       string // in the error
	}{
		{"unknown service", `
services: {web: {image: app}}
x-bluegreen: {service: api, port: 8000}`, nil, `"api" is not a service`},
		{"no service named, several services", `
services: {web: {image: app}, db: {image: db}}
x-bluegreen: {port: 8000}`, nil, "service: not set"},
		{"equal slot ports", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, slots: {blue: 8080, green: 8080}}`, nil, "same port 8080"},
		{"bad duration", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, drain_timeout: soon}`, nil, `drain_timeout: "soon" is not a duration`},
		{"unknown key", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, helth: {path: /}}`, nil, `unknown field "helth"`},
		{"no port", `
services: {web: {image: app}}`, nil, "port: 0"},
		{"port out of range", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, slots: {blue: 70000, green: 8080}}`, nil, "slots.blue: 70000"},
		{"upstream name injection", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream: "x; include /etc/passwd"}}`, nil, "nginx.upstream"},
		{"variable not set", `
services: {web: {image: "app:${TAG:?TAG is required}"}}
x-bluegreen: {port: 8000}`, nil, "TAG is required"},
		{"bare variable not set", `
services: {web: {image: "app:${TAG}", environment: {A: "$$NOT_A_VAR ${OPT:-x} ${EMPTY:-}"}}}
x-bluegreen: {port: 8000}`, nil, "variable TAG not set"},
		{"health status", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {status: 42}}`, nil, "health.status: 42"},
		{"verify url", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, verify_url: "ftp://x"}`, nil, "verify_url"},
		{"unknown switching service", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, service: web, services: [wrker]}`, nil, `services: "wrker" is not a service`},
		{"negative keepalive", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: -1}}`, nil, "nginx.keepalive: -1 is not from 0 to 10000"},
		{"keepalive with per-slot files", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: 8, live_file: a, blue_file: b, green_file: c}}`, nil, "nginx.keepalive: not with live_file"},
		{"replica port ranges overlap", `
services: {web: {image: app, deploy: {replicas: 3}}}
x-bluegreen: {port: 8000}`, nil, "slots: blue 8081-8083 and green 8080-8082 overlap: with 3 replicas"},
		{"replica port range out of range", `
services: {web: {image: app, scale: 2}}
x-bluegreen: {port: 8000, slots: {blue: 65535, green: 8080}}`, nil, "slots.blue: 65535-65536"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeCompose(t, tc.yaml)
			src.Env = tc.env
			_, err := LoadConfig(context.Background(), src)
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	src := writeCompose(t, `
services: {web: {image: app, deploy: {replicas: 3}, ports: ["8000"]}}
x-bluegreen: {slots: {blue: 7001, green: 7011}}
`)
	cfg, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Replicas != 3 {
		t.Errorf("Replicas = %d, want 3 from deploy.replicas", cfg.Replicas)
	}
	p, _, err := src.slotProject(context.Background(), cfg, Green, nil)
	if err != nil {
		t.Fatal(err)
	}
	web := p.Services["web"]
	want := []types.ServicePortConfig{{Mode: "ingress", HostIP: "127.0.0.1", Target: 8000, Published: "7011-7013", Protocol: "tcp"}}
	if diff := cmp.Diff(want, web.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if web.GetScale() != 3 {
		t.Errorf("scale %d, want 3", web.GetScale())
	}

	// The caller's Replicas wins over the file's, as the slot ports do.
	cfg.Replicas = 2
	if p, _, err = src.slotProject(context.Background(), cfg, Blue, nil); err != nil {
		t.Fatal(err)
	}
	if got := p.Services["web"]; got.GetScale() != 2 || got.Ports[0].Published != "7001-7002" {
		t.Errorf("with Replicas 2: scale %d, ports %q; want 2, 7001-7002", got.GetScale(), got.Ports[0].Published)
	}
}

func TestTwoFileReplicas(t *testing.T) {
	slotFile := func(port string, replicas int) string {
		return fmt.Sprintf("services: {web: {image: app, deploy: {replicas: %d}, ports: [\"%s:8000\"]}}\n", replicas, port)
	}
	for _, tc := range []struct {
		name, blue, green string
		want              string // in the error; "" for none
	}{
		{"ranges", slotFile("8081-8083", 3), slotFile("8091-8093", 3), ""},
		{"one port for three", slotFile("8081", 3), slotFile("8091-8093", 3), `publishes 1 host port(s) for container port 8000 and runs 3 replicas: publish a range of one port per replica (8081-8083:8000)`},
		{"slots disagree", slotFile("8081-8083", 3), slotFile("8091-8093", 2), "runs 2 replicas, the blue slot's file 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeCompose(t, "x-bluegreen: {service: web, port: 8000, slots: {blue: {file: blue.yaml}, green: {file: green.yaml}}}\n")
			dir := filepath.Dir(src.Files[0])
			for name, body := range map[string]string{"blue.yaml": tc.blue, "green.yaml": tc.green} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := LoadConfig(context.Background(), src)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Replicas != 3 || cfg.Slots != (SlotPorts{Blue: 8081, Green: 8091}) {
					t.Errorf("Replicas %d, slots %+v; want 3, 8081 and 8091", cfg.Replicas, cfg.Slots)
				}
				return
			}
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrBadInput mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(context.Background(), Source{Files: []string{filepath.Join(t.TempDir(), "nope.yaml")}})
	if !errors.Is(err, ErrBadInput) {
		t.Fatalf("err = %v, want ErrBadInput", err)
	}
}

func TestSlotProject(t *testing.T) {
	src := writeCompose(t, `
services:
  web:
    image: app
    container_name: web
    ports: ["8000", "9090:9090"]
networks: {back: {}}
x-bluegreen: {service: web, port: 8000, slots: {blue: 7001, green: 7002}}
`)
	cfg, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := src.slotProject(context.Background(), cfg, Green, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "shop-green" {
		t.Errorf("project name %q, want shop-green", p.Name)
	}
	if n := p.Networks["back"]; n.Name != "shop_back" || !n.External {
		t.Errorf("network %q (external %v), want the base project's shop_back, external", n.Name, n.External)
	}
	web := p.Services["web"]
	if web.ContainerName != "" {
		t.Errorf("container_name %q not cleared", web.ContainerName)
	}
	wantPorts := []types.ServicePortConfig{
		{Mode: "ingress", Target: 9090, Published: "9090", Protocol: "tcp"},
		{Mode: "ingress", HostIP: "127.0.0.1", Target: 8000, Published: "7002", Protocol: "tcp"},
	}
	if diff := cmp.Diff(wantPorts, web.Ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	for _, label := range []string{api.ProjectLabel, api.ServiceLabel, api.OneoffLabel, api.WorkingDirLabel, api.ConfigFilesLabel} {
		if web.CustomLabels[label] == "" {
			t.Errorf("label %s not set", label)
		}
	}
	if web.CustomLabels[api.ProjectLabel] != "shop-green" {
		t.Errorf("project label %q", web.CustomLabels[api.ProjectLabel])
	}
}

func TestSlot(t *testing.T) {
	for _, tc := range []struct {
		s           Slot
		other, name string
	}{
		{None, "blue", "none"}, {Blue, "green", "blue"}, {Green, "blue", "green"},
	} {
		if got := tc.s.Other(); string(got) != tc.other {
			t.Errorf("%v.Other() = %v, want %s", tc.s, got, tc.other)
		}
		if got := tc.s.String(); got != tc.name {
			t.Errorf("String() = %q, want %q", got, tc.name)
		}
	}
	if _, err := ParseSlot("purple"); err == nil {
		t.Error("ParseSlot accepted purple")
	}
}

func TestSlotProjectOfARecordedRelease(t *testing.T) {
	src := writeCompose(t, `
services: {web: {image: "app:${TAG}", environment: {MODE: "${MODE:-fast}"}}}
x-bluegreen: {port: 8000}
`)
	src.Env = []string{"TAG=v3"}
	cfg, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	p, vars, err := src.slotProject(context.Background(), cfg, Blue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"TAG": "v3"}, vars); diff != "" {
		t.Errorf("recorded variables (-want +got):\n%s", diff)
	}
	if got := p.Services["web"].Image; got != "app:v3" {
		t.Errorf("image %q", got)
	}
	rel := &Release{Images: map[string]string{"web": "app:v1"}, Env: map[string]string{"TAG": "v1", "MODE": "slow"}}
	p, _, err = src.slotProject(context.Background(), cfg, Blue, rel)
	if err != nil {
		t.Fatal(err)
	}
	web := p.Services["web"]
	if web.Image != "app:v1" || *web.Environment["MODE"] != "slow" {
		t.Errorf("recorded release loaded as image %q MODE %q, want app:v1 and slow", web.Image, *web.Environment["MODE"])
	}
}

func TestSharedServicesRunOnce(t *testing.T) {
	src := writeCompose(t, `
services:
  web: {image: app, depends_on: {db: {condition: service_healthy}, worker: {condition: service_started}}}
  worker: {image: app, depends_on: [db]}
  db: {image: kv, volumes: ["data:/data"]}
volumes: {data: {}}
x-bluegreen: {service: web, services: [worker], port: 8000}
`)
	cfg, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"web", "worker"}, cfg.Services); diff != "" {
		t.Errorf("switching services (-want +got):\n%s", diff)
	}
	slot, _, err := src.slotProject(context.Background(), cfg, Blue, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"web", "worker"}, slot.ServiceNames()); diff != "" {
		t.Errorf("slot services (-want +got):\n%s", diff)
	}
	if deps := slot.Services["web"].DependsOn; len(deps) != 1 || deps["worker"].Condition != "service_started" {
		t.Errorf("web depends_on %v, want only worker (db is shared)", deps)
	}
	if v := slot.Volumes["data"]; v.Name != "shop_data" || !v.External {
		t.Errorf("volume %q (external %v), want the base project's shop_data", v.Name, v.External)
	}
	base, err := src.baseProject(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if base.Name != "shop" || len(base.Services) != 1 || base.Services["db"].CustomLabels[api.ProjectLabel] != "shop" {
		t.Errorf("base project %s with %v, want shop with db only, labelled", base.Name, base.ServiceNames())
	}
	if v := base.Volumes["data"]; v.External {
		t.Error("the base project must own (create) the volume")
	}
}

func TestLoadConfigInterpolatedNumbers(t *testing.T) {
	src := writeCompose(t, `
services: {web: {image: app}}
x-bluegreen:
  port: ${APP_PORT:-8000}
  slots: {blue: "${BLUE_PORT:-9001}", green: "${GREEN_PORT}"}
  health: {healthy_threshold: "3", tcp: "${TCP:-true}"}
  keep_retired: "false"
`)
	src.Env = []string{"GREEN_PORT=9002"}
	cfg, err := LoadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8000 || cfg.Slots != (SlotPorts{Blue: 9001, Green: 9002}) || cfg.Health.HealthyThreshold != 3 || !cfg.Health.TCP || cfg.KeepRetired {
		t.Errorf("interpolated values read as %+v", cfg)
	}
	src = writeCompose(t, "services: {web: {image: app}}\nx-bluegreen: {port: eighty}\n")
	if _, err := LoadConfig(context.Background(), src); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), `"eighty" is not a whole number`) {
		t.Errorf("err = %v", err)
	}
}
