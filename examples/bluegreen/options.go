package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/caddy"
	"github.com/bluegreen-dev/bluegreen/haproxy"
	"github.com/bluegreen-dev/bluegreen/nginxconf"
)

// globalOptions are the compose-style flags every command shares, and the
// overrides of x-bluegreen keys.
type globalOptions struct {
	files        []string
	projectName  string
	env          []string
	envFiles     []string
	dockerHost   string
	verbose      bool
	service      string
	upstreamFile string
	nginxConf    string
	nginxPrefix  string
	stateDir     string
	healthTime   time.Duration
	drainTime    time.Duration
}

func (o *globalOptions) install(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "compose file (repeatable; default: compose.yaml and compose's other default names)")
	f.StringVarP(&o.projectName, "project-name", "p", "", "project name (default: COMPOSE_PROJECT_NAME, then name: in the file, then the directory's name)")
	f.StringArrayVarP(&o.env, "env", "e", nil, "KEY=VALUE variable that interpolates the compose file (repeatable; wins over the environment)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "env file used instead of .env (repeatable)")
	f.StringVarP(&o.dockerHost, "host", "H", "", "docker daemon address (default: DOCKER_HOST, then the docker context)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also print the library's log lines on stderr")
	f.StringVar(&o.service, "service", "", "override x-bluegreen service (env BLUEGREEN_SERVICE)")
	f.StringVar(&o.upstreamFile, "upstream-file", "", "override x-bluegreen nginx.upstream_file (env BLUEGREEN_UPSTREAM_FILE)")
	f.StringVar(&o.nginxConf, "nginx-conf", "", "override x-bluegreen nginx.conf (nginx -c) (env BLUEGREEN_NGINX_CONF)")
	f.StringVar(&o.nginxPrefix, "nginx-prefix", "", "override x-bluegreen nginx.prefix (nginx -p) (env BLUEGREEN_NGINX_PREFIX)")
	f.StringVar(&o.stateDir, "state-dir", "", "override x-bluegreen state_dir: history and lock (env BLUEGREEN_STATE_DIR)")
	f.DurationVar(&o.healthTime, "health-timeout", 0, "override x-bluegreen health.timeout (env BLUEGREEN_HEALTH_TIMEOUT)")
	f.DurationVar(&o.drainTime, "drain-timeout", 0, "override x-bluegreen drain_timeout (env BLUEGREEN_DRAIN_TIMEOUT)")
}

func (o *globalOptions) source() bluegreen.Source {
	return bluegreen.Source{Files: o.files, ProjectName: o.projectName, Env: o.env, EnvFiles: o.envFiles}
}

// load loads the project and applies the flag overrides.
func (o *globalOptions) load(ctx context.Context) (*bluegreen.Project, error) {
	if err := o.fromEnv(); err != nil {
		return nil, err
	}
	return bluegreen.Load(ctx, o.source(), o.override)
}

// open opens the project for the commands that need no release's
// variables (bluegreen.Open), and says on stderr which ones were not set.
func (o *globalOptions) open(ctx context.Context, stderr io.Writer) (*bluegreen.Project, error) {
	if err := o.fromEnv(); err != nil {
		return nil, err
	}
	p, err := bluegreen.Open(ctx, o.source(), o.override)
	if err != nil {
		return nil, err
	}
	unset := p.Unset()
	recorded := map[string]bool{}
	if rels, err := (&bluegreen.Deployer{Project: p}).History(); err == nil && len(rels) > 0 {
		for name := range rels[len(rels)-1].Env {
			recorded[name] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(unset)) {
		how := "the latest release's value is used"
		if !recorded[name] {
			how = "no release recorded it: what depends on it is not known"
		}
		fmt.Fprintf(stderr, "note: variable %s is not set; %s\n", name, how)
	}
	return p, nil
}

// deployer loads the project, builds the proxy's Switcher from its section
// and connects to the engine. The returned function closes the engine's
// client.
func (o *globalOptions) deployer(ctx context.Context, stderr io.Writer) (*bluegreen.Deployer, func(), error) {
	p, err := o.load(ctx)
	if err != nil {
		return nil, nil, err
	}
	return o.deployerOf(ctx, p, stderr)
}

// readOnlyDeployer is deployer for status and down: the project opened
// without its variables when they are not set.
func (o *globalOptions) readOnlyDeployer(ctx context.Context, stderr io.Writer) (*bluegreen.Deployer, func(), error) {
	p, err := o.open(ctx, stderr)
	if err != nil {
		return nil, nil, err
	}
	return o.deployerOf(ctx, p, stderr)
}

func (o *globalOptions) deployerOf(ctx context.Context, p *bluegreen.Project, stderr io.Writer) (*bluegreen.Deployer, func(), error) {
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	sw, err := o.switcher(p, logger)
	if err != nil {
		return nil, nil, err
	}
	backend, err := bluegreen.NewEngine(ctx, o.dockerHost)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to docker: %w", err)
	}
	return &bluegreen.Deployer{Project: p, Compose: backend, Switcher: sw, Logger: logger},
		func() { _ = backend.Close() }, nil
}

