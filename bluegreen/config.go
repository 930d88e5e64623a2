package bluegreen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// ExtensionKey is the top-level key of the compose file that holds the
// bluegreen settings.
const ExtensionKey = "x-bluegreen"

// Defaults for the keys of x-bluegreen that may be left out.
const (
	DefaultBluePort      = 8081
	DefaultGreenPort     = 8080
	DefaultHealthPath    = "/"
	DefaultDrainTimeout  = 30 * time.Second
	DefaultUpstream      = "backend"
	DefaultNginxBinary   = "nginx"
	DefaultStateDir      = ".bluegreen" // beside the compose file
	DefaultVerifyTimeout = 10 * time.Second
	// MaxKeepalive bounds nginx.keepalive.
	MaxKeepalive = 10000
)

// Config is what a deploy needs beyond the compose file itself: which service
// switches, where each slot listens, how readiness is judged and how the proxy
// is driven. LoadConfig reads it from the x-bluegreen section; callers may
// change fields (CLI flags do) and then call Validate.
type Config struct {
	// Project is the base project name; the slots run as Project-blue and
	// Project-green.
	Project string
	// Service takes the traffic; Port is its container port.
	Service string
	Port    int
	// Services are the services that switch: Service and those that must
	// run in step with it (a worker of the same release). Every other
	// service of the file is shared: it runs once, in the base project
	// named Project, and deploys leave it alone unless its configuration
	// changed.
	Services []string
	// Slots are the host ports, published on 127.0.0.1.
	Slots SlotPorts
	// Replicas is how many containers of Service each slot runs: the
	// file's deploy.replicas (or scale), 1 when it says none; 0 means 1.
	// With more, a slot publishes the Replicas ports from its slot port
	// up (8081-8083 for 3), one per container, each is probed before the
	// switch, and the proxy gets one address per container.
	Replicas int
	// SlotFiles, when set, are compose files of each slot's own, as in the
	// classic two-file layout (docker-compose.blue.yaml with its own ports
	// and container names). A slot is then loaded from its file as it is
	// written, and its port is what its routed service publishes.
	SlotFiles    SlotFiles
	Health       HealthConfig
	DrainTimeout time.Duration
	Nginx        NginxConfig
	// VerifyURL, when set, is fetched through the proxy right after the
	// switch; when it does not answer as Health says within VerifyTimeout,
	// traffic goes back to the previous slot at once.
	VerifyURL     string
	VerifyTimeout time.Duration
	// KeepRetired keeps the previous release's containers, stopped, so that
	// a rollback only has to start them. The next deploy replaces them.
	KeepRetired bool
	// StateDir holds the release history and the deploy lock.
	StateDir string
}

// SlotPorts holds each slot's host port.
type SlotPorts struct {
	Blue  int `json:"blue"`
	Green int `json:"green"`
}

// SlotFiles names each slot's own compose file.
type SlotFiles struct {
	Blue, Green string
}

// File returns the compose file of s, or "".
func (f SlotFiles) File(s Slot) string {
	switch s {
	case Blue:
		return f.Blue
	case Green:
		return f.Green
	}
	return ""
}

// Port returns the host port of s, or 0 for None.
func (p SlotPorts) Port(s Slot) int {
	switch s {
	case Blue:
		return p.Blue
	case Green:
		return p.Green
	}
	return 0
}

// HealthConfig says when a new release counts as ready: HealthyThreshold
// rounds in a row, probed every Interval, within Timeout, in which every
// check passes for every container of the routed service. The checks: GET
// http://127.0.0.1:<its host port><Path> answers 2xx/3xx (or exactly
// Status), with Host as its Host header when set; with TCP, the port
// accepts a connection; and the container runs and, when the service or
// its image declares a healthcheck, Docker reports it healthy (Docker
// honours the healthcheck's start_period).
type HealthConfig struct {
	Path             string
	Host             string
	Status           int
	TCP              bool
	Interval         time.Duration
	Timeout          time.Duration
	HealthyThreshold int
}

