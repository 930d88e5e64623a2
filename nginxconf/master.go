package nginxconf

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// build holds the paths compiled into nginx, as nginx -V reports them, with
// nginx's own defaults for those not given to configure.
type build struct {
	prefix string
	conf   string
	pid    string
}

func parseBuild(out string) build {
	b := build{prefix: "/usr/local/nginx", conf: "conf/nginx.conf", pid: "logs/nginx.pid"}
	for _, f := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(f, "--prefix="); ok {
			b.prefix = v
		} else if v, ok := strings.CutPrefix(f, "--conf-path="); ok {
			b.conf = v
		} else if v, ok := strings.CutPrefix(f, "--pid-path="); ok {
			b.pid = v
		}
	}
	return b
}

func (h *host) build(ctx context.Context) (build, error) {
	out, err := h.nginx(ctx, "-V")
	if err != nil {
		return build{}, fmt.Errorf("nginx -V: %w: %s", err, oneLine(out))
	}
	return parseBuild(string(out)), nil
}

// masterPID returns the PID of the running nginx master.
func (h *host) masterPID(ctx context.Context) (int, error) {
	path, err := h.pidPath(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%w: read pid file: %w", ErrNotRunning, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%w: pid file %s holds %q", ErrNotRunning, path, data)
	}
	if !alive(pid) {
		return 0, fmt.Errorf("%w: pid %d from %s does not run", ErrNotRunning, pid, path)
	}
	return pid, nil
}

// pidPath finds the master's pid file the way nginx does: pidFile if set,
// else the pid directive of the main config, else the compiled-in path;
// relative paths are under the prefix.
func (h *host) pidPath(ctx context.Context) (string, error) {
	if h.pidFile != "" {
		return h.pidFile, nil
	}
	prefix, conf := h.prefix, h.conf
	var b *build
	if prefix == "" || conf == "" {
		bb, err := h.build(ctx)
		if err != nil {
			return "", err
		}
		b = &bb
		prefix = cmp.Or(prefix, b.prefix)
		conf = cmp.Or(conf, b.conf)
	}
	conf = underPrefix(prefix, conf)
	data, err := os.ReadFile(conf)
	if err != nil {
		return "", fmt.Errorf("read nginx config: %w", err)
	}
	pid, ok := pidDirective(string(data))
	if !ok {
		if b == nil {
			bb, err := h.build(ctx)
			if err != nil {
				return "", err
			}
			b = &bb
		}
		pid = b.pid
	}
	return underPrefix(prefix, pid), nil
}

func underPrefix(prefix, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(prefix, path)
}

// pidDirective returns the argument of the top-level pid directive of an
// nginx main config. It does not follow include directives; set
// PIDFile when the pid directive lives in an included file.
func pidDirective(conf string) (string, bool) {
	depth := 0
	var stmt []string
	for _, tok := range tokens(conf) {
		switch tok {
		case "{":
			depth++
			stmt = nil
		case "}":
			depth--
			stmt = nil
		case ";":
			if depth == 0 && len(stmt) == 2 && stmt[0] == "pid" {
				return stmt[1], true
			}
			stmt = nil
		default:
			stmt = append(stmt, tok)
		}
	}
	return "", false
}

// tokens splits nginx config text into words, quoted strings (unquoted)
// and the punctuation ";", "{" and "}", dropping comments.
func tokens(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, string(c))
			i++
		case c == '"' || c == '\'':
			var w strings.Builder
			for i++; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			toks = append(toks, w.String())
			i++
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n;{}", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}
