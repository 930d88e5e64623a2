package nginxconf

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

func TestRenderSplit(t *testing.T) {
	u := upstream{Slot: bluegreen.Blue, Name: "backend", Addrs: []string{"127.0.0.1:8081"},
		Canary: bluegreen.Green, CanaryAddrs: []string{"127.0.0.1:8080", "127.0.0.1:8082"}, Percent: 10, Keepalive: 4}
	data, err := render(u)
	if err != nil {
		t.Fatal(err)
	}
	want := `# Managed by bluegreen: do not edit. slot=blue canary=green:10
upstream backend {
    server 127.0.0.1:8081 weight=180; # blue
    server 127.0.0.1:8080 weight=10 max_fails=0; # green
    server 127.0.0.1:8082 weight=10 max_fails=0; # green
    keepalive 4;
}
`
	if diff := cmp.Diff(want, string(data)); diff != "" {
		t.Errorf("render (-want +got):\n%s", diff)
	}
	back, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(u, back); diff != "" {
		t.Errorf("parse(render(u)) (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		strings.Replace(want, "weight=180", "weight=90", 1),
		strings.Replace(want, "canary=green:10", "canary=green:20", 1),
		strings.Replace(want, "canary=green", "canary=blue", 1),
	} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("parse accepted a split edited by hand:\n%s", bad)
		}
	}
	for _, pct := range []int{0, 100} {
		u.Percent = pct
		if _, err := render(u); err == nil {
			t.Errorf("render accepted percent %d", pct)
		}
	}
}

func TestParseLogLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []attempt
	}{
		{"127.0.0.1:8080 200 0.001", []attempt{{"127.0.0.1:8080", false}}},
		{"127.0.0.1:8080 503 0.001 extra fields", []attempt{{"127.0.0.1:8080", true}}},
		{"127.0.0.1:8080, 127.0.0.1:8081 502, 200 0.000, 0.001", []attempt{{"127.0.0.1:8080", true}, {"127.0.0.1:8081", false}}},
		{"127.0.0.1:8080 : 127.0.0.1:8081 404 : 200 0.001 : 0.002", []attempt{{"127.0.0.1:8080", false}, {"127.0.0.1:8081", false}}},
		{"127.0.0.1:8080 - 0.001", []attempt{{"127.0.0.1:8080", true}}},
		{"- - 0.000", nil},
		{"garbage", nil},
		{"", nil},
	} {
		got := parseLogLine(tc.line)
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(attempt{})); diff != "" && !(len(tc.want) == 0 && len(got) == 0) {
			t.Errorf("parseLogLine(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}

// TestLogFollowerRotation: what was logged before start does not count; a
// half-written line counts once finished; a rotated log is read to its end
// and its successor from its start; a truncated one from its start again.
func TestLogFollowerRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	appendLog := func(s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	const a = "127.0.0.1:8080"
	appendLog(a + " 500 0.001\n")
	l := &logFollower{path: path}
	if err := l.start(); err != nil {
		t.Fatal(err)
	}
	want := func(step string, req, errs int64) {
		t.Helper()
		if err := l.read(); err != nil {
			t.Fatal(err)
		}
		if got := l.sum([]string{a}); got != (bluegreen.Counts{Requests: req, Errors: errs}) {
			t.Errorf("%s: %+v, want %d requests, %d errors", step, got, req, errs)
		}
	}
	want("after start", 0, 0)
	appendLog(a + " 200 0.001\n" + a + " 50")
	want("a half-written line", 1, 0)
	appendLog("2 0.001\n")
	want("the line finished", 2, 1)
	appendLog(a + " 200 0.001\n") // logged before the rotation, read after it
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	want("renamed away", 3, 1)
	appendLog(a + " 502 0.001\n")
	want("the new file", 4, 2)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	want("truncated", 4, 2)
	appendLog(a + " 200 0.001\n")
	want("written again", 5, 2)
	l.close()
}

// TestSplitThroughNginx: a real nginx splits by the weights Split writes,
// its access log gives each slot's responses, Canary reads the split back
// from the file (a fresh Switcher too), a canary that refuses connections
// counts errors, and a Switch ends the split.
func TestSplitThroughNginx(t *testing.T) {
	blue, green := newBackend(t, "blue", 0), newBackend(t, "green", 0)
	n := startNginx(t, blue.addr())
	sw := n.switcher(t)
	sw.AccessLog = filepath.Join(n.prefix, "bluegreen.log")
	ctx := context.Background()
	if err := sw.PreflightSplit(ctx); err != nil {
		t.Fatalf("PreflightSplit: %v", err)
	}
	if err := sw.Switch(ctx, bluegreen.Blue, []string{blue.addr()}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Split(ctx, bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{green.addr()}, 10); err != nil {
		t.Fatal(err)
	}
	before, err := sw.Counts(ctx, bluegreen.Green)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	const total = 1000
	for range total {
		body, err := get(n.url)
		if err != nil {
			t.Fatal(err)
		}
		got[body]++
	}
	share := float64(got["green"]) / total
	t.Logf("through nginx at 10%%: %v (green's share %.3f)", got, share)
	if share < 0.07 || share > 0.13 {
		t.Errorf("green's share %.3f, want about 0.10", share)
	}
	after, err := sw.Counts(ctx, bluegreen.Green)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.Requests - before.Requests; d != int64(got["green"]) || after.Errors != before.Errors {
		t.Errorf("Counts says green had %d requests (%d errors), the backend answered %d", d, after.Errors-before.Errors, got["green"])
	}
	fresh := n.switcher(t)
	for _, s := range []*Switcher{sw, fresh} {
		if slot, pct, err := s.Canary(ctx); slot != bluegreen.Green || pct != 10 || err != nil {
			t.Errorf("Canary = %s %d %v, want green 10", slot, pct, err)
		}
		if active, err := s.Active(ctx); active != bluegreen.Blue || err != nil {
			t.Errorf("Active during the split = %s %v, want blue", active, err)
		}
	}

	// A canary that refuses connections: nginx passes the request on to
	// blue, and logs the failed attempt.
	green.Close()
	if err := sw.Split(ctx, bluegreen.Blue, []string{blue.addr()}, bluegreen.Green, []string{green.addr()}, 50); err != nil {
		t.Fatal(err)
	}
	before, _ = sw.Counts(ctx, bluegreen.Green)
	for range 100 {
		if _, err := get(n.url); err != nil {
			t.Fatal(err)
		}
	}
	after, _ = sw.Counts(ctx, bluegreen.Green)
	d := bluegreen.Counts{Requests: after.Requests - before.Requests, Errors: after.Errors - before.Errors}
	t.Logf("a refusing canary at 50%%: %+v", d)
	if d.Requests < 10 || d.Errors != d.Requests {
		t.Errorf("a canary that refuses every connection: %+v, want every attempt an error", d)
	}

	if err := sw.Switch(ctx, bluegreen.Blue, []string{blue.addr()}); err != nil {
		t.Fatal(err)
	}
	if slot, _, err := sw.Canary(ctx); slot != bluegreen.None || err != nil {
		t.Errorf("Canary after a Switch = %s %v, want none", slot, err)
	}
	if _, err := sw.Counts(ctx, bluegreen.Green); err == nil {
		t.Error("Counts after the split ended: no error")
	}
}

func TestPreflightSplitNamesTheMissingLine(t *testing.T) {
	conf := "http {\n    log_format bluegreen '$upstream_addr $upstream_status $request_time';\n    access_log /var/log/nginx/other.log bluegreen;\n}\n"
	err := checkLogLines(conf, "/var/log/nginx/bluegreen.log")
	if err == nil || !strings.Contains(err.Error(), "access_log /var/log/nginx/bluegreen.log bluegreen;") {
		t.Errorf("another log path: %v, want the line to add", err)
	}
	err = checkLogLines("http {\n    access_log /l bluegreen;\n}\n", "/l")
	if err == nil || !strings.Contains(err.Error(), LogFormat) {
		t.Errorf("no log_format: %v, want the line to add", err)
	}
	if err := checkLogLines(conf, "/var/log/nginx/other.log"); err != nil {
		t.Errorf("a configuration with both lines: %v", err)
	}
	if err := (&Switcher{File: "/x"}).PreflightSplit(context.Background()); err == nil || !strings.Contains(err.Error(), "nginx.access_log is not set") {
		t.Errorf("without AccessLog: %v", err)
	}
}
