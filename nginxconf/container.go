package nginxconf

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// DockerClient is the part of the Docker Engine API that Container uses.
// A *client.Client, like any client.APIClient, has it.
type DockerClient interface {
	ContainerInspect(ctx context.Context, container string) (container.InspectResponse, error)
	ContainerTop(ctx context.Context, container string, arguments []string) (container.TopResponse, error)
	ContainerExecCreate(ctx context.Context, container string, options container.ExecOptions) (container.ExecCreateResponse, error)
	ContainerExecAttach(ctx context.Context, execID string, options container.ExecAttachOptions) (types.HijackedResponse, error)
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspect, error)
	CopyFromContainer(ctx context.Context, container, srcPath string) (io.ReadCloser, container.PathStat, error)
	CopyToContainer(ctx context.Context, container, path string, content io.Reader, options container.CopyToContainerOptions) error
	// ContainerStatPath serves Preflight only, to tell a missing directory
	// from a missing file.
	ContainerStatPath(ctx context.Context, container, path string) (container.PathStat, error)
}

// Container routes traffic like Switcher, for an nginx that runs in a
// container (a compose service or a named container): it writes the
// upstream file into the container, runs nginx -t and nginx -s reload as
// execs in it, and confirms the reload and drains by the container's
// processes as the engine lists them (docker top). The container needs
// nothing but nginx: no shell, no cp, mv or ps.
//
// The addresses passed to Switch must be reachable from inside the
// container: "127.0.0.1:PORT" (the slot's published port) when nginx runs
// on the host network, or "<project>-<slot>-<service>-<n>:PORT" (the
// slot's containers, one per replica, and their container port) when nginx
// shares a docker network with the slots.
//
// Container, Upstream and File are required; the other fields work at their
// zero value. A Container must not be used by two Switch calls at once.
type Container struct {
	// Container is the name or ID of the running nginx container.
	Container string
	// Upstream names the upstream block that proxy_pass refers to.
	Upstream string
	// File is the absolute path, inside the container, of the upstream file
	// Switch replaces whole. It must exist before the first Switch: nginx
	// needs it to start, and a Switch that fails could not remove it again.
	// It must be the file itself, not a symbolic link: the engine would
	// replace the link.
	File string
	// Keepalive is Switcher.Keepalive.
	Keepalive int
	// Conf and Prefix are passed to nginx as -c and -p when set, as paths
	// inside the container.
	Conf, Prefix string
	// Binary is the nginx executable inside the container; empty means
	// "nginx" from the container's PATH.
	Binary string
	// Network, when set, is the docker network on which nginx reaches the
	// slots by container name (bluegreen.Networked).
	Network string
	// Client talks to the engine that runs Container; nil means a client
	// from the environment (DOCKER_HOST...), made for each call.
	Client DockerClient
	// Logger and ReloadTimeout work as the Switcher fields of the same
	// names.
	Logger        *slog.Logger
	ReloadTimeout time.Duration

	retiring retiring
}

// Switch writes into the container an upstream file that sends new requests
// to addrs, then validates, reloads, confirms and, on error, restores as
// Switcher.Switch does.
//
// The file is written in place (the engine unpacks a tar into the
// container), not renamed into place: that needs an mv in the container.
// nginx reads the file only when it starts, on nginx -t and on a reload,
// and Switch runs the last two after the write has returned, so a running
// nginx never sees a partial file. Only an nginx (re)started by someone else
// during the copy, or an engine that dies in the middle of it, could.
func (c *Container) Switch(ctx context.Context, slot bluegreen.Slot, addrs []string) error {
	content, err := renderFile(c.Upstream, c.File, slot, addrs, c.Keepalive)
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	d, done, err := c.target()
	if err != nil {
		return fmt.Errorf("switch: %w", err)
	}
	defer done()
	log := logger(c.Logger).With("slot", slot.String(), "container", c.Container, "file", c.File, "addrs", addrs)
	return replace(ctx, d, c.File, content, c.ReloadTimeout, log, &c.retiring)
}

// Active reads the slot back from File in the container: None when File
// does not exist, an error wrapping ErrUnmanaged when Switch did not write
// it.
func (c *Container) Active(ctx context.Context) (bluegreen.Slot, error) {
	d, done, err := c.target()
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	defer done()
	live, err := d.copyFrom(ctx, c.File)
	if err != nil {
		return bluegreen.None, fmt.Errorf("active: %w", err)
	}
	return activeSlot(live, c.Upstream, c.File, logger(c.Logger))
}

