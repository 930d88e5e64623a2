package nginxconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// writeProject writes yaml as compose.yaml, and each of files (name: body)
// beside it, in a new directory, and returns the Source of project shop.
func writeProject(t *testing.T, yaml string, files map[string]string) bluegreen.Source {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bluegreen.Source{Files: []string{file}, ProjectName: "shop"}
}

// loadProject loads yaml (and files beside it) with bluegreen.Load, which
// must accept it: the cases here are about the nginx section.
func loadProject(t *testing.T, yaml string, files map[string]string, env ...string) *bluegreen.Project {
	t.Helper()
	src := writeProject(t, yaml, files)
	src.Env = env
	p, err := bluegreen.Load(context.Background(), src)
	if err != nil {
		t.Fatalf("bluegreen.Load: %v", err)
	}
	return p
}

func TestConfigFromProjectFull(t *testing.T) {
	p := loadProject(t, `
services:
  web: {image: "app:${TAG}", ports: ["8000"]}
  worker: {image: app}
x-bluegreen:
  service: web
  port: 8000
  drain_timeout: 5s
  nginx:
    upstream: shop_up
    upstream_file: nginx/upstream.conf
    conf: /etc/nginx/nginx.conf
    prefix: ""
    binary: /usr/sbin/nginx
    keepalive: 16
`, nil, "TAG=v1")
	got, err := ConfigFromProject(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Upstream:     "shop_up",
		UpstreamFile: filepath.Join(p.Dir(), "nginx/upstream.conf"),
		Conf:         "/etc/nginx/nginx.conf",
		Binary:       "/usr/sbin/nginx",
		Keepalive:    16,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConfigFromProject mismatch (-want +got):\n%s", diff)
	}
}

func TestConfigFromProjectDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       Config
	}{
		{"no section, inferred service", `services: {web: {image: app, ports: ["127.0.0.1:3000:8000"]}}`,
			Config{Upstream: "backend", UpstreamFile: "/etc/nginx/conf.d/web-upstream.conf", Binary: "nginx"}},
		{"empty section", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {}}`,
			Config{Upstream: DefaultUpstream, UpstreamFile: "/etc/nginx/conf.d/web-upstream.conf", Binary: DefaultBinary}},
		{"named after the routed service", `
services: {web: {image: app}, api: {image: app}}
x-bluegreen: {service: api, port: 8000}`,
			Config{Upstream: "backend", UpstreamFile: "/etc/nginx/conf.d/api-upstream.conf", Binary: "nginx"}},
		{"interpolated keepalive", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: "${KEEPALIVE:-32}"}}`,
			Config{Upstream: "backend", UpstreamFile: "/etc/nginx/conf.d/web-upstream.conf", Binary: "nginx", Keepalive: 32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromProject(loadProject(t, tc.yaml, nil))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("defaults mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Relative paths are relative to the compose file's directory, except
// those inside an nginx container.
func TestConfigFromProjectPaths(t *testing.T) {
	for _, tc := range []struct {
		name    string
		section string // the nginx section
		edit    func(*Config)
		want    func(dir string) Config
	}{
		{"host nginx", `{upstream_file: nginx/up.conf, conf: nginx/nginx.conf, prefix: nginx}`, nil, func(dir string) Config {
			return Config{Upstream: "backend", Binary: "nginx",
				UpstreamFile: filepath.Join(dir, "nginx/up.conf"), Conf: filepath.Join(dir, "nginx/nginx.conf"), Prefix: filepath.Join(dir, "nginx")}
		}},
		{"absolute paths stay", `{upstream_file: /srv/up.conf, conf: /srv/nginx.conf, prefix: /srv}`, nil, func(string) Config {
			return Config{Upstream: "backend", Binary: "nginx", UpstreamFile: "/srv/up.conf", Conf: "/srv/nginx.conf", Prefix: "/srv"}
		}},
		{"per-slot files: no upstream file", `{live_file: nginx/live.conf, blue_file: nginx/blue.conf, green_file: /srv/green.conf, conf: nginx/nginx.conf}`, nil,
			func(dir string) Config {
				return Config{Upstream: "backend", Binary: "nginx",
					LiveFile: filepath.Join(dir, "nginx/live.conf"), BlueFile: filepath.Join(dir, "nginx/blue.conf"), GreenFile: "/srv/green.conf",
					Conf: filepath.Join(dir, "nginx/nginx.conf")}
			}},
		{"container: its paths are inside it", `{container: proxy, network: front, upstream_file: /etc/nginx/conf.d/up.conf, conf: nginx.conf, prefix: etc}`, nil,
			func(string) Config {
				return Config{Upstream: "backend", Binary: "nginx", Container: "proxy", Network: "front",
					UpstreamFile: "/etc/nginx/conf.d/up.conf", Conf: "nginx.conf", Prefix: "etc"}
			}},
		{"container: the default upstream file", `{container: proxy}`, nil, func(string) Config {
			return Config{Upstream: "backend", Binary: "nginx", Container: "proxy", UpstreamFile: "/etc/nginx/conf.d/web-upstream.conf"}
		}},
		{"edits come before the defaults and the paths", `{upstream: shop_up, upstream_file: /srv/up.conf, binary: /usr/sbin/nginx}`,
			func(c *Config) { c.Upstream, c.UpstreamFile, c.Binary = "", "flag/up.conf", "" }, func(dir string) Config {
				return Config{Upstream: "backend", Binary: "nginx", UpstreamFile: filepath.Join(dir, "flag/up.conf")}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadProject(t, "services: {web: {image: app}}\nx-bluegreen: {port: 8000, nginx: "+tc.section+"}\n", nil)
			var edits []func(*Config)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			got, err := ConfigFromProject(p, edits...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want(p.Dir()), got); diff != "" {
				t.Errorf("ConfigFromProject (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigFromProjectBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       string // in the error
	}{
		{"upstream name injection", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream: "x; include /etc/passwd"}}`, `nginx.upstream: "x; include /etc/passwd" is not a plain name`},
		{"negative keepalive", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: -1}}`, "nginx.keepalive: -1 is not from 0 to 10000"},
		{"keepalive above the bound", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: 10001}}`, "nginx.keepalive: 10001 is not from 0 to 10000"},
		{"keepalive not a number", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: many}}`, `x-bluegreen.nginx.keepalive: want a whole number, got "many"`},
		{"keepalive with per-slot files", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: 8, live_file: a, blue_file: b, green_file: c}}`, "nginx.keepalive: not with live_file"},
		{"per-slot files incomplete", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {live_file: a, blue_file: b}}`, "nginx: live_file, blue_file and green_file go together"},
		{"container and live_file", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {container: proxy, upstream_file: /etc/nginx/up.conf, live_file: a, blue_file: b, green_file: c}}`,
			"nginx: container and live_file exclude each other"},
		{"container with a relative upstream_file", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {container: proxy, upstream_file: conf.d/up.conf}}`,
			`nginx.upstream_file: "conf.d/up.conf" must be an absolute path inside the container`},
		{"unknown key", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstrem: shop_up}}`, `x-bluegreen.nginx: unknown key "upstrem" (did you mean "upstream"?)`},

		{"unknown key, no near one", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {servers: 2}}`, `x-bluegreen.nginx: unknown key "servers" (known keys: access_log, binary, blue_file, conf, container, green_file, keepalive, live_file, network, prefix, upstream, upstream_file)`},
		{"a mapping for a string", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream_file: {path: /etc/nginx/up.conf}}}`, `x-bluegreen.nginx.upstream_file: want a string, got a mapping`},
		{"every problem at once", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: true, binray: nginx}}`, `x-bluegreen.nginx: unknown key "binray" (did you mean "binary"?); x-bluegreen.nginx.keepalive: want a whole number, got true`},

		// Control characters: the key is named, the value escaped.
		{"NUL in nginx.upstream_file", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream_file: "/etc/nginx/up\0.conf"}}`, `nginx.upstream_file: "/etc/nginx/up\x00.conf" holds a control character`},
		{"carriage return in nginx.conf", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {conf: "/etc/nginx/nginx.conf\r"}}`, `nginx.conf: "/etc/nginx/nginx.conf\r" holds a control character`},
		{"newline in nginx.prefix", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {prefix: "/etc/nginx\n"}}`, `nginx.prefix: "/etc/nginx\n" holds a control character`},
		{"newline in nginx.binary", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {binary: "nginx\n-s stop"}}`, `nginx.binary: "nginx\n-s stop" holds a control character`},
		{"newline in the per-slot files", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {live_file: "/l\n", blue_file: "/b\n", green_file: "/g\n"}}`,
			`nginx.blue_file: "/b\n" holds a control character; nginx.green_file: "/g\n" holds a control character; nginx.live_file: "/l\n" holds a control character`},
		{"newline in nginx.container and nginx.network", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {container: "proxy\n", network: "front\n", upstream_file: /etc/nginx/conf.d/up.conf}}`,
			`nginx.container: "proxy\n" holds a control character; nginx.network: "front\n" holds a control character`},
		{"control character in an unknown key", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {"up\nstream": x}}`, `x-bluegreen.nginx: unknown key "up\nstream"`},

		{"network without a container", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {network: front}}`,
			`nginx.network: only with nginx.container`},

		// Names the proxy or the engine would refuse.
		{"upstream name too long", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream: ` + strings.Repeat("u", 64) + `}}`,
			`nginx.upstream: "` + strings.Repeat("u", 64) + `" is 64 characters, more than 63: nginx sends it as the Host header`},
		{"container name too long for DNS", `
