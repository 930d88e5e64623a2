package bluegreentest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// ComposeContract checks, in subtests, what the Deployer relies on from a
// bluegreen.Compose: a project without containers lists none and can be
// stopped and taken down, but not started (api.ErrNotFound); Up runs one
// container per service, named <project>-<service>-1, with the service's
// image and compose's project and service labels; Ps lists the running
// containers, or all with PsOptions.All, of the services asked for; Stop
// keeps the containers, exited; Start runs them again; Logs reads them;
// Down removes them. With a scale of 3 and a range of 3 host ports, Up runs
// three containers, numbered 1 to 3, each published on its own port of the
// range.
//
// newProject returns a project that is not up, under a name no other test
// uses, whose services keep running once started and carry the labels the
// compose CLI sets (bluegreen's slot projects do; pkg/compose's Up needs
// them to find its containers again). The subtests take their projects
// down when they end.
func ComposeContract(t *testing.T, c bluegreen.Compose, newProject func(t *testing.T) *types.Project) {
	up := func(t *testing.T) *types.Project {
		t.Helper()
		return upProject(t, c, newProject(t))
	}

	t.Run("ProjectWithoutContainers", func(t *testing.T) {
		name := newProject(t).Name
		wantContainers(t, c, name, api.PsOptions{All: true}, nil)
		if err := c.Stop(t.Context(), name, api.StopOptions{}); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if err := c.Down(t.Context(), name, api.DownOptions{RemoveOrphans: true}); err != nil {
			t.Errorf("Down: %v", err)
		}
		if err := c.Start(t.Context(), name, api.StartOptions{}); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("Start: %v, want an error wrapping %v", err, api.ErrNotFound)
		}
	})
	t.Run("Lifecycle", func(t *testing.T) {
		p := up(t)
		running := expected(p, "running")
		wantContainers(t, c, p.Name, api.PsOptions{}, running)
		wantContainers(t, c, p.Name, api.PsOptions{All: true}, running)

		if err := c.Stop(t.Context(), p.Name, api.StopOptions{}); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		wantContainers(t, c, p.Name, api.PsOptions{}, nil)
		wantContainers(t, c, p.Name, api.PsOptions{All: true}, expected(p, "exited"))

		if err := c.Start(t.Context(), p.Name, api.StartOptions{}); err != nil {
			t.Fatalf("Start: %v", err)
		}
		wantContainers(t, c, p.Name, api.PsOptions{}, running)
		if err := c.Logs(t.Context(), p.Name, discardLogs{}, api.LogOptions{Tail: "5"}); err != nil {
			t.Errorf("Logs: %v", err)
		}

		if err := c.Down(t.Context(), p.Name, api.DownOptions{RemoveOrphans: true}); err != nil {
			t.Fatalf("Down: %v", err)
		}
		wantContainers(t, c, p.Name, api.PsOptions{All: true}, nil)
	})
	t.Run("PsOfOneService", func(t *testing.T) {
		p := up(t)
		all := expected(p, "running")
		one := all[0].Service
		wantContainers(t, c, p.Name, api.PsOptions{Services: []string{one}}, all[:1])
		if err := c.Stop(t.Context(), p.Name, api.StopOptions{Services: []string{one}}); err != nil {
			t.Fatalf("Stop %s: %v", one, err)
		}
		wantContainers(t, c, p.Name, api.PsOptions{Services: []string{one}}, nil)
		all[0].State = "exited"
		wantContainers(t, c, p.Name, api.PsOptions{All: true, Services: []string{one}}, all[:1])
		wantContainers(t, c, p.Name, api.PsOptions{All: true}, all)
	})
	t.Run("Replicas", func(t *testing.T) {
		firsts, err := FreePortRanges(1, 3)
		if err != nil {
			t.Fatal(err)
		}
		first := firsts[0]
		p := newProject(t)
		name := p.ServiceNames()[0]
		svc := p.Services[name]
		target := svc.Ports[0].Target
		svc.Ports = []types.ServicePortConfig{{
			Mode: "ingress", HostIP: "127.0.0.1", Target: target, Protocol: "tcp",
			Published: fmt.Sprintf("%d-%d", first, first+2),
		}}
		svc.SetScale(3)
		p.Services[name] = svc
		p = upProject(t, c, p)
		cs, err := c.Ps(t.Context(), p.Name, api.PsOptions{Services: []string{name}})
		if err != nil {
			t.Fatal(err)
		}
		ports := map[int]bool{}
		var names []string
		for _, s := range cs {
			names = append(names, s.Name+" #"+s.Labels[api.ContainerNumberLabel])
			for _, pub := range s.Publishers {
				if pub.TargetPort == int(target) && pub.PublishedPort != 0 {
					ports[pub.PublishedPort] = true
				}
			}
		}
		slices.Sort(names)
		want := []string{
			fmt.Sprintf("%s-%s-1 #1", p.Name, name), fmt.Sprintf("%s-%s-2 #2", p.Name, name), fmt.Sprintf("%s-%s-3 #3", p.Name, name),
		}
		if !slices.Equal(names, want) {
			t.Errorf("containers %q, want %q", names, want)
		}
		for port := first; port <= first+2; port++ {
			if !ports[port] {
				t.Errorf("no container publishes port %d of the range %d-%d: %v", port, first, first+2, ports)
			}
		}
	})
}

