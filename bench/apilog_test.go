package bench_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiLog is a proxy in front of the Docker socket that times every API
// call the engine client makes (BENCH_API_LOG=1): which calls each step
// makes, how long each takes, and which are made twice.
type apiLog struct {
	mu    sync.Mutex
	calls []apiCall
}

type apiCall struct {
	start  time.Time
	took   time.Duration
	method string
	path   string
	status int
}

// startAPILog listens on a socket in a temp dir, forwards to the local
// engine's socket and returns the host for NewEngine.
func startAPILog(b *testing.B) (string, *apiLog) {
	b.Helper()
	l := &apiLog{}
	sock := filepath.Join(b.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
		}},
		FlushInterval: -1,
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		proxy.ServeHTTP(rec, r)
		l.mu.Lock()
		l.calls = append(l.calls, apiCall{start, time.Since(start), r.Method, r.URL.Path, rec.status})
		l.mu.Unlock()
	})}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return "unix://" + sock, l
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

var (
	apiVersion = regexp.MustCompile(`^/v[0-9.]+`)
	hexID      = regexp.MustCompile(`[0-9a-f]{64}`)
)

// since lists the calls made from start on as "+ms METHOD path took"
// lines, and how many calls of each kind.
func (l *apiLog) since(start time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var lines []string
	kinds := map[string]int{}
	var order []string
	for _, c := range l.calls {
		if c.start.Before(start) {
			continue
		}
		path := hexID.ReplaceAllString(apiVersion.ReplaceAllString(c.path, ""), "{id}")
		kind := c.method + " " + path
		if kinds[kind] == 0 {
			order = append(order, kind)
		}
		kinds[kind]++
		lines = append(lines, fmt.Sprintf("  +%5dms %-45s %4dms %d", c.start.Sub(start).Milliseconds(), kind, c.took.Milliseconds(), c.status))
	}
	var counts []string
	for _, k := range order {
		counts = append(counts, fmt.Sprintf("%s x%d", k, kinds[k]))
	}
	return fmt.Sprintf("%d Docker API calls: %s\n%s", len(lines), strings.Join(counts, ", "), strings.Join(lines, "\n"))
}
