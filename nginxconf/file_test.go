package nginxconf

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// entry is what tree reports of one directory entry: the target of a link,
// else the content of a file, else "dir".
type entry struct {
	Link    string
	Content string
	Dir     bool
}

// tree returns every entry under dir, by path relative to dir, not
// following links.
func tree(t *testing.T, dir string) map[string]entry {
	t.Helper()
	got := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = entry{Link: link}
		case d.IsDir():
			got[rel] = entry{Dir: true}
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = entry{Content: string(data)}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestWriteFileThroughLinks writes a file that is a symbolic link: the
// link stays, its target gets the content, and restore puts the target's
// content back. A link whose target is missing is refused, and nothing
// changes.
func TestWriteFileThroughLinks(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup makes the files under dir and returns the one to write.
		setup   func(t *testing.T, dir string) string
		wantErr string // empty: the write succeeds
	}{
		{"regular file", func(t *testing.T, dir string) string {
			return writeTestFile(t, filepath.Join(dir, "up.conf"), "old\n")
		}, ""},
		{"missing file", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "up.conf")
		}, ""},
		{"relative link", func(t *testing.T, dir string) string {
			writeTestFile(t, filepath.Join(dir, "real", "up.conf"), "old\n")
			return symlink(t, "real/up.conf", filepath.Join(dir, "up.conf"))
		}, ""},
		{"absolute link into another directory", func(t *testing.T, dir string) string {
			target := writeTestFile(t, filepath.Join(dir, "real", "up.conf"), "old\n")
			if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
				t.Fatal(err)
			}
			return symlink(t, target, filepath.Join(dir, "conf.d", "up.conf"))
		}, ""},
		{"chain of links", func(t *testing.T, dir string) string {
			writeTestFile(t, filepath.Join(dir, "real", "up.conf"), "old\n")
			symlink(t, "real/up.conf", filepath.Join(dir, "middle.conf"))
			return symlink(t, "middle.conf", filepath.Join(dir, "up.conf"))
		}, ""},
		{"dangling link", func(t *testing.T, dir string) string {
			return symlink(t, "real/up.conf", filepath.Join(dir, "up.conf"))
		}, "is a symbolic link to real/up.conf, which does not exist"},
		{"link to a directory", func(t *testing.T, dir string) string {
			if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
				t.Fatal(err)
			}
			return symlink(t, "real", filepath.Join(dir, "up.conf"))
		}, "is a directory, not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := tc.setup(t, dir)
			before := tree(t, dir)
			prev, readErr := readSnapshot(file)
			target, _ := filepath.EvalSymlinks(file) // before the write, which must not change it
			if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
				target = file
			}

			err := writeFile(file, []byte("new\n"), 0o644)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("writeFile: %v; want an error saying %q", err, tc.wantErr)
				}
				if readErr == nil {
					t.Errorf("readSnapshot: no error; a switch must stop before it writes")
				}
				if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
					t.Errorf("refused write changed files (-before +after):\n%s", diff)
				}
				return
			}
			if readErr != nil {
				t.Fatalf("readSnapshot: %v", readErr)
			}
			// Every link is as it was; the one file that changed holds the
			// new content.
			after := tree(t, dir)
			rel, _ := filepath.Rel(dir, target)
			want := maps.Clone(before)
			want[rel] = entry{Content: "new\n"}
			if diff := cmp.Diff(want, after); diff != "" {
				t.Errorf("after writeFile (-want +got):\n%s", diff)
			}
			if err := prev.restore(file); err != nil {
				t.Fatalf("restore: %v", err)
			}
			if diff := cmp.Diff(before, tree(t, dir)); diff != "" {
				t.Errorf("after restore (-before +after):\n%s", diff)
			}
		})
	}
}

func symlink(t *testing.T, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/etc/nginx/up\n.conf", "/etc/nginx/up\x00.conf", "/etc/nginx/up\t.conf", "/etc/nginx/up\x7f.conf", "/etc/nginx/up\u0085.conf"} {
		if err := checkPath("nginx.upstream_file", p); !errors.Is(err, ErrInvalid) {
			t.Errorf("checkPath(%q) = %v; want an error wrapping ErrInvalid", p, err)
		}
	}
	for _, p := range []string{"/etc/nginx/conf.d/web-upstream.conf", "/srv/my site/up.conf", "/etc/nginx/übersicht.conf"} {
		if err := checkPath("nginx.upstream_file", p); err != nil {
			t.Errorf("checkPath(%q) = %v; want nil", p, err)
		}
	}
}