// NginxConfig drives the nginx that routes the traffic.
//
// nginx runs in one of three ways. By default it runs on the host and
// includes UpstreamFile, which bluegreen owns. With LiveFile, BlueFile and
// GreenFile (per-slot files, as many existing setups have them) a switch
// copies the slot's file over LiveFile. With Container, nginx runs in that
// container and bluegreen validates and reloads it through the engine;
// UpstreamFile and Conf are then paths inside the container.
type NginxConfig struct {
	Upstream     string // name of the upstream block
	UpstreamFile string // the include file bluegreen owns
	Conf         string // passed as -c when set
	Prefix       string // passed as -p when set
	Binary       string
	// LiveFile, BlueFile and GreenFile are the per-slot files mode.
	LiveFile, BlueFile, GreenFile string
	// Keepalive, when above 0, is rendered as "keepalive N;" in the managed
	// upstream block: each nginx worker keeps up to N idle connections to
	// the slot open, instead of a new connection per request. It takes
	// effect only when the proxying location sends HTTP/1.1 without
	// "Connection: close" (proxy_http_version 1.1; proxy_set_header
	// Connection "";). Not for the per-slot files, which are the user's.
	Keepalive int
	// Container names the nginx container of the container mode.
	Container string
	// Network, when set, is a docker network that the routed service of
	// each slot joins; the upstream then names the slot's containers
	// (<project>-<slot>-<service>-<n>:<port>, one per replica) instead of
	// their host ports on 127.0.0.1, for an nginx container on that
	// network.
	Network string
}

// rawConfig is the x-bluegreen section as written in the file.
type rawConfig struct {
	Service       string     `json:"service"`
	Services      []string   `json:"services"`
	Port          number     `json:"port"`
	Slots         *rawSlots  `json:"slots"`
	Health        *rawHealth `json:"health"`
	DrainTimeout  string     `json:"drain_timeout"`
	Nginx         *rawNginx  `json:"nginx"`
	VerifyURL     string     `json:"verify_url"`
	VerifyTimeout string     `json:"verify_timeout"`
	KeepRetired   *boolean   `json:"keep_retired"`
	StateDir      string     `json:"state_dir"`
}

type rawHealth struct {
	Path             string  `json:"path"`
	Host             string  `json:"host"`
	Status           number  `json:"status"`
	TCP              boolean `json:"tcp"`
	Interval         string  `json:"interval"`
	Timeout          string  `json:"timeout"`
	HealthyThreshold number  `json:"healthy_threshold"`
}

type rawNginx struct {
	Upstream     string `json:"upstream"`
	UpstreamFile string `json:"upstream_file"`
	Conf         string `json:"conf"`
	Prefix       string `json:"prefix"`
	Binary       string `json:"binary"`
	LiveFile     string `json:"live_file"`
	BlueFile     string `json:"blue_file"`
	GreenFile    string `json:"green_file"`
	Container    string `json:"container"`
	Network      string `json:"network"`
	Keepalive    number `json:"keepalive"`
}

type rawSlots struct {
	Blue  rawSlot `json:"blue"`
	Green rawSlot `json:"green"`
}

// rawSlot is a slot's host port (8081), or a compose file of its own
// ({file: docker-compose.blue.yaml}) whose routed service publishes it.
type rawSlot struct {
	Port number `json:"port"`
	File string `json:"file"`
}

func (r *rawSlot) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		type plain rawSlot
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		return dec.Decode((*plain)(r))
	}
	return r.Port.UnmarshalJSON(b)
}

// number is an integer of x-bluegreen, which may also be a string: after
// interpolation ("${BLUE_PORT:-8081}") compose leaves one in extensions.
type number int

func (n *number) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		*n = number(v)
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*n = number(v)
	return nil
}

// boolean is a true/false of x-bluegreen, which may also be a string, as
// number may.
type boolean bool

func (v *boolean) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		parsed, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		*v = boolean(parsed)
		return nil
	}
	var parsed bool
	if err := json.Unmarshal(b, &parsed); err != nil {
		return fmt.Errorf("%s is not true or false", b)
	}
	*v = boolean(parsed)
	return nil
}

