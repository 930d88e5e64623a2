package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/bluegreen-dev/bluegreen/internal/composelabel"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// Source says where a compose project comes from, as compose's own -f, -p,
// --env-file and --project-directory flags do. The zero value loads
// compose.yaml (or compose's other default names) from the current directory.
type Source struct {
	// Files are the compose files, merged in order.
	Files []string
	// ProjectName overrides the name from the file (name:), the
	// COMPOSE_PROJECT_NAME variable and the directory.
	ProjectName string
	// WorkingDir is the project directory; empty means the directory of the
	// first file, or the current directory.
	WorkingDir string
	// Env holds KEY=VALUE variables that interpolate the file. They win over
	// the process environment, which wins over the env files.
	Env []string
	// EnvFiles replace the default .env file.
	EnvFiles []string
}

// Project is a compose project loaded for blue/green deploys: the compose
// file parsed once, the core of its x-bluegreen section decoded, defaulted
// and validated as Config, and the proxies' sections kept as they are for
// the proxy packages, which read their own. A deploy
// derives the base and slot projects from that one parse. Load gives one;
// a new release is a new Load, or WithEnv.
type Project struct {
	// Config is the core of x-bluegreen, as Load validated it.
	Config Config

	source   Source
	edits    []func(*Config)
	parsed   *types.Project
	vars     map[string]string
	sections map[string]json.RawMessage
	// unset are the variables that Open found without a value.
	unset map[string]string
}

