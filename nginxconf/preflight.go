package nginxconf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
)

// Preflight checks, changing nothing, that a Switch would work, and
// returns the first fault it finds as an error wrapping ErrPreflight and
// the cause. Errors name the x-bluegreen settings that ConfigFromProject maps to
// the fields: nginx.upstream_file for File, nginx.upstream for Upstream.
//
// It checks that Upstream and Keepalive are valid; that File is set and
// holds no control character; that its directory exists; that File, if it
// exists, is a regular file (or a symbolic link to one: a Switch writes
// through the link) holding either what bluegreen wrote, for Upstream, or
// a plain hand-written upstream block named Upstream; that a file can be
// created in the directory a Switch writes to (Preflight creates one and
// removes it at once); that the nginx master runs; and that nginx -t passes
// on the configuration as it is now.
func (s *Switcher) Preflight(ctx context.Context) error {
	const key = "nginx.upstream_file"
	if err := preflightUpstream(s.Upstream, s.Keepalive); err != nil {
		return err
	}
	target, exists, err := preflightHostFile(key, s.File)
	if err != nil {
		return err
	}
	if exists {
		data, err := os.ReadFile(target)
		if err != nil {
			return fail(fmt.Sprintf("%s %s cannot be read: %s", key, s.File, errText(err)), err)
		}
		if err := preflightContent(key, s.File, "", data, s.Upstream); err != nil {
			return err
		}
	}
	return preflightHost(ctx, s.host())
}

// Preflight checks, changing nothing, that a Switch would work, and
// returns the first fault it finds as an error wrapping ErrPreflight and
// the cause. Errors name the x-bluegreen settings that ConfigFromProject maps to
// the fields: nginx.live_file, nginx.blue_file and nginx.green_file.
//
// It checks that Live, Blue and Green are set, hold no control character
// and name three files; that Blue and Green exist, can be read and differ;
// that Live's directory exists, that Live, if it exists, is a regular file
// (or a symbolic link to one), and that a file can be created where a
// Switch writes (Preflight creates one and removes it at once); that the
// nginx master runs; and that nginx -t passes on the configuration as it
// is now. Live's content is not checked: a Switch replaces it whatever it
// holds.
func (s *SlotFiles) Preflight(ctx context.Context) error {
	files := []struct{ key, path string }{
		{"nginx.live_file", s.Live}, {"nginx.blue_file", s.Blue}, {"nginx.green_file", s.Green},
	}
	for _, f := range files {
		if f.path == "" {
			return fail(f.key+" is empty (live_file, blue_file and green_file go together)", ErrInvalid)
		}
		if msg := controlChar(f.key, f.path); msg != "" {
			return fail(msg, ErrInvalid)
		}
	}
	if err := s.validate(); err != nil {
		return fail("nginx.live_file, nginx.blue_file and nginx.green_file must name three different files", err)
	}
	blue, err := preflightSlotFile("nginx.blue_file", s.Blue)
	if err != nil {
		return err
	}
	green, err := preflightSlotFile("nginx.green_file", s.Green)
	if err != nil {
		return err
	}
	if bytes.Equal(blue, green) {
		return fail(fmt.Sprintf("nginx.blue_file %s and nginx.green_file %s have the same content, so the live slot cannot be told",
			s.Blue, s.Green), ErrInvalid)
	}
	if _, _, err := preflightHostFile("nginx.live_file", s.Live); err != nil {
		return err
	}
	return preflightHost(ctx, s.host())
}

