package bluegreentest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// Compose is a bluegreen.Compose that keeps its containers in memory: as
// many per service of a project as its scale (deploy.replicas) says, named
// <project>-<service>-<n> and labelled as compose names and labels them. A
// running container serves HTTP on 127.0.0.1 at each TCP port its service
// publishes (the first free one of a range such as 8081-8083, a random one
// when the file gives none), whatever host IP the file names, so that a
// Deployer's health probes and a proxy reach it; it answers 200 with its
// image reference unless SetImage says otherwise. Stop lets requests in
// flight finish, as an app that handles SIGTERM would.
//
// The zero value is ready to use; its methods are safe for concurrent use.
// Networks, volumes, dependencies and healthchecks are not modelled.
type Compose struct {
	mu       sync.Mutex
	images   map[string]Image
	projects map[string]map[string]*container // project -> container name -> container
	ids      int
}

var _ bluegreen.Compose = (*Compose)(nil)

// Image says how the containers of one image reference behave.
type Image struct {
	// Missing makes Pull and Up fail: the image is neither present nor
	// pullable.
	Missing bool
	// Crash makes its containers exit as soon as they start, with ExitCode:
	// a bad release.
	Crash    bool
	ExitCode int
	// Logs are the lines each of its containers has logged.
	Logs []string
	// Handler answers on the published ports; nil answers 200 with the
	// image reference. Set it to simulate a release that answers 500.
	Handler http.Handler
}

// SetImage says how containers of ref behave from their next start on.
func (f *Compose) SetImage(ref string, img Image) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.images == nil {
		f.images = map[string]Image{}
	}
	f.images[ref] = img
}

// ImagePresent reports whether ref is present: every image is, unless
// SetImage marked it Missing. The Deployer uses it to check images before it
// creates anything.
func (f *Compose) ImagePresent(_ context.Context, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.images[ref].Missing, nil
}

// Pull fails, wrapping api.ErrNotFound, for the services whose image is
// Missing, unless options.IgnoreFailures.
func (f *Compose) Pull(_ context.Context, project *types.Project, options api.PullOptions) error {
	if project == nil {
		return fmt.Errorf("pull: %w: no project", ErrInvalid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.missingImages(project); err != nil && !options.IgnoreFailures {
		return fmt.Errorf("pull: %w", err)
	}
	return nil
}

func (f *Compose) missingImages(project *types.Project) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		if ref := project.Services[name].Image; f.images[ref].Missing {
			errs = append(errs, fmt.Errorf("image %s of service %s: %w", ref, name, api.ErrNotFound))
		}
	}
	return errors.Join(errs...)
}

