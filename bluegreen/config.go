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
	"unicode"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/bluegreen-dev/bluegreen/health"
	"github.com/bluegreen-dev/bluegreen/internal/redact"
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
	SlotFiles SlotFiles
	Health    HealthConfig
	// DrainTimeout bounds the drain: how long the old slot may keep
	// serving the requests it holds after the switch. It must be above 0
	// (0 would retire the old slot with requests in flight); LoadConfig
	// sets DefaultDrainTimeout when the file leaves it out.
	DrainTimeout time.Duration
	Nginx        NginxConfig
	// VerifyURL, when set, is fetched through the proxy right after the
	// switch; when it does not answer as Health says within VerifyTimeout,
	// traffic goes back to the previous slot at once. Its password and
	// query values are masked in every message. LoadConfig sets
	// VerifyTimeout to DefaultVerifyTimeout when the file leaves it out;
	// 0 takes health.DefaultTimeout.
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
//
// A zero Interval, Timeout or HealthyThreshold takes the health package's
// default (health.DefaultInterval, health.DefaultTimeout,
// health.DefaultThreshold); in the file, leave the key out for that.
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
			return Config{}, fmt.Errorf("%w: %s: %s", ErrBadInput, ExtensionKey, escapeControl(err.Error()))
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			// An unknown key is quoted raw: escape what it may hold.
			return Config{}, fmt.Errorf("%w: %s: %s", ErrBadInput, ExtensionKey, escapeControl(err.Error()))
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
	// duration reads the duration v of key into dst. When zero is not
	// zeroMeans (what 0 does where the value is used), but the default
	// that leaving the key out gives, an explicit 0 is refused: it would
	// not do what it says.
	duration := func(key, v string, dst *time.Duration, zeroMeans time.Duration) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %q is not a duration (like 250ms or 30s)", key, v))
			return
		}
		if d == 0 && zeroMeans > 0 {
			errs = append(errs, fmt.Sprintf("%s: %q must be above 0; leave it out for the default %s", key, v, zeroMeans))
			return
		}
		*dst = d
	}
	// drain_timeout: 0 reaches Validate, which says why it is refused.
	duration("drain_timeout", raw.DrainTimeout, &cfg.DrainTimeout, 0)
	duration("verify_timeout", raw.VerifyTimeout, &cfg.VerifyTimeout, DefaultVerifyTimeout)
	if h := raw.Health; h != nil {
		if h.Path != "" {
			cfg.Health.Path = h.Path
		}
		duration("health.interval", h.Interval, &cfg.Health.Interval, health.DefaultInterval)
		duration("health.timeout", h.Timeout, &cfg.Health.Timeout, health.DefaultTimeout)
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
	// The slots' own files are loaded before Validate runs: a control
	// character in a name or path is reported first.
	if errs := cfg.controlErrors(); len(errs) > 0 {
		slices.Sort(errs)
		return Config{}, fmt.Errorf("%w: %s: %s", ErrBadInput, ExtensionKey, strings.Join(errs, "; "))
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

// projectName is compose's rule for a project name (compose-go's
// loader.NormalizeProjectName leaves such a name as it is). Loading a file
// already enforces it; a name set in code is checked here. The slots run as
// <project>-blue and <project>-green, which then follow it too.
var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// maxUpstreamName bounds nginx.upstream. nginx itself takes a name up to
// its configuration token limit (about 4 KiB), but by default it sends the
// upstream name as the Host header of every proxied request
// (proxy_set_header Host $proxy_host), and a host name's label has at most
// 63 characters.
const maxUpstreamName = 63

// maxDNSLabel is the longest label of a DNS name (RFC 1035): with
// nginx.network, nginx finds each slot container by its name through the
// engine's DNS, and a longer name cannot be looked up.
const maxDNSLabel = 63

// Validate checks c on its own and, when p is not nil, against the project it
// will deploy. All problems are reported in one error wrapping ErrBadInput;
// each names its key and, unless it may be secret, its value.
func (c Config) Validate(p *types.Project) error {
	errs := c.controlErrors()
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if c.Project == "" {
		bad("project name is empty")
	} else if !projectName.MatchString(c.Project) {
		bad("project name %q: compose takes only lowercase letters, digits, '-' and '_', starting with a letter or a digit", c.Project)
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

	// health.path and verify_url may carry a token in their query: they
	// are shown masked.
	switch path := c.Health.Path; {
	case hasControl(path):
		bad("health.path: %q holds a control character", redact.URL(path))
	case !strings.HasPrefix(path, "/"):
		bad("health.path: %q must start with /", redact.URL(path))
	}
	for _, d := range []struct {
		key   string
		value time.Duration
	}{
		{"health.interval", c.Health.Interval},
		{"health.timeout", c.Health.Timeout},
		{"drain_timeout", c.DrainTimeout},
		{"verify_timeout", c.VerifyTimeout},
	} {
		if d.value < 0 {
			bad("%s: %s may not be negative", d.key, d.value)
		}
	}
	if c.DrainTimeout == 0 {
		bad("drain_timeout: 0s would retire the old slot with requests in flight; leave it out for the default %s", DefaultDrainTimeout)
	}
	if c.Health.HealthyThreshold < 0 {
		bad("health.healthy_threshold: %d may not be negative", c.Health.HealthyThreshold)
	}
	if c.Health.Status != 0 && (c.Health.Status < 100 || c.Health.Status > 599) {
		bad("health.status: %d is not an HTTP status", c.Health.Status)
	}
	if c.VerifyURL != "" {
		u, err := url.Parse(c.VerifyURL)
		switch {
		case hasControl(c.VerifyURL):
			bad("verify_url: %q holds a control character", redact.URL(c.VerifyURL))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("verify_url: %q is not an http(s) URL", redact.URL(c.VerifyURL))
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
	switch u := c.Nginx.Upstream; {
	case !upstreamName.MatchString(u):
		bad("nginx.upstream: %q is not a plain name", u)
	case len(u) > maxUpstreamName:
		bad("nginx.upstream: %q is %d characters, more than %d: nginx sends it as the Host header of the requests it proxies (unless proxy_set_header Host says otherwise), so keep it to the length of a host name label",
			u, len(u), maxUpstreamName)
	}
	if name, label, ok := c.containerName(); ok && label > maxDNSLabel {
		bad("nginx.network: the slot container name %q is too long for a DNS name (a label of %d characters, at most %d): nginx could not look it up on the network; shorten the project name or the service name",
			name, label, maxDNSLabel)
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%w: %s", ErrBadInput, strings.Join(errs, "; "))
	}
	return nil
}

// controlErrors reports the names and paths that hold a control character:
// a newline in a path would reach nginx's command line or a file name, one
// in a name the engine. Values are quoted (%q), so that the message shows
// them escaped. health.path and verify_url are checked with their other
// rules, since their values are shown masked.
func (c Config) controlErrors() []string {
	plain := []struct{ key, value string }{
		{"state_dir", c.StateDir},
		{"slots.blue.file", c.SlotFiles.Blue},
		{"slots.green.file", c.SlotFiles.Green},
		{"nginx.upstream_file", c.Nginx.UpstreamFile},
		{"nginx.conf", c.Nginx.Conf},
		{"nginx.prefix", c.Nginx.Prefix},
		{"nginx.binary", c.Nginx.Binary},
		{"nginx.live_file", c.Nginx.LiveFile},
		{"nginx.blue_file", c.Nginx.BlueFile},
		{"nginx.green_file", c.Nginx.GreenFile},
		{"nginx.container", c.Nginx.Container},
		{"nginx.network", c.Nginx.Network},
		{"health.host", c.Health.Host},
		{"service", c.Service},
	}
	for _, name := range c.Services {
		plain = append(plain, struct{ key, value string }{"services", name})
	}
	var errs []string
	for _, v := range plain {
		if hasControl(v.value) {
			errs = append(errs, fmt.Sprintf("%s: %q holds a control character", v.key, v.value))
		}
	}
	return errs
}

// containerName returns, with nginx.network, the longest name that the
// upstream gives a container of the routed service
// (<project>-green-<service>-<replicas>, as compose names them) and the
// length of its longest DNS label, when it is known: not in the two-file
// layout, whose files may set container_name, nor before the names are set.
func (c Config) containerName() (name string, label int, ok bool) {
	if c.Nginx.Network == "" || c.SlotFiles != (SlotFiles{}) || c.Project == "" || c.Service == "" {
		return "", 0, false
	}
	name = slotProjectName(c.Project, Green) + "-" + c.Service + "-" + strconv.Itoa(c.replicas())
	for _, l := range strings.Split(name, ".") {
		label = max(label, len(l))
	}
	return name, label, true
}

// hasControl reports whether s holds a control character (a newline, a tab,
// NUL, DEL...).
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// escapeControl writes the control characters of s as Go escapes (\n),
// leaving the rest as it is.
func escapeControl(s string) string {
	if !hasControl(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
