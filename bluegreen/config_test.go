package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"
	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// testSection stands in for a proxy package's section of x-bluegreen: an
// internal test of the core cannot import one (nginxconf imports bluegreen).
// The nginx section's keys are tested in package nginxconf.
const testSection = "testproxy"

func init() { RegisterSection(testSection) }

func writeCompose(t *testing.T, yaml string) Source {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return Source{Files: []string{file}, ProjectName: "shop"}
}

// loadConfig loads src and returns the Config that Load read, as LoadConfig
// did before Project.
func loadConfig(ctx context.Context, src Source, edits ...func(*Config)) (Config, error) {
	p, err := Load(ctx, src, edits...)
	if err != nil {
		return Config{}, err
	}
	return p.Config, nil
}

// mustLoad loads src, failing the test on an error.
func mustLoad(t *testing.T, src Source, edits ...func(*Config)) *Project {
	t.Helper()
	p, err := Load(context.Background(), src, edits...)
	if err != nil {
		t.Fatal(err)
	}
	return p
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
  verify_url: http://127.0.0.1/healthz
  verify_timeout: 3s
  keep_retired: false
  state_dir: /var/lib/bluegreen
  tasks: {before_switch: [worker], after_switch: [worker], timeout: 2m}
  strategy: canary
  canary: {steps: [5, 25, 75], step_time: 1m, max_error_rate: 0.5%, min_requests: 200}
`)
	src.Env = []string{"TAG=v1"}
	got, err := loadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Project: "shop", Service: "web", Port: 8000, Services: []string{"web"}, Replicas: 1,
		Slots:         SlotPorts{Blue: 9081, Green: 9080},
		Health:        HealthConfig{Path: "/healthz", Interval: 250 * time.Millisecond, Timeout: time.Minute, HealthyThreshold: 3},
		DrainTimeout:  5 * time.Second,
		VerifyURL:     "http://127.0.0.1/healthz",
		VerifyTimeout: 3 * time.Second,
		RemoveRetired: true, // keep_retired: false
		StateDir:      "/var/lib/bluegreen",
		Tasks:         TaskConfig{BeforeSwitch: []string{"worker"}, AfterSwitch: []string{"worker"}, Timeout: 2 * time.Minute},
		Strategy:      StrategyCanary,
		Canary:        CanaryConfig{Steps: []int{5, 25, 75}, StepTime: time.Minute, MaxErrorRate: 0.005, MinRequests: 200},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

// A proxy's section is kept as it is, interpolated, for the proxy package
// to decode; the core's Config is the same with it or without it.
func TestLoadConfigKeepsProxySections(t *testing.T) {
	const core = `
services: {web: {image: app, ports: ["8000"]}}
x-bluegreen:
  service: web
  drain_timeout: 5s
`
	src := writeCompose(t, core+"  "+testSection+": {name: \"${EDGE:-edge}\", size: 3, nested: {on: true}}\n")
	src.Env = []string{"EDGE=front"}
	p := mustLoad(t, src)
	var got map[string]any
	if err := json.Unmarshal(p.Section(testSection), &got); err != nil {
		t.Fatalf("Section(%q) = %s: %v", testSection, p.Section(testSection), err)
	}
	want := map[string]any{"name": "front", "size": float64(3), "nested": map[string]any{"on": true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Section(%q) (-want +got):\n%s", testSection, diff)
	}
	if diff := cmp.Diff([]string{testSection}, p.Sections()); diff != "" {
		t.Errorf("Sections (-want +got):\n%s", diff)
	}
	if s := p.Section("nginx"); s != nil {
		t.Errorf("Section(nginx) = %s for a file without one, want nil", s)
	}

	// The file without the section, beside the other: the same directory,
	// so the same state_dir.
	bare := filepath.Join(filepath.Dir(src.Files[0]), "bare.yaml")
	if err := os.WriteFile(bare, []byte(core), 0o644); err != nil {
		t.Fatal(err)
	}
	without := mustLoad(t, Source{Files: []string{bare}, ProjectName: "shop"})
	if diff := cmp.Diff(without.Config, p.Config); diff != "" {
		t.Errorf("Config with a proxy section differs from the Config without it (-without +with):\n%s", diff)
	}
	if s := without.Section(testSection); s != nil || len(without.Sections()) != 0 {
		t.Errorf("a file without sections: Section = %s, Sections = %v; want nil and none", s, without.Sections())
	}
}

func TestLoadConfigDefaultsAndInference(t *testing.T) {
	src := writeCompose(t, `services: {web: {image: app, ports: ["127.0.0.1:3000:8000"]}}`)
	got, err := loadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Project: "shop", Service: "web", Port: 8000, Services: []string{"web"}, Replicas: 1,
		Slots:         SlotPorts{Blue: DefaultBluePort, Green: DefaultGreenPort},
		Health:        HealthConfig{Path: "/"},
		DrainTimeout:  DefaultDrainTimeout,
		VerifyTimeout: DefaultVerifyTimeout,
		RemoveRetired: false, // retired releases are kept
		StateDir:      filepath.Join(filepath.Dir(src.Files[0]), ".bluegreen"),
		Tasks:         TaskConfig{Timeout: DefaultTaskTimeout},
		Strategy:      StrategyBlueGreen,
		Canary: CanaryConfig{Steps: []int{10, 50}, StepTime: DefaultCanaryStepTime,
			MaxErrorRate: DefaultCanaryMaxErrorRate, MinRequests: DefaultCanaryMinRequests},
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
	got, err := loadConfig(context.Background(), src, func(c *Config) { c.Service = "api"; c.Port = 9000 })
	if err != nil {
		t.Fatal(err)
	}
	if got.Service != "api" || got.Port != 9000 {
		t.Errorf("edits not applied: service %q port %d", got.Service, got.Port)
	}
}

// Edits come before the defaults: an edit that clears a value gets its
// default, not a zero that the file could not say.
func TestLoadConfigEditsBeforeDefaults(t *testing.T) {
	src := writeCompose(t, `
services: {web: {image: app, deploy: {replicas: 3}}}
x-bluegreen: {port: 8000, drain_timeout: 5s, verify_timeout: 3s, health: {path: /healthz}, slots: {blue: 7001, green: 7011}}
`)
	got, err := loadConfig(context.Background(), src, func(c *Config) {
		c.DrainTimeout, c.VerifyTimeout, c.Health.Path, c.StateDir = 0, 0, "", ""
		c.Replicas = 2
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.DrainTimeout != DefaultDrainTimeout || got.VerifyTimeout != DefaultVerifyTimeout || got.Health.Path != DefaultHealthPath {
		t.Errorf("cleared by an edit: drain %s, verify %s, health path %q; want the defaults %s, %s, %q",
			got.DrainTimeout, got.VerifyTimeout, got.Health.Path, DefaultDrainTimeout, DefaultVerifyTimeout, DefaultHealthPath)
	}
	if want := filepath.Join(filepath.Dir(src.Files[0]), DefaultStateDir); got.StateDir != want {
		t.Errorf("StateDir %q, want %q", got.StateDir, want)
	}
	if got.Replicas != 2 {
		t.Errorf("Replicas %d, want the edit's 2 over the file's 3", got.Replicas)
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
x-bluegreen: {port: 8000, drain_timeout: soon}`, nil, `x-bluegreen.drain_timeout: want a duration like 30s, got "soon"`},
		{"unknown key", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, helth: {path: /}}`, nil, `x-bluegreen: unknown key "helth" (did you mean "health"?)`},
		{"unknown key, no near one", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, replicas: 2}`, nil, `x-bluegreen: unknown key "replicas" (known keys: caddy, canary, drain_timeout, haproxy, health, keep_retired, nginx, port, service, services, slots, state_dir, `},
		{"unknown key in health", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {pth: /healthz}}`, nil, `x-bluegreen.health: unknown key "pth" (did you mean "path"?)`},
		{"unknown strategy", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, strategy: rolling}`, nil, `strategy: "rolling" is not blue-green or canary`},
		{"canary steps that go down", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, strategy: canary, canary: {steps: [50, 10]}}`, nil, "canary.steps: [50 10] must go up"},
		{"a canary step of 100", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, strategy: canary, canary: {steps: [10, 100]}}`, nil, "canary.steps: 100 is not a percent from 1 to 99"},
		{"an error rate without %", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, strategy: canary, canary: {max_error_rate: "2"}}`, nil, `x-bluegreen.canary.max_error_rate: want a percentage like 1%, got "2"`},
		{"an error rate of 0%", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, strategy: canary, canary: {max_error_rate: 0%}}`, nil, "0% would abort on the first error"},
		{"a canary section without the strategy", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, canary: {steps: [10]}}`, nil, "x-bluegreen.canary: set, but strategy is blue-green"},
		{"unknown key in a slot", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, slots: {blue: {fille: b.yaml}, green: {file: g.yaml}}}`, nil, `x-bluegreen.slots.blue: unknown key "fille" (did you mean "file"?)`},
		{"a number for a duration", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {timeout: 5}}`, nil, `x-bluegreen.health.timeout: want a duration like 30s, got 5`},
		{"a number for a core duration", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, verify_timeout: 10}`, nil, `x-bluegreen.verify_timeout: want a duration like 30s, got 10`},
		{"not true or false", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {tcp: yes please}}`, nil, `x-bluegreen.health.tcp: want true or false, got "yes please"`},
		{"a string for a list", `
