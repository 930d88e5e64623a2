package main

import (
	"fmt"
	"io"
	"time"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// progressPrinter turns deploy events into one line per step, with the time
// since the deploy began, for a person to follow.
type progressPrinter struct {
	w     io.Writer
	start time.Time
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	return &progressPrinter{w: w, start: time.Now()}
}

func (p *progressPrinter) event(e bluegreen.Event) {
	at := fmt.Sprintf("[%6.2fs]", e.Time.Sub(p.start).Seconds())
	slot := ""
	if e.Slot != bluegreen.None {
		slot = " " + e.Slot.String()
	}
	switch e.Phase {
	case bluegreen.PhaseBegin:
		return // the done or fail line says it with the step's duration
	case bluegreen.PhaseInfo:
		fmt.Fprintf(p.w, "%s %-12s %s\n", at, e.Step, e.Message)
	case bluegreen.PhaseDone:
		fmt.Fprintf(p.w, "%s %-12s ok%s (%s)\n", at, e.Step, slot, e.Elapsed.Round(time.Millisecond))
	case bluegreen.PhaseFail:
		fmt.Fprintf(p.w, "%s %-12s FAILED%s (%s): %s\n", at, e.Step, slot, e.Elapsed.Round(time.Millisecond), oneLine(e.Err.Error()))
	}
}