// Load loads the compose project once, without starting anything, and
// reads its x-bluegreen section. Each edit then changes the Config before
// its defaults are applied and it is validated against the project, so
// that command-line flags can override the file. Errors wrap ErrBadInput.
func Load(ctx context.Context, src Source, edits ...func(*Config)) (*Project, error) {
	parsed, vars, err := src.load(ctx, src.ProjectName)
	if err != nil {
		return nil, err
	}
	cfg, sections, err := decodeConfig(parsed, edits)
	if err != nil {
		return nil, err
	}
	p := &Project{Config: cfg, source: src, edits: edits, parsed: parsed, vars: vars, sections: sections}
	if cfg.ComposeFiles == (SlotComposeFiles{}) {
		err = cfg.validate(parsed)
	} else if err = src.slotFilePorts(ctx, &p.Config); err == nil {
		// The switching services live in the slots' files, checked there.
		err = p.Config.validate(nil)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Open loads the project for what needs no release: status, history, logs
// and down. Where Load refuses a variable that is not set, Open takes the
// value that the latest release recorded for it (that release's image tag,
// say) or, when none did, the word "unset", and says which in Unset. Deploy,
// Rollback and SwitchTo refuse a project opened with unset variables.
func Open(ctx context.Context, src Source, edits ...func(*Config)) (*Project, error) {
	p, err := Load(ctx, src, edits...)
	if err == nil {
		return p, nil
	}
	// A first pass, not validated, finds the state directory and in it the
	// latest release's variables.
	first, ferr := src.open(ctx, edits, func(string) string { return unsetValue }, false)
	if ferr != nil {
		return nil, err // what Load said is the clearer error
	}
	var recorded map[string]string
	if rels, herr := (&Deployer{Project: first}).History(); herr == nil && len(rels) > 0 {
		recorded = rels[len(rels)-1].Env
	}
	p, oerr := src.open(ctx, edits, func(name string) string {
		if v, ok := recorded[name]; ok {
			return v
		}
		return unsetValue
	}, true)
	if oerr != nil {
		return nil, errors.Join(err, oerr)
	}
	return p, nil
}

// unsetValue stands for a variable that is neither set nor recorded: not
// empty, since ${NAME:?} refuses an empty value.
const unsetValue = "unset"

// open is Load with fill for the unset variables, validated or not.
func (src Source) open(ctx context.Context, edits []func(*Config), fill func(string) string, validate bool) (*Project, error) {
	unset := map[string]string{}
	parsed, vars, err := src.loadFilling(ctx, src.ProjectName, func(name string) string {
		unset[name] = fill(name)
		return unset[name]
	})
	if err != nil {
		return nil, err
	}
	cfg, sections, err := decodeConfig(parsed, edits)
	if err != nil {
		return nil, err
	}
	p := &Project{Config: cfg, source: src, edits: edits, parsed: parsed, vars: vars, sections: sections, unset: unset}
	switch {
	case !validate:
	case cfg.ComposeFiles == (SlotComposeFiles{}):
		err = cfg.validate(parsed)
	default:
		err = p.Config.validate(nil)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Unset names the variables that Open found without a value, each with the
// value it took instead: the latest release's, or "unset" when no release
// recorded one. It is empty for a project that Load gave.
func (p *Project) Unset() map[string]string { return maps.Clone(p.unset) }

// needsRelease refuses a project opened with unset variables: its images
// and settings are not a release's.
func (p *Project) needsRelease() error {
	if len(p.unset) == 0 {
		return nil
	}
	return fmt.Errorf("%w: variable %s not set: the project was opened for status and teardown only (bluegreen.Open); load it with its variables to deploy",
		ErrBadInput, strings.Join(slices.Sorted(maps.Keys(p.unset)), ", "))
}

// WithEnv loads the project again with more KEY=VALUE variables, which win
// over those it was loaded with: the way to deploy a new release (a new
// image tag) from the same file.
func (p *Project) WithEnv(ctx context.Context, env ...string) (*Project, error) {
	src := p.source
	src.Env = append(slices.Clone(src.Env), env...)
	return Load(ctx, src, p.edits...)
}

// Source is where the project was loaded from.
func (p *Project) Source() Source { return p.source }

// Name is the base project name: the slots run as Name-blue and Name-green.
func (p *Project) Name() string { return p.Config.Project }

// Dir is the project's directory: relative paths of x-bluegreen are
// relative to it.
func (p *Project) Dir() string { return p.parsed.WorkingDir }

// Section returns a section of x-bluegreen that the core does not own (a
// proxy's, registered with RegisterSection) as JSON, or nil when the file has
// none. Values may be strings where numbers are meant: compose interpolates
// extensions into strings.
func (p *Project) Section(key string) json.RawMessage { return p.sections[key] }

// DecodeSection decodes the section key of x-bluegreen into v, a pointer to
// a struct with json tags: unknown keys are refused, and numbers and
// booleans may be strings (compose interpolates them so). A missing section
// leaves v as it is. Errors wrap ErrBadInput; each problem names its key
// (x-bluegreen.nginx.keepalive) and what was wanted (a field's tag
// `want:"a duration like 30s"` says it in words of its own), and an
// unknown key comes with the nearest known one.
func (p *Project) DecodeSection(key string, v any) error {
	b := p.sections[key]
	if b == nil {
		return nil
	}
	if err := xvalue.Decode(ExtensionKey+"."+key, b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInput, err)
	}
	return nil
}

// Sections lists the keys of the sections that Section returns, sorted.
func (p *Project) Sections() []string {
	return slices.Sorted(maps.Keys(p.sections))
}

// slotFilePorts reads, in the two-file layout, each slot's port from its
// own file: the host port its routed service publishes for Config.Port.
func (src Source) slotFilePorts(ctx context.Context, cfg *Config) error {
	if cfg.Port == 0 {
		return fmt.Errorf("%w: port: not set; set %s.port to the container port that each slot's file publishes", ErrBadInput, ExtensionKey)
	}
	for _, slot := range []Slot{Blue, Green} {
		file := cfg.ComposeFiles.File(slot)
		if file == "" {
			return fmt.Errorf("%w: slots.%s: no file, while the other slot has one: give both", ErrBadInput, slot)
		}
		p, err := src.loadFile(ctx, file, cfg.Project)
		if err != nil {
			return err
		}
		svc, ok := p.Services[cfg.Service]
		if !ok {
			return fmt.Errorf("%w: %s: the %s slot's file has no service %q", ErrBadInput, file, slot, cfg.Service)
		}
		port, count := publishedPorts(svc.Ports, cfg.Port)
		if port == 0 {
			return fmt.Errorf("%w: %s: service %s does not publish container port %d", ErrBadInput, file, cfg.Service, cfg.Port)
		}
		replicas := svc.GetScale()
		if slot == Green && replicas != cfg.Replicas {
			return fmt.Errorf("%w: %s: service %s runs %d replicas, the blue slot's file %d: give both the same", ErrBadInput, file, cfg.Service, replicas, cfg.Replicas)
		}
		if count < replicas {
			return fmt.Errorf("%w: %s: service %s publishes %d host port(s) for container port %d and runs %d replicas: publish a range of one port per replica (%d-%d:%d)",
				ErrBadInput, file, cfg.Service, count, cfg.Port, replicas, port, port+replicas-1, cfg.Port)
		}
		cfg.Replicas = replicas
		if slot == Blue {
			cfg.Slots.Blue = port
		} else {
			cfg.Slots.Green = port
		}
	}
	return nil
}

// publishedPorts returns the first host port that publishes target and
// how many the range holds (8081-8083: 8081, 3), or 0, 0.
func publishedPorts(ports []types.ServicePortConfig, target int) (first, count int) {
	for _, p := range ports {
		if int(p.Target) != target {
			continue
		}
		lo, hi, isRange := strings.Cut(p.Published, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				continue
			}
		}
		return a, b - a + 1
	}
	return 0, 0
}

// load reads the project under the given name ("" lets compose choose it).
// A variable the file uses bare (${X} or $X, without a default) that is not
// set is an error, not an empty string: an empty image tag or password is
// never what was meant. It also returns the values of the variables the
// file refers to, to record with the release.
func (src Source) load(ctx context.Context, name string) (*types.Project, map[string]string, error) {
	return src.loadFilling(ctx, name, nil)
}

// loadFilling is load where fill, when not nil, gives the value of each
// variable that is not set (and records it), instead of an error.
func (src Source) loadFilling(ctx context.Context, name string, fill func(name string) string) (*types.Project, map[string]string, error) {
	vars := &variables{used: map[string]string{}, fill: fill}
	opts, err := cli.NewProjectOptions(src.Files,
		cli.WithWorkingDirectory(src.WorkingDir),
		cli.WithEnv(src.Env),
		cli.WithOsEnv,
		cli.WithEnvFiles(src.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithName(name),
		cli.WithLoadOptions(vars.install),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: compose options: %v", ErrBadInput, err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: loading %s: %v", ErrBadInput, describeFiles(src.Files), err)
	}
	if len(vars.missing) > 0 {
		return nil, nil, fmt.Errorf("%w: %s: variable %s not set (give a default with ${NAME:-default} if empty is meant)",
			ErrBadInput, describeFiles(src.Files), strings.Join(vars.missing, ", "))
	}
	return p, vars.used, nil
}

// variables watches interpolation: which variables the file refers to, and
// which bare ones are missing.
type variables struct {
	used    map[string]string
	missing []string
	fill    func(name string) string
}

// bareVariable matches $NAME and ${NAME}: references without a default,
// an alternative or a required-message.
var bareVariable = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// anyVariable matches the name at the start of any reference.
var anyVariable = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

func (v *variables) install(o *loader.Options) {
	if o.Interpolate == nil {
		return
	}
	substitute := o.Interpolate.Substitute
	if substitute == nil {
		substitute = template.Substitute
	}
	o.Interpolate.Substitute = func(value string, mapping template.Mapping) (string, error) {
		if v.fill != nil {
			set := mapping
			mapping = func(name string) (string, bool) {
				if val, ok := set(name); ok {
					return val, true
				}
				return v.fill(name), true
			}
		}
		unescaped := strings.ReplaceAll(value, "$$", "")
		for _, m := range anyVariable.FindAllStringSubmatch(unescaped, -1) {
			if val, ok := mapping(m[1]); ok {
				v.used[m[1]] = val
			}
		}
		for _, m := range bareVariable.FindAllStringSubmatch(unescaped, -1) {
			name := m[1] + m[2]
			if _, ok := mapping(name); !ok && !slices.Contains(v.missing, name) {
				v.missing = append(v.missing, name)
			}
		}
		return substitute(value, mapping)
	}
}

// loadFile loads one compose file instead of src.Files.
func (src Source) loadFile(ctx context.Context, file, name string) (*types.Project, error) {
	src.Files = []string{file}
	p, _, err := src.load(ctx, name)
	return p, err
}

func describeFiles(files []string) string {
	if len(files) == 0 {
		return "the compose file"
	}
	return strings.Join(files, ", ")
}

// slotProject derives the switching services as the project
// <project>-<slot>, with no fixed container names (they would collide
// between slots) and the routed service's port published on
// 127.0.0.1:<slot port> (a range of Replicas ports when more than one), as
// many containers of it as Replicas says. They join the base project's
// networks and volumes, so they reach the shared services by name as
// before; their depends_on on shared services is met by the base project,
// which is up first. With network, the routed service also joins that
// docker network, where the proxy reaches it by name.
//
// It comes from the one parse, except for a release recorded earlier (rel
// not nil), loaded again with its variables and image references so that
// it runs again as it ran then, and for the two-file layout, where the
// slot is its own file.
func (p *Project) slotProject(ctx context.Context, slot Slot, rel *Release, network string) (*types.Project, map[string]string, error) {
	cfg := p.Config
	ownFile := cfg.ComposeFiles.File(slot)
	sp, vars, err := p.parsed, p.vars, error(nil)
	if rel != nil || ownFile != "" {
		src := p.source
		if rel != nil {
			for k, v := range rel.Env {
				src.Env = append(src.Env, k+"="+v)
			}
		}
		if ownFile != "" {
			src.Files = []string{ownFile}
		}
		// Loaded under the base name, networks and volumes are named as
		// the base project creates them.
		sp, vars, err = src.load(ctx, cfg.Project)
	} else {
		sp, err = copyProject(sp)
	}
	if err != nil {
		return nil, nil, err
	}
	keepServices(sp, func(name string) bool { return slices.Contains(cfg.Services, name) })
	externalize(sp)
	sp.Name = slotProjectName(cfg.Project, slot)
	for name, svc := range sp.Services {
		if ownFile == "" {
			svc.ContainerName = ""
			if name == cfg.Service {
				svc.Ports = publishSlotPort(svc.Ports, cfg.Port, cfg.slotPortSpec(slot))
				svc.SetScale(cfg.replicas())
			}
		}
		if image, ok := rel.image(name); ok {
			svc.Image = image
		}
		sp.Services[name] = svc
	}
	if network != "" {
		joinNetwork(sp, cfg.Project, cfg.Service, network)
	}
	composelabel.Services(sp)
	return sp, vars, nil
}

// taskProject derives the one-off task service name of the file's release
// as the project <project>-<slot>-task, as "compose run --rm" would run it:
// one container, no published ports, no restart, its depends_on dropped
// (the shared services are up and the slot is healthy), on the networks and
// volumes of the base project. A service behind a compose profile is
// taken as well.
func (p *Project) taskProject(slot Slot, name string) (*types.Project, error) {
	tp, err := copyProject(p.parsed)
	if err != nil {
		return nil, err
	}
	svc, ok := tp.Services[name]
	if !ok {
		svc, ok = tp.DisabledServices[name]
	}
	if !ok {
		return nil, fmt.Errorf("%w: task %s is not a service of the file", ErrBadInput, name)
	}
	svc.Profiles, svc.Ports, svc.ContainerName, svc.Restart = nil, nil, "", ""
	if svc.Deploy != nil {
		svc.Deploy.RestartPolicy = nil
	}
	svc.DependsOn = nil
	svc.SetScale(1)
	tp.Services = types.Services{name: svc}
	tp.DisabledServices = nil
	externalize(tp)
	tp.Name = taskProjectName(p.Config.Project, slot)
	composelabel.Services(tp)
	return tp, nil
}

// externalize marks p's networks and volumes external: the base project
// owns them.
func externalize(p *types.Project) {
	for key, n := range p.Networks {
		n.External = true
		p.Networks[key] = n
	}
	for key, v := range p.Volumes {
		v.External = true
		p.Volumes[key] = v
	}
}

// copyProject returns a deep copy of p, which a deploy may change.
func copyProject(p *types.Project) (*types.Project, error) {
	return p.WithServicesTransform(func(_ string, s types.ServiceConfig) (types.ServiceConfig, error) { return s, nil })
}

// proxyNetwork is the key, in a slot project, of the network that the proxy
// shares with the slots.
const proxyNetwork = "bluegreen_proxy"

// joinNetwork attaches service to the existing docker network name, as well
// as to the networks it was on (the base project's default one when none
// was named).
func joinNetwork(p *types.Project, base, service, name string) {
	p.Networks = withEntry(p.Networks, proxyNetwork, types.NetworkConfig{Name: name, External: true})
	svc := p.Services[service]
	if svc.Networks == nil && svc.NetworkMode == "" {
		svc.Networks = map[string]*types.ServiceNetworkConfig{"default": nil}
		if _, ok := p.Networks["default"]; !ok {
			p.Networks["default"] = types.NetworkConfig{Name: base + "_default", External: true}
		}
	}
	svc.Networks = withEntry(svc.Networks, proxyNetwork, (*types.ServiceNetworkConfig)(nil))
	p.Services[service] = svc
}

// baseProject derives the shared services (those that do not switch) as
// the project <project>, which also owns the networks and named volumes.
func (p *Project) baseProject(ctx context.Context) (*types.Project, error) {
	cfg := p.Config
	base, err := copyProject(p.parsed)
	if err != nil {
		return nil, err
	}
	tasks := cfg.Tasks.names()
	keepServices(base, func(name string) bool { return !slices.Contains(cfg.Services, name) && !slices.Contains(tasks, name) })
	composelabel.Services(base)
	// In the two-file layout, the slots' files declare networks and volumes
	// of their own: the base project owns them too.
	for _, slot := range []Slot{Blue, Green} {
		file := cfg.ComposeFiles.File(slot)
		if file == "" {
			continue
		}
		sp, err := p.source.loadFile(ctx, file, cfg.Project)
		if err != nil {
			return nil, err
		}
		for key, n := range sp.Networks {
			if _, ok := base.Networks[key]; !ok {
				base.Networks = withEntry(base.Networks, key, n)
			}
		}
		for key, v := range sp.Volumes {
			if _, ok := base.Volumes[key]; !ok {
				base.Volumes = withEntry(base.Volumes, key, v)
			}
		}
	}
	return base, nil
}

// withEntry sets m[key] = v, making m when it is nil.
func withEntry[M ~map[string]V, V any](m M, key string, v V) M {
	if m == nil {
		m = M{}
	}
	m[key] = v
	return m
}

// keepServices drops the services keep refuses, and the depends_on entries
// that name them.
func keepServices(p *types.Project, keep func(name string) bool) {
	for name := range p.Services {
		if !keep(name) {
			delete(p.Services, name)
		}
	}
	for name, svc := range p.Services {
		for dep := range svc.DependsOn {
			if !keep(dep) {
				delete(svc.DependsOn, dep)
			}
		}
		p.Services[name] = svc
	}
}

// images returns each service's image reference.
func images(p *types.Project) map[string]string {
	out := map[string]string{}
	for name, svc := range p.Services {
		out[name] = svc.Image
	}
	return out
}

// publishSlotPort returns ports with the container port target published on
// 127.0.0.1:host (a port, or a range with one port per replica), replacing
// whatever the file said for that target.
func publishSlotPort(ports []types.ServicePortConfig, target int, host string) []types.ServicePortConfig {
	out := make([]types.ServicePortConfig, 0, len(ports)+1)
	for _, p := range ports {
		if int(p.Target) != target {
			out = append(out, p)
		}
	}
	return append(out, types.ServicePortConfig{
		Mode:      "ingress",
		HostIP:    "127.0.0.1",
		Target:    uint32(target),
		Published: host,
		Protocol:  "tcp",
	})
}

// taskProjectName is the project a task of slot's release runs as.
func taskProjectName(project string, slot Slot) string {
	return slotProjectName(project, slot) + "-task"
}

func slotProjectName(project string, slot Slot) string {
	return project + "-" + string(slot)
}
