package nginxconf

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// SectionKey is the key of x-bluegreen that holds the nginx settings.
const SectionKey = "nginx"

func init() { bluegreen.RegisterSection(SectionKey) }

// Defaults for the keys of the nginx section that may be left out.
const (
	DefaultUpstream = "backend"
	DefaultBinary   = "nginx"
	// DefaultConfDir holds the default upstream file,
	// <service>-upstream.conf.
	DefaultConfDir = "/etc/nginx/conf.d"
	// MaxKeepalive bounds keepalive.
	MaxKeepalive = 10000
	// maxUpstreamName bounds upstream. nginx itself takes a name up to its
	// configuration token limit (about 4 KiB), but by default it sends the
	// upstream name as the Host header of every proxied request
	// (proxy_set_header Host $proxy_host), and a host name's label has at
	// most 63 characters.
	maxUpstreamName = 63
)

// Config is the nginx section of x-bluegreen.
//
// nginx runs in one of three ways. By default it runs on the host and
// includes UpstreamFile, which bluegreen owns. With LiveFile, BlueFile and
// GreenFile (per-slot files, as many existing setups have them) a switch
// copies the slot's file over LiveFile. With Container, nginx runs in that
// container and bluegreen validates and reloads it through the engine;
// UpstreamFile and Conf are then paths inside the container.
type Config struct {
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
	// AccessLog is nginx.access_log: the access log nginx writes in the
	// bluegreen format (LogFormat), which strategy canary reads. Relative
	// to the compose file's directory.
	AccessLog string
	// Container names the nginx container of the container mode.
	Container string
	// Network, when set, is a docker network that the routed service of
	// each slot joins; the upstream then names the slot's containers
	// (<project>-<slot>-<service>-<n>:<port>, one per replica) instead of
	// their host ports on 127.0.0.1, for an nginx container on that
	// network.
	Network string
}

// rawConfig is the nginx section as written in the file.
type rawConfig struct {
	Upstream     string        `json:"upstream"`
	UpstreamFile string        `json:"upstream_file"`
	Conf         string        `json:"conf"`
	Prefix       string        `json:"prefix"`
	Binary       string        `json:"binary"`
	LiveFile     string        `json:"live_file"`
	BlueFile     string        `json:"blue_file"`
	GreenFile    string        `json:"green_file"`
	Container    string        `json:"container"`
	Network      string        `json:"network"`
	Keepalive    xvalue.Number `json:"keepalive"`
	AccessLog    string        `json:"access_log"`
}

