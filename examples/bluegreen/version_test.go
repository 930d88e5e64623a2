package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestVersion: version says what the binary was built from, in words and
// as JSON.
func TestVersion(t *testing.T) {
	code, stdout, _ := cli(t, "version")
	if code != exitOK {
		t.Fatalf("version: exit %d", code)
	}
	for _, want := range []string{"bluegreen (devel)", "module:  github.com/bluegreen-dev/bluegreen", "go:      " + runtime.Version(), "compose: v2.40.3"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("version does not say %q", want)
		}
	}
	_, stdout, _ = cli(t, "version", "--json")
	var v buildVersion
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Compose != "v2.40.3" || v.Go != runtime.Version() {
		t.Errorf("version --json = %s (%v)", stdout, err)
	}
}

// TestDockerPlugin: placed in a cli-plugins directory as docker-bluegreen,
// the binary runs as `docker bluegreen`, through the docker CLI that is
// installed, and docker lists it.
func TestDockerPlugin(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		testutil.SkipOrFail(t, err)
	}
	config := t.TempDir()
	plugins := filepath.Join(config, "cli-plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plugins, "docker-bluegreen"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(docker, append([]string{"--config", config}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("bluegreen", "version"); !strings.Contains(out, "compose: v2.40.3") {
		t.Errorf("docker bluegreen version:\n%s", out)
	}
	if out := run("bluegreen", "init", "--help"); !strings.Contains(out, "bluegreen init [flags]") {
		t.Errorf("docker bluegreen init --help:\n%s", out)
	}
	if out := run("--help"); !strings.Contains(out, "bluegreen*") || !strings.Contains(out, "zero downtime") {
		t.Errorf("docker --help does not list the plugin:\n%s", out)
	}
}

// TestGoInstall: the documented install, from this working tree into a
// GOBIN of its own, gives a binary that runs.
func TestGoInstall(t *testing.T) {
	gobin := t.TempDir()
	install := exec.Command("go", "install", ".")
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(gobin, "bluegreen"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "compose: v2.40.3") {
		t.Errorf("the installed bluegreen version: %v\n%s", err, out)
	}
}

// TestUsageErrors: a mistyped flag or command gets one line with the
// nearest name and the usage, exit 2.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"deploy", "--fiel", "x"}, []string{"unknown flag: --fiel", "did you mean --file?", "usage: bluegreen deploy [flags]"}},
		{[]string{"status", "--zzzz"}, []string{"unknown flag: --zzzz", "usage: bluegreen status [flags]"}},
		{[]string{"deplyo"}, []string{`unknown command "deplyo"`, "did you mean deploy?"}},
	} {
		code, _, stderr := cli(t, tc.args...)
		if code != exitBadInput {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitBadInput)
		}
		wantOneLine(t, stderr, tc.want...)
	}
	if _, _, stderr := cli(t, "status", "--zzzz"); strings.Contains(stderr, "did you mean") {
		t.Errorf("a suggestion for a flag nothing is near: %s", stderr)
	}
}
