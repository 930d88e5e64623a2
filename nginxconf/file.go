package nginxconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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

func readSnapshot(path string) (snapshot, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot{perm: 0o644}, nil
	}
	if err != nil {
		return snapshot{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{exists: true, data: data, perm: fi.Mode().Perm()}, nil
}

// restore puts path back the way s found it.
func (s snapshot) restore(path string) error {
	if s.exists {
		return writeFile(path, s.data, s.perm)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeFile replaces path with data so that nginx reads either the old or
// the new content, never a mix, and the new content survives a crash once
// writeFile returns. The temporary file's name starts with a dot and does
// not end in ".conf", so an "include conf.d/*.conf" never picks it up.
func writeFile(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
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
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("sync directory of %s: %w", path, err)
	}
	return nil
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