// Drain waits until the nginx master in the container has no worker left
// that is shutting down, as Switcher.Drain does.
func (c *Container) Drain(ctx context.Context) error {
	d, done, err := c.target()
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	defer done()
	return drain(ctx, d, logger(c.Logger), &c.retiring)
}

// target checks the fields and returns the container's nginx, with a
// function that closes the client target made.
func (c *Container) target() (*docker, func(), error) {
	if c.Container == "" {
		return nil, nil, fmt.Errorf("%w: Container is empty", ErrInvalid)
	}
	if !path.IsAbs(c.File) {
		return nil, nil, fmt.Errorf("%w: File %q: want an absolute path inside the container", ErrInvalid, c.File)
	}
	if err := checkPath("nginx.upstream_file", c.File); err != nil {
		return nil, nil, err
	}
	d := &docker{cli: c.Client, container: c.Container, conf: c.Conf, prefix: c.Prefix, binary: c.Binary}
	if d.cli != nil {
		return d, func() {}, nil
	}
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		return nil, nil, fmt.Errorf("docker client: %w", err)
	}
	d.cli = cli
	return d, func() { cli.Close() }, nil
}

// docker is an nginx master in a container, driven through the engine.
type docker struct {
	cli                  DockerClient
	container            string
	conf, prefix, binary string
	master               int // host PID, from the last call of workers
}

var _ target = (*docker)(nil)

func (d *docker) String() string {
	if d.master == 0 {
		return "nginx master in container " + d.container
	}
	return fmt.Sprintf("nginx master %d in container %s", d.master, d.container)
}

// topArgs makes the engine's ps list what workers needs, with the command
// line last: docker top joins the columns past the titles into it.
var topArgs = []string{"-o", "pid,ppid,args"}

// workers lists the children of the nginx master among the container's
// processes. PIDs are the host's: the engine runs ps outside the container.
func (d *docker) workers(ctx context.Context) ([]process, error) {
	top, err := d.cli.ContainerTop(ctx, d.container, topArgs)
	if err != nil {
		return nil, fmt.Errorf("%w: processes of container %s: %w", ErrNotRunning, d.container, err)
	}
	procs, err := parseTop(top)
	if err != nil {
		return nil, fmt.Errorf("processes of container %s: %w", d.container, err)
	}
	master, err := findMaster(procs)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", d.container, err)
	}
	d.master = master
	var kids []process
	for _, p := range procs {
		if p.ppid == master {
			kids = append(kids, p.process)
		}
	}
	return kids, nil
}

// topProcess is one row of docker top.
type topProcess struct {
	process
	ppid int
}

// parseTop reads the rows of docker top run with topArgs.
func parseTop(top container.TopResponse) ([]topProcess, error) {
	pidCol, ppidCol := -1, -1
	for i, t := range top.Titles {
		switch t {
		case "PID":
			pidCol = i
		case "PPID":
			ppidCol = i
		}
	}
	last := len(top.Titles) - 1
	if pidCol < 0 || ppidCol < 0 || pidCol == last || ppidCol == last {
		return nil, fmt.Errorf("docker top gave columns %q; want PID, PPID and the command last", top.Titles)
	}
	procs := make([]topProcess, 0, len(top.Processes))
	for _, row := range top.Processes {
		if len(row) != len(top.Titles) {
			return nil, fmt.Errorf("docker top gave row %q for columns %q", row, top.Titles)
		}
		pid, err := strconv.Atoi(row[pidCol])
		if err != nil {
			return nil, fmt.Errorf("docker top: PID %q: %w", row[pidCol], err)
		}
		ppid, err := strconv.Atoi(row[ppidCol])
		if err != nil {
			return nil, fmt.Errorf("docker top: PPID %q: %w", row[ppidCol], err)
		}
		procs = append(procs, topProcess{process{pid: pid, title: row[last]}, ppid})
	}
	return procs, nil
}

// findMaster returns the PID of the one nginx master among procs, known by
// the title nginx gives it.
func findMaster(procs []topProcess) (int, error) {
	var masters []int
	for _, p := range procs {
		if strings.HasPrefix(p.title, "nginx: master process") {
			masters = append(masters, p.pid)
		}
	}
	switch len(masters) {
	case 0:
		return 0, fmt.Errorf("%w: no process titled \"nginx: master process\" (master_process off?)", ErrNotRunning)
	case 1:
		return masters[0], nil
	}
	return 0, fmt.Errorf("%w: %d nginx masters (PIDs %v), want one", ErrNotRunning, len(masters), masters)
}