services: {web: {image: app}, worker: {image: app}}
x-bluegreen: {port: 8000, service: web, services: worker}`, nil, `x-bluegreen.services: want a list, got "worker"`},
		{"a number in a list", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, services: [web, 5]}`, nil, `x-bluegreen.services[1]: want a string, got 5`},
		{"a list for a mapping", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: [/healthz]}`, nil, `x-bluegreen.health: want a mapping of keys, got a list`},
		{"a slot neither port nor file", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, slots: {blue: [8081], green: 8080}}`, nil, `x-bluegreen.slots.blue: want a host port like 8081, or {file: <the slot's compose file>}, got a list`},
		{"x-bluegreen not a mapping", `
services: {web: {image: app}}
x-bluegreen: web`, nil, `x-bluegreen: want a mapping of keys, got "web"`},
		{"every problem at once, by key", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {timeout: 5, intervall: 1s}, drain_timeout: 30}`, nil,
			`x-bluegreen.drain_timeout: want a duration like 30s, got 30; x-bluegreen.health: unknown key "intervall" (did you mean "interval"?); x-bluegreen.health.timeout: want a duration like 30s, got 5`},
		{"a long value is not shown", `
services: {web: {image: app}}
x-bluegreen: {port: "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"}`, nil, `x-bluegreen.port: want a whole number, got a string of 48 characters`},
		{"a URL's secrets are masked", `
