// Package bench_test measures one bluegreen deploy against the naive
// procedure of shared/docs/zero-downtime.md (start, sleep 10 s, switch,
// remove the old slot at once), both on the real Docker engine and a real
// private nginx, under load through that nginx. See README.md.
//
//	go test -run '^$' -bench BenchmarkDeploy -benchtime 5x ./bench/
//
// Only the benchmark touches Docker; `go test ./...` without -bench runs the
// fast unit test of the table alone.
package bench_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/sirupsen/logrus"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

const (
	image      = "bluegreen-testapp:bench"
	bootDelay  = 2 * time.Second  // the test app answers this long after its start
	naiveSleep = 10 * time.Second // the naive script's fixed sleep
	warmUp     = 500 * time.Millisecond
	tail       = 500 * time.Millisecond // late failures of a deploy still count
)

func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard) // compose's own warnings
	os.Exit(m.Run())
}

// BenchmarkDeploy runs b.N deploys of bluegreen, then b.N of the naive
// procedure, each under the same load, and logs the comparison table.
// Environment: BENCH_WORKERS fixes the load (0: none, e.g. for a CPU
// profile of the deploy alone); BENCH_HEALTH_INTERVAL sets x-bluegreen's
// health.interval (default: the library's); BENCH_SHARED=1 adds a shared
// service; BENCH_API_LOG=1 logs the Docker API calls of each deploy.
func BenchmarkDeploy(b *testing.B) {
	w := newWorld(b)
	var ours, naive []sample
	b.Run("bluegreen", func(b *testing.B) {
		for b.Loop() {
			ours = append(ours, w.deployOurs(b))
		}
		reportMetrics(b, ours)
	})
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			naive = append(naive, w.deployNaive(b))
		}
		reportMetrics(b, naive)
	})
	note("\n%s\nload average at the end: %s", table(w.workers, ours, naive), loadAverage())
}

// note prints on stdout: the parent benchmark's b.Log shows only with -v.
func note(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

// world is what both procedures deploy against: one engine client, and per
// procedure a private nginx, two slot ports and a compose file.
type world struct {
	engine  *bluegreen.Engine
	workers int
	release int     // numbers the VERSION of each deploy
	api     *apiLog // with BENCH_API_LOG=1
	ours    procedure
	naive   procedure
}

type procedure struct {
	project string
	file    string
	nginx   *testutil.NginxServer
	ports   bluegreen.SlotPorts
	live    bluegreen.Slot
}

func newWorld(b *testing.B) *world {
	b.Helper()
	testutil.RequireDocker(b)
	testutil.RequireNginx(b)
	testutil.Image(b, image)
	ctx := context.Background()
	w := &world{}
	host := ""
	if os.Getenv("BENCH_API_LOG") == "1" {
		host, w.api = startAPILog(b)
	}
	start := time.Now()
	engine, err := bluegreen.NewEngine(ctx, host)
	if err != nil {
		b.Fatal(err)
	}
	note("NewEngine (engine client start-up, once per process): %v", time.Since(start).Round(time.Millisecond))
	b.Cleanup(func() { _ = engine.Close() })
	id := time.Now().UnixNano() % 1_000_000
	w.engine = engine
	w.ours = newProcedure(b, fmt.Sprintf("bgbench%d", id), oursFile)
	w.naive = newProcedure(b, fmt.Sprintf("bgnaive%d", id), func(procedure) string { return naiveFile })
	w.setupOurs(b)
	w.setupNaive(b)
	w.costs(b)
	note("machine: %s", machine())
	w.workers = calibrate(b, w.ours.nginx.URL+"/version")
	return w
}

// newProcedure starts a private nginx, picks two slot ports and writes the
// compose file that render makes of them.
func newProcedure(b *testing.B, project string, render func(procedure) string) procedure {
	b.Helper()
	p := procedure{project: project, nginx: testutil.Nginx(b)}
	ports, err := testutil.FreePorts(2)
	if err != nil {
		b.Fatal(err)
	}
	p.ports.Blue, p.ports.Green = ports[0], ports[1]
	p.file = filepath.Join(b.TempDir(), "compose.yaml")
	if err := os.WriteFile(p.file, []byte(render(p)), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

func healthInterval() string {
	if v := os.Getenv("BENCH_HEALTH_INTERVAL"); v != "" {
		return ", interval: " + v
	}
	return ""
}

// machine describes where the benchmark runs, for the README.
func machine() string {
	mem := "?"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(data), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	engine := "?"
	if cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation()); err == nil {
		if v, err := cli.ServerVersion(context.Background()); err == nil {
			engine = v.Version
		}
		cli.Close()
	}
	ngx := "?"
	if bin, err := testutil.NginxBinary(); err == nil {
		out, _ := exec.Command(bin, "-v").CombinedOutput()
		ngx = strings.TrimSpace(strings.TrimPrefix(string(out), "nginx version: "))
	}
	return fmt.Sprintf("%d CPUs, %s, Docker Engine %s, %s, %s; load average now %s",
		runtime.NumCPU(), mem, engine, ngx, runtime.Version(), loadAverage())
}

// loadAverage tells whether other work shared the machine during the run.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// calibrate picks the load: 2 s bursts of 8, 16 and 32 keep-alive workers
// against the live release; the count with the best throughput and no
// failure wins. Sustained, the rate is lower: TIME_WAIT sockets pile up
// (see timeWaits), and later trials inherit those of earlier ones.
func calibrate(b *testing.B, url string) int {
	b.Helper()
	if v, ok := os.LookupEnv("BENCH_WORKERS"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			b.Fatalf("BENCH_WORKERS=%q: want a count", v)
		}
		note("load: %d workers (BENCH_WORKERS)", n)
		return n
	}
	best, bestRate := 0, 0.0
	for _, n := range []int{8, 16, 32} {
		g := testutil.StartLoad(url, testutil.LoadOptions{Workers: n})
		time.Sleep(2 * time.Second)
		res := g.Stop()
		rate := float64(res.Sent) / res.Duration.Seconds()
		note("load calibration, %d workers: %s", n, res)
		if res.Failed == 0 && rate > bestRate {
			best, bestRate = n, rate
		}
	}
	if best == 0 {
		b.Fatal("load calibration: every worker count saw failures")
	}
	note("load: %d workers (%.0f req/s in a 2 s burst, the best without failures; sustained, it falls to about 500 req/s, see README.md)", best, bestRate)
	return best
}
