package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrLocked reports that another deploy of the same project holds the lock.
var ErrLocked = errors.New("another deploy of this project is running")

// lockPoll is how often a waiting deploy tries the lock again.
const lockPoll = 100 * time.Millisecond

// holderSettle bounds how long a deploy that does not wait looks again for
// the holder's name: a holder writes it right after it takes the flock, and
// empties it right before it lets go, so a reader in either window finds the
// file empty while the lock is held.
const (
	holderSettle     = 250 * time.Millisecond
	holderSettlePoll = 5 * time.Millisecond
)

// LockHolder says who holds a project's lock.
type LockHolder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

// LockError is returned, wrapping ErrLocked, when the lock is held and the
// caller did not ask to wait.
type LockError struct {
	Path   string
	Holder LockHolder // zero when the holder could not be read
}

func (e *LockError) Error() string {
	if e.Holder.PID == 0 {
		return fmt.Sprintf("%v (lock %s)", ErrLocked, e.Path)
	}
	return fmt.Sprintf("%v: pid %d on %s since %s (lock %s)", ErrLocked,
		e.Holder.PID, e.Holder.Host, e.Holder.Since.Format(time.RFC3339), e.Path)
}

func (e *LockError) Unwrap() error { return ErrLocked }

// lockFile takes an advisory flock on path. The kernel drops it when the
// process dies, so Ctrl-C or kill -9 never leaves a stale lock. With wait,
// it retries until ctx ends; without, it fails at once with a *LockError.
// The returned function releases the lock.
func lockFile(ctx context.Context, path string, wait bool) (unlock func() error, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	var settle time.Time // when a held lock with no name was first seen
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !wait {
			holder := readHolder(path)
			if !holder.named() {
				// The holder is writing its name or letting go: try the lock
				// again, for a short while, before failing without a name.
				if settle.IsZero() {
					settle = time.Now()
				}
				if time.Since(settle) < holderSettle {
					time.Sleep(holderSettlePoll)
					continue
				}
			}
			f.Close()
			return nil, &LockError{Path: path, Holder: holder}
		}
		select {
		case <-ctx.Done():
			holder := readHolder(path)
			f.Close()
			return nil, fmt.Errorf("waiting for the lock: %w: %w", &LockError{Path: path, Holder: holder}, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
	// Say who holds it, for the next one to read. The lock itself is the
	// flock, not this content, so a stale content after a crash is harmless.
	host, _ := os.Hostname()
	b, _ := json.Marshal(LockHolder{PID: os.Getpid(), Host: host, Since: time.Now().UTC()})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(append(b, '\n'), 0)
	}
	return func() error {
		_ = f.Truncate(0)
		return f.Close() // closing the descriptor releases the flock
	}, nil
}

// lockHeld says whether a deploy holds the lock at path, and who, without
// taking it: a shared flock for an instant, and no name written. A deploy
// that tries the lock in that instant finds it held with no name (or the
// name of a holder that is gone) and looks again (holderSettle), so a
// status or a check never makes a deploy fail.
func lockHeld(path string) (LockHolder, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return LockHolder{}, false, nil
	}
	if err != nil {
		return LockHolder{}, false, fmt.Errorf("lock: %w", err)
	}
	defer f.Close() // closing the descriptor releases the shared flock
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	switch {
	case err == nil:
		return LockHolder{}, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return readHolder(path), true, nil
	default:
		return LockHolder{}, false, fmt.Errorf("lock %s: %w", path, err)
	}
}

// named reports whether h names a holder that may still run: a name was
// written, and on this host its process is there (a killed deploy leaves
// its name in the file; the kernel has dropped its flock).
func (h LockHolder) named() bool {
	if h.PID <= 0 {
		return false
	}
	if host, _ := os.Hostname(); h.Host != host {
		return true
	}
	err := syscall.Kill(h.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func readHolder(path string) LockHolder {
	var h LockHolder
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return h
}
