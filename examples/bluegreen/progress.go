package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

// output says how a command reports its progress.
type output int

const (
	outputLines output = iota // one line per step, for a person
	outputJSON                // one JSON object per event, for CI logs
	outputQuiet               // nothing but the result and errors
)

// progressPrinter turns deploy events into output. On a terminal it shows a
// live indicator while the release is being probed.
type progressPrinter struct {
	w     io.Writer
	mode  output
	start time.Time
	tty   bool

	mu      sync.Mutex
	waiting chan struct{} // closed to stop the live indicator
}

func newProgressPrinter(w io.Writer, mode output) *progressPrinter {
	f, ok := w.(*os.File)
	return &progressPrinter{w: w, mode: mode, start: time.Now(), tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (p *progressPrinter) event(e bluegreen.Event) {
	switch p.mode {
	case outputQuiet:
		return
	case outputJSON:
		p.json(e)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopIndicator()
	at := fmt.Sprintf("[%6.2fs]", e.Time.Sub(p.start).Seconds())
	slot := ""
	if e.Slot != bluegreen.None {
		slot = " " + e.Slot.String()
	}
	switch e.Phase {
	case bluegreen.PhaseBegin:
		if e.Step == bluegreen.StepWaitHealthy && p.tty {
			p.startIndicator(e)
		}
	case bluegreen.PhaseInfo:
		fmt.Fprintf(p.w, "%s %-12s %s\n", at, e.Step, e.Message)
	case bluegreen.PhaseDone:
		fmt.Fprintf(p.w, "%s %-12s ok%s (%s)\n", at, e.Step, slot, e.Elapsed.Round(time.Millisecond))
	case bluegreen.PhaseFail:
		fmt.Fprintf(p.w, "%s %-12s FAILED%s (%s): %s\n", at, e.Step, slot, e.Elapsed.Round(time.Millisecond), oneLine(e.Err.Error()))
	}
}

// startIndicator redraws one line until the next event: the step, the slot
// and how long it has waited.
func (p *progressPrinter) startIndicator(e bluegreen.Event) {
	done := make(chan struct{})
	p.waiting = done
	go func() {
		frames := `|/-\`
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case now := <-tick.C:
				p.mu.Lock()
				if p.waiting == done {
					fmt.Fprintf(p.w, "\r[%6.2fs] %-12s probing %s %c (%s)", now.Sub(p.start).Seconds(), e.Step, e.Slot,
						frames[i%len(frames)], now.Sub(e.Time).Round(100*time.Millisecond))
				}
				p.mu.Unlock()
			}
		}
	}()
}

// stopIndicator ends the live line and clears it. p.mu is held.
func (p *progressPrinter) stopIndicator() {
	if p.waiting == nil {
		return
	}
	close(p.waiting)
	p.waiting = nil
	fmt.Fprint(p.w, "\r\033[K")
}

// jsonEvent is the form of an event in --json output.
type jsonEvent struct {
	Time      time.Time `json:"time"`
	Project   string    `json:"project"`
	Step      string    `json:"step"`
	Phase     string    `json:"phase"`
	Slot      string    `json:"slot,omitempty"`
	ElapsedMS int64     `json:"elapsed_ms,omitempty"`
	Message   string    `json:"message,omitempty"`
	Error     string    `json:"error,omitempty"`
	// Canary holds a canary step's figures.
	Canary *bluegreen.CanaryProgress `json:"canary,omitempty"`
}

func (p *progressPrinter) json(e bluegreen.Event) {
	je := jsonEvent{
		Time: e.Time.UTC(), Project: e.Project, Step: string(e.Step), Phase: string(e.Phase),
		Slot: string(e.Slot), ElapsedMS: e.Elapsed.Milliseconds(), Message: e.Message, Canary: e.Canary,
	}
	if e.Err != nil {
		je.Error = e.Err.Error()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = json.NewEncoder(p.w).Encode(je)
}
