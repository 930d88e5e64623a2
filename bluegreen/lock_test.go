package bluegreen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockChildEnv names the lock file a re-executed test binary takes, see
// TestLockReleasedWhenHolderIsKilled.
const lockChildEnv = "BLUEGREEN_LOCK_CHILD"

// takeLock takes the lock at path, failing the test otherwise, and
// releases it at the end of the test unless the caller did.
func takeLock(t *testing.T, path string) (unlock func() error) {
	t.Helper()
	release, err := lockFile(context.Background(), path, false)
	if err != nil {
		t.Fatalf("lockFile(%s): %v", path, err)
	}
	var once sync.Once
	unlock = func() error {
		err := errors.New("already unlocked")
		once.Do(func() { err = release() })
		return err
	}
	t.Cleanup(func() { unlock() })
	return unlock
}

// wantLockError checks that err is a *LockError on path, wrapping ErrLocked,
// that names pid as the holder.
func wantLockError(t *testing.T, err error, path string, pid int) {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("err = %v, want one wrapping ErrLocked", err)
	}
	var le *LockError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v (%T), want a *LockError", err, err)
	}
	if le.Path != path {
		t.Errorf("LockError.Path = %q, want %q", le.Path, path)
	}
	if le.Holder.PID != pid {
		t.Errorf("LockError.Holder.PID = %d, want %d", le.Holder.PID, pid)
	}
	if le.Holder.Host == "" {
		t.Error("LockError.Holder.Host is empty")
	}
	if age := time.Since(le.Holder.Since); age < -time.Second || age > time.Minute {
		t.Errorf("LockError.Holder.Since = %v, %v ago: want a recent time", le.Holder.Since, age)
	}
}

func TestLockHeldFailsAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.lock")
	unlock := takeLock(t, path)

	start := time.Now()
	second, err := lockFile(context.Background(), path, false)
	if elapsed := time.Since(start); elapsed > 500*time.Millisecond {
		t.Errorf("a second lockFile without wait took %v, want it to fail at once", elapsed)
	}
	if err == nil {
		second()
		t.Fatal("a second lockFile on a held lock succeeded")
	}
	wantLockError(t, err, path, os.Getpid())

	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	third := takeLock(t, path)
	if err := third(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
}

func TestLockHolderIsRecordedAndCleared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.lock")
	before := time.Now().Add(-time.Second)
	unlock := takeLock(t, path)

	h := readHolder(path)
	host, _ := os.Hostname()
	if h.PID != os.Getpid() || h.Host != host {
		t.Errorf("holder = %+v, want pid %d on %q", h, os.Getpid(), host)
	}
	if h.Since.Before(before) || h.Since.After(time.Now()) {
		t.Errorf("holder since %v, want between %v and now", h.Since, before)
	}

	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || len(b) != 0 {
		t.Errorf("after unlock the lock file holds %q (err %v), want it empty", b, err)
	}
}

func TestLockErrorMessage(t *testing.T) {
	since := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name string
		err  *LockError
		want string
	}{
		{
			name: "holder unknown",
			err:  &LockError{Path: "/s/shop.lock"},
			want: "another deploy of this project is running (lock /s/shop.lock)",
		},
		{
			name: "holder known",
			err:  &LockError{Path: "/s/shop.lock", Holder: LockHolder{PID: 42, Host: "web1", Since: since}},
			want: "another deploy of this project is running: pid 42 on web1 since 2025-03-04T05:06:07Z (lock /s/shop.lock)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
			if !errors.Is(tc.err, ErrLocked) {
				t.Error("LockError does not wrap ErrLocked")
			}
		})
	}
}

func TestLockWaitsForTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.lock")
	unlock := takeLock(t, path)

	released := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond)
		if err := unlock(); err != nil {
			t.Errorf("unlock: %v", err)
		}
		close(released)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	second, err := lockFile(ctx, path, true)
	elapsed := time.Since(start)
	early := true
	select {
	case <-released:
		early = false
	default:
	}
	<-released
	if err != nil {
		t.Fatalf("waiting lockFile: %v", err)
	}
	defer second()
	if early {
		t.Fatalf("waiting lockFile returned after %v, before the holder released the lock", elapsed)
	}
	if elapsed < 200*time.Millisecond {
		t.Errorf("waiting lockFile returned after %v, want at least 200ms", elapsed)
	}
	if h := readHolder(path); h.PID != os.Getpid() {
		t.Errorf("holder after the wait = %+v, want pid %d", h, os.Getpid())
	}
}

