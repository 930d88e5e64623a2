package nginxconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unicode"

	"github.com/bluegreen-dev/bluegreen/internal/atomicfile"
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

// writeFile replaces path with data atomically (internal/atomicfile): nginx
// reads either the old or the new content, never a mix; a symbolic link is
// written through. The temporary file's name starts with a dot and does
// not end in ".conf", so an "include conf.d/*.conf" never picks it up.
func writeFile(path string, data []byte, perm fs.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

func resolve(path string) (string, error) { return atomicfile.Resolve(path) }

func tempPattern(target string) string { return atomicfile.TempPattern(target) }

func syncDir(dir string) error { return atomicfile.SyncDir(dir) }

func fileKind(m fs.FileMode) string { return atomicfile.Kind(m) }
