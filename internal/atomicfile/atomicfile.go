// Package atomicfile replaces files so that a reader sees the old content
// or the new, never a mix, and the new content survives a crash once the
// write returns: a temporary file in the same directory, fsync, rename,
// fsync of the directory. A path that is a symbolic link is written through
// to the file it links to; the link stays. bluegreen's history and the
// proxies' configuration files are written this way.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Resolve returns the file that a write to path changes: path itself, or,
// when path is a symbolic link, the file it links to (through any chain of
// links), so that the link stays in place and a reader that opens the link
// reads the new content. A missing path resolves to itself. A link whose
// target does not exist is an error: creating the target is not
// the writer's to decide, and the link may just point at the wrong place.
func Resolve(path string) (string, error) {
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

// Write replaces path with data, with perm, atomically. When path is a
// symbolic link, the file it links to is replaced and the link stays (see
// Resolve); a target that is not a regular file is refused.
func Write(path string, data []byte, perm fs.FileMode) (err error) {
	target, err := Resolve(path)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(target); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", target, Kind(fi.Mode()))
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, TempPattern(target))
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
	if err := SyncDir(dir); err != nil {
		return fmt.Errorf("sync directory of %s: %w", target, err)
	}
	return nil
}

// TempPattern is the name pattern of the temporary file for target: it
// starts with a dot and ends in neither target's extension nor ".conf", so
// that a glob of configuration files never picks it up.
func TempPattern(target string) string {
	return "." + filepath.Base(target) + ".tmp-*"
}

// SyncDir makes a rename or a removal in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Kind describes, for an error, a file mode that is not a regular file's.
func Kind(m fs.FileMode) string {
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
