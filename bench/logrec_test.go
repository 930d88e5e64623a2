package bench_test

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// logRecorder is a slog.Handler that keeps each record's time and message:
// the Switcher logs each stage of a switch (at debug level), which splits
// the switch step without touching its code.
type logRecorder struct {
	mu   sync.Mutex
	recs []logRecord
}

type logRecord struct {
	at  time.Time
	msg string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, logRecord{r.Time, r.Message})
	return nil
}

// at returns the time of the last record with message msg (zero: none).
func (l *logRecorder) at(msg string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.recs) - 1; i >= 0; i-- {
		if l.recs[i].msg == msg {
			return l.recs[i].at
		}
	}
	return time.Time{}
}