// ConfigFromProject reads the nginx section of p (an empty section when the
// file has none), applies each edit (command-line flags), then the
// defaults, makes paths absolute relative to the project's directory
// (except those inside a container) and validates the result. Errors wrap
// bluegreen.ErrBadInput.
func ConfigFromProject(p *bluegreen.Project, edits ...func(*Config)) (Config, error) {
	var raw rawConfig
	if err := p.DecodeSection(SectionKey, &raw); err != nil {
		return Config{}, err
	}
	c := Config{
		Upstream: raw.Upstream, UpstreamFile: raw.UpstreamFile, Conf: raw.Conf, Prefix: raw.Prefix, Binary: raw.Binary,
		LiveFile: raw.LiveFile, BlueFile: raw.BlueFile, GreenFile: raw.GreenFile,
		Container: raw.Container, Network: raw.Network, Keepalive: int(raw.Keepalive), AccessLog: raw.AccessLog,
	}
	for _, edit := range edits {
		edit(&c)
	}
	c = c.WithDefaults(p.Config.Service)
	paths := []*string{&c.LiveFile, &c.BlueFile, &c.GreenFile, &c.AccessLog}
	if c.Container == "" {
		paths = append(paths, &c.UpstreamFile, &c.Conf, &c.Prefix)
	}
	for _, path := range paths {
		if *path != "" && !filepath.IsAbs(*path) {
			*path = filepath.Join(p.Dir(), *path)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	if err := c.checkNames(p.Config); err != nil {
		return Config{}, err
	}
	return c, nil
}

// FromProject returns the Switcher for the nginx section of p, as
// ConfigFromProject reads it, with each edit applied to the section.
func FromProject(p *bluegreen.Project, logger *slog.Logger, edits ...func(*Config)) (bluegreen.Switcher, error) {
	c, err := ConfigFromProject(p, edits...)
	if err != nil {
		return nil, err
	}
	return c.Switcher(logger), nil
}

// WithDefaults returns c with its zero fields set to their defaults; the
// upstream file's default is named after service.
func (c Config) WithDefaults(service string) Config {
	if c.Upstream == "" {
		c.Upstream = DefaultUpstream
	}
	if c.Binary == "" {
		c.Binary = DefaultBinary
	}
	if c.UpstreamFile == "" && c.LiveFile == "" && service != "" {
		c.UpstreamFile = filepath.Join(DefaultConfDir, service+"-upstream.conf")
	}
	return c
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate checks c on its own; all problems in one error wrapping
// bluegreen.ErrBadInput.
func (c Config) Validate() error {
	errs := xvalue.Controls(
		"nginx.upstream_file", c.UpstreamFile, "nginx.conf", c.Conf, "nginx.prefix", c.Prefix,
		"nginx.binary", c.Binary, "nginx.live_file", c.LiveFile, "nginx.blue_file", c.BlueFile,
		"nginx.green_file", c.GreenFile, "nginx.container", c.Container, "nginx.network", c.Network,
		"nginx.access_log", c.AccessLog)
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if (c.LiveFile != "" || c.BlueFile != "" || c.GreenFile != "") && (c.LiveFile == "" || c.BlueFile == "" || c.GreenFile == "") {
		bad("nginx: live_file, blue_file and green_file go together")
	}
	if c.Container != "" && c.LiveFile != "" {
		bad("nginx: container and live_file exclude each other")
	}
	if c.Network != "" && c.Container == "" {
		bad("nginx.network: only with nginx.container: an nginx on the host reaches the slots at their ports on 127.0.0.1")
	}
	if c.Container != "" && !filepath.IsAbs(c.UpstreamFile) {
		bad("nginx.upstream_file: %q must be an absolute path inside the container", c.UpstreamFile)
	}
	if c.Keepalive < 0 || c.Keepalive > MaxKeepalive {
		bad("nginx.keepalive: %d is not from 0 to %d", c.Keepalive, MaxKeepalive)
	}
	if c.AccessLog != "" && (c.LiveFile != "" || c.Container != "") {
		bad("nginx.access_log: only with an nginx on this host that bluegreen writes nginx.upstream_file for (a canary needs its weighted upstream): not with live_file or container")
	}
	if c.Keepalive > 0 && c.LiveFile != "" {
		bad("nginx.keepalive: not with live_file: the per-slot files are yours, write keepalive in them")
	}
	switch u := c.Upstream; {
	case !plainName.MatchString(u):
		bad("nginx.upstream: %q is not a plain name", u)
	case len(u) > maxUpstreamName:
		bad("nginx.upstream: %q is %d characters, more than %d: nginx sends it as the Host header of the requests it proxies (unless proxy_set_header Host says otherwise), so keep it to the length of a host name label",
			u, len(u), maxUpstreamName)
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return fmt.Errorf("%w: %s", bluegreen.ErrBadInput, strings.Join(errs, "; "))
	}
	return nil
}

// maxDNSLabel is the longest label of a DNS name (RFC 1035): with a
// network, nginx finds each slot container by its name through the
// engine's DNS, and a longer name cannot be looked up.
const maxDNSLabel = 63

// checkNames fails when, with a network, the longest name that the
// upstream gives a container of the routed service
// (<project>-green-<service>-<replicas>, as compose names them) cannot be a
// DNS name. The two-file layout's files may set container_name: not
// checked there.
func (c Config) checkNames(core bluegreen.Config) error {
	if c.Network == "" || core.ComposeFiles != (bluegreen.SlotComposeFiles{}) {
		return nil
	}
	name := fmt.Sprintf("%s-green-%s-%d", core.Project, core.Service, max(1, core.Replicas))
	label := 0
	for _, l := range strings.Split(name, ".") {
		label = max(label, len(l))
	}
	if label > maxDNSLabel {
		return fmt.Errorf("%w: nginx.network: the slot container name %q is too long for a DNS name (a label of %d characters, at most %d): nginx could not look it up on the network; shorten the project name or the service name",
			bluegreen.ErrBadInput, name, label, maxDNSLabel)
	}
	return nil
}

// Switcher returns the Switcher for c: a Container when it names one,
// SlotFiles when it names per-slot files, else an UpstreamFile.
func (c Config) Switcher(logger *slog.Logger) bluegreen.Switcher {
	switch {
	case c.Container != "":
		return &Container{Container: c.Container, Upstream: c.Upstream, File: c.UpstreamFile, Keepalive: c.Keepalive,
			Conf: c.Conf, Prefix: c.Prefix, Binary: c.Binary, Network: c.Network, Logger: logger}
	case c.LiveFile != "":
		return &SlotFiles{Live: c.LiveFile, Blue: c.BlueFile, Green: c.GreenFile,
			Conf: c.Conf, Prefix: c.Prefix, Binary: c.Binary, Logger: logger}
	}
	return &Switcher{
		Upstream:  c.Upstream,
		File:      c.UpstreamFile,
		Keepalive: c.Keepalive,
		AccessLog: c.AccessLog,
		Conf:      c.Conf,
		Prefix:    c.Prefix,
		Binary:    c.Binary,
		Logger:    logger,
	}
}