services: {web: {image: app}}
x-bluegreen: {port: "http://u:pw@h/?t=s3cr3t"}`, nil, `x-bluegreen.port: want a whole number, got "http://u:xxxxx@h/?t=xxxxx"`},
		{"port not set, several ports", `
services: {web: {image: app, ports: ["8080:80", "8443:443"]}}`, nil, `port: not set and service "web" publishes 2 container ports (80, 443); set x-bluegreen.port to the one that takes traffic`},
		{"no port", `
services: {web: {image: app}}`, nil, `port: not set and service "web" publishes no port; set x-bluegreen.port to the container port the app listens on`},
		{"port out of range", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, slots: {blue: 70000, green: 8080}}`, nil, "slots.blue: 70000"},
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
		{"replica port ranges overlap", `
services: {web: {image: app, deploy: {replicas: 3}}}
x-bluegreen: {port: 8000}`, nil, "slots: blue 8081-8083 and green 8080-8082 overlap: with 3 replicas"},
		{"replica port range out of range", `
services: {web: {image: app, scale: 2}}
x-bluegreen: {port: 8000, slots: {blue: 65535, green: 8080}}`, nil, "slots.blue: 65535-65536"},

		// Control characters: the key is named, the value escaped.
		{"newline in state_dir", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, state_dir: "/srv/state\nx"}`, nil, `state_dir: "/srv/state\nx" holds a control character`},
		{"tab in a slot file", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, slots: {blue: {file: "/srv/b\tlue.yaml"}, green: {file: /srv/green.yaml}}}`, nil, `slots.blue.file: "/srv/b\tlue.yaml" holds a control character`},
		{"newline in health.host", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {host: "shop.example.com\r\nX-Evil: 1"}}`, nil, `health.host: "shop.example.com\r\nX-Evil: 1" holds a control character`},
		{"newline in health.path, its query masked", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {path: "/healthz\n?token=s3cr3tT0ken"}}`, nil, `health.path: "/healthz\n?xxxxx" holds a control character`},
		{"newline in verify_url, its secrets masked", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, verify_url: "https://ops:s3cr3tPass@shop.example.com/h\n?token=s3cr3tT0ken"}`, nil, `verify_url: "https://ops:xxxxx@shop.example.com/h\n?xxxxx" holds a control character`},
		{"newline in service", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, service: "web\n"}`, nil, `service: "web\n" holds a control character`},
		{"tab in services", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, services: ["wor\tker"]}`, nil, `services: "wor\tker" holds a control character`},
		{"control character in an unknown key", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, "hel\nth": {}}`, nil, `x-bluegreen: unknown key "hel\nth"`},

		// Secrets in URLs are masked.
		{"verify url with secrets", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, verify_url: "ftp://ops:s3cr3tPass@shop.example.com/h?token=s3cr3tT0ken#s3cr3tFrag"}`, nil,
			`verify_url: "ftp://ops:xxxxx@shop.example.com/h?token=xxxxx" is not an http(s) URL`},
		{"relative health path with a token", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {path: "healthz?token=s3cr3tT0ken"}}`, nil, `health.path: "healthz?token=xxxxx" must start with /`},

		// Durations.
		{"negative verify_timeout", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, verify_timeout: -1s}`, nil, "verify_timeout: -1s may not be negative"},
		{"negative drain_timeout", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, drain_timeout: -5s}`, nil, "drain_timeout: -5s may not be negative"},
		{"negative health durations", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {interval: -1ms, timeout: -2s}}`, nil, "health.interval: -1ms may not be negative; health.timeout: -2s may not be negative"},
		{"zero drain_timeout", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, drain_timeout: 0s}`, nil, `drain_timeout: "0s" would retire the old slot with requests in flight; leave it out for the default 30s`},
		{"zero health.interval", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {interval: 0s}}`, nil, `health.interval: "0s" must be above 0; leave it out for the default 100ms`},
		{"zero health.timeout", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, health: {timeout: "0"}}`, nil, `health.timeout: "0" must be above 0; leave it out for the default 1m0s`},
		{"zero verify_timeout", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, verify_timeout: 0ms}`, nil, `verify_timeout: "0ms" must be above 0; leave it out for the default 10s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := writeCompose(t, tc.yaml)
			src.Env = tc.env
			_, err := Load(context.Background(), src)
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if xvalue.HasControl(err.Error()) {
				t.Errorf("err = %q holds a raw control character", err)
			}
			for _, secret := range []string{"s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err = %q shows the secret %q", err, secret)
				}
			}
		})
	}
}