// configFromProject reads x-bluegreen from a loaded project and fills in the
// defaults; the caller validates the result.
func configFromProject(p *types.Project, edits []func(*Config)) (Config, error) {
	var raw rawConfig
	if ext, ok := p.Extensions[ExtensionKey]; ok && ext != nil {
		b, err := json.Marshal(ext)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %s: %v", ErrBadInput, ExtensionKey, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			return Config{}, fmt.Errorf("%w: %s: %v", ErrBadInput, ExtensionKey, err)
		}
	}
	cfg := Config{
		Project:       p.Name,
		Service:       raw.Service,
		Services:      raw.Services,
		Port:          int(raw.Port),
		Slots:         SlotPorts{Blue: DefaultBluePort, Green: DefaultGreenPort},
		DrainTimeout:  DefaultDrainTimeout,
		Health:        HealthConfig{Path: DefaultHealthPath},
		Nginx:         NginxConfig{Upstream: DefaultUpstream, Binary: DefaultNginxBinary},
		VerifyURL:     raw.VerifyURL,
		VerifyTimeout: DefaultVerifyTimeout,
		KeepRetired:   raw.KeepRetired == nil || bool(*raw.KeepRetired),
		StateDir:      raw.StateDir,
	}
	if raw.Slots != nil {
		cfg.Slots = SlotPorts{Blue: int(raw.Slots.Blue.Port), Green: int(raw.Slots.Green.Port)}
		cfg.SlotFiles = SlotFiles{Blue: raw.Slots.Blue.File, Green: raw.Slots.Green.File}
	}
	var errs []string
	duration := func(key, v string, dst *time.Duration) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a duration (like 250ms or 30s)", key, v))
			return
		}
		*dst = d
	}
	duration("drain_timeout", raw.DrainTimeout, &cfg.DrainTimeout)
	duration("verify_timeout", raw.VerifyTimeout, &cfg.VerifyTimeout)
	if h := raw.Health; h != nil {
		if h.Path != "" {
			cfg.Health.Path = h.Path
		}
		duration("health.interval", h.Interval, &cfg.Health.Interval)
		duration("health.timeout", h.Timeout, &cfg.Health.Timeout)
		cfg.Health.HealthyThreshold = int(h.HealthyThreshold)
		cfg.Health.Host, cfg.Health.Status, cfg.Health.TCP = h.Host, int(h.Status), bool(h.TCP)
	}
	if n := raw.Nginx; n != nil {
		cfg.Nginx.Conf, cfg.Nginx.Prefix = n.Conf, n.Prefix
		cfg.Nginx.UpstreamFile = n.UpstreamFile
		if n.Upstream != "" {
			cfg.Nginx.Upstream = n.Upstream
		}
		if n.Binary != "" {
			cfg.Nginx.Binary = n.Binary
		}
		cfg.Nginx.LiveFile, cfg.Nginx.BlueFile, cfg.Nginx.GreenFile = n.LiveFile, n.BlueFile, n.GreenFile
		cfg.Nginx.Container, cfg.Nginx.Network = n.Container, n.Network
		cfg.Nginx.Keepalive = int(n.Keepalive)
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("%w: %s: %s", ErrBadInput, ExtensionKey, strings.Join(errs, "; "))
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	inferService(p, &cfg)
	if cfg.Nginx.UpstreamFile == "" && cfg.Service != "" {
		cfg.Nginx.UpstreamFile = filepath.Join("/etc/nginx/conf.d", cfg.Service+"-upstream.conf")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	// Relative paths are relative to the compose file, as in compose
	// itself; those of an nginx container are inside it.
	paths := []*string{&cfg.StateDir, &cfg.SlotFiles.Blue, &cfg.SlotFiles.Green,
		&cfg.Nginx.LiveFile, &cfg.Nginx.BlueFile, &cfg.Nginx.GreenFile}
	if cfg.Nginx.Container == "" {
		paths = append(paths, &cfg.Nginx.UpstreamFile, &cfg.Nginx.Conf, &cfg.Nginx.Prefix)
	}
	for _, path := range paths {
		if *path != "" && !filepath.IsAbs(*path) {
			*path = filepath.Join(p.WorkingDir, *path)
		}
	}
	return cfg, nil
}

// inferService fills Service and Port when the file leaves no doubt: one
// service (or one switching service), and one container port on it. The
// routed service always switches.
func inferService(p *types.Project, cfg *Config) {
	if cfg.Service == "" && len(p.Services) == 1 {
		for name := range p.Services {
			cfg.Service = name
		}
	}
	if cfg.Service == "" && len(cfg.Services) == 1 {
		cfg.Service = cfg.Services[0]
	}
	if cfg.Service != "" && !slices.Contains(cfg.Services, cfg.Service) {
		cfg.Services = append([]string{cfg.Service}, cfg.Services...)
	}
	svc, ok := p.Services[cfg.Service]
	if ok && cfg.Port == 0 && len(svc.Ports) == 1 {
		cfg.Port = int(svc.Ports[0].Target)
	}
	if ok && cfg.Replicas == 0 {
		cfg.Replicas = svc.GetScale()
	}
}

// replicas is the number of containers of the routed service in a slot.
func (c Config) replicas() int {
	return max(1, c.Replicas)
}

// slotPorts returns the first and last host port of slot s: one port per
// replica.
func (c Config) slotPorts(s Slot) (first, last int) {
	first = c.Slots.Port(s)
	return first, first + c.replicas() - 1
}

// slotPortSpec is slot s's host port, or its range with several replicas,
// as compose writes it (8081, 8081-8083).
func (c Config) slotPortSpec(s Slot) string {
	first, last := c.slotPorts(s)
	if first == last {
		return strconv.Itoa(first)
	}
	return fmt.Sprintf("%d-%d", first, last)
}

var upstreamName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate checks c on its own and, when p is not nil, against the project it
// will deploy. All problems are reported in one error wrapping ErrBadInput.
func (c Config) Validate(p *types.Project) error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if c.Project == "" {
		bad("project name is empty")
	}
	switch {
	case c.Service == "":
		bad("service: not set (name the service that takes traffic)")
	case p != nil:
		if _, ok := p.Services[c.Service]; !ok {
			bad("service: %q is not a service of the project (services: %s)", c.Service, strings.Join(p.ServiceNames(), ", "))
		}
		for _, name := range c.Services {
			if _, ok := p.Services[name]; !ok {
				bad("services: %q is not a service of the project", name)
			}
		}
	}
	if c.Service != "" && !slices.Contains(c.Services, c.Service) {
		bad("services: does not include the routed service %q", c.Service)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port: %d is not a container port (1-65535)", c.Port)
	}
	if c.Replicas < 0 {
		bad("replicas: %d may not be negative", c.Replicas)
	}
	for _, s := range []Slot{Blue, Green} {
		if first, last := c.slotPorts(s); first < 1 || last > 65535 {
			bad("slots.%s: %s is not a host port range within 1-65535", s, c.slotPortSpec(s))
		}
	}
	switch {
	case c.Slots.Blue == c.Slots.Green:
		bad("slots: blue and green have the same port %d", c.Slots.Blue)
	case c.Replicas >= 0 && abs(c.Slots.Blue-c.Slots.Green) < c.replicas():
		bad("slots: blue %s and green %s overlap: with %d replicas each slot publishes %d ports from its own up; set the slot ports at least %d apart",
			c.slotPortSpec(Blue), c.slotPortSpec(Green), c.replicas(), c.replicas(), c.replicas())
	}
	if !strings.HasPrefix(c.Health.Path, "/") {
		bad("health.path: %q must start with /", c.Health.Path)
	}
	if c.Health.Interval < 0 || c.Health.Timeout < 0 || c.DrainTimeout < 0 {
		bad("durations may not be negative")
	}
	if c.Health.HealthyThreshold < 0 {
		bad("health.healthy_threshold: %d may not be negative", c.Health.HealthyThreshold)
	}
	if c.Health.Status != 0 && (c.Health.Status < 100 || c.Health.Status > 599) {
		bad("health.status: %d is not an HTTP status", c.Health.Status)
	}
	if c.VerifyURL != "" {
		if u, err := url.Parse(c.VerifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("verify_url: %q is not an http(s) URL", c.VerifyURL)
		}
	}
	if c.StateDir == "" {
		bad("state_dir: empty")
	}
	if n := c.Nginx; (n.LiveFile != "" || n.BlueFile != "" || n.GreenFile != "") && (n.LiveFile == "" || n.BlueFile == "" || n.GreenFile == "") {
		bad("nginx: live_file, blue_file and green_file go together")
	}
	if c.Nginx.Container != "" && c.Nginx.LiveFile != "" {
		bad("nginx: container and live_file exclude each other")
	}
	if c.Nginx.Container != "" && !filepath.IsAbs(c.Nginx.UpstreamFile) {
		bad("nginx.upstream_file: %q must be an absolute path inside the container", c.Nginx.UpstreamFile)
	}
	if c.Nginx.Keepalive < 0 || c.Nginx.Keepalive > MaxKeepalive {
		bad("nginx.keepalive: %d is not from 0 to %d", c.Nginx.Keepalive, MaxKeepalive)
	}
	if c.Nginx.Keepalive > 0 && c.Nginx.LiveFile != "" {
		bad("nginx.keepalive: not with live_file: the per-slot files are yours, write keepalive in them")
	}
	if !upstreamName.MatchString(c.Nginx.Upstream) {
		bad("nginx.upstream: %q is not a plain name", c.Nginx.Upstream)
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%w: %s", ErrBadInput, strings.Join(errs, "; "))
	}
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
