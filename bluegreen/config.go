package bluegreen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/bluegreen-dev/bluegreen/health"
	"github.com/bluegreen-dev/bluegreen/internal/redact"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
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
	DefaultStateDir      = ".bluegreen" // beside the compose file
	DefaultVerifyTimeout = 10 * time.Second
	DefaultTaskTimeout   = 10 * time.Minute
)

// The strategies: how traffic moves to a new release.
const (
	// StrategyBlueGreen switches all traffic at once (the default).
	StrategyBlueGreen = "blue-green"
	// StrategyCanary moves traffic in steps, judged by the new release's
	// real errors as the proxy sees them (CanaryConfig).
	StrategyCanary = "canary"
)

// Config is the core of x-bluegreen: which service switches, where each
// slot listens, how readiness is judged, how long a drain may take, where
// the history lives. The proxy's settings are the proxy package's own
// section (Project.Section). Load reads Config from the file; a zero field
// takes its default (WithDefaults), whether the file left the key out or a
// program built the value.
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
	// Slots are the host ports, published on 127.0.0.1; zero means
	// DefaultBluePort and DefaultGreenPort.
	Slots SlotPorts
	// Replicas is how many containers of Service each slot runs: the
	// file's deploy.replicas (or scale), 1 when it says none; 0 means 1.
	// With more, a slot publishes the Replicas ports from its slot port
	// up (8081-8083 for 3), one per container, each is probed before the
	// switch, and the proxy gets one address per container.
	Replicas int
	// ComposeFiles, when set, are compose files of each slot's own, as in
	// the classic two-file layout (docker-compose.blue.yaml with its own
	// ports and container names). A slot is then loaded from its file as
	// it is written, and its port is what its routed service publishes.
	ComposeFiles SlotComposeFiles
	Health       HealthConfig
	// DrainTimeout bounds the drain: how long the old slot may keep
	// serving the requests it holds after the switch; zero means
	// DefaultDrainTimeout (the file refuses an explicit 0s).
	DrainTimeout time.Duration
	// VerifyURL, when set, is fetched through the proxy right after the
	// switch; when it does not answer as Health says within VerifyTimeout
	// (zero means DefaultVerifyTimeout), traffic goes back to the previous
	// slot at once. Its password and query values are masked in every
	// message.
	VerifyURL     string
	VerifyTimeout time.Duration
	// RemoveRetired removes the previous release's containers at the
	// retire. By default they are kept, stopped, so that a rollback only
	// has to start them; the next deploy replaces them.
	RemoveRetired bool
	// StateDir holds the release history and the deploy lock; empty means
	// DefaultStateDir, relative to the compose file's directory.
	StateDir string
	// Tasks are one-off services of the file that a deploy runs.
	Tasks TaskConfig
	// Strategy is StrategyBlueGreen or StrategyCanary; empty means
	// StrategyBlueGreen. A rollback and a switch always move all traffic
	// at once.
	Strategy string
	// Canary tunes StrategyCanary.
	Canary CanaryConfig
}

// TaskConfig names the one-off services (a database migration, say) that a
// deploy runs, each once, to its end, as "compose run --rm" would: in the new
// release, with its image and variables, on the project's networks, without
// published ports. BeforeSwitch tasks run once the new slot is healthy and
// before traffic moves: one that exits non-zero fails the deploy, traffic
// stays where it was, and the error ends with its last log lines.
// AfterSwitch tasks run after the retire: one that fails leaves traffic on
// the new release and the deploy incomplete. A rollback and a switch run no
// task. A task service is never started otherwise: it is neither shared nor
// switched, with or without a compose profile (profiles: [tasks] keeps
// compose itself from starting it).
type TaskConfig struct {
	BeforeSwitch []string
	AfterSwitch  []string
	// Timeout bounds each task; zero means DefaultTaskTimeout.
	Timeout time.Duration
}