func TestReplicas(t *testing.T) {
	src := writeCompose(t, `
services: {web: {image: app, deploy: {replicas: 3}, ports: ["8000"]}}
x-bluegreen: {slots: {blue: 7001, green: 7011}}
`)
	proj := mustLoad(t, src)
	if proj.Config.Replicas != 3 {
		t.Errorf("Replicas = %d, want 3 from deploy.replicas", proj.Config.Replicas)
	}
	p, _, err := proj.slotProject(context.Background(), Green, nil, "")
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
	proj.Config.Replicas = 2
	if p, _, err = proj.slotProject(context.Background(), Blue, nil, ""); err != nil {
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
			cfg, err := loadConfig(context.Background(), src)
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

// In the two-file layout the port cannot be guessed from the base file:
// the error says which key to set.
func TestTwoFilePortNotSet(t *testing.T) {
	src := writeCompose(t, "x-bluegreen: {service: web, slots: {blue: {file: blue.yaml}, green: {file: green.yaml}}}\n")
	dir := filepath.Dir(src.Files[0])
	for _, name := range []string{"blue.yaml", "green.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("services: {web: {image: app, ports: [\"8081:8000\"]}}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := loadConfig(context.Background(), src)
	want := "port: not set; set x-bluegreen.port to the container port that each slot's file publishes"
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want ErrBadInput saying %q", err, want)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	_, err := Load(context.Background(), Source{Files: []string{filepath.Join(t.TempDir(), "nope.yaml")}})
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
	proj := mustLoad(t, src)
	p, _, err := proj.slotProject(context.Background(), Green, nil, "")
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
	if _, ok := p.Networks[proxyNetwork]; ok {
		t.Errorf("without a network, the slot project has %s", proxyNetwork)
	}

	// With a network, the routed service also joins it; the other
	// networks stay the base project's.
	p, _, err = proj.slotProject(context.Background(), Green, nil, "front")
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Networks[proxyNetwork]; n.Name != "front" || !n.External {
		t.Errorf("proxy network %q (external %v), want front, external", n.Name, n.External)
	}
	if n := p.Networks["default"]; n.Name != "shop_default" || !n.External {
		t.Errorf("default network %q (external %v), want the base project's shop_default, external", n.Name, n.External)
	}
	var joined []string
	for key := range p.Services["web"].Networks {
		joined = append(joined, key)
	}
	slices.Sort(joined)
	if diff := cmp.Diff([]string{proxyNetwork, "default"}, joined); diff != "" {
		t.Errorf("networks of web (-want +got):\n%s", diff)
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
	proj := mustLoad(t, src)
	p, vars, err := proj.slotProject(context.Background(), Blue, nil, "")
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
	p, _, err = proj.slotProject(context.Background(), Blue, rel, "")
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
	proj := mustLoad(t, src)
	if diff := cmp.Diff([]string{"web", "worker"}, proj.Config.Services); diff != "" {
		t.Errorf("switching services (-want +got):\n%s", diff)
	}
	slot, _, err := proj.slotProject(context.Background(), Blue, nil, "")
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
	base, err := proj.baseProject(context.Background())
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
	cfg, err := loadConfig(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 8000 || cfg.Slots != (SlotPorts{Blue: 9001, Green: 9002}) || cfg.Health.HealthyThreshold != 3 || !cfg.Health.TCP || !cfg.RemoveRetired {
		t.Errorf("interpolated values read as %+v", cfg)
	}
	src = writeCompose(t, "services: {web: {image: app}}\nx-bluegreen: {port: eighty}\n")
	if _, err := Load(context.Background(), src); !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), `x-bluegreen.port: want a whole number, got "eighty"`) {
		t.Errorf("err = %v", err)
	}
}

// keep_retired is the file's key; RemoveRetired is its inverse, false (keep)
// when the key is left out.
func TestLoadConfigKeepRetired(t *testing.T) {
	for _, tc := range []struct {
		value string // of keep_retired; "" leaves the key out
		want  bool   // RemoveRetired
	}{
		{"", false},
		{"true", false},
		{"false", true},
		{`"false"`, true},
		{`"${KEEP:-true}"`, false},
	} {
		t.Run(tc.value, func(t *testing.T) {
			yaml := "services: {web: {image: app}}\nx-bluegreen: {port: 8000}\n"
			if tc.value != "" {
				yaml = "services: {web: {image: app}}\nx-bluegreen: {port: 8000, keep_retired: " + tc.value + "}\n"
			}
			cfg, err := loadConfig(context.Background(), writeCompose(t, yaml))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RemoveRetired != tc.want {
				t.Errorf("RemoveRetired = %v, want %v", cfg.RemoveRetired, tc.want)
			}
		})
	}
}

// validConfig is a Config built in code, as a caller without a compose
// file builds one, that passes Validate.
func validConfig() Config {
	return Config{
		Project: "shop", Service: "web", Services: []string{"web"}, Port: 8000, Replicas: 1,
		Slots:        SlotPorts{Blue: DefaultBluePort, Green: DefaultGreenPort},
		Health:       HealthConfig{Path: DefaultHealthPath},
		DrainTimeout: DefaultDrainTimeout,
		StateDir:     "/var/lib/bluegreen",
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // the whole message after "bad input: "; "" when valid
	}{
		{"valid", func(*Config) {}, ""},
		{"zero health durations take the defaults", func(c *Config) { c.Health.Interval, c.Health.Timeout, c.VerifyTimeout = 0, 0, 0 }, ""},
		// A zero DrainTimeout built in code means the default (WithDefaults,
		// TestWithDefaults); only the file's explicit 0s is refused, at Load
		// (TestLoadConfigBadInput).
		{"zero drain_timeout takes the default", func(c *Config) { c.DrainTimeout = 0 }, ""},
		{"project name with digits, '-' and '_'", func(c *Config) { c.Project = "0shop_v2-eu" }, ""},
		{"long names", func(c *Config) {
			c.Service, c.Services = strings.Repeat("w", 100), []string{strings.Repeat("w", 100)}
		}, ""},
		{"two-file layout", func(c *Config) {
			c.ComposeFiles = SlotComposeFiles{Blue: "/b.yaml", Green: "/g.yaml"}
			c.Service, c.Services = strings.Repeat("w", 60), []string{strings.Repeat("w", 60)}
		}, ""},

		{"negative durations", func(c *Config) {
			c.Health.Interval, c.Health.Timeout, c.DrainTimeout, c.VerifyTimeout = -time.Millisecond, -time.Second, -time.Minute, -time.Hour
		}, "drain_timeout: -1m0s may not be negative; health.interval: -1ms may not be negative; health.timeout: -1s may not be negative; verify_timeout: -1h0m0s may not be negative"},
		{"port not set", func(c *Config) { c.Port = 0 }, "port: not set; set x-bluegreen.port to the container port the app listens on"},
		{"port out of range", func(c *Config) { c.Port = 70000 }, "port: 70000 is not a container port (1-65535)"},
		{"project name with capitals", func(c *Config) { c.Project = "Shop" },
			`project name "Shop": compose takes only lowercase letters, digits, '-' and '_', starting with a letter or a digit`},
		{"project name starting with '-'", func(c *Config) { c.Project = "-shop" },
			`project name "-shop": compose takes only lowercase letters, digits, '-' and '_', starting with a letter or a digit`},
		{"project name with a dot", func(c *Config) { c.Project = "shop.v2" },
			`project name "shop.v2": compose takes only lowercase letters, digits, '-' and '_', starting with a letter or a digit`},
		{"project name with a newline", func(c *Config) { c.Project = "shop\nx" },
			`project name "shop\nx": compose takes only lowercase letters, digits, '-' and '_', starting with a letter or a digit`},
		{"DEL and NEL are control characters", func(c *Config) { c.StateDir, c.Health.Host = "/srv/state\x7f", "shop.example.com\u0085" },
			`health.host: "shop.example.com\u0085" holds a control character; state_dir: "/srv/state\x7f" holds a control character`},
		{"verify_url with credentials, no host", func(c *Config) { c.VerifyURL = "https://ops:s3cr3tPass@/healthz?token=s3cr3tT0ken" },
			`verify_url: "https://ops:xxxxx@/healthz?token=xxxxx" is not an http(s) URL`},
		{"verify_url that does not parse", func(c *Config) { c.VerifyURL = "https://ops:s3cr3t/Pass@shop.example.com:x/?token=s3cr3tT0ken" },
			`verify_url: "https://ops:xxxxx@shop.example.com:x/?xxxxx" is not an http(s) URL`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want ErrBadInput", err)
			}
			if got := strings.TrimPrefix(err.Error(), "bad input: "); got != tc.want {
				t.Errorf("err =\n %s\nwant\n %s", got, tc.want)
			}
			for _, secret := range []string{"s3cr3t"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err shows a secret: %s", err)
				}
			}
		})
	}
}

// Every path and name key refuses a control character, naming the key and
// escaping the value.
func TestValidateControlCharacters(t *testing.T) {
	for _, tc := range []struct {
		key string
		set func(*Config, string)
	}{
		{"state_dir", func(c *Config, v string) { c.StateDir = v }},
		{"slots.blue.file", func(c *Config, v string) { c.ComposeFiles = SlotComposeFiles{Blue: v, Green: "/g.yaml"} }},
		{"slots.green.file", func(c *Config, v string) { c.ComposeFiles = SlotComposeFiles{Blue: "/b.yaml", Green: v} }},
		{"health.host", func(c *Config, v string) { c.Health.Host = v }},
		{"health.path", func(c *Config, v string) { c.Health.Path = v }},
		{"verify_url", func(c *Config, v string) { c.VerifyURL = v }},
		{"service", func(c *Config, v string) { c.Service, c.Services = v, []string{v} }},
		{"services", func(c *Config, v string) { c.Services = append(c.Services, v) }},
	} {
		for _, ctl := range []string{"\n", "\r", "\t", "\x00", "\x1b", "\x7f"} {
			t.Run(fmt.Sprintf("%s %q", tc.key, ctl), func(t *testing.T) {
				c := validConfig()
				value := "/x" + ctl + "y"
				if tc.key == "verify_url" {
					value = "http://127.0.0.1/x" + ctl + "y"
				}
				tc.set(&c, value)
				err := c.Validate()
				if !errors.Is(err, ErrBadInput) {
					t.Fatalf("err = %v, want ErrBadInput", err)
				}
				want := fmt.Sprintf("%s: %q holds a control character", tc.key, value)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to say %q", err, want)
				}
				if xvalue.HasControl(err.Error()) {
					t.Errorf("err = %q holds a raw control character", err)
				}
			})
		}
	}
}

func TestWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in, out Config
	}{
		{"zero Config", Config{}, Config{
			Slots:         SlotPorts{Blue: 8081, Green: 8080},
			Health:        HealthConfig{Path: "/"},
			DrainTimeout:  30 * time.Second,
			VerifyTimeout: 10 * time.Second,
			StateDir:      ".bluegreen",
			RemoveRetired: false,
		}},
		{"zero DrainTimeout in code", Config{
			Project: "shop", Service: "web", Services: []string{"web"}, Port: 8000, Replicas: 1,
			Slots: SlotPorts{Blue: 9001, Green: 9002}, Health: HealthConfig{Path: "/healthz"}, VerifyTimeout: 3 * time.Second, StateDir: "/srv/state",
		}, Config{
			Project: "shop", Service: "web", Services: []string{"web"}, Port: 8000, Replicas: 1,
			Slots: SlotPorts{Blue: 9001, Green: 9002}, Health: HealthConfig{Path: "/healthz"}, VerifyTimeout: 3 * time.Second, StateDir: "/srv/state",
			DrainTimeout: 30 * time.Second,
		}},
		{"set values are kept", Config{
			Project: "shop", Service: "web", Services: []string{"web", "worker"}, Port: 8000, Replicas: 2,
			Slots:         SlotPorts{Blue: 7001, Green: 7011},
			Health:        HealthConfig{Path: "/healthz", Interval: time.Second, Timeout: time.Minute, HealthyThreshold: 2},
			DrainTimeout:  5 * time.Second,
			VerifyTimeout: 3 * time.Second,
			RemoveRetired: true,
			StateDir:      "/var/lib/bluegreen",
		}, Config{
			Project: "shop", Service: "web", Services: []string{"web", "worker"}, Port: 8000, Replicas: 2,
			Slots:         SlotPorts{Blue: 7001, Green: 7011},
			Health:        HealthConfig{Path: "/healthz", Interval: time.Second, Timeout: time.Minute, HealthyThreshold: 2},
			DrainTimeout:  5 * time.Second,
			VerifyTimeout: 3 * time.Second,
			RemoveRetired: true,
			StateDir:      "/var/lib/bluegreen",
		}},
		{"the routed service switches", Config{Service: "web", Services: []string{"worker"}}, Config{
			Service: "web", Services: []string{"web", "worker"},
			Slots:  SlotPorts{Blue: 8081, Green: 8080},
			Health: HealthConfig{Path: "/"}, DrainTimeout: 30 * time.Second, VerifyTimeout: 10 * time.Second, StateDir: ".bluegreen",
		}},
		{"two-file layout: the slot ports come from the files", Config{ComposeFiles: SlotComposeFiles{Blue: "/b.yaml", Green: "/g.yaml"}}, Config{
			ComposeFiles: SlotComposeFiles{Blue: "/b.yaml", Green: "/g.yaml"},
			Health:       HealthConfig{Path: "/"}, DrainTimeout: 30 * time.Second, VerifyTimeout: 10 * time.Second, StateDir: ".bluegreen",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.WithDefaults()
			if tc.out.Tasks.Timeout == 0 { // every case gets the task timeout's default
				tc.out.Tasks.Timeout = DefaultTaskTimeout
			}
			if tc.out.Strategy == "" { // and the strategy's and the canary's
				tc.out.Strategy = StrategyBlueGreen
				tc.out.Canary = CanaryConfig{Steps: []int{10, 50}, StepTime: DefaultCanaryStepTime,
					MaxErrorRate: DefaultCanaryMaxErrorRate, MinRequests: DefaultCanaryMinRequests}
			}
			if diff := cmp.Diff(tc.out, got); diff != "" {
				t.Errorf("WithDefaults (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, got.WithDefaults()); diff != "" {
				t.Errorf("WithDefaults twice differs from once (-once +twice):\n%s", diff)
			}
		})
	}
	// A Config built in code with only its names gets a valid one.
	c := Config{Project: "shop", Service: "web", Port: 8000}.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after WithDefaults: %v", err)
	}
}