// Preflight checks, changing nothing, that a Switch would work, and
// returns the first fault it finds as an error wrapping ErrPreflight and
// the cause. Errors name the x-bluegreen settings that ConfigFromProject maps to
// the fields: nginx.container, nginx.upstream_file, nginx.upstream.
//
// It checks that Upstream and Keepalive are valid; that Container is set
// and runs, with one nginx master in it; that File is an absolute path
// with no control character, exists in the container (a Switch cannot
// create it: it could not remove it again) as a regular file holding
// either what bluegreen wrote, for Upstream, or a plain hand-written
// upstream block named Upstream; that File is not on a read-only mount or
// a read-only root file system, as the container's configuration tells;
// and that nginx -t, run in the container, passes on the configuration as
// it is now.
//
// It cannot try a write in the container as it does on the host: without a
// shell or rm in the container, a probe file copied in could not be
// removed. So a directory that the engine cannot write for another reason
// shows only at the Switch, which then leaves File as it was.
func (c *Container) Preflight(ctx context.Context) error {
	const key = "nginx.upstream_file"
	if c.Container == "" {
		return fail("nginx.container is empty", ErrInvalid)
	}
	if c.File == "" {
		return fail(key+" is empty", ErrInvalid)
	}
	if msg := controlChar(key, c.File); msg != "" {
		return fail(msg, ErrInvalid)
	}
	if !path.IsAbs(c.File) {
		return fail(fmt.Sprintf("%s %s: want an absolute path inside the container", key, c.File), ErrInvalid)
	}
	if err := preflightUpstream(c.Upstream, c.Keepalive); err != nil {
		return err
	}
	d, done, err := c.target()
	if err != nil {
		return fail(err.Error(), err)
	}
	defer done()

	ins, err := d.cli.ContainerInspect(ctx, c.Container)
	switch {
	case cerrdefs.IsNotFound(err):
		return fail(fmt.Sprintf("nginx.container %s: no such container", c.Container), ErrNotRunning, err)
	case err != nil:
		return fail(fmt.Sprintf("nginx.container %s: %v", c.Container, err), err)
	case ins.ContainerJSONBase == nil || ins.State == nil:
		return fail(fmt.Sprintf("nginx.container %s: the engine reports no state", c.Container), ErrNotRunning)
	case !ins.State.Running:
		return fail(fmt.Sprintf("nginx.container %s is not running (status %s)", c.Container, ins.State.Status), ErrNotRunning)
	}
	if _, err := d.workers(ctx); err != nil {
		return fail(err.Error(), err)
	}

	in := " in container " + c.Container
	st, err := d.cli.ContainerStatPath(ctx, c.Container, c.File)
	switch {
	case cerrdefs.IsNotFound(err):
		dir := path.Dir(c.File)
		st, err := d.cli.ContainerStatPath(ctx, c.Container, dir)
		switch {
		case cerrdefs.IsNotFound(err):
			return fail(fmt.Sprintf("%s %s: directory %s does not exist%s", key, c.File, dir, in), fs.ErrNotExist, err)
		case err == nil && !st.Mode.IsDir() && st.Mode&fs.ModeSymlink == 0:
			return fail(fmt.Sprintf("%s %s: %s is not a directory%s", key, c.File, dir, in), syscall.ENOTDIR)
		}
		return fail(fmt.Sprintf("%s %s does not exist%s: write a plain upstream block there first, such as %q "+
			"(nginx needs it to start, and a switch that fails could not remove a file it created)",
			key, c.File, in, "upstream "+c.Upstream+" { server 127.0.0.1:8081; }"), fs.ErrNotExist)
	case err != nil:
		return fail(fmt.Sprintf("%s %s%s: %v", key, c.File, in, err), err)
	case st.Mode&fs.ModeSymlink != 0:
		// The engine replaces a link with the file it copies in, so the
		// switch would not reach what the link points to.
		return fail(fmt.Sprintf("%s %s%s is a symbolic link to %s: name the file itself (in a container a switch would replace the link)",
			key, c.File, in, st.LinkTarget), ErrInvalid)
	case !st.Mode.IsRegular():
		return fail(fmt.Sprintf("%s %s%s is %s, not a regular file", key, c.File, in, fileKind(st.Mode)), ErrInvalid)
	}
	live, err := d.copyFrom(ctx, c.File)
	if err == nil && !live.exists {
		err = fmt.Errorf("%w: gone while read", fs.ErrNotExist)
	}
	if err != nil {
		return fail(fmt.Sprintf("%s %s%s: %v", key, c.File, in, err), err)
	}
	if err := preflightContent(key, c.File, in, live.data, c.Upstream); err != nil {
		return err
	}
	if ro := readOnly(ins, c.File); ro != "" {
		return fail(fmt.Sprintf("%s %s is on %s%s: a switch cannot write it", key, c.File, ro, in), syscall.EROFS)
	}
	return preflightConfigTest(ctx, d)
}

// preflightError is what Preflight returns: a message in the user's words
// that names the setting at fault, wrapping ErrPreflight and the causes.
type preflightError struct {
	msg    string
	causes []error
}

func (e *preflightError) Error() string   { return ErrPreflight.Error() + ": " + e.msg }
func (e *preflightError) Unwrap() []error { return e.causes }

// fail returns a Preflight error with msg, wrapping ErrPreflight and the
// causes that are not nil. msg says what the causes say, in other words
// where theirs repeat the path.
func fail(msg string, causes ...error) error {
	e := &preflightError{msg: msg, causes: []error{ErrPreflight}}
	for _, c := range causes {
		if c != nil {
			e.causes = append(e.causes, c)
		}
	}
	return e
}

// errText is the cause an error of the operating system gives, without the
// operation and path it repeats: "permission denied".
func errText(err error) string {
	for {
		var ee *exec.Error
		var pe *fs.PathError
		var se *os.SyscallError
		switch {
		case errors.As(err, &ee):
			err = ee.Err
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &se):
			err = se.Err
		default:
			return err.Error()
		}
	}
}

