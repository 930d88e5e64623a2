package nginxconf

import (
	"fmt"
	"path/filepath"
	"strings"
)

// The files a new setup starts from: what `bluegreen init` writes, and what
// a library user can write the same way.

// Placeholder is the content of an upstream file before the first deploy:
// a closed port, so that nginx starts (an included upstream must exist) and
// answers 502 until the first switch replaces the file.
func Placeholder(upstream string) string {
	return fmt.Sprintf("# Replaced by bluegreen's first deploy.\nupstream %s { server 127.0.0.1:1; }\n", upstream)
}

// ServerBlock is an http-level server block that proxies listen (such as
// "127.0.0.1:8088" or "80") to upstream, with keep-alive connections to the
// slots (HTTP/1.1 and an empty Connection header, which keepalive needs),
// logging each proxied request to accessLog in the bluegreen format
// (LogFormat, which must be defined at http level), which strategy canary
// reads.
func ServerBlock(listen, upstream, accessLog string) string {
	return fmt.Sprintf(`server {
    listen %s;
    location / {
        access_log %s bluegreen;
        proxy_pass http://%s;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
    }
}
`, listen, accessLog, upstream)
}

// PrivateConf is a complete nginx.conf for a private nginx that an
// unprivileged user runs from prefix (`nginx -p PREFIX -c nginx.conf`):
// its pid file, logs and temporary files are in prefix, it includes
// upstreamFile and serves ServerBlock(listen, upstream), logging to
// prefix/bluegreen.log in the bluegreen format.
func PrivateConf(prefix, listen, upstream, upstreamFile string) string {
	p := func(name string) string { return filepath.Join(prefix, name) }
	return fmt.Sprintf(`# A private nginx: run it with  nginx -p %s -c nginx.conf
daemon on;
pid %s;
error_log %s notice;
worker_processes auto;
events { worker_connections 1024; }
http {
    access_log %s;
    %s
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;
    include %s;
%s}
`, prefix, p("nginx.pid"), p("error.log"), p("access.log"), LogFormat, p("client_body_temp"), p("proxy_temp"),
		p("fastcgi_temp"), p("uwsgi_temp"), p("scgi_temp"), upstreamFile, indent(ServerBlock(listen, upstream, p("bluegreen.log"))))
}

func indent(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.TrimSpace(line) != "" {
			b.WriteString("    ")
		}
		b.WriteString(line)
	}
	return b.String()
}
