package nginxconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode"
)

// snapshot is a file's state before Switch replaced it, to put back when
// the switch fails.
type snapshot struct {
	exists bool
	data   []byte
	perm   fs.FileMode
	// uid and gid are the owner of a file in a container, which Container
	// keeps; on this host the file keeps the owner of the process.
	uid, gid int
}

// readSnapshot reads path, or the file it links to. A missing file is a
// snapshot that does not exist; a symbolic link whose target is missing is
// an error (see resolve).
func readSnapshot(path string) (snapshot, error) {
	target, err := resolve(path)
	if err != nil {
		return snapshot{}, err
	}
	fi, err := os.Stat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{perm: 0o644}, nil
	}
	if err != nil {
		return snapshot{}, err
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{exists: true, data: data, perm: fi.Mode().Perm()}, nil
}

// restore puts path back the way s found it: through a symbolic link, the
// content of its target.
func (s snapshot) restore(path string) error {
	if s.exists {
		return writeFile(path, s.data, s.perm)
	}
	// The file did not exist, so writeFile created a regular file here (it
	// refuses a link with a missing target); take it away.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// resolve returns the file that a write to path changes: path itself, or,
// when path is a symbolic link, the file it links to (through any chain of
// links), so that the link stays in place and nginx, which opens the link,
// reads the new content. A missing path resolves to itself. A link whose
// target does not exist is an error: creating the target is not
// bluegreen's to decide, and the link may just point at the wrong place.
func resolve(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		link, _ := os.Readlink(path)
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s is a symbolic link to %s, which does not exist (bluegreen writes through the link and does not create its target): %w",
				path, link, err)
		}
		return "", fmt.Errorf("%s is a symbolic link to %s, which cannot be followed: %w", path, link, err)
	}
	return target, nil
}

// writeFile replaces path with data so that nginx reads either the old or
// the new content, never a mix, and the new content survives a crash once
// writeFile returns. When path is a symbolic link, the file it links to is
// replaced and the link stays (see resolve). The temporary file's name
// starts with a dot and does not end in ".conf", so an "include
// conf.d/*.conf" never picks it up.
func writeFile(path string, data []byte, perm fs.FileMode) (err error) {
	target, err := resolve(path)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", target, fileKind(fi.Mode()))
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, tempPattern(target))
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory of %s: %w", target, err)
	}
	return nil
}

// tempPattern is the os.CreateTemp pattern for a temporary file that
// replaces target: a dot first, and no ".conf" at the end.
func tempPattern(target string) string {
	return "." + filepath.Base(target) + ".tmp-*"
}

// syncDir makes a rename or remove in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkPath refuses a path with a control character (a newline, a tab, a
// NUL...): the nginx config names the path in an include, where such a
// character cannot be written safely, and error messages and logs would
// show it garbled. key names the setting in errors, such as
// "nginx.upstream_file".
func checkPath(key, path string) error {
	if msg := controlChar(key, path); msg != "" {
		return fmt.Errorf("%w: %s", ErrInvalid, msg)
	}
	return nil
}

// controlChar describes the fault checkPath refuses, or returns "".
func controlChar(key, path string) string {
	for _, r := range path {
		if unicode.IsControl(r) {
			return fmt.Sprintf("%s %q holds a control character, which nginx config cannot hold safely", key, path)
		}
	}
	return ""
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}
