package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/compose/v2/pkg/api"
	"github.com/docker/compose/v2/pkg/compose"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
)

// ErrEngine reports that the Docker engine could not be reached.
var ErrEngine = errors.New("docker engine unreachable")

// Compose is the part of the compose API a Deployer uses. The Engine that
// NewEngine returns implements it, as does any api.Compose.
type Compose interface {
	Up(ctx context.Context, project *types.Project, options api.UpOptions) error
	Start(ctx context.Context, projectName string, options api.StartOptions) error
	Stop(ctx context.Context, projectName string, options api.StopOptions) error
	Down(ctx context.Context, projectName string, options api.DownOptions) error
	Pull(ctx context.Context, project *types.Project, options api.PullOptions) error
	Ps(ctx context.Context, projectName string, options api.PsOptions) ([]api.ContainerSummary, error)
	Logs(ctx context.Context, projectName string, consumer api.LogConsumer, options api.LogOptions) error
}

// ImageChecker is an optional interface of a Compose: when it has it (Engine
// and bluegreentest.Compose do), a deploy finds a missing image, and pulls
// it, before it creates anything.
type ImageChecker interface {
	ImagePresent(ctx context.Context, ref string) (bool, error)
}

// Engine is compose's own service, run in-process, with the engine client it
// talks through. It implements Compose and ImageChecker.
type Engine struct {
	compose api.Compose
	client  client.APIClient
}

// Up is compose's up -d, but for one thing: compose starts the containers
// of a service one after another (half a second each, and more under load),
// while Up starts those of a replicated service all at once, when nothing
// has to happen between their starts (the service has no depends_on,
// secrets, configs or post_start hooks; else compose starts it as usual).
// The containers, their names, labels and networks are compose's own:
// compose creates them, and compose's start afterwards starts the rest.
func (e *Engine) Up(ctx context.Context, p *types.Project, o api.UpOptions) error {
	atOnce := startAtOnce(p)
	if o.Start.Attach != nil || len(atOnce) == 0 {
		return e.compose.Up(ctx, p, o)
	}
	if err := e.compose.Create(ctx, p, o.Create); err != nil {
		return err
	}
	for _, name := range atOnce {
		if err := e.startAll(ctx, p.Name, name); err != nil {
			return err
		}
	}
	return e.compose.Start(ctx, p.Name, o.Start)
}

// startAtOnce names the services of p whose containers Up starts at once.
func startAtOnce(p *types.Project) []string {
	var names []string
	for name, svc := range p.Services {
		if svc.GetScale() > 1 && len(svc.DependsOn) == 0 && len(svc.Secrets) == 0 && len(svc.Configs) == 0 &&
			len(svc.PostStart) == 0 && svc.Provider == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// startAll starts the created containers of service in project at once.
func (e *Engine) startAll(ctx context.Context, project, service string) error {
	cs, err := e.client.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", api.ProjectLabel+"="+project),
		filters.Arg("label", api.ServiceLabel+"="+service),
		filters.Arg("label", api.OneoffLabel+"=False"),
	)})
	if err != nil {
		return err
	}
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		if c.State == container.StateRunning {
			continue
		}
		wg.Go(func() {
			if err := e.client.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
				errs[i] = fmt.Errorf("starting container %s: %w", strings.TrimPrefix(firstName(c.Names), "/"), err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}

func (e *Engine) Start(ctx context.Context, project string, o api.StartOptions) error {
	return e.compose.Start(ctx, project, o)
}

func (e *Engine) Stop(ctx context.Context, project string, o api.StopOptions) error {
	return e.compose.Stop(ctx, project, o)
}

func (e *Engine) Down(ctx context.Context, project string, o api.DownOptions) error {
	return e.compose.Down(ctx, project, o)
}

func (e *Engine) Pull(ctx context.Context, p *types.Project, o api.PullOptions) error {
	return e.compose.Pull(ctx, p, o)
}

func (e *Engine) Ps(ctx context.Context, project string, o api.PsOptions) ([]api.ContainerSummary, error) {
	return e.compose.Ps(ctx, project, o)
}

func (e *Engine) Logs(ctx context.Context, project string, c api.LogConsumer, o api.LogOptions) error {
	return e.compose.Logs(ctx, project, c, o)
}

// ImagePresent reports whether the engine holds the image ref.
func (e *Engine) ImagePresent(ctx context.Context, ref string) (bool, error) {
	_, err := e.client.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Close closes the engine client.
func (e *Engine) Close() error { return e.client.Close() }

// NewEngine connects to a Docker engine and returns compose's own service,
// run in-process. host is a daemon address ("unix:///var/run/docker.sock",
// "tcp://...", "ssh://..."); empty means what the docker CLI would use:
// DOCKER_HOST, then the current docker context. Compose's progress output is
// discarded; Deployer reports progress through events instead.
func NewEngine(ctx context.Context, host string) (*Engine, error) {
	opts := flags.NewClientOptions()
	if host != "" {
		opts.Hosts = []string{host}
	}
	dockerCli, err := command.NewDockerCli(
		command.WithOutputStream(io.Discard),
		command.WithErrorStream(io.Discard),
		command.WithInputStream(io.NopCloser(eofReader{})),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEngine, err)
	}
	// DockerCli.Client() exits the process when the endpoint cannot be set
	// up, so make the client here, where an error can be returned.
	apiClient, err := command.NewAPIClientFromFlags(opts, dockerCli.ConfigFile())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEngine, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := apiClient.Ping(pingCtx); err != nil {
		_ = apiClient.Close()
		return nil, fmt.Errorf("%w: %v", ErrEngine, err)
	}
	if err := dockerCli.Initialize(opts, command.WithAPIClient(apiClient)); err != nil {
		_ = apiClient.Close()
		return nil, fmt.Errorf("%w: %v", ErrEngine, err)
	}
	return &Engine{
		compose: compose.NewComposeService(dockerCli,
			compose.WithPrompt(func(string, bool) (bool, error) { return false, nil }),
		),
		client: apiClient,
	}, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