// preflightUpstream checks what a Switch renders into the upstream file
// besides the addresses.
func preflightUpstream(name string, keepalive int) error {
	if !upstreamName.MatchString(name) {
		return fail(fmt.Sprintf("nginx.upstream %q: want letters, digits, '_', '.' or '-'", name), ErrInvalid)
	}
	if keepalive < 0 || keepalive > MaxKeepalive {
		return fail(fmt.Sprintf("nginx.keepalive %d: want 0-%d", keepalive, MaxKeepalive), ErrInvalid)
	}
	return nil
}

// preflightHostFile checks that writeFile could replace file, the setting
// key, on this host: its directory exists, it is missing or a regular file
// or a link to one, and a file can be created beside the file a write
// replaces. It returns that file (the link's target for a link) and
// whether it exists.
func preflightHostFile(key, file string) (target string, exists bool, err error) {
	if file == "" {
		return "", false, fail(key+" is empty", ErrInvalid)
	}
	if msg := controlChar(key, file); msg != "" {
		return "", false, fail(msg, ErrInvalid)
	}
	if err := preflightDir(key, file); err != nil {
		return "", false, err
	}

	target = file
	fi, err := os.Lstat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// A Switch creates it.
	case err != nil:
		return "", false, fail(fmt.Sprintf("%s %s cannot be read: %s", key, file, errText(err)), err)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err = filepath.EvalSymlinks(file)
		if err != nil {
			return "", false, danglingLink(key, file, err)
		}
		if fi, err = os.Stat(target); err != nil {
			return "", false, fail(fmt.Sprintf("%s %s is a symbolic link to %s, which cannot be read: %s", key, file, target, errText(err)), err)
		}
		if !fi.Mode().IsRegular() {
			return "", false, fail(fmt.Sprintf("%s %s is a symbolic link to %s, which is %s, not a regular file",
				key, file, target, fileKind(fi.Mode())), ErrInvalid)
		}
		exists = true
	case !fi.Mode().IsRegular():
		return "", false, fail(fmt.Sprintf("%s %s is %s, not a regular file", key, file, fileKind(fi.Mode())), ErrInvalid)
	default:
		exists = true
	}

	// A Switch creates its temporary file here and renames it over target:
	// that needs write access to the directory, nothing on the file.
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, tempPattern(target))
	if err != nil {
		return "", false, fail(fmt.Sprintf("%s %s: cannot create a file in directory %s, as a switch must: %s",
			key, file, dir, errText(err)), err)
	}
	tmp.Close()
	if err := os.Remove(tmp.Name()); err != nil {
		return "", false, fail(fmt.Sprintf("%s %s: cannot remove the probe file %s: %s", key, file, tmp.Name(), errText(err)), err)
	}
	return target, exists, nil
}

// preflightDir checks that the directory of file, the setting key, exists.
func preflightDir(key, file string) error {
	dir := filepath.Dir(file)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && !fi.IsDir():
		return fail(fmt.Sprintf("%s %s: %s is not a directory", key, file, dir), syscall.ENOTDIR)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		msg := fmt.Sprintf("%s %s: directory %s does not exist", key, file, dir)
		if f := notDir(dir); f != "" {
			msg += " (" + f + " is a file, not a directory)"
		}
		return fail(msg, err)
	case err != nil:
		return fail(fmt.Sprintf("%s %s: directory %s cannot be read: %s", key, file, dir, errText(err)), err)
	}
	return nil
}

// notDir returns the nearest ancestor of dir that exists and is not a
// directory, or "".
func notDir(dir string) string {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				return ""
			}
			return p
		}
		if p == filepath.Dir(p) {
			return ""
		}
	}
}

// danglingLink is the Preflight error for a symbolic link file, the
// setting key, that EvalSymlinks could not follow.
func danglingLink(key, file string, err error) error {
	link, _ := os.Readlink(file)
	if errors.Is(err, fs.ErrNotExist) {
		return fail(fmt.Sprintf("%s %s is a symbolic link to %s, which does not exist (a switch writes through the link and does not create its target)",
			key, file, link), err)
	}
	return fail(fmt.Sprintf("%s %s is a symbolic link to %s, which cannot be followed: %s", key, file, link, errText(err)), err)
}

