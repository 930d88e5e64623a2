package nginxconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPIDDirective(t *testing.T) {
	for _, tc := range []struct {
		name   string
		conf   string
		want   string
		wantOK bool
	}{
		{"plain", "pid /run/a.pid;\nevents {}\n", "/run/a.pid", true},
		{"relative", "worker_processes 2;\npid logs/x.pid;", "logs/x.pid", true},
		{"quoted", `pid "/run/a b.pid";`, "/run/a b.pid", true},
		{"single quoted with escape", `pid '/run/it\'s.pid';`, "/run/it's.pid", true},
		{"no spaces", "events{}pid /p;", "/p", true},
		{"after blocks", "events {\n worker_connections 8;\n}\nhttp { server { listen 80; } }\npid /late.pid;", "/late.pid", true},
		{"none", "events {}\nhttp {}\n", "", false},
		{"commented out", "# pid /wrong.pid;\nevents {}\n", "", false},
		{"hash inside a word is no comment", "env A#B;\npid /p;", "/p", true},
		{"in a block", "events { pid /wrong.pid; }\n", "", false},
		{"as an argument", `env pid;` + "\n" + `error_log "pid /x;";`, "", false},
		{"empty", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pidDirective(tc.conf)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("pidDirective(%q) = %q, %v; want %q, %v", tc.conf, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestParseBuild(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		want build
	}{
		{
			name: "debian",
			out: "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.11\nTLS SNI support enabled\n" +
				"configure arguments: --with-cc-opt='-g -O2 -fPIC' --prefix=/usr/share/nginx " +
				"--conf-path=/etc/nginx/nginx.conf --error-log-path=stderr --pid-path=/run/nginx.pid --with-threads\n",
			want: build{prefix: "/usr/share/nginx", conf: "/etc/nginx/nginx.conf", pid: "/run/nginx.pid"},
		},
		{
			name: "nginx defaults",
			out:  "nginx version: nginx/1.25.0\nconfigure arguments: --with-http_ssl_module\n",
			want: build{prefix: "/usr/local/nginx", conf: "conf/nginx.conf", pid: "logs/nginx.pid"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, parseBuild(tc.out), cmp.AllowUnexported(build{})); diff != "" {
				t.Errorf("parseBuild (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPIDPath resolves the pid file the way nginx does, with a stand-in
// nginx binary that prints a fixed nginx -V.
func TestPIDPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	fakeNginx := write("bin/nginx", "#!/bin/sh\necho 'configure arguments: --prefix="+dir+
		" --conf-path=default.conf --pid-path=run/compiled.pid' >&2\n")
	write("default.conf", "events {}\n")
	write("conf/with-pid.conf", "pid run/from-conf.pid;\nevents {}\n")
	withoutPID := write("conf/without-pid.conf", "events { }\n")
	prefix := filepath.Join(dir, "prefix")
	write("prefix/conf/relative.conf", "# pid /wrong.pid;\npid /abs/from-conf.pid;\n")

	for _, tc := range []struct {
		name string
		h    host
		want string
	}{
		{"PIDFile wins", host{pidFile: "/x/y.pid", conf: "/nonexistent.conf"}, "/x/y.pid"},
		{"pid directive, relative to prefix", host{conf: filepath.Join(dir, "conf/with-pid.conf"), prefix: "/p"}, "/p/run/from-conf.pid"},
		{"conf relative to prefix", host{conf: "conf/relative.conf", prefix: prefix}, "/abs/from-conf.pid"},
		{"no pid directive: compiled-in path", host{conf: withoutPID, prefix: "/p"}, "/p/run/compiled.pid"},
		{"compiled-in prefix and conf", host{}, filepath.Join(dir, "run/compiled.pid")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			h.binary = fakeNginx
			got, err := h.pidPath(t.Context())
			if err != nil || got != tc.want {
				t.Errorf("pidPath = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	h := host{binary: filepath.Join(dir, "no-such-nginx")}
	if got, err := h.pidPath(t.Context()); err == nil {
		t.Errorf("pidPath with a missing binary = %q; want an error", got)
	}
}

// TestBuildRealNginx reads the paths compiled into the installed nginx.
func TestBuildRealNginx(t *testing.T) {
	h := host{binary: nginxBinary(t)}
	b, err := h.build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if b.prefix == "" || b.conf == "" || b.pid == "" {
		t.Errorf("build = %+v; want all paths set", b)
	}
}
