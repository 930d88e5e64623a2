package testutil

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/appimage"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Paths and names inside the image that BuildNginxImage makes.
const (
	NginxImageBinary   = "/usr/sbin/nginx"
	NginxImageConf     = "/etc/nginx/nginx.conf"
	NginxImageUpstream = "/etc/nginx/conf.d/upstream.conf" // defines upstream "backend"
	NginxImagePort     = 8080                              // nginx listens on it, all addresses
)

// nginxImageDirs are the directories nginx needs: logs and temp files
// (the compiled-in paths and the ones the config sets), the pid file, the
// included configs.
var nginxImageDirs = []string{"/var/log/nginx", "/var/lib/nginx", "/run", "/tmp", "/etc/nginx/conf.d"}

// nginxImageFiles are small files every such image has. The workers run as
// nobody; the group nginx picks by default is nogroup (Debian) or nobody.
var nginxImageFiles = map[string]string{
	"/etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
	"/etc/group":         "root:x:0:\nnogroup:x:65534:\nnobody:x:65534:\n",
	"/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
	NginxImageUpstream:   PlaceholderUpstream,
}

// NginxImageConfig returns the main config of the image with nginx
// listening on listen ("8080", "127.0.0.1:41234"). It includes
// /etc/nginx/conf.d/*.conf in its http block and proxies to upstream
// "backend"; two workers, so that reloads and drains show.
func NginxImageConfig(listen string) string {
	return `daemon off;
master_process on;
worker_processes 2;
pid /run/nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path /var/lib/nginx/body;
    proxy_temp_path /var/lib/nginx/proxy;
    fastcgi_temp_path /var/lib/nginx/fastcgi;
    uwsgi_temp_path /var/lib/nginx/uwsgi;
    scgi_temp_path /var/lib/nginx/scgi;
    include /etc/nginx/mime.types;
    include /etc/nginx/conf.d/*.conf;
    server {
        listen ` + listen + `;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`
}

const nginxDockerfile = `FROM scratch
COPY rootfs/ /
ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin
EXPOSE 8080
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/usr/sbin/nginx"]
`

// BuildNginxImage builds an nginx image without pulling anything: FROM
// scratch, with this host's nginx binary, the shared libraries ldd lists
// for it (the dynamic loader included), the host's /etc/nginx/mime.types
// (a minimal one when it has none), passwd and group entries for root and
// nobody, and the config of
// NginxImageConfig("8080") with the placeholder upstream in
// NginxImageUpstream. The image holds nothing but nginx: no shell, no
// coreutils.
func BuildNginxImage(ctx context.Context, tag string) error {
	files, err := nginxRootfs(ctx)
	if err != nil {
		return fmt.Errorf("build nginx image: %w", err)
	}
	files["Dockerfile"] = tarEntry{mode: 0o644, data: []byte(nginxDockerfile)}
	var buf bytes.Buffer
	if err := writeTar(&buf, files); err != nil {
		return fmt.Errorf("build nginx image: %w", err)
	}

	return appimage.BuildContext(ctx, &buf, tag)
}

// tarEntry is a file (or, with data nil and dir set, a directory) of a
// build context.
type tarEntry struct {
	mode int64
	dir  bool
	data []byte
}

// nginxRootfs returns the image's files under rootfs/, keyed by path in the
// build context.
func nginxRootfs(ctx context.Context) (map[string]tarEntry, error) {
	bin, err := NginxBinary()
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	libs, err := parseLDD(string(out))
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	files := map[string]tarEntry{}
	add := func(name string, e tarEntry) {
		files[path.Join("rootfs", name)] = e
	}
	// The host's paths, read through symlinks: the loader finds the
	// libraries where ldd found them, in the directories it always searches.
	copied := map[string]string{NginxImageBinary: bin}
	for _, lib := range libs {
		copied[lib] = lib
	}
	for name, src := range copied {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		add(name, tarEntry{mode: 0o755, data: data})
	}
	for name, content := range nginxImageFiles {
		add(name, tarEntry{mode: 0o644, data: []byte(content)})
	}
	mime, err := os.ReadFile("/etc/nginx/mime.types")
	if err != nil {
		mime = []byte("types {\n    text/html html;\n}\n") // the config includes it
	}
	add("/etc/nginx/mime.types", tarEntry{mode: 0o644, data: mime})
	add(NginxImageConf, tarEntry{mode: 0o644, data: []byte(NginxImageConfig(fmt.Sprint(NginxImagePort)))})
	for _, dir := range nginxImageDirs {
		add(dir, tarEntry{mode: 0o755, dir: true})
	}
	add("/tmp", tarEntry{mode: 0o1777, dir: true})
	return files, nil
}

// parseLDD returns the paths of the libraries in ldd's output, the dynamic
// loader included; the vDSO, which the kernel provides, has none.
//
//	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f...)
//	/lib64/ld-linux-x86-64.so.2 (0x00007f...)
func parseLDD(out string) ([]string, error) {
	var libs []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if name, target, ok := strings.Cut(line, "=>"); ok {
			f := strings.Fields(target)
			if len(f) == 0 || f[0] == "not" {
				return nil, fmt.Errorf("library %s not found", strings.TrimSpace(name))
			}
			libs = append(libs, f[0])
			continue
		}
		if f := strings.Fields(line); strings.HasPrefix(f[0], "/") {
			libs = append(libs, f[0])
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("no libraries in %q (a static binary?)", out)
	}
	return libs, nil
}

// writeTar writes files as a tar stream, each directory before what it
// holds, parents that files does not list included.
func writeTar(w io.Writer, files map[string]tarEntry) error {
	all := maps.Clone(files)
	for name := range files {
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = tarEntry{mode: 0o755, dir: true}
			}
		}
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	for _, name := range slices.Sorted(maps.Keys(all)) {
		e := all[name]
		hdr := &tar.Header{Name: name, Mode: e.mode, Size: int64(len(e.data)), ModTime: now, Typeflag: tar.TypeReg}
		if e.dir {
			hdr.Name, hdr.Typeflag = name+"/", tar.TypeDir
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// NginxImage builds the nginx image under a tag of its own and removes it
// when the test ends. It skips like RequireDocker without an engine, and
// fails the test when the image cannot be built.
func NginxImage(t testing.TB) string {
	t.Helper()
	RequireDocker(t)
	RequireNginx(t)
	tag := "bluegreen-nginx:test-" + strings.ToLower(rand.Text()[:10])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	if err := BuildNginxImage(ctx, tag); err != nil {
		t.Fatalf("testutil.NginxImage: %v", err)
	}
	t.Logf("testutil.NginxImage: built %s in %v", tag, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
		if err != nil {
			t.Errorf("testutil.NginxImage: %v", err)
			return
		}
		defer cli.Close()
		if _, err := cli.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Errorf("testutil.NginxImage: remove %s: %v", tag, err)
		}
	})
	return tag
}
