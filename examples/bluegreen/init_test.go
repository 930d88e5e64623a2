package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestInitGuesses: init reads the file without its variables and guesses
// the service and port where there is one of each; --print writes nothing.
func TestInitGuesses(t *testing.T) {
	for _, tc := range []struct {
		name, services string
		want, notWant  []string
	}{
		{"one service", "  web:\n    image: shop:${TAG:?}\n    ports: [\"127.0.0.1:9000:8000/tcp\"]\n",
			[]string{"service: web\n", "port: 8000\n"}, nil},
		{"the only one with a port", "  db:\n    image: pg\n  app:\n    image: shop\n    expose: [\"3000\"]\n",
			[]string{"service: app\n", "port: 3000\n"}, nil},
		{"two ports", "  web:\n    image: shop\n    ports: [\"8000\", {target: 9000}]\n",
			[]string{"service: web\n"}, []string{"port:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			content := "services:\n" + tc.services
			if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stdout, _ := cliIn(t, dir, nil, "init", "--print")
			if code != exitOK {
				t.Fatalf("init --print: exit %d", code)
			}
			for _, w := range append(tc.want, "x-bluegreen:\n", "upstream_file: nginx/upstream.conf", "include "+filepath.Join(dir, "nginx", "upstream.conf")) {
				if !strings.Contains(stdout, w) {
					t.Errorf("init --print does not say %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(stdout, w) {
					t.Errorf("init --print says %q", w)
				}
			}
			if got, _ := os.ReadFile(file); string(got) != content {
				t.Errorf("--print changed the compose file:\n%s", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "nginx")); err == nil {
				t.Error("--print wrote the nginx directory")
			}
		})
	}
}

// TestInitChangesNothingOnRefusal: a file with x-bluegreen, several
// services without a hint, or an nginx.conf already there: one error,
// exit 2, and every file as it was.
func TestInitChangesNothingOnRefusal(t *testing.T) {
	for _, tc := range []struct {
		name, content, existing, want string
	}{
		{"section exists", "services:\n  web: {image: a, ports: [\"80\"]}\nx-bluegreen: {service: web}\n", "", "already has an x-bluegreen section"},
		{"which service", "services:\n  a: {image: a, ports: [\"80\"]}\n  b: {image: b, ports: [\"81\"]}\n", "", "give --service"},
		{"nginx.conf exists", "services:\n  web: {image: a, ports: [\"80\"]}\n", "nginx/nginx.conf", "exists already"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "compose.yaml")
			if err := os.WriteFile(file, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.existing != "" {
				_ = os.MkdirAll(filepath.Join(dir, "nginx"), 0o755)
				if err := os.WriteFile(filepath.Join(dir, tc.existing), []byte("mine\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, _, stderr := cliIn(t, dir, nil, "init")
			if code != exitBadInput {
				t.Fatalf("init: exit %d, want %d", code, exitBadInput)
			}
			wantOneLine(t, stderr, tc.want)
			if got, _ := os.ReadFile(file); string(got) != tc.content {
				t.Errorf("the compose file changed:\n%s", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "nginx", "upstream.conf")); err == nil {
				t.Error("init wrote the upstream file")
			}
		})
	}
}

// TestInitToDeploy: from a compose file without x-bluegreen to two
// deploys under load through the private nginx that init set up, started
// as init says, then down: no request fails.
func TestInitToDeploy(t *testing.T) {
	testutil.RequireDocker(t)
	testutil.RequireNginx(t)
	testutil.Image(t, "bluegreen-testapp:v1", "bluegreen-testapp:v2")
	ngxBin, err := testutil.NginxBinary()
	if err != nil {
		t.Fatal(err)
	}
	ports, err := testutil.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil { // nginx's workers read nothing here, but may write temp files
		t.Fatal(err)
	}
	compose := "services:\n  web:\n    image: bluegreen-testapp:${IMAGE_TAG:?}\n    environment: {VERSION: \"${IMAGE_TAG}\"}\n    ports: [\"8000\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	project := fmt.Sprintf("init%d", os.Getpid())
	listen := fmt.Sprintf("127.0.0.1:%d", ports[2])
	code, stdout, stderr := cliIn(t, dir, nil, "init", "--listen", listen, "--slots", fmt.Sprintf("%d,%d", ports[0], ports[1]))
	if code != exitOK {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	prefix := filepath.Join(dir, "nginx")
	if !strings.Contains(stdout, "nginx -p "+prefix+" -c nginx.conf") {
		t.Fatalf("init does not say how to start nginx:\n%s", stdout)
	}
	nginx := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ngxBin, append([]string{"-p", prefix, "-c", "nginx.conf"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("nginx %v: %v: %s", args, err, out)
		}
	}
	nginx()
	t.Cleanup(func() { nginx("-s", "quit") })
	t.Cleanup(func() { downProject(t, project) })

	url := "http://" + listen + "/version"
	deploy := func(tag string) {
		t.Helper()
		if code, _, stderr := cliIn(t, dir, []string{"IMAGE_TAG=" + tag}, "deploy", "-p", project); code != exitOK {
			t.Fatalf("deploy %s: exit %d: %s", tag, code, stderr)
		}
		if got := body(t, url); got != tag {
			t.Fatalf("after deploy %s nginx serves %q", tag, got)
		}
	}
	checkBeforeDeploy(t, dir, project, ports[0])
	deploy("v1")
	load := testutil.Load(t, url)
	deploy("v2")
	res := load.Stop()
	t.Logf("load: %v", res)
	if res.Failed > 0 || res.Versions["v2"] == 0 {
		t.Errorf("load through the nginx of init: %v; want no failure and v2 answers", res)
	}
	readOnlyWithoutVariables(t, dir, project)
	// After down the proxy still routes to green, where nothing runs: the
	// next deploy says so, and serves again.
	code, stdout, _ = cliIn(t, dir, []string{"IMAGE_TAG=v1"}, "deploy", "-p", project)
	if code != exitOK || !strings.Contains(stdout, "live slot: green (nothing runs in it") {
		t.Errorf("deploy after down: exit %d, want 0 and the live slot shown as empty", code)
	}
	if got := body(t, url); got != "v1" {
		t.Errorf("after the deploy that followed down nginx serves %q, want v1", got)
	}
	canaryByCLI(t, dir, project, url)
}

// canaryByCLI turns on init's commented strategy: canary and deploys v2
// by the CLI under load: the step's progress lines, a status during the
// split that names the split, its figures and the deploy that runs, and
// the release served after, with no failed request.
func canaryByCLI(t *testing.T, dir, project, url string) {
	t.Helper()
	file := filepath.Join(dir, "compose.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	commented := regexp.MustCompile(`(?m)^  # strategy: canary .*$`)
	if !commented.Match(b) {
		t.Fatalf("init wrote no commented strategy line:\n%s", b)
	}
	b = commented.ReplaceAll(b, []byte("  strategy: canary\n  canary: {steps: [50], step_time: 3s, min_requests: 20}"))
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	load := testutil.Load(t, url)
	cmd := exec.Command(binary, "deploy", "-p", project)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "IMAGE_TAG=v2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	inStep := make(chan struct{})
	var stepOnce sync.Once
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "canary       step 1/1 (50%)") {
				stepOnce.Do(func() { close(inStep) })
			}
		}
	}()
	select {
	case <-inStep:
		code, stdout, _ := cliIn(t, dir, nil, "status", "-p", project)
		if code != exitOK || !strings.Contains(stdout, "canary: green takes 50% of new requests, blue 50%; step 1/1 (50%): ") ||
			!strings.Contains(stdout, fmt.Sprintf("a deploy (release 4) runs now: pid %d on ", cmd.Process.Pid)) {
			t.Errorf("status during the canary step: exit %d; want the split, its figures and the deploy named", code)
		}
	case <-scanned:
		t.Error("the deploy printed no progress line of its canary step")
	case <-time.After(2 * time.Minute):
		t.Error("no canary progress line in 2 minutes")
	}
	<-scanned
	err = cmd.Wait()
	res := load.Stop()
	output := strings.Join(lines, "\n")
	t.Logf("canary deploy by the CLI: %v\nstdout:\n%s\nstderr:\n%s\nload: %v", err, output, stderr.String(), res)
	if err != nil {
		t.Fatalf("canary deploy: %v", err)
	}
	for _, want := range []string{"step 1/1 passed: ", "canary       ok green (", "switch       ok green ("} {
		if !strings.Contains(output, want) {
			t.Errorf("canary deploy's output lacks %q", want)
		}
	}
	if res.Failed > 0 || res.Versions["v2"] == 0 {
		t.Errorf("load during the canary deploy: %v; want no failure and v2 answers", res)
	}
	if got := body(t, url); got != "v2" {
		t.Errorf("after the canary deploy nginx serves %q, want v2", got)
	}
}

// checkBeforeDeploy: check and deploy --dry-run print the checklist, exit 0
// only when a deploy could start (blue's port, the first deploy's, is
// taken for a while), and change nothing.
func checkBeforeDeploy(t *testing.T, dir, project string, bluePort int) {
	t.Helper()
	v1 := []string{"IMAGE_TAG=v1"}
	code, stdout, _ := cliIn(t, dir, v1, "check", "-p", project)
	for _, name := range []string{"configuration", "proxy", "live slot", "history", "state directory", "lock", "slot ports", "images"} {
		if !regexp.MustCompile(`(?m)^ok +` + name + ` `).MatchString(stdout) {
			t.Errorf("check does not pass %q:\n%s", name, stdout)
		}
	}
	if code != exitOK || !strings.Contains(stdout, "a deploy could start; nothing was changed") {
		t.Errorf("check: exit %d, want 0 and the closing line", code)
	}
	if code, stdout, _ := cliIn(t, dir, []string{"IMAGE_TAG=v9"}, "check", "-p", project); code != exitOK || !strings.Contains(stdout, "not present, a deploy pulls them: web bluegreen-testapp:v9") {
		t.Errorf("check of a missing image: exit %d, want 0 and the image named", code)
	}
	if code, _, stderr := cliIn(t, dir, nil, "check", "-p", project); code != exitBadInput || !strings.Contains(stderr, "required variable IMAGE_TAG is missing a value") {
		t.Errorf("check without IMAGE_TAG: exit %d, want %d naming the variable", code, exitBadInput)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", bluePort))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := cliIn(t, dir, v1, "deploy", "--dry-run", "-p", project)
	l.Close()
	if code != exitBadInput || !regexp.MustCompile(`(?m)^FAIL +slot ports .*taken`).MatchString(stdout) || !strings.Contains(stderr, "failed: slot ports") {
		t.Errorf("deploy --dry-run with blue's port taken: exit %d, want %d, the slot ports failed", code, exitBadInput)
	}
	if _, err := os.Stat(filepath.Join(dir, ".bluegreen", project+".json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("check wrote a history: %v", err)
	}
	if st := status(t, filepath.Join(dir, "compose.yaml"), project); len(st.Slots[0].Containers)+len(st.Slots[1].Containers) != 0 {
		t.Errorf("check created containers: %+v", st.Slots)
	}
}

// logsFollow runs logs --follow: it prints the live slot's lines, keeps
// following, and ends with exit 0 on an interrupt.
func logsFollow(t *testing.T, dir, project string) {
	t.Helper()
	cmd := exec.Command(binary, "logs", "--follow", "-p", project)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		first <- line
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case line := <-first:
		if !strings.HasPrefix(line, project+"-green-web-1 | ") {
			t.Errorf("logs --follow first line %q, want one of %s-green-web-1", line, project)
		}
	case <-time.After(20 * time.Second):
		t.Error("logs --follow printed no line in 20s")
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("logs --follow ended by itself: %v", err)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("logs --follow after an interrupt: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("logs --follow did not end within 10s of an interrupt")
	}
}

// readOnlyWithoutVariables: in a shell without the release's variables,
// status, history, logs and down work (saying which variable they did without),
// deploy is refused, and status after down says that nothing runs where
// the proxy routes.
func readOnlyWithoutVariables(t *testing.T, dir, project string) {
	t.Helper()
	if _, ok := os.LookupEnv("IMAGE_TAG"); ok {
		t.Fatal("IMAGE_TAG is set in the test's environment")
	}
	const note = "variable IMAGE_TAG is not set; the latest release's value is used"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status"}, "live slot: green"},
		{[]string{"history"}, "web=bluegreen-testapp:v2"},
		{[]string{"logs"}, project + `-green-web-1 | testapp: `},
		{[]string{"logs", "blue", "web", "--tail", "1"}, project + `-blue-web-1 | testapp: `},
		{[]string{"down"}, "both slots and the shared services removed"},
		{[]string{"status"}, "warning: the proxy routes to green, but green has no containers"},
	} {
		code, stdout, stderr := cliIn(t, dir, nil, append(tc.args, "-p", project)...)
		if code != exitOK || !strings.Contains(stdout, tc.want) || !strings.Contains(stderr, note) {
			t.Errorf("%v without IMAGE_TAG: exit %d; want exit 0, %q on stdout and %q on stderr", tc.args, code, tc.want, note)
		}
		if tc.args[0] == "logs" && len(tc.args) == 1 {
			if !strings.Contains(stdout, `version="v2" listening`) {
				t.Errorf("logs of the live slot lack v2's start line:\n%s", stdout)
			}
			logsFollow(t, dir, project)
		}
		if tc.args[0] == "logs" && len(tc.args) > 1 && (strings.Count(stdout, "\n") != 1 || !strings.Contains(stdout, `version="v1" got terminated, shutting down`)) {
			t.Errorf("logs blue web --tail 1: want the one last line of v1, its shutdown:\n%s", stdout)
		}
		if tc.args[0] == "history" {
			if code, _, stderr := cliIn(t, dir, nil, "deploy", "-p", project); code != exitBadInput || !strings.Contains(stderr, "IMAGE_TAG") {
				t.Errorf("deploy without IMAGE_TAG: exit %d (%s); want %d naming the variable", code, stderr, exitBadInput)
			}
		}
	}
}
