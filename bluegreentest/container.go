package bluegreentest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"
)

const (
	stateCreated = "created"
	stateRunning = "running"
	stateExited  = "exited"
	// stopTimeout is Docker's default grace period of a stop.
	stopTimeout = 10 * time.Second
)

// container is one fake container and, while it runs, its HTTP servers.
type container struct {
	sum     api.ContainerSummary
	number  int                 // of the replica, from 1
	svc     types.ServiceConfig // as created
	servers []*server
}

// server serves one published port of a running container.
type server struct {
	srv *http.Server
	ln  net.Listener
}

// containerName is compose's name of replica n of service.
func containerName(project, service string, n int) string {
	return fmt.Sprintf("%s-%s-%d", project, service, n)
}

func newContainer(id int, project, service string, n int, svc types.ServiceConfig) *container {
	name := containerName(project, service, n)
	labels := maps.Clone(svc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, svc.CustomLabels)
	maps.Copy(labels, map[string]string{
		api.ProjectLabel:         project,
		api.ServiceLabel:         service,
		api.ContainerNumberLabel: strconv.Itoa(n),
		api.OneoffLabel:          "False",
	})
	return &container{
		sum: api.ContainerSummary{
			ID:      fmt.Sprintf("%064x", id),
			Name:    name,
			Names:   []string{"/" + name},
			Image:   svc.Image,
			Project: project,
			Service: service,
			Created: time.Now().Unix(),
			State:   stateCreated,
			Status:  "Created",
			Labels:  labels,
		},
		svc:    svc,
		number: n,
	}
}

// diverged reports whether Up replaces the container with one for svc,
// under the recreate policy (api.RecreateForce, RecreateNever, or
// RecreateDiverged, the default).
func (c *container) diverged(svc types.ServiceConfig, policy string) bool {
	switch policy {
	case api.RecreateForce:
		return true
	case api.RecreateNever:
		return false
	}
	return !reflect.DeepEqual(c.svc, svc)
}

// start runs the container as img says: it exits at once when img
// crashes, else it serves HTTP on its published TCP ports. When a port
// cannot be bound, the container stays as it was.
func (c *container) start(img Image) error {
	if img.Crash {
		c.exit(img.ExitCode)
		return nil
	}
	handler := img.Handler
	if handler == nil {
		handler = imageHandler(c.sum.Image)
	}
	var (
		servers []*server
		pubs    api.PortPublishers
	)
	for _, p := range c.svc.Ports {
		if p.Protocol != "" && p.Protocol != "tcp" {
			continue
		}
		ln, err := listen(p.Published)
		if err != nil {
			shutdown(servers, nil)
			return fmt.Errorf("container %s: publishing port %d: %w", c.sum.Name, p.Target, err)
		}
		s := serve(ln, handler)
		servers = append(servers, s)
		pubs = append(pubs, api.PortPublisher{
			URL: "127.0.0.1", TargetPort: int(p.Target), Protocol: "tcp",
			PublishedPort: ln.Addr().(*net.TCPAddr).Port,
		})
	}
	c.servers, c.sum.Publishers = servers, pubs
	c.sum.State, c.sum.Status, c.sum.ExitCode = stateRunning, "Up", 0
	return nil
}

// listen listens on 127.0.0.1 at published: a port, the first free one of
// a range (8081-8083), or a random one when empty.
func listen(published string) (net.Listener, error) {
	lo, hi, isRange := strings.Cut(published, "-")
	if !isRange {
		return net.Listen("tcp", net.JoinHostPort("127.0.0.1", published))
	}
	first, err1 := strconv.Atoi(lo)
	last, err2 := strconv.Atoi(hi)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("port range %q: %w", published, err)
	}
	var errs []error
	for port := first; port <= last; port++ {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return ln, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no free port in %s: %w", published, errors.Join(errs...))
}

// stop marks the container exited and returns its servers, which the
// caller shuts down once it no longer holds the Compose's lock.
func (c *container) stop() []*server {
	servers := c.servers
	c.servers = nil
	if c.sum.State == stateRunning {
		c.exit(0)
	}
	return servers
}

func (c *container) exit(code int) {
	c.sum.State, c.sum.Status, c.sum.ExitCode = stateExited, fmt.Sprintf("Exited (%d)", code), code
	c.sum.Publishers = nil
}

// summary returns a copy that the caller may change.
func (c *container) summary() api.ContainerSummary {
	s := c.sum
	s.Names = slices.Clone(s.Names)
	s.Labels = maps.Clone(s.Labels)
	s.Publishers = slices.Clone(s.Publishers)
	return s
}

func serve(ln net.Listener, h http.Handler) *server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at shutdown
	return &server{srv: srv, ln: ln}
}

// shutdown stops the servers at once from accepting and lets their
// requests in flight finish, at most timeout (nil means Docker's default).
func shutdown(servers []*server, timeout *time.Duration) {
	grace := stopTimeout
	if timeout != nil {
		grace = *timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() {
			// Shutdown closes only the listeners Serve has begun to
			// track: close it here, so the port is free on return.
			s.ln.Close()
			if s.srv.Shutdown(ctx) != nil {
				s.srv.Close()
			}
		})
	}
	wg.Wait()
}

// imageHandler answers every request with the image reference, as a
// release that tells its version.
func imageHandler(ref string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, ref+"\n") //nolint:errcheck // the client may have gone
	})
}
