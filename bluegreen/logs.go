package bluegreen

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/compose/v2/pkg/api"
)

// LogOptions selects the log lines that Logs writes.
type LogOptions struct {
	// Slot whose containers are read; None means the live one, as the
	// proxy routes now.
	Slot Slot
	// Services limits the lines to these services of the slot; empty
	// means all of them.
	Services []string
	// Tail is how many of the last lines of each container to write; 0
	// means all.
	Tail int
	// Follow keeps writing new lines until ctx ends.
	Follow bool
	// Timestamps puts the engine's timestamp before each line.
	Timestamps bool
}

// Logs writes the log lines of a slot's containers to w, each line after the
// container's name ("shop-blue-web-1 | ..."), and returns the slot it read.
// It reads the state of the engine and the proxy only, so it needs none of
// the release's variables, and changes nothing. A slot with no containers is
// an error wrapping ErrNoContainers.
func (d *Deployer) Logs(ctx context.Context, w io.Writer, o LogOptions) (Slot, error) {
	if err := d.validate(); err != nil {
		return None, err
	}
	slot := o.Slot
	if _, err := ParseSlot(string(slot)); err != nil {
		return None, fmt.Errorf("logs: %w", err)
	}
	if slot == None {
		live, err := d.Switcher.Active(ctx)
		if err != nil {
			return None, fmt.Errorf("logs: reading the live slot: %w", err)
		}
		if live == None {
			return None, fmt.Errorf("logs: %w: the proxy routes to no slot: name one, blue or green", ErrBadInput)
		}
		slot = live
	}
	name := slotProjectName(d.Project.Config.Project, slot)
	cs, err := d.ps(ctx, name, false, o.Services...)
	if err != nil {
		return slot, fmt.Errorf("logs: %w", err)
	}
	if len(cs) == 0 {
		return slot, fmt.Errorf("logs: %s%s: %w", slot, servicesNote(o.Services), ErrNoContainers)
	}
	tail := "all"
	if o.Tail > 0 {
		tail = strconv.Itoa(o.Tail)
	}
	lw := &logWriter{w: w, prefix: name + "-"}
	err = d.Compose.Logs(ctx, name, lw, api.LogOptions{
		Services: o.Services, Tail: tail, Follow: o.Follow, Timestamps: o.Timestamps,
	})
	if err != nil && o.Follow && ctx.Err() != nil {
		err = nil // following ends with ctx
	}
	if err == nil {
		err = lw.err
	}
	if err != nil {
		return slot, fmt.Errorf("logs of %s: %w", slot, err)
	}
	return slot, nil
}

func servicesNote(services []string) string {
	if len(services) == 0 {
		return ""
	}
	return " (services " + strings.Join(services, ", ") + ")"
}

// logWriter writes compose's log lines to w, one at a time, as
// "container | line". Compose names a container without its project
// ("web-1"): prefix puts the slot's project back.
type logWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	err    error
}

func (l *logWriter) write(container, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		if _, err := fmt.Fprintf(l.w, "%s%s | %s\n", l.prefix, container, strings.TrimRight(line, "\r")); err != nil {
			l.err = err
			return
		}
	}
}

func (l *logWriter) Log(container, msg string) { l.write(container, msg) }

func (l *logWriter) Err(container, msg string) { l.write(container, msg) }

func (l *logWriter) Status(string, string) {}
