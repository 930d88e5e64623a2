package bluegreentest_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/bluegreentest"
)

func TestSwitcherContract(t *testing.T) {
	bluegreentest.SwitcherContract(t, func(*testing.T) bluegreen.Switcher { return &bluegreentest.Switcher{} })
}

func TestSwitcherRecordsCalls(t *testing.T) {
	sw := &bluegreentest.Switcher{}
	ctx := t.Context()
	boom := errors.New("boom")
	if err := sw.Switch(ctx, bluegreen.Blue, []string{"127.0.0.1:8081"}); err != nil {
		t.Fatal(err)
	}
	sw.FailNext(boom)
	if err := sw.Switch(ctx, bluegreen.Green, []string{"127.0.0.1:8080"}); !errors.Is(err, boom) {
		t.Fatalf("Switch after FailNext = %v, want %v", err, boom)
	}
	if err := sw.Switch(ctx, bluegreen.Green, []string{"8080"}); !errors.Is(err, bluegreentest.ErrInvalid) {
		t.Fatalf("Switch to a bad address = %v, want ErrInvalid", err)
	}
	if err := sw.Drain(ctx); err != nil {
		t.Fatal(err)
	}

	want := []bluegreentest.SwitchCall{
		{Slot: bluegreen.Blue, Addrs: []string{"127.0.0.1:8081"}},
		{Slot: bluegreen.Green, Addrs: []string{"127.0.0.1:8080"}, Err: boom},
		{Slot: bluegreen.Green, Addrs: []string{"8080"}, Err: bluegreentest.ErrInvalid},
	}
	calls := sw.Calls()
	if diff := cmp.Diff(want, calls, cmpopts.IgnoreFields(bluegreentest.SwitchCall{}, "Time"), cmpopts.EquateErrors()); diff != "" {
		t.Errorf("Calls (-want +got):\n%s", diff)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Time.Before(calls[i-1].Time) {
			t.Errorf("call %d recorded at %s, before call %d at %s", i, calls[i].Time, i-1, calls[i-1].Time)
		}
	}
	if got := sw.Drains(); got != 1 {
		t.Errorf("Drains = %d, want 1", got)
	}
}
