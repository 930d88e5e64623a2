package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// TestPrintStatusReplicas: a slot of three replicas shows its port range
// and how many containers run.
func TestPrintStatusReplicas(t *testing.T) {
	web := func(n, state string) bluegreen.ContainerStatus {
		return bluegreen.ContainerStatus{Name: "shop-blue-web-" + n, Service: "web", Image: "shop:v1", State: state}
	}
	st := &bluegreen.Status{Project: "shop", Active: bluegreen.Blue, Slots: []bluegreen.SlotStatus{
		{Slot: bluegreen.Blue, Port: 8091, Replicas: 3, Live: true, Containers: []bluegreen.ContainerStatus{
			web("1", "running"), web("2", "running"), web("3", "running"),
		}},
		{Slot: bluegreen.Green, Port: 8081, Replicas: 3, Containers: []bluegreen.ContainerStatus{
			web("1", "exited"), web("2", "running"), web("3", "running"),
		}},
	}}
	var out bytes.Buffer
	if err := printStatus(&out, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"blue   yes   8091-8093  running (3 containers)",
		"green        8081-8083  exited (3 containers)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status does not show %q:\n%s", want, out.String())
		}
	}
}

// TestPrintStatusDeploying: a deploy that runs now is named, and a canary
// split it runs shows no "killed?" guess; one that no deploy runs does.
func TestPrintStatusDeploying(t *testing.T) {
	base := func() *bluegreen.Status {
		return &bluegreen.Status{Project: "shop", Active: bluegreen.Green,
			Canary: &bluegreen.CanaryStatus{Slot: bluegreen.Blue, Percent: 10}}
	}
	since := time.Now()
	running := base()
	running.Deploying = &bluegreen.LockHolder{PID: 4242, Host: "web1", Since: since}
	running.History = []bluegreen.Release{{ID: 6, Kind: "deploy", Outcome: bluegreen.OutcomeSucceeded},
		{ID: 7, Kind: "rollback", Outcome: bluegreen.OutcomeRunning, Started: since.Add(time.Millisecond)}}
	killed := base()
	killed.Warnings = []string{"release 7 (deploy, begun 2026-12-07T12:00:00Z) did not finish"}
	// A new deploy took the lock after release 7 was killed, and has
	// recorded nothing yet: release 7 is not the one that runs.
	taken := base()
	taken.Deploying = running.Deploying
	taken.History = []bluegreen.Release{{ID: 7, Kind: "deploy", Outcome: bluegreen.OutcomeRunning, Started: since.Add(-time.Minute)}}
	taken.Warnings = killed.Warnings
	for _, tc := range []struct {
		name    string
		st      *bluegreen.Status
		want    []string
		notWant string
	}{
		{"running", running, []string{"a rollback (release 7) runs now: pid 4242 on web1 since ", "canary: blue takes 10% of new requests, green 90%\n"}, "killed?"},
		{"taken", taken, []string{"warning: release 7 (deploy, begun 2026-12-07T12:00:00Z) did not finish\n",
			"a deploy, rollback, switch or down of the project runs now: pid 4242 on web1 since "}, "release 7) runs now"},
		{"killed", killed, []string{"warning: release 7 (deploy, begun 2026-12-07T12:00:00Z) did not finish\n", "no deploy runs it (killed?): the next deploy sends all traffic to green"}, "runs now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := printStatus(&out, tc.st); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("status does not show %q:\n%s", want, out.String())
				}
			}
			if strings.Contains(out.String(), tc.notWant) {
				t.Errorf("status shows %q:\n%s", tc.notWant, out.String())
			}
		})
	}
}
