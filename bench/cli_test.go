package bench_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cliRun is one deploy by the CLI binary, under the same load: the
// process's peak RSS and the binary's size.
type cliRun struct {
	size   int64 // bytes
	maxRSS int64 // bytes
	sample sample
}

// deployCLI builds examples/bluegreen and deploys the next release of p with
// it, as a user would.
func (w *world) deployCLI(b *testing.B, p *procedure) *cliRun {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "bluegreen")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/bluegreen").CombinedOutput(); err != nil {
		b.Fatalf("go build ../examples/bluegreen: %v\n%s", err, out)
	}
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	w.release++
	version := fmt.Sprintf("r%d", w.release)
	to := p.live.Other()
	cmd := exec.Command(bin, "deploy", "-f", p.file, "-p", p.project,
		"-e", "VERSION="+version, "-e", "BOOT_DELAY="+bootDelay.String())
	m := w.measure(b, p.nginx.URL+"/version", p.ports.Port(to))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	s := m.finish(start, time.Now())
	if err != nil {
		b.Fatalf("bluegreen deploy %s: %v\n%s", version, err, out)
	}
	p.live = to
	wantServing(b, p.nginx.URL, version)
	run := &cliRun{size: st.Size(), sample: s}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		run.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	b.Logf("CLI deploy %s: %s; peak RSS %d bytes; binary %d bytes", version, s, run.maxRSS, run.size)
	return run
}
