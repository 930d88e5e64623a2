package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/docker/compose/v2/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// binary is the command, built once by TestMain: the tests run it as a
// user does and read its stdout, stderr and exit code.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bluegreen-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "bluegreen")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the command:", err)
		os.Exit(1)
	}
	logrus.SetOutput(io.Discard) // compose's warnings in the tests' own cleanup
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the built command with args and returns its exit code and
// output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	return cliIn(t, "", nil, args...)
}

// cliIn runs the command in dir (the test's directory if empty) with extra
// environment variables.
func cliIn(t *testing.T, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", binary, err)
	}
	t.Logf("bluegreen %s -> exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

func wantOneLine(t *testing.T, stderr string, mentions ...string) {
	t.Helper()
	if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); n != 0 || stderr == "" {
		t.Errorf("stderr has %d lines, want exactly one: %q", n+1, stderr)
	}
	for _, m := range mentions {
		if !strings.Contains(stderr, m) {
			t.Errorf("stderr %q does not mention %q", stderr, m)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services: {web: {image: app}, db: {image: db}}\nx-bluegreen: {service: api, port: 8000}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	twoProxies := filepath.Join(dir, "two-proxies.yaml")
	if err := os.WriteFile(twoProxies, []byte("services: {web: {image: app, ports: [\"8000\"]}}\nx-bluegreen: {nginx: {upstream: backend}, caddy: {id: web}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("services: {web: {image: app, ports: [\"8000\"]}}\nx-bluegreen: {ngnix: {upstream: backend}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		mentions []string
	}{
		{"unknown flag", []string{"deploy", "--no-such-flag"}, []string{"unknown flag"}},
		{"missing file", []string{"deploy", "-f", filepath.Join(dir, "nope.yaml"), "-p", "x"}, []string{"nope.yaml"}},
		{"unknown service", []string{"deploy", "-f", file, "-p", "x"}, []string{`"api" is not a service`}},
		{"unexpected argument", []string{"status", "-f", file, "extra"}, []string{"extra"}},
		{"two proxy sections", []string{"status", "-f", twoProxies, "-p", "x"}, []string{"sections caddy and nginx: name one proxy"}},
		{"a proxy section with a typo", []string{"status", "-f", typo, "-p", "x"}, []string{`x-bluegreen: unknown key "ngnix" (did you mean "nginx"?)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := cli(t, tc.args...)
			if code != exitBadInput {
				t.Errorf("exit %d, want %d", code, exitBadInput)
			}
			wantOneLine(t, stderr, tc.mentions...)
		})
	}
}

// TestDeployAndStatus runs the commands as a user would, against a real
// engine and a real nginx: a deploy whose image tag comes from the process
// environment, status --json, and a release that never becomes healthy.
func TestDeployAndStatus(t *testing.T) {
	testutil.RequireDocker(t)
	testutil.RequireNginx(t)
	testutil.Image(t, "bluegreen-testapp:v1", "bluegreen-testapp:v2")
	ngx := testutil.Nginx(t)
	file := composeFile(t, ngx, "BOOT_DELAY: 2s", "BOOT_DELAY: 300ms\n      FAIL: ${FAIL:-}", "timeout: 60s", "timeout: 5s")
	project := fmt.Sprintf("bgcli%d", os.Getpid())
	t.Cleanup(func() { downProject(t, project) })

	t.Setenv("IMAGE_TAG", "v1")
	code, stdout, _ := cli(t, "deploy", "-f", file, "-p", project)
	if code != exitOK {
		t.Fatalf("deploy exit %d", code)
	}
	for _, step := range []string{"prepare", "start", "wait-healthy", "switch", "retire"} {
		if !strings.Contains(stdout, step) {
			t.Errorf("deploy output has no line for step %s", step)
		}
	}
	if got := body(t, ngx.URL+"/version"); got != "v1" {
		t.Fatalf("nginx serves %q after deploy, want v1", got)
	}

	code, stdout, _ = cli(t, "status", "--json", "-f", file, "-p", project)
	if code != exitOK {
		t.Fatalf("status exit %d", code)
	}
	var st struct {
		Project string `json:"project"`
		Active  string `json:"active"`
	}
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("status --json: %v", err)
	}
	if st.Project != project || st.Active != "blue" {
		t.Errorf("status = %+v, want project %s active blue", st, project)
	}

	// -e wins over the environment; FAIL=500 makes v2 answer 500 everywhere.
	code, _, stderr := cli(t, "deploy", "-f", file, "-p", project, "-e", "IMAGE_TAG=v2", "-e", "FAIL=500")
	if code != exitFailed {
		t.Errorf("failed deploy exit %d, want %d", code, exitFailed)
	}
	wantOneLine(t, stderr, "wait-healthy", "green", "status 500", "traffic is on blue")
	if got := body(t, ngx.URL+"/version"); got != "v1" {
		t.Errorf("nginx serves %q after a failed deploy, want v1 still", got)
	}
	code, stdout, _ = cli(t, "status", "-f", file, "-p", project)
	if code != exitOK || !strings.Contains(stdout, "live slot: blue") {
		t.Errorf("status after failed deploy: exit %d, output %q", code, stdout)
	}
	if st := status(t, file, project); len(st.Slots) != 2 || len(st.Slots[1].Containers) != 0 {
		t.Errorf("the failed release's containers were not removed: %+v", st.Slots)
	}

	if code, _, _ := cli(t, "deploy", "-f", file, "-p", project, "-e", "IMAGE_TAG=v2"); code != exitOK {
		t.Fatalf("deploy v2 exit %d", code)
	}
	code, stdout, _ = cli(t, "history", "-f", file, "-p", project)
	if code != exitOK {
		t.Fatalf("history exit %d", code)
	}
	for _, want := range []string{"web=bluegreen-testapp:v1", "failed", "at wait-healthy", "web=bluegreen-testapp:v2", "succeeded"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("history does not show %q:\n%s", want, stdout)
		}
	}

	code, stdout, _ = cli(t, "rollback", "-f", file, "-p", project)
	if code != exitOK || !strings.Contains(stdout, "rollback: release 4 (release 1's web=bluegreen-testapp:v1) is live in blue") {
		t.Errorf("rollback: exit %d, output %q", code, stdout)
	}
	if got := body(t, ngx.URL+"/version"); got != "v1" {
		t.Errorf("nginx serves %q after rollback, want v1", got)
	}

	// switch green: green's release 3 was kept stopped by the rollback;
	// the switch starts it, switches, and stops blue, as a rollback does.
	code, stdout, _ = cli(t, "switch", "green", "-f", file, "-p", project)
	if code != exitOK || !strings.Contains(stdout, "switch: release 5 (release 3's web=bluegreen-testapp:v2) is live in green") {
		t.Errorf("switch green: exit %d, output %q", code, stdout)
	}
	if got := body(t, ngx.URL+"/version"); got != "v2" {
		t.Errorf("nginx serves %q after switch green, want v2", got)
	}
	if st := status(t, file, project); len(st.Slots[0].Containers) != 1 || st.Slots[0].Containers[0].State != "exited" {
		t.Errorf("blue after the switch to green: %+v, want its container kept, stopped", st.Slots[0])
	}
	// A refused switch changes nothing and leaves no history entry.
	code, _, stderr = cli(t, "switch", "green", "-f", file, "-p", project)
	if code != exitBadInput {
		t.Errorf("switch to the live slot: exit %d, want %d", code, exitBadInput)
	}
	wantOneLine(t, stderr, "green is already live")
	code, stdout, _ = cli(t, "history", "--json", "-f", file, "-p", project)
	var releases []bluegreen.Release
	if err := json.Unmarshal([]byte(stdout), &releases); code != exitOK || err != nil {
		t.Fatalf("history --json: exit %d, %v", code, err)
	}
	if last := releases[len(releases)-1]; len(releases) != 5 || last.Kind != "switch" || last.Of != 3 || last.Outcome != bluegreen.OutcomeSucceeded {
		t.Errorf("history after a switch and a refused one: %d entries, last %+v; want 5, the last a succeeded switch of release 3", len(releases), last)
	}
	code, stdout, _ = cli(t, "switch", "blue", "--json", "-f", file, "-p", project)
	if code != exitOK {
		t.Fatalf("switch blue: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for _, line := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("--json printed a line that is not JSON: %q", line)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, `"phase":"result"`) || !strings.Contains(last, `"slot":"blue"`) || !strings.Contains(last, `"of":1`) {
		t.Errorf("--json result line: %s", last)
	}
	if got := body(t, ngx.URL+"/version"); got != "v1" {
		t.Errorf("nginx serves %q after switch blue, want v1", got)
	}
	if code, stdout, _ = cli(t, "switch", "green", "-q", "-f", file, "-p", project); code != exitOK || strings.Count(stdout, "\n") != 1 {
		t.Errorf("switch -q: exit %d, output %q (want only the result line)", code, stdout)
	}

	// Another deploy holds the lock: exit 3 at once, naming the holder.
	lock := filepath.Join(filepath.Dir(file), ".bluegreen", project+".lock")
	f, err := os.OpenFile(lock, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `{"pid": 4242, "host": "deploybox", "since": "2026-11-26T03:00:00Z"}`)
	code, _, stderr = cli(t, "deploy", "-f", file, "-p", project, "-e", "IMAGE_TAG=v2")
	if code != exitLocked {
		t.Errorf("deploy with the lock held: exit %d, want %d", code, exitLocked)
	}
	wantOneLine(t, stderr, "pid 4242 on deploybox since 2026-11-26T03:00:00Z")
	f.Close() // releases the lock

	// down keeps named volumes unless asked; both slots go.
	if code, stdout, _ := cli(t, "down", "-f", file, "-p", project); code != exitOK || !strings.Contains(stdout, "named volumes kept") {
		t.Errorf("down: exit %d, output %q", code, stdout)
	}
	for _, s := range status(t, file, project).Slots {
		if len(s.Containers) != 0 {
			t.Errorf("after down, %s still has %d container(s)", s.Slot, len(s.Containers))
		}
	}
}

func status(t *testing.T, file, project string) bluegreen.Status {
	t.Helper()
	code, stdout, _ := cli(t, "status", "--json", "-f", file, "-p", project)
	if code != exitOK {
		t.Fatalf("status --json: exit %d", code)
	}
	var st bluegreen.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func body(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// downProject removes what a test's deploys left: both slots and the base
// project, with its volumes.
func downProject(t *testing.T, project string) {
	backend, err := bluegreen.NewEngine(context.Background(), "")
	if err != nil {
		t.Log(err)
		return
	}
	defer backend.Close()
	for _, name := range []string{project + "-blue", project + "-green", project} {
		_ = backend.Down(context.Background(), name, api.DownOptions{RemoveOrphans: true, Volumes: true})
	}
}

// TestComposeResolution: without -f and -p the command finds compose.yaml
// in its directory and takes the project name from COMPOSE_PROJECT_NAME,
// as compose does; BLUEGREEN_SERVICE overrides x-bluegreen, and a flag
// overrides both.
func TestComposeResolution(t *testing.T) {
	testutil.RequireDocker(t)
	dir := t.TempDir()
	yaml := "services:\n  web: {image: app}\n  api: {image: app}\nx-bluegreen: {service: nope, port: 8000}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := cliIn(t, dir, []string{"COMPOSE_PROJECT_NAME=resolved", "BLUEGREEN_SERVICE=web"}, "status", "--json")
	if code != exitOK || !strings.Contains(stdout, `"project": "resolved"`) {
		t.Errorf("status in a directory with compose.yaml: exit %d, %s", code, stdout)
	}
	code, _, stderr := cliIn(t, dir, []string{"BLUEGREEN_SERVICE=web"}, "status", "--service", "nope2")
	if code != exitBadInput || !strings.Contains(stderr, `"nope2" is not a service`) {
		t.Errorf("the flag must win over the environment: exit %d, %s", code, stderr)
	}
	code, _, stderr = cliIn(t, dir, []string{"BLUEGREEN_DRAIN_TIMEOUT=soon"}, "status", "--service", "web")
	wantOneLine(t, stderr, `BLUEGREEN_DRAIN_TIMEOUT="soon" is not a duration`)
	if code != exitBadInput {
		t.Errorf("bad environment override: exit %d, want %d", code, exitBadInput)
	}
}

// TestREADMEWalkthrough runs the README's walkthrough as it is written,
// against a private nginx (the BLUEGREEN_* overrides point at it) and free
// slot ports: every line must succeed.
func TestREADMEWalkthrough(t *testing.T) {
	testutil.RequireDocker(t)
	testutil.RequireNginx(t)
	testutil.Image(t, "bluegreen-testapp:v1", "bluegreen-testapp:v2")
	ngx := testutil.Nginx(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, walk, ok := strings.Cut(string(readme), "## Walkthrough")
	_, walk, ok2 := strings.Cut(walk, "```sh\n")
	walk, _, ok3 := strings.Cut(walk, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no ```sh block under ## Walkthrough")
	}
	ports, err := testutil.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	blue, green := ports[0], ports[1]
	project := fmt.Sprintf("walk%d", os.Getpid())
	env := []string{
		"BLUEGREEN_UPSTREAM_FILE=" + ngx.UpstreamFile, "BLUEGREEN_NGINX_CONF=" + ngx.Conf,
		"BLUEGREEN_NGINX_PREFIX=" + ngx.Prefix, fmt.Sprintf("BLUE_PORT=%d", blue), fmt.Sprintf("GREEN_PORT=%d", green),
		"COMPOSE_PROJECT_NAME=" + project, // the file's name: would collide with a user's walkthrough
		"BLUEGREEN_STATE_DIR=" + t.TempDir(),
	}
	dir := "../.."
	t.Cleanup(func() { downProject(t, project) })
	for _, line := range strings.Split(strings.TrimSpace(walk), "\n") {
		switch fields := strings.Fields(line); {
		case fields[0] == "cd":
			dir = filepath.Join(dir, fields[1])
		case fields[0] == "export":
			env = append(env, fields[1])
		case len(fields) >= 3 && fields[0] == "go" && fields[1] == "run":
			code, _, stderr := cliIn(t, dir, env, fields[3:]...)
			if code != exitOK {
				t.Fatalf("%q: exit %d: %s", line, code, stderr)
			}
			if fields[3] == "rollback" {
				if got := body(t, ngx.URL+"/version"); got != "v1" {
					t.Errorf("after the walkthrough's rollback nginx serves %q, want v1", got)
				}
			}
		default:
			t.Fatalf("the walkthrough has a line this test cannot run: %q", line)
		}
	}
}

// TestDemo runs the README's first command: the demo deploys two releases
// under load and must report that no request failed.
// With --proxy go it runs behind bluegreen's in-process proxy, as it does
// on a machine without nginx.
func TestDemo(t *testing.T) {
	testutil.RequireDocker(t)
	for _, proxy := range []string{"nginx", "go"} {
		t.Run(proxy, func(t *testing.T) {
			if proxy == "nginx" {
				testutil.RequireNginx(t)
			}
			code, stdout, _ := cli(t, "demo", "--proxy", proxy)
			if code != exitOK {
				t.Fatalf("demo: exit %d", code)
			}
			for _, want := range []string{"deploy v2: blue -> green", "deploy v3: green -> blue", " sent, 0 failed", "cleaned up"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("demo output lacks %q", want)
				}
			}
		})
	}
}

// TestInterruptBeforeSwitch: Ctrl-C (SIGINT) while the new release boots
// removes it; traffic stays where it was.
func TestInterruptBeforeSwitch(t *testing.T) {
	testutil.RequireDocker(t)
	testutil.RequireNginx(t)
	testutil.Image(t, "bluegreen-testapp:v1", "bluegreen-testapp:v2")
	ngx := testutil.Nginx(t)
	file := composeFile(t, ngx, "BOOT_DELAY: 2s", "BOOT_DELAY: ${BOOT:-300ms}")
	project := fmt.Sprintf("bgint%d", os.Getpid())
	t.Cleanup(func() { downProject(t, project) })
	t.Setenv("IMAGE_TAG", "v1")
	if code, _, _ := cli(t, "deploy", "-f", file, "-p", project); code != exitOK {
		t.Fatalf("deploy v1: exit %d", code)
	}

	cmd := exec.Command(binary, "deploy", "-f", file, "-p", project, "-e", "IMAGE_TAG=v2", "-e", "BOOT=30s")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "start") && strings.Contains(lines.Text(), "ok green") {
			break
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFailed {
		t.Errorf("interrupted deploy: %v, want exit %d", err, exitFailed)
	}
	t.Logf("stderr: %s", errOut.String())
	for _, want := range []string{"interrupted; cleaning up", "failed at step wait-healthy (green)", "context canceled", "[traffic is on blue]"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q", want)
		}
	}
	if got := body(t, ngx.URL+"/version"); got != "v1" {
		t.Errorf("nginx serves %q after the interrupted deploy, want v1", got)
	}
	if st := status(t, file, project); len(st.Slots[1].Containers) != 0 {
		t.Errorf("the interrupted release was not removed: %+v", st.Slots[1])
	}
}

// composeFile writes the demo's compose file for a test, behind ngx on two
// free slot ports, with each old string of the replacements (old, new, ...)
// replaced.
func composeFile(t *testing.T, ngx *testutil.NginxServer, replacements ...string) string {
	t.Helper()
	ports, err := testutil.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer(replacements...).Replace(demoCompose)
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(yaml, ports[0], ports[1], "  nginx:\n"+ngx.Section())), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
