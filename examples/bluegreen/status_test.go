package main

import (
	"bytes"
	"strings"
	"testing"

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
