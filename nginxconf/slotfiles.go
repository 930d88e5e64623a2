package nginxconf

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// SlotFiles routes traffic the way many existing setups do: each slot has a
// complete nginx file of its own (nginx.blue.conf, nginx.green.conf), and a
// switch copies the slot's file over the one nginx loads, then reloads
// nginx. The copy, nginx -t, the confirmed reload, the restore on failure
// and Drain work as for Switcher.
//
// Live, Blue and Green are required; the other fields work at their zero
// value. A SlotFiles must not be used by two Switch calls at once.
type SlotFiles struct {
	// Live is the file nginx loads, such as /etc/nginx/nginx.conf or
	// /etc/nginx/conf.d/app.conf. Switch replaces it whole; through a
	// symbolic link, it replaces the file the link points to (which must
	// exist) and leaves the link.
	Live string
	// Blue and Green are the per-slot files, such as
	// /etc/nginx/nginx.blue.conf. They must differ, and nginx must not load
	// them itself (outside conf.d/*.conf, say).
	Blue, Green string
	// Conf, Prefix, Binary, PIDFile, Logger and ReloadTimeout work as the
	// Switcher fields of the same names. When Live is the main config, set
	// Conf to it.
	Conf, Prefix, Binary, PIDFile string
	Logger                        *slog.Logger
	ReloadTimeout                 time.Duration

	retiring retiring
}

// Switch copies the file of slot over Live (atomically, with fsync), checks
// the config with nginx -t and reloads nginx, confirmed by its workers. On
// error Live is back as it was and, if nginx may have loaded the new file,
// nginx is reloaded again.
//
// addrs is ignored: each slot's file names its own upstream servers, so
// they must match the slot's ports (bluegreen's slots: blue on 8081, green
// on 8080 by default).
func (s *SlotFiles) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	src, err := s.slotFile(slot)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	content, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("switch: read the file of slot %s: %w", slot, err)
	}
	log := logger(s.Logger).With("slot", slot.String(), "file", s.Live, "from", src)
	return replace(ctx, s.host(), s.Live, content, s.ReloadTimeout, log, &s.retiring)
}

// Active tells the live slot by comparing Live with the two slot files:
// None when Live does not exist, an error wrapping ErrUnmanaged when it
// equals neither.
func (s *SlotFiles) Active(ctx context.Context) (bluegreen.Slot, error) {
	if err := s.validate(); err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	live, err := readSnapshot(s.Live)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	if !live.exists {
		return bluegreen.None, nil
	}
	blue, err := os.ReadFile(s.Blue)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: read the file of slot blue: %w", err)
	}
	green, err := os.ReadFile(s.Green)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: read the file of slot green: %w", err)
	}
	switch {
	case bytes.Equal(blue, green):
		return bluegreen.None, fmt.Errorf("active: %w: %s and %s have the same content, so the live slot cannot be told",
			ErrInvalid, s.Blue, s.Green)
	case bytes.Equal(live.data, blue):
		return bluegreen.Blue, nil
	case bytes.Equal(live.data, green):
		return bluegreen.Green, nil
	}
	return bluegreen.None, fmt.Errorf("active: %s: %w: equals neither %s nor %s (edited by hand?)",
		s.Live, ErrUnmanaged, s.Blue, s.Green)
}

// Drain waits until the master has no worker left that is shutting down,
// as Switcher.Drain does.
func (s *SlotFiles) Drain(ctx context.Context) error {
	return drain(ctx, s.host(), logger(s.Logger), &s.retiring)
}

// slotFile returns the file of slot, once the fields are valid.
func (s *SlotFiles) slotFile(slot bluegreen.Slot) (string, error) {
	if err := s.validate(); err != nil {
		return "", err
	}
	switch slot {
	case bluegreen.Blue:
		return s.Blue, nil
	case bluegreen.Green:
		return s.Green, nil
	}
	return "", slot.Validate()
}

func (s *SlotFiles) validate() error {
	if s.Live == "" || s.Blue == "" || s.Green == "" {
		return fmt.Errorf("%w: Live, Blue and Green must all be set", ErrInvalid)
	}
	for _, f := range []struct{ key, path string }{
		{"nginx.live_file", s.Live}, {"nginx.blue_file", s.Blue}, {"nginx.green_file", s.Green},
	} {
		if err := checkPath(f.key, f.path); err != nil {
			return err
		}
	}
	live, blue, green := filepath.Clean(s.Live), filepath.Clean(s.Blue), filepath.Clean(s.Green)
	if live == blue || live == green || blue == green {
		return fmt.Errorf("%w: Live, Blue and Green must be three different files", ErrInvalid)
	}
	return nil
}

func (s *SlotFiles) host() *host {
	return &host{conf: s.Conf, prefix: s.Prefix, binary: s.Binary, pidFile: s.PIDFile}
}