services: {` + strings.Repeat("w", 51) + `: {image: app, deploy: {replicas: 2}}}
x-bluegreen: {port: 8000, slots: {blue: 8081, green: 8091}, nginx: {container: proxy, upstream_file: /etc/nginx/conf.d/up.conf, network: front}}`,
			`nginx.network: the slot container name "shop-green-` + strings.Repeat("w", 51) + `-2" is too long for a DNS name (a label of 64 characters, at most 63)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadProject(t, tc.yaml, nil)
			_, err := ConfigFromProject(p)
			if !errors.Is(err, bluegreen.ErrBadInput) {
				t.Fatalf("err = %v, want bluegreen.ErrBadInput", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to mention %q", err, tc.want)
			}
			if xvalue.HasControl(err.Error()) {
				t.Errorf("err = %q holds a raw control character", err)
			}
			if _, ferr := FromProject(p, nil); ferr == nil || ferr.Error() != err.Error() {
				t.Errorf("FromProject: err = %v, want the error of ConfigFromProject", ferr)
			}
		})
	}
}

// TestConfigFromProjectValidate holds the whole messages of the checks of
// the nginx section, with the values just inside and just outside each
// bound.
func TestConfigFromProjectValidate(t *testing.T) {
	slotFile := func(service, port string) string {
		return fmt.Sprintf("services: {%s: {image: app, ports: [\"%s:8000\"]}}\n", service, port)
	}
	for _, tc := range []struct {
		name  string
		yaml  string
		files map[string]string // beside the compose file
		edit  func(*Config)
		want  string // the whole message after "bad input: "; "" when valid
	}{
		{"upstream of 63 characters", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream: ` + strings.Repeat("u", 63) + `}}`, nil, nil, ""},
		{"container name of 63 characters", `
services: {` + strings.Repeat("w", 50) + `: {image: app}}
x-bluegreen: {port: 8000, nginx: {container: proxy, upstream_file: /etc/nginx/conf.d/up.conf, network: front}}`, nil, nil, ""},
		{"dotted service name: each label counts", `
services: {"` + strings.Repeat("a", 40) + "." + strings.Repeat("b", 40) + `": {image: app}}
x-bluegreen: {port: 8000, nginx: {container: proxy, upstream_file: /etc/nginx/conf.d/up.conf, network: front}}`, nil, nil, ""},
		{"long names without a network", `
services: {` + strings.Repeat("w", 100) + `: {image: app}}
x-bluegreen: {port: 8000}`, nil, nil, ""},
		{"two-file layout: its files name the containers", `
x-bluegreen: {service: ` + strings.Repeat("w", 60) + `, port: 8000, slots: {blue: {file: blue.yaml}, green: {file: green.yaml}}, nginx: {container: proxy, upstream_file: /etc/nginx/conf.d/up.conf, network: front}}`,
			map[string]string{"blue.yaml": slotFile(strings.Repeat("w", 60), "8081"), "green.yaml": slotFile(strings.Repeat("w", 60), "8091")}, nil, ""},
		{"keepalive of 10000", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: 10000}}`, nil, nil, ""},
		{"per-slot files without keepalive", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {keepalive: 0, live_file: a, blue_file: b, green_file: c}}`, nil, nil, ""},

		{"upstream of 64 characters", `