// upProject brings p up and takes it down when the test ends.
func upProject(t *testing.T, c bluegreen.Compose, p *types.Project) *types.Project {
	t.Helper()
	t.Cleanup(func() { _ = c.Down(context.WithoutCancel(t.Context()), p.Name, api.DownOptions{RemoveOrphans: true}) })
	err := c.Up(t.Context(), p, api.UpOptions{
		Create: api.CreateOptions{RemoveOrphans: true, Recreate: api.RecreateForce, QuietPull: true, AssumeYes: true},
		Start:  api.StartOptions{Project: p},
	})
	if err != nil {
		t.Fatalf("Up %s: %v", p.Name, err)
	}
	return p
}

// wantContainer is what the contract expects of one container.
type wantContainer struct {
	Name, Service, Image, State string
}

// expected returns one container per service of p, sorted by name.
func expected(p *types.Project, state string) []wantContainer {
	var out []wantContainer
	for name, svc := range p.Services {
		out = append(out, wantContainer{Name: p.Name + "-" + name + "-1", Service: name, Image: svc.Image, State: state})
	}
	slices.SortFunc(out, func(a, b wantContainer) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func wantContainers(t *testing.T, c bluegreen.Compose, project string, opts api.PsOptions, want []wantContainer) {
	t.Helper()
	cs, err := c.Ps(t.Context(), project, opts)
	if err != nil {
		t.Fatalf("Ps %s %+v: %v", project, opts, err)
	}
	var got []wantContainer
	for _, s := range cs {
		got = append(got, wantContainer{Name: s.Name, Service: s.Service, Image: s.Image, State: s.State})
		if s.Project != project || s.Labels[api.ProjectLabel] != project || s.Labels[api.ServiceLabel] != s.Service {
			t.Errorf("Ps %s: container %s: project %q, labels %s=%q %s=%q; want the project and service", project, s.Name,
				s.Project, api.ProjectLabel, s.Labels[api.ProjectLabel], api.ServiceLabel, s.Labels[api.ServiceLabel])
		}
	}
	slices.SortFunc(got, func(a, b wantContainer) int { return cmp.Compare(a.Name, b.Name) })
	if !slices.Equal(got, want) {
		t.Errorf("Ps %s %+v:\n got  %+v\n want %+v", project, opts, got, want)
	}
}

type discardLogs struct{}

func (discardLogs) Log(string, string)    {}
func (discardLogs) Err(string, string)    {}
func (discardLogs) Status(string, string) {}
