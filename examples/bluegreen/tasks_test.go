package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// TestReleaseTaskCLI: a migration behind a profile runs once per deploy,
// before the switch, its output in the progress; one that exits 3 stops
// the deploy before the switch, under load: no request fails, and the one
// error line carries its output.
func TestReleaseTaskCLI(t *testing.T) {
	testutil.RequireDocker(t)
	testutil.RequireNginx(t)
	testutil.Image(t, "bluegreen-testapp:v1", "bluegreen-testapp:v2")
	ngx := testutil.Nginx(t)
	migrate := "  migrate:\n    image: bluegreen-testapp:${IMAGE_TAG}\n    command: [\"task\"]\n    profiles: [tasks]\n" +
		"    environment: {VERSION: \"${IMAGE_TAG}\", TASK_EXIT: \"${MIGRATE_EXIT:-0}\"}\n" +
		"x-bluegreen:\n  tasks: {before_switch: [migrate]}\n"
	file := composeFile(t, ngx, "BOOT_DELAY: 2s", "BOOT_DELAY: 300ms", "x-bluegreen:\n", migrate)
	project := fmt.Sprintf("bgtask%d", os.Getpid())
	t.Cleanup(func() { downProject(t, project) })

	code, stdout, _ := cli(t, "deploy", "-f", file, "-p", project, "-e", "IMAGE_TAG=v1")
	if code != exitOK {
		t.Fatalf("deploy v1: exit %d", code)
	}
	if n := strings.Count(stdout, `migrate | task: version "v1" starts`); n != 1 {
		t.Errorf("the migration's first line appears %d times, want once:\n%s", n, stdout)
	}
	order := regexp.MustCompile(`(?s)before-switch +ok blue.* switch +ok blue`)
	if !order.MatchString(stdout) {
		t.Errorf("before-switch does not end before the switch:\n%s", stdout)
	}

	load := testutil.Load(t, ngx.URL+"/version")
	code, _, stderr := cli(t, "deploy", "-f", file, "-p", project, "-e", "IMAGE_TAG=v2", "-e", "MIGRATE_EXIT=3")
	res := load.Stop()
	t.Logf("load during the failed deploy: %v", res)
	if code != exitFailed {
		t.Errorf("deploy with a failing migration: exit %d, want %d", code, exitFailed)
	}
	wantOneLine(t, stderr, "failed at step before-switch (green)", "migrate exited with code 3", "task: exits with code 3", "traffic is on blue")
	if res.Failed != 0 || res.Sent == 0 || res.Versions["v2"] != 0 {
		t.Errorf("load: %v; want requests, none failed, none answered by v2", res)
	}
	if got := body(t, ngx.URL+"/version"); got != "v1" {
		t.Errorf("nginx serves %q after the failed migration, want v1", got)
	}
}
