// Package bench_test measures bluegreen deploys against two hand-written
// procedures: the bare reference (what a deploy strictly needs, through the
// engine API directly) and the naive one of shared/docs/zero-downtime.md
// (start, sleep 10 s, switch, remove the old slot at once). All run on the
// real Docker engine behind a real private nginx each, under load through
// that nginx, in rounds: each round deploys once with every procedure, so
// that a change of the machine's load affects them all alike. See README.md.
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
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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
	between    = time.Second            // load measured before each deploy: the rate between deploys
	tail       = 500 * time.Millisecond // late failures of a deploy still count
	keepalive  = 16                     // nginx upstream keepalive of the keepalive columns
	replicas   = 4                      // of the replicas column
	// defaultWorkers is the load of the tests under load (testutil.LoadWith's default).
	defaultWorkers = 8
)

func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard) // compose's own warnings
	os.Exit(m.Run())
}

// BenchmarkDeploy runs b.N rounds; each round deploys once with every
// procedure, each under the same load through its own nginx. Then one
// deploy by the CLI binary (its peak RSS), and the comparison table.
// Environment: BENCH_ONLY=kind,... runs only those procedures (bluegreen,
// bare, naive, bluegreen-keepalive, bare-keepalive, bluegreen-replicas,
// bare-replicas);
// BENCH_WORKERS fixes the load (0: none, e.g. for a CPU profile of the
// deploy alone); BENCH_HEALTH_INTERVAL sets x-bluegreen's health.interval
// (default: the library's) and the bare procedure's poll; BENCH_SHARED=1
// adds a shared service; BENCH_API_LOG=1 logs the Docker API calls of each
// deploy.
func BenchmarkDeploy(b *testing.B) {
	w := newWorld(b)
	for b.Loop() {
		for _, p := range w.procs {
			p.samples = append(p.samples, w.deploy(b, p))
		}
	}
	reportMetrics(b, w.procs)
	var cli *cliRun
	if p := w.proc("bluegreen"); p != nil {
		cli = w.deployCLI(b, p)
	}
	note("\n%s\nload average at the end: %s", table(w.workers, w.procs, cli), loadAverage())
}

// note prints on stdout: the parent benchmark's b.Log shows only with -v.
func note(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
}

// world is what the procedures deploy against: one engine client for
// compose, one for the bare procedure, and the procedures themselves.
type world struct {
	engine  *bluegreen.Engine
	docker  *client.Client
	workers int
	release int     // numbers the VERSION of each deploy
	api     *apiLog // with BENCH_API_LOG=1
	procs   []*procedure
}

// procedure is one column of the table: how it deploys, with its own
// nginx, slot ports and compose file.
type procedure struct {
	name      string // as BENCH_ONLY and the table name it
	kind      string // ours, bare or naive
	keepalive int    // nginx upstream keepalive
	replicas  int
	project   string
	file      string
	nginx     *testutil.NginxServer
	ports     bluegreen.SlotPorts
	live      bluegreen.Slot
	samples   []sample
}

func (w *world) proc(name string) *procedure {
	for _, p := range w.procs {
		if p.name == name {
			return p
		}
	}
	return nil
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
	w.engine = engine
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	if w.docker, err = client.NewClientWithOpts(opts...); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.docker.Close() })

	id := time.Now().UnixNano() % 1_000_000
	only := os.Getenv("BENCH_ONLY")
	for _, p := range []*procedure{
		{name: "bluegreen", kind: "ours", replicas: 1},
		{name: "bare", kind: "bare", replicas: 1},
		{name: "naive", kind: "naive", replicas: 1},
		{name: "bluegreen-keepalive", kind: "ours", keepalive: keepalive, replicas: 1},
		{name: "bare-keepalive", kind: "bare", keepalive: keepalive, replicas: 1},
		{name: "bluegreen-replicas", kind: "ours", replicas: replicas},
		{name: "bare-replicas", kind: "bare", replicas: replicas},
	} {
		if only != "" && !slices.Contains(strings.Split(only, ","), p.name) {
			continue
		}
		p.project = fmt.Sprintf("bgbench%d-%d", id, len(w.procs))
		w.setup(b, p)
		w.procs = append(w.procs, p)
	}
	if len(w.procs) == 0 {
		b.Fatalf("BENCH_ONLY=%q names no procedure", only)
	}
	if p := w.proc("bluegreen"); p != nil {
		w.costs(b, p)
	}
	note("machine: %s", machine())
	w.workers = calibrate(b, w.procs[0].nginx.URL+"/version")
	return w
}

// setup starts the procedure's private nginx, picks its slot ports, writes
// its compose file and deploys its first release, without load.
func (w *world) setup(b *testing.B, p *procedure) {
	b.Helper()
	p.nginx = testutil.Nginx(b)
	blue, err := freeRange(p.replicas)
	if err != nil {
		b.Fatal(err)
	}
	green, err := freeRange(p.replicas, blue...)
	if err != nil {
		b.Fatal(err)
	}
	p.ports.Blue, p.ports.Green = blue[0], green[0]
	p.file = filepath.Join(b.TempDir(), "compose.yaml")
	render := map[string]func(*procedure) string{"ours": oursFile, "naive": func(*procedure) string { return naiveFile }}[p.kind]
	if render != nil {
		if err := os.WriteFile(p.file, []byte(render(p)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	switch p.kind {
	case "ours":
		w.setupOurs(b, p)
	case "bare":
		w.setupBare(b, p)
	case "naive":
		w.setupNaive(b, p)
	}
}

func (w *world) deploy(b *testing.B, p *procedure) sample {
	switch p.kind {
	case "ours":
		return w.deployOurs(b, p)
	case "bare":
		return w.deployBare(b, p)
	default:
		return w.deployNaive(b, p)
	}
}

// freeRange returns n consecutive ports on 127.0.0.1 that are free now and
// are not in taken. They lie below the kernel's ephemeral range (32768 and
// up by default): a slot port is bound only while its slot runs, and the
// load's tens of thousands of client sockets would take ephemeral ones in
// between.
func freeRange(n int, taken ...int) ([]int, error) {
	for range 1000 {
		first := 20000 + rand.IntN(12000)
		ports := make([]int, n)
		free := true
		for i := range ports {
			ports[i] = first + i
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])))
			if err != nil || slices.Contains(taken, ports[i]) {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return ports, nil
		}
	}
	return nil, fmt.Errorf("no %d consecutive free ports found", n)
}

// healthInterval is x-bluegreen's health.interval, as the library reads it.
func healthInterval() time.Duration {
	if v := os.Getenv("BENCH_HEALTH_INTERVAL"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return 100 * time.Millisecond // health.DefaultInterval
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

// calibrate picks the load: defaultWorkers, the load of the tests, unless
// BENCH_WORKERS says otherwise; with BENCH_WORKERS=auto, 2 s bursts of 8, 16
// and 32 keep-alive workers against the live release, and the count with
// the best throughput and no failure wins. Sustained, the rate is lower: TIME_WAIT sockets pile up
// (see timeWaits), and later trials inherit those of earlier ones.
func calibrate(b *testing.B, url string) int {
	b.Helper()
	v, ok := os.LookupEnv("BENCH_WORKERS")
	if !ok {
		note("load: %d workers (the tests' load; BENCH_WORKERS=auto calibrates)", defaultWorkers)
		return defaultWorkers
	}
	if v != "auto" {
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