services: {web: {image: app}}
x-bluegreen: {port: 8000, nginx: {upstream: ` + strings.Repeat("u", 64) + `}}`, nil, nil,
			`nginx.upstream: "` + strings.Repeat("u", 64) + `" is 64 characters, more than 63: nginx sends it as the Host header of the requests it proxies (unless proxy_set_header Host says otherwise), so keep it to the length of a host name label`},
		{"container name of 64 characters", `
services: {` + strings.Repeat("w", 51) + `: {image: app}}
x-bluegreen: {port: 8000, nginx: {container: proxy, upstream_file: /etc/nginx/conf.d/up.conf, network: front}}`, nil, nil,
			`nginx.network: the slot container name "shop-green-` + strings.Repeat("w", 51) + `-1" is too long for a DNS name (a label of 64 characters, at most 63): nginx could not look it up on the network; shorten the project name or the service name`},
		{"container name too long with its replica number", `
services: {` + strings.Repeat("w", 50) + `: {image: app, deploy: {replicas: 10}}}
x-bluegreen: {port: 8000, slots: {blue: 8081, green: 9000}, nginx: {container: proxy, upstream_file: /etc/nginx/conf.d/up.conf, network: front}}`, nil, nil,
			`nginx.network: the slot container name "shop-green-` + strings.Repeat("w", 50) + `-10" is too long for a DNS name (a label of 64 characters, at most 63): nginx could not look it up on the network; shorten the project name or the service name`},
		{"DEL and NEL are control characters", `