// switcher builds the Switcher of the proxy whose section the file has:
// exactly one of them, or none for nginx with its defaults.
func (o *globalOptions) switcher(p *bluegreen.Project, logger *slog.Logger) (bluegreen.Switcher, error) {
	proxies := []string{nginxconf.SectionKey, caddy.SectionKey, haproxy.SectionKey}
	var found []string
	for _, key := range p.Sections() {
		if slices.Contains(proxies, key) {
			found = append(found, key)
		}
	}
	if len(found) > 1 {
		return nil, fmt.Errorf("%w: %s: sections %s: name one proxy", bluegreen.ErrBadInput, bluegreen.ExtensionKey, strings.Join(found, " and "))
	}
	if len(found) == 1 && found[0] != nginxconf.SectionKey {
		if o.upstreamFile != "" || o.nginxConf != "" || o.nginxPrefix != "" {
			return nil, &usageError{fmt.Errorf("--upstream-file, --nginx-conf and --nginx-prefix are for nginx; the file names %s", found[0])}
		}
		if found[0] == haproxy.SectionKey {
			return haproxy.FromProject(p, logger)
		}
		return caddy.FromProject(p, logger)
	}
	return nginxconf.FromProject(p, logger, o.overrideNginx)
}

// fromEnv fills the overrides that no flag set from BLUEGREEN_* variables:
// flags win over the environment, which wins over x-bluegreen.
func (o *globalOptions) fromEnv() error {
	for _, v := range []struct {
		name string
		dst  *string
	}{
		{"BLUEGREEN_SERVICE", &o.service},
		{"BLUEGREEN_UPSTREAM_FILE", &o.upstreamFile},
		{"BLUEGREEN_NGINX_CONF", &o.nginxConf},
		{"BLUEGREEN_NGINX_PREFIX", &o.nginxPrefix},
		{"BLUEGREEN_STATE_DIR", &o.stateDir},
	} {
		if *v.dst == "" {
			*v.dst = os.Getenv(v.name)
		}
	}
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{
		{"BLUEGREEN_HEALTH_TIMEOUT", &o.healthTime},
		{"BLUEGREEN_DRAIN_TIMEOUT", &o.drainTime},
	} {
		if env := os.Getenv(v.name); *v.dst == 0 && env != "" {
			d, err := time.ParseDuration(env)
			if err != nil {
				return &usageError{fmt.Errorf("%s=%q is not a duration", v.name, env)}
			}
			*v.dst = d
		}
	}
	return nil
}

// override applies the flags that override x-bluegreen keys.
func (o *globalOptions) override(cfg *bluegreen.Config) {
	set(&cfg.Service, o.service)
	set(&cfg.StateDir, absPath(o.stateDir))
	if o.healthTime > 0 {
		cfg.Health.Timeout = o.healthTime
	}
	if o.drainTime > 0 {
		cfg.DrainTimeout = o.drainTime
	}
}

// overrideNginx applies the flags that override keys of the nginx section.
func (o *globalOptions) overrideNginx(c *nginxconf.Config) {
	set(&c.UpstreamFile, absPath(o.upstreamFile))
	set(&c.Conf, absPath(o.nginxConf))
	set(&c.Prefix, absPath(o.nginxPrefix))
}

// set sets *dst to v unless v is empty.
func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// absPath makes a path given on the command line absolute, so that it means
// what it meant in the shell (paths in the file are relative to the file).
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}