func TestLockWaitEndsWithTheContext(t *testing.T) {
	errStop := errors.New("operator gave up")
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, func())
		want error
	}{
		{
			name: "deadline",
			ctx: func() (context.Context, func()) {
				return context.WithTimeout(context.Background(), 300*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
		{
			name: "canceled",
			ctx: func() (context.Context, func()) {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(300*time.Millisecond, cancel)
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name: "canceled with a cause",
			ctx: func() (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(context.Background())
				time.AfterFunc(300*time.Millisecond, func() { cancel(errStop) })
				return ctx, func() { cancel(nil) }
			},
			want: errStop,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "shop.lock")
			takeLock(t, path)
			ctx, cancel := tc.ctx()
			defer cancel()

			start := time.Now()
			second, err := lockFile(ctx, path, true)
			elapsed := time.Since(start)
			if err == nil {
				second()
				t.Fatal("waiting lockFile on a held lock succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want one wrapping %v", err, tc.want)
			}
			wantLockError(t, err, path, os.Getpid())
			if elapsed < 250*time.Millisecond || elapsed > 5*time.Second {
				t.Errorf("waiting lockFile returned after %v, want about 300ms (when the context ended)", elapsed)
			}
		})
	}
}

func TestLockCreatesTheDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	path := filepath.Join(dir, "shop.lock")
	unlock := takeLock(t, path)
	defer unlock()

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("the lock's directory: %v", err)
	}
	if !fi.IsDir() {
		t.Fatalf("%s is not a directory", dir)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the lock file: %v", err)
	}
}

func TestLockFailsWhenTheDirectoryCannotBeMade(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(context.Background(), filepath.Join(file, "shop.lock"), false)
	if err == nil {
		unlock()
		t.Fatal("lockFile under a regular file succeeded")
	}
	if errors.Is(err, ErrLocked) {
		t.Errorf("err = %v: an I/O error must not read as ErrLocked", err)
	}
}

// TestLockReleasedWhenHolderIsKilled runs itself again as a child process
// that takes the lock and sleeps; killing the child with SIGKILL, which it
// cannot catch, must leave the lock free.
func TestLockReleasedWhenHolderIsKilled(t *testing.T) {
	if path := os.Getenv(lockChildEnv); path != "" {
		if _, err := lockFile(context.Background(), path, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute) // the parent kills us long before
		os.Exit(3)
	}

	path := filepath.Join(t.TempDir(), "shop.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockReleasedWhenHolderIsKilled$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})

	locked := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "locked" {
				locked <- true
				return
			}
		}
		locked <- false
	}()
	select {
	case ok := <-locked:
		if !ok {
			cmd.Wait()
			waited = true
			t.Fatalf("the child exited without taking the lock: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not take the lock within 30s")
	}

	_, err = lockFile(context.Background(), path, false)
	wantLockError(t, err, path, cmd.Process.Pid)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	waited = true
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: %v, want it killed", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL", exit)
	}

	// The dead child's holder line is still in the file: it is stale, and
	// must neither block the lock nor survive it being taken.
	if h := readHolder(path); h.PID != cmd.Process.Pid {
		t.Errorf("holder after the kill = %+v, want the dead child's pid %d still written", h, cmd.Process.Pid)
	}
	unlock := takeLock(t, path)
	defer unlock()
	if h := readHolder(path); h.PID != os.Getpid() {
		t.Errorf("holder after retaking the lock = %+v, want pid %d", h, os.Getpid())
	}
}

// TestLockErrorWaitsForTheHolderName: a deploy that finds the lock held in
// the instant between the holder's flock and its name being written (CI saw
// the loser of two concurrent deploys read an empty file) still names the
// holder, and one that finds the lock in the instant its holder lets go takes it.
func TestLockErrorWaitsForTheHolderName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	// The "holder" writes its name 50 ms after taking the flock.
	go func() {
		time.Sleep(50 * time.Millisecond)
		host, _ := os.Hostname()
		fmt.Fprintf(f, `{"pid":%d,"host":%q,"since":%q}`+"\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339Nano))
	}()
	second, err := lockFile(context.Background(), path, false)
	if err == nil {
		second()
		t.Fatal("lockFile on a held lock succeeded")
	}
	wantLockError(t, err, path, os.Getpid())

	// Held with no name, then let go 50 ms later: the lock is taken.
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		f.Close()
	}()
	third, err := lockFile(context.Background(), path, false)
	if err != nil {
		t.Fatalf("lockFile while the holder lets go: %v", err)
	}
	if err := third(); err != nil {
		t.Fatal(err)
	}
}

// A status or a check looks at the lock without taking it for a deploy: a
// deploy that does not wait never fails for them, even one after a killed
// deploy whose name is still in the lock file.
func TestLockProbeNeverFailsADeploy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shop.lock")
	// A killed deploy's name: a pid that does not run on this host.
	host, _ := os.Hostname()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale, _ := json.Marshal(LockHolder{PID: dead.Process.Pid, Host: host, Since: time.Now()})
	if err := os.WriteFile(path, stale, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	probes := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				probes <- n
				return
			default:
			}
			if _, _, err := lockHeld(path); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	for i := range 300 {
		unlock, err := lockFile(context.Background(), path, false)
		if err != nil {
			t.Fatalf("deploy %d beside a status: %v", i, err)
		}
		if err := unlock(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, stale, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	t.Logf("300 deploys took the lock beside %d probes", <-probes)
}
