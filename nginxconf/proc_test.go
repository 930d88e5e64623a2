package nginxconf

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestChildren finds a child of this test process, even one whose name
// holds spaces and parentheses (they end up in /proc/PID/stat).
func TestChildren(t *testing.T) {
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("no sleep binary (coreutils): %v", err)
	}
	odd := filepath.Join(t.TempDir(), "a) b (c")
	data, err := os.ReadFile(sleepBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(odd, data, 0o755); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, bin := range []string{sleepBin, odd} {
		cmd := exec.Command(bin, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		pids = append(pids, cmd.Process.Pid)
	}

	kids, err := children(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		i := slices.IndexFunc(kids, func(p process) bool { return p.pid == pid })
		if i < 0 {
			t.Errorf("children(%d) = %v; want %d among them", os.Getpid(), kids, pid)
			continue
		}
		if !strings.HasSuffix(kids[i].title, " 30") || kids[i].shuttingDown() {
			t.Errorf("child %d has title %q; want its command line", pid, kids[i].title)
		}
		if !alive(pid) {
			t.Errorf("alive(%d) = false for a running child", pid)
		}
	}
	if alive(-1) {
		t.Error("alive(-1) = true")
	}
}
