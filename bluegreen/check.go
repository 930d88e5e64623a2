package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// CheckItem is one line of a Check: what was checked, whether a deploy
// could go past it, and what was found.
type CheckItem struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// ErrCheck reports a Check that found something a deploy would refuse.
var ErrCheck = errors.New("a deploy could not start")

// Check runs what Deploy checks before it touches anything, and changes
// nothing that runs (like a deploy, it may create the state directory and
// the lock file): the configuration, the proxy (reachable, its config valid and
// owned), the live slot as the proxy routes now, the history and the state
// directory, the lock, the idle slot's ports, the images of the release and
// its tasks (a missing image is reported, not pulled). It runs every check,
// also after one fails, and returns an error wrapping ErrCheck (and
// ErrBadInput when the input is at fault) when a deploy could not start.
func (d *Deployer) Check(ctx context.Context) ([]CheckItem, error) {
	var items []CheckItem
	var failed checkError
	add := func(name string, err error, detail string) {
		item := CheckItem{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			item.Detail = err.Error()
			failed.names = append(failed.names, name)
			failed.errs = append(failed.errs, err)
		}
		items = append(items, item)
	}
	done := func() ([]CheckItem, error) {
		if len(failed.names) == 0 {
			return items, nil
		}
		return items, &failed
	}

	err := d.validate()
	if err == nil {
		err = d.Project.needsRelease()
	}
	cfg := d.Project.Config
	add("configuration", err, fmt.Sprintf("project %s, service %s on port %d, slots blue %s and green %s",
		cfg.Project, cfg.Service, cfg.Port, cfg.slotPortSpec(Blue), cfg.slotPortSpec(Green)))
	if err != nil {
		return done()
	}
	perr := d.preflightProxy(ctx)
	if perr == nil {
		perr = d.checkSplitter()
	}
	detail := "ready to switch"
	if ws := d.proxyWarnings(ctx); len(ws) > 0 {
		detail += "; warning: " + strings.Join(ws, "; warning: ")
	}
	add("proxy", perr, detail)
	live, err := d.readLive(ctx)
	to := live.Other()
	add("live slot", err, fmt.Sprintf("%s; a deploy goes to %s", live, to))
	st, err := d.readState()
	add("history", err, fmt.Sprintf("%d release(s) recorded", len(st.Releases)))
	add("state directory", d.stateDirWritable(), cfg.StateDir+" can hold the history")
	holder, held, err := lockHeld(d.lockPath())
	if held {
		err = &LockError{Path: d.lockPath(), Holder: holder}
	}
	add("lock", err, "no other deploy of the project runs")
	add("slot ports", d.portsFree(ctx, to), fmt.Sprintf("127.0.0.1:%s is free for %s", cfg.slotPortSpec(to), to))
	missing, err := d.missingImages(ctx, to)
	detail = "present"
	if len(missing) > 0 {
		detail = "not present, a deploy pulls them: " + strings.Join(missing, ", ")
	}
	add("images", err, detail)
	return done()
}

// checkError names the checks that failed; it wraps ErrCheck and each
// check's error.
type checkError struct {
	names []string
	errs  []error
}

func (e *checkError) Error() string {
	return fmt.Sprintf("%v: failed: %s", ErrCheck, strings.Join(e.names, ", "))
}

func (e *checkError) Unwrap() []error { return append([]error{ErrCheck}, e.errs...) }

// missingImages lists the images of the release and its tasks that the
// engine does not hold, as "service image".
func (d *Deployer) missingImages(ctx context.Context, slot Slot) ([]string, error) {
	ic, ok := d.Compose.(ImageChecker)
	if !ok {
		return nil, nil
	}
	sp, _, err := d.Project.slotProject(ctx, slot, nil, d.network())
	if err != nil {
		return nil, err
	}
	base, err := d.Project.baseProject(ctx)
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for name, svc := range base.Services {
		if svc.Build == nil && svc.Image != "" {
			images[name] = svc.Image
		}
	}
	for name, svc := range sp.Services {
		if svc.Build == nil && svc.Image != "" {
			images[name] = svc.Image
		}
	}
	for _, name := range d.Project.Config.Tasks.names() {
		tp, err := d.Project.taskProject(slot, name)
		if err != nil {
			return nil, err
		}
		images[name] = tp.Services[name].Image
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(images)) {
		present, err := ic.ImagePresent(ctx, images[name])
		if err != nil {
			return nil, fmt.Errorf("inspecting image %s: %w", images[name], err)
		}
		if !present {
			missing = append(missing, name+" "+images[name])
		}
	}
	return missing, nil
}