// Up creates and starts the containers of the project's services. An
// existing container is replaced when options.Create.Recreate is "force",
// or, by default ("diverged"), when its service's configuration changed;
// else it is started if it was stopped. With options.Create.RemoveOrphans
// the containers of services the project no longer has are removed. Up
// fails before it changes anything when an image is Missing; a container
// that cannot bind its port stays created, as with Docker.
func (f *Compose) Up(_ context.Context, project *types.Project, options api.UpOptions) error {
	if project == nil {
		return fmt.Errorf("up: %w: no project", ErrInvalid)
	}
	f.mu.Lock()
	if err := f.missingImages(project); err != nil {
		f.mu.Unlock()
		return fmt.Errorf("up %s: %w", project.Name, err)
	}
	var replaced []*container
	for _, c := range f.containersOf(project.Name, nil) {
		svc, ok := project.Services[c.sum.Service]
		if (!ok && options.Create.RemoveOrphans) || (ok && (c.number > svc.GetScale() || c.diverged(svc, options.Create.Recreate))) {
			replaced = append(replaced, c)
		}
	}
	f.mu.Unlock()
	f.remove(project.Name, replaced, nil)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.projects == nil {
		f.projects = map[string]map[string]*container{}
	}
	if f.projects[project.Name] == nil {
		f.projects[project.Name] = map[string]*container{}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(project.Services)) {
		svc := project.Services[name]
		for n := 1; n <= svc.GetScale(); n++ {
			cname := containerName(project.Name, name, n)
			c := f.projects[project.Name][cname]
			if c == nil {
				f.ids++
				c = newContainer(f.ids, project.Name, name, n, svc)
				f.projects[project.Name][cname] = c
			}
			if c.sum.State != stateRunning {
				errs = append(errs, c.start(f.images[c.sum.Image]))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("up %s: %w", project.Name, err)
	}
	return nil
}

// Start starts the project's stopped containers (those of options.Services
// when set). A project without containers is an error wrapping
// api.ErrNotFound, as with compose.
func (f *Compose) Start(_ context.Context, projectName string, options api.StartOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cs := f.containersOf(projectName, options.Services)
	if len(cs) == 0 {
		return fmt.Errorf("start: no container found for project %q: %w", projectName, api.ErrNotFound)
	}
	var errs []error
	for _, c := range cs {
		if c.sum.State != stateRunning {
			errs = append(errs, c.start(f.images[c.sum.Image]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("start %s: %w", projectName, err)
	}
	return nil
}

// Stop stops the project's containers (those of options.Services when set)
// and keeps them; they exit with code 0 once the requests they serve have
// finished, at most options.Timeout (default 10s). An unknown project is
// not an error, as with compose.
func (f *Compose) Stop(_ context.Context, projectName string, options api.StopOptions) error {
	f.mu.Lock()
	var servers []*server
	for _, c := range f.containersOf(projectName, options.Services) {
		servers = append(servers, c.stop()...)
	}
	f.mu.Unlock()
	shutdown(servers, options.Timeout)
	return nil
}

// Down stops and removes the project's containers (those of
// options.Services when set). An unknown project is not an error, as with
// compose.
func (f *Compose) Down(_ context.Context, projectName string, options api.DownOptions) error {
	f.mu.Lock()
	cs := f.containersOf(projectName, options.Services)
	f.mu.Unlock()
	f.remove(projectName, cs, options.Timeout)
	return nil
}

// Ps lists the project's containers, sorted by name: the running ones, or
// all with options.All; only those of options.Services when set. An unknown
// project has none.
func (f *Compose) Ps(_ context.Context, projectName string, options api.PsOptions) ([]api.ContainerSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []api.ContainerSummary{}
	for _, c := range f.containersOf(projectName, options.Services) {
		if options.All || c.sum.State == stateRunning {
			out = append(out, c.summary())
		}
	}
	return out, nil
}

// Logs sends the lines of the project's containers (those of
// options.Services when set, of replica number options.Index when not 0;
// the last options.Tail of each when it is a number) to consumer, as their
// image's Logs say.
func (f *Compose) Logs(_ context.Context, projectName string, consumer api.LogConsumer, options api.LogOptions) error {
	tail, err := strconv.Atoi(options.Tail)
	if err != nil || tail < 0 {
		tail = -1 // "", "all"
	}
	type entry struct {
		name  string
		lines []string
	}
	f.mu.Lock()
	var entries []entry
	for _, c := range f.containersOf(projectName, options.Services) {
		if options.Index > 0 && c.number != options.Index {
			continue
		}
		lines := f.images[c.sum.Image].Logs
		if tail >= 0 && len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		entries = append(entries, entry{c.sum.Name, lines})
	}
	f.mu.Unlock()
	for _, e := range entries {
		for _, l := range e.lines {
			consumer.Log(e.name, l)
		}
	}
	return nil
}

// containersOf returns the containers of project (of services when not empty),
// sorted by name. The caller holds f.mu.
func (f *Compose) containersOf(project string, services []string) []*container {
	var out []*container
	for _, c := range f.projects[project] {
		if len(services) == 0 || slices.Contains(services, c.sum.Service) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *container) int { return cmp.Compare(a.sum.Name, b.sum.Name) })
	return out
}

// remove stops cs and forgets them, once what they serve is shut down.
func (f *Compose) remove(project string, cs []*container, timeout *time.Duration) {
	var servers []*server
	f.mu.Lock()
	for _, c := range cs {
		servers = append(servers, c.stop()...)
		if f.projects[project][c.sum.Name] == c {
			delete(f.projects[project], c.sum.Name)
		}
	}
	if len(f.projects[project]) == 0 {
		delete(f.projects, project)
	}
	f.mu.Unlock()
	shutdown(servers, timeout)
}