// names lists every task service once.
func (t TaskConfig) names() []string {
	var names []string
	for _, name := range append(slices.Clone(t.BeforeSwitch), t.AfterSwitch...) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// WithDefaults returns c with every zero field that has a default set to
// it. Load applies it; it is the one place defaults come from.
func (c Config) WithDefaults() Config {
	if c.Slots == (SlotPorts{}) && c.ComposeFiles == (SlotComposeFiles{}) {
		c.Slots = SlotPorts{Blue: DefaultBluePort, Green: DefaultGreenPort}
	}
	if c.Health.Path == "" {
		c.Health.Path = DefaultHealthPath
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.VerifyTimeout == 0 {
		c.VerifyTimeout = DefaultVerifyTimeout
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Tasks.Timeout == 0 {
		c.Tasks.Timeout = DefaultTaskTimeout
	}
	if c.Strategy == "" {
		c.Strategy = StrategyBlueGreen
	}
	c.Canary = c.Canary.withDefaults()
	if c.Service != "" && !slices.Contains(c.Services, c.Service) {
		c.Services = append([]string{c.Service}, c.Services...)
	}
	return c
}

// SlotPorts holds each slot's host port.
type SlotPorts struct {
	Blue  int `json:"blue"`
	Green int `json:"green"`
}

// SlotComposeFiles names each slot's own compose file.
type SlotComposeFiles struct {
	Blue, Green string
}

// File returns the compose file of s, or "".
func (f SlotComposeFiles) File(s Slot) string {
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

// rawConfig is the x-bluegreen section as written in the file.
type rawConfig struct {
	Service       string        `json:"service"`
	Services      []string      `json:"services"`
	Port          xvalue.Number `json:"port"`
	Slots         *rawSlots     `json:"slots"`
	Health        *rawHealth    `json:"health"`
	DrainTimeout  string        `json:"drain_timeout" want:"a duration like 30s"`
	VerifyURL     string        `json:"verify_url"`
	VerifyTimeout string        `json:"verify_timeout" want:"a duration like 30s"`
	KeepRetired   *xvalue.Bool  `json:"keep_retired"`
	StateDir      string        `json:"state_dir"`
	Tasks         *rawTasks     `json:"tasks"`
	Strategy      string        `json:"strategy"`
	Canary        *rawCanary    `json:"canary"`
}

type rawCanary struct {
	Steps        []xvalue.Number `json:"steps"`
	StepTime     string          `json:"step_time" want:"a duration like 30s"`
	MaxErrorRate string          `json:"max_error_rate" want:"a percentage like 1%"`
	MinRequests  xvalue.Number   `json:"min_requests"`
}

type rawTasks struct {
	BeforeSwitch []string `json:"before_switch"`
	AfterSwitch  []string `json:"after_switch"`
	Timeout      string   `json:"timeout" want:"a duration like 30s"`
}

type rawHealth struct {
	Path             string        `json:"path"`
	Host             string        `json:"host"`
	Status           xvalue.Number `json:"status"`
	TCP              xvalue.Bool   `json:"tcp"`
	Interval         string        `json:"interval" want:"a duration like 30s"`
	Timeout          string        `json:"timeout" want:"a duration like 30s"`
	HealthyThreshold xvalue.Number `json:"healthy_threshold"`
}

type rawSlots struct {
	Blue  rawSlot `json:"blue"`
	Green rawSlot `json:"green"`
}

// rawSlot is a slot's host port (8081), or a compose file of its own
// ({file: docker-compose.blue.yaml}) whose routed service publishes it.
type rawSlot struct {
	Port xvalue.Number `json:"port"`
	File string        `json:"file"`
}

func (r *rawSlot) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		type plain rawSlot
		return xvalue.Decode("", b, (*plain)(r))
	}
	return r.Port.UnmarshalJSON(b)
}

// Want says what a slot must be, for xvalue.Decode's messages.
func (rawSlot) Want() string {
	return "a host port like 8081, or {file: <the slot's compose file>}"
}

// coreKeys are the keys of x-bluegreen that the core owns; every other key
// is a section of a proxy package's.
var coreKeys = map[string]bool{}

func init() {
	t := reflect.TypeOf(rawConfig{})
	for i := range t.NumField() {
		coreKeys[strings.Split(t.Field(i).Tag.Get("json"), ",")[0]] = true
	}
}

var (
	sectionsMu sync.Mutex
	sectionSet = map[string]bool{}
)

// RegisterSection declares key as a section of x-bluegreen that a proxy
// package owns and decodes itself (Project.Section); a key that is neither
// the core's nor registered is refused as a typo. Proxy packages register
// their key when they are initialized.
func RegisterSection(key string) {
	sectionsMu.Lock()
	defer sectionsMu.Unlock()
	sectionSet[key] = true
}

func registered(key string) bool {
	sectionsMu.Lock()
	defer sectionsMu.Unlock()
	return sectionSet[key]
}

func registeredSections() []string {
	sectionsMu.Lock()
	defer sectionsMu.Unlock()
	return slices.Sorted(maps.Keys(sectionSet))
}

// decodeConfig reads x-bluegreen from a loaded project: the core's keys into
// a Config (edits applied, then defaults), each registered section as it
// is. Paths are made absolute, relative to
// the project's directory. The caller validates the result.
func decodeConfig(p *types.Project, edits []func(*Config)) (Config, map[string]json.RawMessage, error) {
	fail := func(err error) (Config, map[string]json.RawMessage, error) {
		return Config{}, nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	var raw rawConfig
	sections := map[string]json.RawMessage{}
	if ext, ok := p.Extensions[ExtensionKey]; ok && ext != nil {
		b, err := json.Marshal(ext)
		if err != nil {
			return fail(xvalue.KeyError{Key: ExtensionKey, Problem: xvalue.EscapeControl(err.Error())})
		}
		core, err := splitSections(b, sections)
		if err != nil {
			return fail(err)
		}
		if err := xvalue.Decode(ExtensionKey, core, &raw); err != nil {
			return fail(err)
		}
	}
	cfg := Config{
		Project:       p.Name,
		Service:       raw.Service,
		Services:      raw.Services,
		Port:          int(raw.Port),
		VerifyURL:     raw.VerifyURL,
		RemoveRetired: raw.KeepRetired != nil && !bool(*raw.KeepRetired),
		StateDir:      raw.StateDir,
	}
	if raw.Slots != nil {
		cfg.Slots = SlotPorts{Blue: int(raw.Slots.Blue.Port), Green: int(raw.Slots.Green.Port)}
		cfg.ComposeFiles = SlotComposeFiles{Blue: raw.Slots.Blue.File, Green: raw.Slots.Green.File}
	}
	var errs []string
	duration := func(key, v string, dst *time.Duration, def time.Duration) {
		d, ok, err := xvalue.Duration(ExtensionKey+"."+key, v, true, def)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if ok {
			*dst = d
		}
	}
	switch d, ok, err := xvalue.Duration(ExtensionKey+".drain_timeout", raw.DrainTimeout, false, DefaultDrainTimeout); {
	case err != nil:
		errs = append(errs, err.Error())
	case ok && d == 0:
		errs = append(errs, fmt.Sprintf("%s.drain_timeout: %s would retire the old slot with requests in flight; leave it out for the default %s",
			ExtensionKey, xvalue.Shown(raw.DrainTimeout), DefaultDrainTimeout))
	case ok:
		cfg.DrainTimeout = d
	}
	duration("verify_timeout", raw.VerifyTimeout, &cfg.VerifyTimeout, DefaultVerifyTimeout)
	if h := raw.Health; h != nil {
		cfg.Health.Path = h.Path
		duration("health.interval", h.Interval, &cfg.Health.Interval, health.DefaultInterval)
		duration("health.timeout", h.Timeout, &cfg.Health.Timeout, health.DefaultTimeout)
		cfg.Health.HealthyThreshold = int(h.HealthyThreshold)
		cfg.Health.Host, cfg.Health.Status, cfg.Health.TCP = h.Host, int(h.Status), bool(h.TCP)
	}
	if t := raw.Tasks; t != nil {
		cfg.Tasks.BeforeSwitch, cfg.Tasks.AfterSwitch = t.BeforeSwitch, t.AfterSwitch
		duration("tasks.timeout", t.Timeout, &cfg.Tasks.Timeout, DefaultTaskTimeout)
	}
	cfg.Strategy = raw.Strategy
	if c := raw.Canary; c != nil {
		if raw.Strategy == "" || raw.Strategy == StrategyBlueGreen {
			errs = append(errs, fmt.Sprintf("%s.canary: set, but strategy is %s; add strategy: canary, or remove the canary section",
				ExtensionKey, StrategyBlueGreen))
		}
		for _, n := range c.Steps {
			cfg.Canary.Steps = append(cfg.Canary.Steps, int(n))
		}
		duration("canary.step_time", c.StepTime, &cfg.Canary.StepTime, DefaultCanaryStepTime)
		if c.MaxErrorRate != "" {
			rate, err := parsePercent(ExtensionKey+".canary.max_error_rate", c.MaxErrorRate)
			if err != nil {
				errs = append(errs, err.Error())
			}
			cfg.Canary.MaxErrorRate = rate
		}
		cfg.Canary.MinRequests = int(c.MinRequests)
	}
	if len(errs) > 0 {
		return fail(errors.New(strings.Join(errs, "; ")))
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	inferService(p, &cfg)
	cfg = cfg.WithDefaults()
	// Relative paths are relative to the compose file, as in compose
	// itself.
	for _, path := range []*string{&cfg.StateDir, &cfg.ComposeFiles.Blue, &cfg.ComposeFiles.Green} {
		*path = absPath(p.WorkingDir, *path)
	}
	// The slots' own files are loaded before Validate runs: a control
	// character in a name or path is reported first.
	if errs := cfg.controlErrors(); len(errs) > 0 {
		slices.Sort(errs)
		return fail(fmt.Errorf("%s: %s", ExtensionKey, strings.Join(errs, "; ")))
	}
	return cfg, sections, nil
}

// splitSections splits x-bluegreen, the JSON ext, into the core's keys,
// returned as a JSON object, and the registered sections, added to
// sections. A key that is neither is an error, which suggests the nearest
// known key.
func splitSections(ext []byte, sections map[string]json.RawMessage) ([]byte, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(ext, &all); err != nil {
		return nil, xvalue.Wrong(ExtensionKey, "a mapping of keys", ext)
	}
	known := append(slices.Collect(maps.Keys(coreKeys)), registeredSections()...)
	core := map[string]json.RawMessage{}
	var errs xvalue.Errors
	for _, key := range slices.Sorted(maps.Keys(all)) {
		switch {
		case coreKeys[key]:
			core[key] = all[key]
		case registered(key):
			sections[key] = all[key]
		default:
			errs = append(errs, xvalue.UnknownKey(ExtensionKey, key, known))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return json.Marshal(core)
}

// absPath returns path relative to dir when it is not absolute already.
func absPath(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
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

// projectName is compose's rule for a project name (compose-go's
// loader.NormalizeProjectName leaves such a name as it is). Loading a file
// already enforces it; a name set in code is checked here. The slots run as
// <project>-blue and <project>-green, which then follow it too.
var projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Validate checks c on its own. All problems are reported in one error
// wrapping ErrBadInput; each names its key and, unless it may be secret,
// its value.
func (c Config) Validate() error {
	return c.validate(nil)
}

// validate is Validate and, when p is not nil, checks against the project
// that c will deploy.
func (c Config) validate(p *types.Project) error {
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
	switch {
	case c.Port == 0:
		bad("%s", portNotSet(p, c.Service))
	case c.Port < 1 || c.Port > 65535:
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
	case xvalue.HasControl(path):
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
		{"tasks.timeout", c.Tasks.Timeout},
	} {
		if d.value < 0 {
			bad("%s: %s may not be negative", d.key, d.value)
		}
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
		case xvalue.HasControl(c.VerifyURL):
			bad("verify_url: %q holds a control character", redact.URL(c.VerifyURL))
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("verify_url: %q is not an http(s) URL", redact.URL(c.VerifyURL))
		}
	}
	if c.StateDir == "" {
		bad("state_dir: empty")
	}
	errs = append(errs, c.taskErrors(p)...)
	errs = append(errs, c.canaryErrors()...)
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%w: %s", ErrBadInput, strings.Join(errs, "; "))
	}
	return nil
}

// taskErrors checks the task lists: each names a one-off service of the
// file (p, when not nil), enabled or behind a profile, that does not switch.
func (c Config) taskErrors(p *types.Project) []string {
	var errs []string
	for _, list := range []struct {
		key   string
		names []string
	}{{"tasks.before_switch", c.Tasks.BeforeSwitch}, {"tasks.after_switch", c.Tasks.AfterSwitch}} {
		for _, name := range list.names {
			known := p != nil && slices.Contains(taskCandidates(p), name)
			switch {
			case name == "":
				errs = append(errs, fmt.Sprintf("%s: an empty service name", list.key))
			case slices.Contains(c.Services, name):
				errs = append(errs, fmt.Sprintf("%s: %q switches with the release (it is in services): a task is a one-off service of its own", list.key, name))
			case p != nil && !known:
				hint := ""
				if near, ok := xvalue.Nearest(name, taskCandidates(p)); ok {
					hint = fmt.Sprintf(" (did you mean %s?)", near)
				}
				errs = append(errs, fmt.Sprintf("%s: %q is not a service of the file%s", list.key, name, hint))
			}
		}
	}
	return errs
}

// taskCandidates lists the services of p, those behind a profile too.
func taskCandidates(p *types.Project) []string {
	return append(p.ServiceNames(), slices.Sorted(maps.Keys(p.DisabledServices))...)
}

// portNotSet says that port is not set and why it could not be guessed
// (inferService takes the one port that the routed service publishes).
// p may be nil.
func portNotSet(p *types.Project, service string) string {
	fix := fmt.Sprintf("set %s.port to the container port the app listens on", ExtensionKey)
	var svc types.ServiceConfig
	ok := false
	if p != nil {
		svc, ok = p.Services[service]
	}
	switch {
	case !ok:
		return "port: not set; " + fix
	case len(svc.Ports) == 0:
		return fmt.Sprintf("port: not set and service %q publishes no port; %s", service, fix)
	}
	targets := make([]string, len(svc.Ports))
	for i, port := range svc.Ports {
		targets[i] = strconv.Itoa(int(port.Target))
	}
	return fmt.Sprintf("port: not set and service %q publishes %d container ports (%s); set %s.port to the one that takes traffic",
		service, len(svc.Ports), strings.Join(targets, ", "), ExtensionKey)
}

// controlErrors reports the names and paths that hold a control character:
// a newline in a path would reach a file name, one in a name the engine.
// health.path and verify_url are checked with their other rules, since
// their values are shown masked.
func (c Config) controlErrors() []string {
	kv := []string{
		"state_dir", c.StateDir,
		"slots.blue.file", c.ComposeFiles.Blue,
		"slots.green.file", c.ComposeFiles.Green,
		"health.host", c.Health.Host,
		"service", c.Service,
	}
	for _, name := range c.Services {
		kv = append(kv, "services", name)
	}
	return xvalue.Controls(kv...)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
