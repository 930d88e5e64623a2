package caddy

import (
	"fmt"
	"log/slog"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// SectionKey is the key of x-bluegreen that holds the Caddy settings:
//
//	x-bluegreen:
//	  caddy:
//	    admin: http://127.0.0.1:2019   # Caddy's admin endpoint (the default)
//	    id: web                        # the "@id" of the reverse_proxy handler
const SectionKey = "caddy"

func init() { bluegreen.RegisterSection(SectionKey) }

// Config is the caddy section of x-bluegreen.
type Config struct {
	Admin string `json:"admin"`
	ID    string `json:"id"`
}

// ConfigFromProject reads the caddy section of p, applies each edit, then
// the default admin address, and validates the result. Errors wrap
// bluegreen.ErrBadInput.
func ConfigFromProject(p *bluegreen.Project, edits ...func(*Config)) (Config, error) {
	var c Config
	if err := p.DecodeSection(SectionKey, &c); err != nil {
		return Config{}, err
	}
	for _, edit := range edits {
		edit(&c)
	}
	if c.Admin == "" {
		c.Admin = DefaultAdmin
	}
	if c.ID == "" {
		return Config{}, fmt.Errorf("%w: %s.%s.id: not set (the \"@id\" of the reverse_proxy handler whose upstreams switch)", bluegreen.ErrBadInput, bluegreen.ExtensionKey, SectionKey)
	}
	if _, err := checkAdmin(c.Admin); err != nil {
		return Config{}, err
	}
	if err := checkID(c.ID); err != nil {
		return Config{}, err
	}
	return c, nil
}

// FromProject returns the Switcher for the caddy section of p.
func FromProject(p *bluegreen.Project, logger *slog.Logger, edits ...func(*Config)) (bluegreen.Switcher, error) {
	c, err := ConfigFromProject(p, edits...)
	if err != nil {
		return nil, err
	}
	return c.Switcher(logger), nil
}

// Switcher returns the Switcher for c.
func (c Config) Switcher(logger *slog.Logger) bluegreen.Switcher {
	return &Switcher{Admin: c.Admin, ID: c.ID, Logger: logger}
}