// signalReload runs nginx -s reload in the container.
func (d *docker) signalReload(ctx context.Context) error {
	if out, err := d.nginx(ctx, "-s", "reload"); err != nil {
		return fmt.Errorf("nginx -s reload: %v: %s", err, oneLine(out))
	}
	return nil
}

func (d *docker) nginx(ctx context.Context, args ...string) ([]byte, error) {
	cmd := append([]string{cmp.Or(d.binary, DefaultBinary)}, nginxArgs(d.prefix, d.conf, args...)...)
	return d.exec(ctx, cmd)
}

// exec runs cmd in the container and returns its combined output, and an
// error when it exits non-zero.
func (d *docker) exec(ctx context.Context, cmd []string) ([]byte, error) {
	created, err := d.cli.ContainerExecCreate(ctx, d.container, container.ExecOptions{
		Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: %w", d.container, err)
	}
	att, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("exec in container %s: attach: %w", d.container, err)
	}
	defer att.Close()
	// Reading the stream does not heed ctx; closing the connection ends it.
	defer context.AfterFunc(ctx, att.Close)()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return out.Bytes(), fmt.Errorf("exec in container %s: read output: %w", d.container, cmp.Or(ctx.Err(), err))
	}
	// The output ends when the process exits; the engine may record its
	// exit code a moment later.
	for {
		ins, err := d.cli.ContainerExecInspect(ctx, created.ID)
		if err != nil {
			return out.Bytes(), fmt.Errorf("exec in container %s: %w", d.container, err)
		}
		if !ins.Running {
			if ins.ExitCode != 0 {
				return out.Bytes(), fmt.Errorf("exit status %d", ins.ExitCode)
			}
			return out.Bytes(), nil
		}
		select {
		case <-ctx.Done():
			return out.Bytes(), ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// read refuses a missing file: without an rm in the container, a failed
// switch could not take it away again.
func (d *docker) read(ctx context.Context, file string) (snapshot, error) {
	s, err := d.copyFrom(ctx, file)
	if err == nil && !s.exists {
		err = fmt.Errorf("%s: %w in container %s: write a plain upstream there first (nginx needs it to start)", file, fs.ErrNotExist, d.container)
	}
	return s, err
}

// copyFrom reads file from the container. A missing file gives a snapshot
// that does not exist; a missing container an error.
func (d *docker) copyFrom(ctx context.Context, file string) (snapshot, error) {
	rc, stat, err := d.cli.CopyFromContainer(ctx, d.container, file)
	if cerrdefs.IsNotFound(err) {
		if _, err := d.cli.ContainerInspect(ctx, d.container); err != nil {
			return snapshot{}, err
		}
		return snapshot{perm: 0o644}, nil
	}
	if err != nil {
		return snapshot{}, fmt.Errorf("copy %s from container %s: %w", file, d.container, err)
	}
	defer rc.Close()
	if !stat.Mode.IsRegular() {
		return snapshot{}, fmt.Errorf("%s in container %s is not a regular file (mode %s, link target %q): name the file itself",
			file, d.container, stat.Mode, stat.LinkTarget)
	}
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		return snapshot{}, fmt.Errorf("copy %s from container %s: %w", file, d.container, err)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return snapshot{}, fmt.Errorf("copy %s from container %s: %w", file, d.container, err)
	}
	return snapshot{exists: true, data: data, perm: hdr.FileInfo().Mode().Perm(), uid: hdr.Uid, gid: hdr.Gid}, nil
}

// write copies a tar of one file into the directory of file, with the mode
// and owner of prev.
func (d *docker) write(ctx context.Context, file string, data []byte, prev snapshot) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     path.Base(file),
		Mode:     int64(prev.perm),
		Uid:      prev.uid,
		Gid:      prev.gid,
		Size:     int64(len(data)),
		ModTime:  time.Now(),
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := d.cli.CopyToContainer(ctx, d.container, path.Dir(file), &buf, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy %s into container %s: %w", file, d.container, err)
	}
	return nil
}

func (d *docker) restore(ctx context.Context, file string, prev snapshot) error {
	if !prev.exists {
		return fmt.Errorf("cannot remove %s in container %s", file, d.container)
	}
	return d.write(ctx, file, prev.data, prev)
}

// SlotNetwork is the docker network on which nginx reaches the slots, or
// "".
func (c *Container) SlotNetwork() string { return c.Network }