services: {web: {image: app}}
x-bluegreen: {port: 8000}`, nil, func(c *Config) { c.Binary, c.Conf = "nginx\x7f", "/etc/nginx/nginx.conf\u0085" },
			`nginx.binary: "nginx\x7f" holds a control character; nginx.conf: "/etc/nginx/nginx.conf\u0085" holds a control character`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadProject(t, tc.yaml, tc.files)
			var edits []func(*Config)
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			_, err := ConfigFromProject(p, edits...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ConfigFromProject: %v", err)
				}
				return
			}
			if !errors.Is(err, bluegreen.ErrBadInput) {
				t.Fatalf("err = %v, want bluegreen.ErrBadInput", err)
			}
			if got := strings.TrimPrefix(err.Error(), "bad input: "); got != tc.want {
				t.Errorf("err =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

// Every path and name key of the section refuses a control character,
// naming the key and escaping the value.
func TestConfigFromProjectControlCharacters(t *testing.T) {
	p := loadProject(t, "services: {web: {image: app}}\nx-bluegreen: {port: 8000}\n", nil)
	for _, tc := range []struct {
		key string
		set func(*Config, string)
	}{
		{"nginx.upstream_file", func(c *Config, v string) { c.UpstreamFile = v }},
		{"nginx.conf", func(c *Config, v string) { c.Conf = v }},
		{"nginx.prefix", func(c *Config, v string) { c.Prefix = v }},
		{"nginx.binary", func(c *Config, v string) { c.Binary = v }},
		{"nginx.live_file", func(c *Config, v string) { c.LiveFile, c.BlueFile, c.GreenFile = v, "/b.conf", "/g.conf" }},
		{"nginx.blue_file", func(c *Config, v string) { c.LiveFile, c.BlueFile, c.GreenFile = "/l.conf", v, "/g.conf" }},
		{"nginx.green_file", func(c *Config, v string) { c.LiveFile, c.BlueFile, c.GreenFile = "/l.conf", "/b.conf", v }},
		{"nginx.container", func(c *Config, v string) { c.Container = v }},
		{"nginx.network", func(c *Config, v string) { c.Network = v }},
	} {
		for _, ctl := range []string{"\n", "\r", "\t", "\x00", "\x1b", "\x7f"} {
			t.Run(fmt.Sprintf("%s %q", tc.key, ctl), func(t *testing.T) {
				value := "/x" + ctl + "y"
				_, err := ConfigFromProject(p, func(c *Config) { tc.set(c, value) })
				if !errors.Is(err, bluegreen.ErrBadInput) {
					t.Fatalf("err = %v, want bluegreen.ErrBadInput", err)
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

func TestConfigWithDefaults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      Config
		service string
		want    Config
	}{
		{"zero", Config{}, "web", Config{Upstream: "backend", Binary: "nginx", UpstreamFile: "/etc/nginx/conf.d/web-upstream.conf"}},
		{"no service yet: no upstream file", Config{}, "", Config{Upstream: "backend", Binary: "nginx"}},
		{"per-slot files: no upstream file", Config{LiveFile: "/l", BlueFile: "/b", GreenFile: "/g"}, "web",
			Config{Upstream: "backend", Binary: "nginx", LiveFile: "/l", BlueFile: "/b", GreenFile: "/g"}},
		{"set values are kept", Config{Upstream: "shop_up", Binary: "/usr/sbin/nginx", UpstreamFile: "/srv/up.conf", Keepalive: 8}, "web",
			Config{Upstream: "shop_up", Binary: "/usr/sbin/nginx", UpstreamFile: "/srv/up.conf", Keepalive: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.WithDefaults(tc.service)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("WithDefaults (-want +got):\n%s", diff)
			}
		})
	}
	if err := (Config{}).WithDefaults("web").Validate(); err != nil {
		t.Errorf("Validate after WithDefaults: %v", err)
	}
}

// FromProject builds the Switcher of the section's mode from the Config
// that ConfigFromProject reads.
func TestFromProject(t *testing.T) {
	for _, tc := range []struct {
		name, section string
		want          func(dir string) bluegreen.Switcher
	}{
		{"host nginx", `{upstream: shop_up, upstream_file: up.conf, conf: /etc/nginx/nginx.conf, prefix: /etc/nginx, binary: /usr/sbin/nginx, keepalive: 4}`,
			func(dir string) bluegreen.Switcher {
				return &Switcher{Upstream: "shop_up", File: filepath.Join(dir, "up.conf"), Keepalive: 4,
					Conf: "/etc/nginx/nginx.conf", Prefix: "/etc/nginx", Binary: "/usr/sbin/nginx"}
			}},
		{"per-slot files", `{live_file: live.conf, blue_file: blue.conf, green_file: green.conf, conf: /etc/nginx/nginx.conf}`,
			func(dir string) bluegreen.Switcher {
				return &SlotFiles{Live: filepath.Join(dir, "live.conf"), Blue: filepath.Join(dir, "blue.conf"), Green: filepath.Join(dir, "green.conf"),
					Conf: "/etc/nginx/nginx.conf", Binary: "nginx"}
			}},
		{"container", `{container: proxy, network: front, upstream: shop_up, upstream_file: /etc/nginx/conf.d/up.conf, keepalive: 4}`,
			func(string) bluegreen.Switcher {
				return &Container{Container: "proxy", Network: "front", Upstream: "shop_up", File: "/etc/nginx/conf.d/up.conf", Keepalive: 4, Binary: "nginx"}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loadProject(t, "services: {web: {image: app}}\nx-bluegreen: {port: 8000, nginx: "+tc.section+"}\n", nil)
			got, err := FromProject(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want(p.Dir()), got, cmpopts.IgnoreUnexported(Switcher{}, SlotFiles{}, Container{})); diff != "" {
				t.Errorf("FromProject (-want +got):\n%s", diff)
			}
		})
	}

	// The logger reaches the Switcher; an edit reaches the section.
	logger := slog.New(slog.DiscardHandler)
	p := loadProject(t, "services: {web: {image: app}}\nx-bluegreen: {port: 8000}\n", nil)
	sw, err := FromProject(p, logger, func(c *Config) { c.Upstream = "edited" })
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := sw.(*Switcher); !ok || s.Logger != logger || s.Upstream != "edited" {
		t.Errorf("FromProject = %#v, want a *Switcher with the logger and the edited upstream", sw)
	}
}
