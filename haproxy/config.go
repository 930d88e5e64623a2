package haproxy

import (
	"fmt"
	"log/slog"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// SectionKey is the key of x-bluegreen that holds the HAProxy settings:
//
//	x-bluegreen:
//	  haproxy:
//	    socket: /run/haproxy/admin.sock  # the runtime API: "stats socket ... level admin"
//	    backend: web                     # the backend that serves the app
const SectionKey = "haproxy"

func init() { bluegreen.RegisterSection(SectionKey) }

// Config is the haproxy section of x-bluegreen.
type Config struct {
	Socket  string `json:"socket"`
	Backend string `json:"backend"`
}

// ConfigFromProject reads the haproxy section of p, applies each edit and
// validates the result. Errors wrap bluegreen.ErrBadInput.
func ConfigFromProject(p *bluegreen.Project, edits ...func(*Config)) (Config, error) {
	var c Config
	if err := p.DecodeSection(SectionKey, &c); err != nil {
		return Config{}, err
	}
	for _, edit := range edits {
		edit(&c)
	}
	if c.Socket == "" || c.Backend == "" {
		return Config{}, fmt.Errorf("%w: %s.%s: socket and backend are both required", bluegreen.ErrBadInput, bluegreen.ExtensionKey, SectionKey)
	}
	if _, err := parseSocket(c.Socket); err != nil {
		return Config{}, err
	}
	if err := checkName("haproxy.backend", c.Backend); err != nil {
		return Config{}, err
	}
	return c, nil
}

// FromProject returns the Switcher for the haproxy section of p.
func FromProject(p *bluegreen.Project, logger *slog.Logger, edits ...func(*Config)) (bluegreen.Switcher, error) {
	c, err := ConfigFromProject(p, edits...)
	if err != nil {
		return nil, err
	}
	return c.Switcher(logger), nil
}

// Switcher returns the Switcher for c.
func (c Config) Switcher(logger *slog.Logger) bluegreen.Switcher {
	return &Switcher{Socket: c.Socket, Backend: c.Backend, Logger: logger}
}
