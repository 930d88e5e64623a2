package bluegreen_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v2/pkg/api"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// taskServices is kvServices with two release tasks: migrate, behind a
// profile, writes the release's version into the shared store as
// "schema"; notify, without a profile, writes it as "notified".
var taskServices = strings.Replace(kvServices, "volumes:\n", taskPart+"volumes:\n", 1)

const taskPart = `  migrate:
    image: bluegreen-testapp:${IMAGE_TAG}
    command: ["task"]
    profiles: [tasks]
    environment: {VERSION: "${IMAGE_TAG}", KV_URL: "http://kv:8000", TASK_KEY: schema, TASK_EXIT: "${MIGRATE_EXIT:-0}"}
    depends_on:
      kv: {condition: service_healthy}
  notify:
    image: bluegreen-testapp:${IMAGE_TAG}
    command: ["task"]
    environment: {VERSION: "${IMAGE_TAG}", KV_URL: "http://kv:8000", TASK_KEY: notified}
`

// TestReleaseTasks deploys, under load, releases with a task before the
// switch and one after it: they run in the new release, on the project's
// network, before and after the switch; a failing one stops the deploy
// before the switch with its output in the error; no task is ever started
// as a shared service, and no task container is left.
func TestReleaseTasks(t *testing.T) {
	e := newEnvFront(t, taskServices, func(e *env) front {
		return func(t *testing.T) (string, string) {
			section, url := e.hostNginx(t)
			return "  tasks: {before_switch: [migrate], after_switch: [notify], timeout: 1m}\n" + section, url
		}
	})
	finish := e.underLoad() // v1, tasks included
	kvID := e.kvContainer() // the base project holds kv only: notify is not shared
	e.wantKV(map[string]string{"schema": "v1", "notified": "v1"})

	d := e.deployer("IMAGE_TAG=v2")
	// compose's following of logs can miss the task's die event and
	// follow until tasks.timeout; the deploy must not wait for it.
	d.Compose = logsNeverEnd{d.Compose}
	var steps, output []string
	atSwitch := ""
	d.OnEvent = func(ev bluegreen.Event) {
		switch {
		case ev.Phase == bluegreen.PhaseBegin:
			steps = append(steps, string(ev.Step))
			if ev.Step == bluegreen.StepSwitch {
				atSwitch, _ = e.kv(http.MethodGet, "schema", "") // through v1
			}
		case ev.Phase == bluegreen.PhaseInfo && strings.Contains(ev.Message, " | "):
			output = append(output, ev.Message)
		}
	}
	if _, err := d.Deploy(context.Background()); err != nil {
		t.Fatal(err)
	}
	if atSwitch != "v2" {
		t.Errorf("at the switch the store's schema is %q, want v2: migrate runs before the switch", atSwitch)
	}
	wantOrder := []string{"wait-healthy", "before-switch", "switch", "retire", "after-switch"}
	if got := slices.DeleteFunc(slices.Clone(steps), func(s string) bool { return !slices.Contains(wantOrder, s) }); !slices.Equal(got, wantOrder) {
		t.Errorf("steps %v, want %v in that order", steps, wantOrder)
	}
	for _, want := range []string{`migrate | task: version "v2" starts`, `notify | task: notified = "v2": status 204`} {
		if !slices.Contains(output, want) {
			t.Errorf("the tasks' output %q lacks %q", output, want)
		}
	}
	e.wantKV(map[string]string{"schema": "v2", "notified": "v2"})

	_, err := e.deployer("IMAGE_TAG=v3", "MIGRATE_EXIT=3").Deploy(context.Background())
	wantStepError(t, err, bluegreen.StepBeforeTasks, bluegreen.Green, bluegreen.ErrTask)
	for _, want := range []string{"migrate exited with code 3", "task: exits with code 3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	finish("v2")
	if ids := e.containerIDs(bluegreen.Blue, true); len(ids) != 0 {
		t.Errorf("the failed release's slot holds %d containers, want none", len(ids))
	}
	if got := e.kvContainer(); got != kvID {
		t.Errorf("kv container is %.12s, want the same %.12s throughout", got, kvID)
	}
	for _, slot := range []bluegreen.Slot{bluegreen.Blue, bluegreen.Green} {
		cs, err := e.compose.Ps(context.Background(), e.project+"-"+string(slot)+"-task", api.PsOptions{All: true})
		if err != nil || len(cs) != 0 {
			t.Errorf("task containers left in %s: %v, %v", slot, cs, err)
		}
	}
	history, err := e.deployer("IMAGE_TAG=v2").History()
	if err != nil {
		t.Fatal(err)
	}
	if last := history[len(history)-1]; last.Outcome != bluegreen.OutcomeFailed || last.Step != bluegreen.StepBeforeTasks {
		t.Errorf("history's last entry %+v, want failed at before-switch", last)
	}
}

// logsNeverEnd follows logs as compose does when it misses the die event of
// the container it follows: the lines come, then nothing until ctx ends.
type logsNeverEnd struct{ bluegreen.Compose }

func (c logsNeverEnd) Logs(ctx context.Context, project string, consumer api.LogConsumer, o api.LogOptions) error {
	err := c.Compose.Logs(ctx, project, consumer, o)
	if o.Follow {
		<-ctx.Done()
	}
	return err
}

// wantKV checks keys of the shared store, read through the proxy.
func (e *env) wantKV(want map[string]string) {
	e.t.Helper()
	for key, value := range want {
		if got, err := e.kv(http.MethodGet, key, ""); err != nil || got != value {
			e.t.Errorf("store's %s = %q, %v; want %q", key, got, err, value)
		}
	}
}

// TestTaskConfigErrors: a task list that names no one-off service of the
// file is refused by Load, with the key and the nearest name.
func TestTaskConfigErrors(t *testing.T) {
	for _, tc := range []struct{ tasks, want string }{
		{"{before_switch: [migrat]}", `tasks.before_switch: "migrat" is not a service of the file (did you mean migrate?)`},
		{"{after_switch: [web]}", `tasks.after_switch: "web" switches with the release (it is in services)`},
		{"{before_switch: [migrate], timeout: 5}", "x-bluegreen.tasks.timeout: want a duration like 30s, got 5"},
	} {
		t.Run(tc.tasks, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "compose.yaml")
			yaml := "services:\n  web:\n    image: shop\n    ports: [\"8000\"]\n  migrate:\n    image: shop\n    profiles: [tasks]\n" +
				"x-bluegreen:\n  service: web\n  tasks: " + tc.tasks + "\n"
			if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := bluegreen.Load(context.Background(), bluegreen.Source{Files: []string{file}, ProjectName: "shop"})
			if !errors.Is(err, bluegreen.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load: %v; want ErrBadInput saying %q", err, tc.want)
			}
		})
	}
}