// preflightSlotFile reads the file of a slot, the setting key, as Switch
// will.
func preflightSlotFile(key, file string) ([]byte, error) {
	if fi, err := os.Lstat(file); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if _, err := filepath.EvalSymlinks(file); err != nil {
			return nil, danglingLink(key, file, err)
		}
	}
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil, fail(fmt.Sprintf("%s %s does not exist", key, file), err)
	case err != nil:
		return nil, fail(fmt.Sprintf("%s %s cannot be read: %s", key, file, errText(err)), err)
	case !fi.Mode().IsRegular():
		return nil, fail(fmt.Sprintf("%s %s is %s, not a regular file", key, file, fileKind(fi.Mode())), ErrInvalid)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fail(fmt.Sprintf("%s %s cannot be read: %s", key, file, errText(err)), err)
	}
	return data, nil
}

// preflightContent checks that a Switch may replace data, the upstream
// file: bluegreen wrote it, for the upstream name, or it is a plain
// upstream block named name, as written by hand before a first deploy (see
// activeSlot). in says where the file is, for a container.
func preflightContent(key, file, in string, data []byte, name string) error {
	if !bytes.HasPrefix(data, []byte(header)) {
		if isPlainUpstream(data, name) {
			return nil
		}
		return fail(fmt.Sprintf("%s %s%s was not written by bluegreen and is not a plain upstream block named %q: "+
			"a switch does not replace it (write %q there, or name another file)",
			key, file, in, name, "upstream "+name+" { server 127.0.0.1:8081; }"), ErrUnmanaged)
	}
	u, err := parse(data)
	if err != nil {
		return fail(fmt.Sprintf("%s %s%s: %v", key, file, in, err), err)
	}
	if u.Name != name {
		// The nginx config proxies to one of the two names: nginx -t fails
		// on the other, whether before the switch or at it.
		return fail(fmt.Sprintf("%s %s%s defines upstream %q, but nginx.upstream is %q: make them agree",
			key, file, in, u.Name, name), ErrInvalid)
	}
	return nil
}

// preflightHost checks the nginx master on this host and its
// configuration.
func preflightHost(ctx context.Context, h *host) error {
	bin := h.bin()
	if _, err := exec.LookPath(bin); err != nil {
		return fail(fmt.Sprintf("nginx.binary %s: %s", bin, errText(err)), err)
	}
	// The master first: nginx -t creates the pid file, empty, when it is
	// missing (checked on nginx 1.22), and a running master has all the
	// files nginx -t would create.
	if _, err := h.masterPID(ctx); err != nil {
		return fail(fmt.Sprintf("%v (a switch reloads the running nginx: start it first)", err), err)
	}
	return preflightConfigTest(ctx, h)
}

// preflightConfigTest runs nginx -t on the configuration as it is now.
//
// Preflight runs it, although a Switch runs nginx -t again on the new file:
// it costs one nginx process (tens of milliseconds on the host, an exec
// through the engine for a container), and it finds, before a deploy
// starts a slot, a configuration broken by hand since the last reload,
// which nginx runs from memory and on which the switch would fail (or
// which would not start nginx again). It changes nothing a Switch's own
// nginx -t would not: nginx -t creates the log files, temp directories and
// pid file the configuration names when they are missing (the pid file
// empty, which is why it runs after the master is found), and with the
// master running they exist already. The one switch it refuses that could
// pass is one whose only fault on disk is in the very file the switch
// rewrites (an upstream renamed in nginx.conf and in nginx.upstream but not
// yet in the file).
func preflightConfigTest(ctx context.Context, t target) error {
	out, err := t.nginx(ctx, "-t")
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fail(fmt.Sprintf("nginx -t: %v", ctx.Err()), ctx.Err())
	}
	return fail(fmt.Sprintf("nginx -t fails on the configuration as it is now, before any change: %v: %s", err, oneLine(out)),
		ErrConfigTest, err)
}

// readOnly tells, from the container's configuration, whether file is on
// a read-only mount ("a read-only mount of /etc/nginx") or the read-only
// root file system, or "" when the engine may write it. The mount whose
// destination holds file deepest decides.
func readOnly(ins container.InspectResponse, file string) string {
	best, rw := "", true
	under := func(dest string) bool {
		return dest == "/" || file == dest || strings.HasPrefix(file, strings.TrimSuffix(dest, "/")+"/")
	}
	for _, m := range ins.Mounts {
		if under(m.Destination) && len(m.Destination) > len(best) {
			best, rw = m.Destination, m.RW
		}
	}
	var hc *container.HostConfig
	if ins.ContainerJSONBase != nil {
		hc = ins.HostConfig
	}
	if hc != nil {
		for dest, opts := range hc.Tmpfs {
			if under(dest) && len(dest) > len(best) {
				best, rw = dest, !strings.Contains(","+opts+",", ",ro,")
			}
		}
	}
	switch {
	case best != "" && !rw:
		return "a read-only mount of " + best
	case best == "" && hc != nil && hc.ReadonlyRootfs:
		return "the read-only root file system"
	}
	return ""
}
