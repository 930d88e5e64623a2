package bench_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// stepNames are the steps the procedures report, in order: the naive and
// bare ones have no drain, the naive one's wait-healthy is its fixed sleep.
var stepNames = []string{
	"load-config", "prepare", "start", "wait-healthy", "wait-healthy.after-answer",
	"switch", "switch.write", "switch.nginx-t", "switch.reload", "switch.confirm", "switch.record",
	"drain", "retire", "retire.exited",
}

var stepLabels = map[string]string{
	"load-config":               "step load-config (Load, before Deploy)",
	"prepare":                   "step prepare (bare: remove the idle slot's container; naive: load the project)",
	"start":                     "step start (compose Up; bare: create + start)",
	"wait-healthy":              "step wait-healthy (naive: fixed sleep + ps)",
	"wait-healthy.after-answer": "↳ of which after the first answer",
	"switch":                    "step switch (bare, naive: write + reload, unconfirmed)",
	"switch.write":              "↳ (history record +) write upstream file",
	"switch.nginx-t":            "↳ nginx -t",
	"switch.reload":             "↳ reload signal (ours: SIGHUP to the master; bare, naive: nginx -s reload)",
	"switch.confirm":            "↳ reload confirmed (new workers up)",
	"switch.record":             "↳ history record",
	"drain":                     "step drain (bare, naive: none)",
	"retire":                    "step retire (ours: compose stop; bare: container stop; naive: compose down)",
	"retire.exited":             "↳ until the old container exited (the rest is the engine's teardown)",
}

// Targets of issue 15, against the bare procedure of the same run.
const (
	maxTotalRatio   = 1.15 // total deploy time
	maxStartRatio   = 1.10 // start step
	maxRetireRatio  = 1.10 // retire step against the bare stop
	switchSlack     = 50 * time.Millisecond
	maxReplicaRatio = 1.3 // total with `replicas` replicas against one
	minRateRatio    = 0.9 // requests/s during our deploys against between them
)

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// med is the median of f over samples.
func med(samples []sample, f func(sample) float64) float64 {
	xs := make([]float64, len(samples))
	for i, s := range samples {
		xs[i] = f(s)
	}
	return median(xs)
}

func secs(d time.Duration) float64 { return d.Seconds() }

func stepSecs(name string) func(sample) float64 {
	return func(s sample) float64 { return s.steps[name].Seconds() }
}

func totalFailed(samples []sample) int64 {
	var n int64
	for _, s := range samples {
		n += s.failed
	}
	return n
}

func totalSent(samples []sample) int64 {
	var n int64
	for _, s := range samples {
		n += s.sent
	}
	return n
}

// reportMetrics reports the main medians of each procedure as the
// benchmark's metrics; ns/op (which would count the load's warm-up and
// tail) is suppressed.
func reportMetrics(b *testing.B, procs []*procedure) {
	b.ReportMetric(0, "ns/op")
	for _, p := range procs {
		if len(p.samples) == 0 {
			continue
		}
		b.ReportMetric(med(p.samples, func(s sample) float64 { return secs(s.toSwitch) }), p.name+"-to-switch-s")
		b.ReportMetric(med(p.samples, func(s sample) float64 { return secs(s.total) }), p.name+"-total-s")
		b.ReportMetric(float64(totalFailed(p.samples)), p.name+"-failed")
	}
}

// column is one procedure's samples in the table.
type column struct {
	name    string
	samples []sample
}

// table lays the medians of every procedure side by side, with the ratios
// of bluegreen to the bare procedure, then checks the targets of issue 15.
func table(workers int, procs []*procedure, cli *cliRun) string {
	var sb strings.Builder
	cols := map[string][]sample{}
	var order []column
	for _, p := range procs {
		cols[p.name] = p.samples
		order = append(order, column{p.name, p.samples})
	}
	n := 0
	if len(procs) > 0 {
		n = len(procs[0].samples)
	}
	fmt.Fprintf(&sb, "%d keep-alive workers through nginx; app ready %v after its start; health interval %v; medians of %d rounds (each round deploys once with every procedure, in the order of the columns)\n\n",
		workers, bootDelay, healthInterval(), n)
	ratios := [][2]string{{"bluegreen", "bare"}, {"bluegreen-keepalive", "bare-keepalive"}, {"bluegreen-replicas", "bare-replicas"}, {"bluegreen-replicas", "bluegreen"}, {"bare-replicas", "bare"}}
	var present [][2]string
	for _, r := range ratios {
		if cols[r[0]] != nil && cols[r[1]] != nil {
			present = append(present, r)
		}
	}
	sb.WriteString("| metric |")
	for _, c := range order {
		fmt.Fprintf(&sb, " %s |", c.name)
	}
	for _, r := range present {
		fmt.Fprintf(&sb, " %s / %s |", r[0], r[1])
	}
	sb.WriteString("\n|" + strings.Repeat(" --- |", 1+len(order)+len(present)) + "\n")
	row := func(name string, f func(sample) float64, format func(float64) string, has func(sample) bool) {
		fmt.Fprintf(&sb, "| %s |", name)
		for _, c := range order {
			fmt.Fprintf(&sb, " %s |", cell(c.samples, med(c.samples, f), format, has))
		}
		for _, r := range present {
			a, b := cols[r[0]], cols[r[1]]
			ratio := "-"
			if x, y := med(a, f), med(b, f); cell(a, x, format, has) != "-" && cell(b, y, format, has) != "-" && y != 0 {
				ratio = fmt.Sprintf("%.2f", x/y)
			}
			fmt.Fprintf(&sb, " %s |", ratio)
		}
		sb.WriteString("\n")
	}
	row("new release first answers on its port", func(s sample) float64 { return secs(s.ready) }, seconds, nil)
	row("**time to switch** (deploy start to end of switch)", func(s sample) float64 { return secs(s.toSwitch) }, seconds, nil)
	row("switch after first answer (overhead)", func(s sample) float64 { return secs(s.toSwitch - s.ready) }, seconds, nil)
	row("**total deploy time**", func(s sample) float64 { return secs(s.total) }, seconds, nil)
	for _, name := range stepNames {
		row(stepLabels[name], stepSecs(name), seconds, func(s sample) bool { _, ok := s.steps[name]; return ok })
	}
	row("requests sent during a deploy", func(s sample) float64 { return float64(s.sent) }, count, nil)
	row("failed requests during a deploy", func(s sample) float64 { return float64(s.failed) }, count, nil)
	sb.WriteString("| failed requests, all deploys (sum) |")
	for _, c := range order {
		fmt.Fprintf(&sb, " %d |", totalFailed(c.samples))
	}
	sb.WriteString(strings.Repeat(" - |", len(present)) + "\n")
	row("requests/s during a deploy", func(s sample) float64 { return s.rate }, count, nil)
	row("requests/s in the second before it", func(s sample) float64 { return s.between }, count, nil)
	row("TIME_WAIT sockets on the host at deploy start", func(s sample) float64 { return float64(s.timeWait) }, count, nil)

	if cli != nil {
		fmt.Fprintf(&sb, "\nCLI (examples/bluegreen, built by the benchmark) deploying one release of bluegreen's column under the same load: peak RSS %.1f MiB, %v in all, %d of %d requests failed; binary %.1f MB (%d bytes)\n",
			float64(cli.maxRSS)/(1<<20), cli.sample.total.Round(time.Millisecond), cli.sample.failed, cli.sample.sent,
			float64(cli.size)/1e6, cli.size)
	}
	targets(&sb, cols)
	return sb.String()
}

// targets checks bluegreen against the bare procedure of the same run, in
// both nginx configurations, and against itself with replicas.
func targets(sb *strings.Builder, cols map[string][]sample) {
	sb.WriteString("\ntargets (issue 15):\n\n")
	target := func(name, got string, ok bool) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		fmt.Fprintf(sb, "- %s: %s **%s**\n", name, got, verdict)
	}
	ratio := func(name, of string, ours, ref []sample, f func(sample) float64, limit float64) {
		o, r := med(ours, f), med(ref, f)
		target(fmt.Sprintf("%s <= %.2f x %s", name, limit, of), fmt.Sprintf("%s vs %s (%.2f)", seconds(o), seconds(r), o/r), r > 0 && o <= limit*r)
	}
	total := func(s sample) float64 { return secs(s.total) }
	for _, pair := range [][2]string{{"bluegreen", "bare"}, {"bluegreen-keepalive", "bare-keepalive"}, {"bluegreen-replicas", "bare-replicas"}} {
		ours, ref := cols[pair[0]], cols[pair[1]]
		if ours == nil || ref == nil {
			continue
		}
		ratio(pair[0]+": total deploy time", pair[1]+"'s", ours, ref, total, maxTotalRatio)
		ratio(pair[0]+": start", pair[1]+"'s create + start", ours, ref, stepSecs("start"), maxStartRatio)
		ratio(pair[0]+": retire", pair[1]+"'s stop", ours, ref, stepSecs("retire"), maxRetireRatio)
	}
	// Not for replicas: the first answer is the first replica's.
	limit := healthInterval() + switchSlack
	for _, name := range []string{"bluegreen", "bluegreen-keepalive"} {
		ours := cols[name]
		if ours == nil {
			continue
		}
		over := med(ours, func(s sample) float64 { return secs(s.toSwitch - s.ready) })
		target(fmt.Sprintf("%s: time to switch <= first answer + one health interval + %v (%s)", name, switchSlack, seconds(limit.Seconds())),
			fmt.Sprintf("first answer + %s", seconds(over)), over <= limit.Seconds())
	}
	if many, one := cols["bluegreen-replicas"], cols["bluegreen"]; many != nil && one != nil {
		ratio(fmt.Sprintf("bluegreen-replicas (%d): total deploy time", replicas), "bluegreen's (one replica)", many, one, total, maxReplicaRatio)
	}
	if many, one := cols["bare-replicas"], cols["bare"]; many != nil && one != nil {
		o, r := med(many, total), med(one, total)
		fmt.Fprintf(sb, "- (the engine's own, for reference) bare-replicas (%d): total deploy time %s vs bare's %s (%.2f)\n", replicas, seconds(o), seconds(r), o/r)
	}
	for _, name := range []string{"bluegreen", "bluegreen-keepalive", "bluegreen-replicas"} {
		ours := cols[name]
		if ours == nil || ours[0].between == 0 {
			continue
		}
		during, before := med(ours, func(s sample) float64 { return s.rate }), med(ours, func(s sample) float64 { return s.between })
		target(fmt.Sprintf("%s: requests/s during a deploy >= %.1f x the second before it", name, minRateRatio),
			fmt.Sprintf("%.0f vs %.0f (%.2f)", during, before, during/before), during >= minRateRatio*before)
	}
	for _, name := range []string{"bluegreen", "bluegreen-keepalive", "bluegreen-replicas"} {
		if ours := cols[name]; ours != nil {
			target(name+": zero failed requests", fmt.Sprintf("%d of %d", totalFailed(ours), totalSent(ours)), totalFailed(ours) == 0 && totalSent(ours) > 0)
		}
	}
}

// cell formats v, or "-" when there are no samples or has says the first
// one lacks the metric.
func cell(samples []sample, v float64, format func(float64) string, has func(sample) bool) string {
	if len(samples) == 0 || has != nil && !has(samples[0]) {
		return "-"
	}
	return format(v)
}

func seconds(v float64) string {
	if v < 1 && v > -1 {
		return fmt.Sprintf("%.0f ms", v*1000)
	}
	return fmt.Sprintf("%.2f s", v)
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

func TestTable(t *testing.T) {
	s := func(ready, toSwitch, start, retire time.Duration, failed int64) sample {
		return sample{ready: ready, toSwitch: toSwitch, total: toSwitch + start + retire, sent: 1000, failed: failed,
			rate: 2000, between: 2100, steps: map[string]time.Duration{"start": start, "retire": retire, "drain": 0}}
	}
	ours := &procedure{name: "bluegreen", samples: []sample{
		s(2*time.Second, 2100*time.Millisecond, 500*time.Millisecond, 700*time.Millisecond, 0),
		s(2*time.Second, 2140*time.Millisecond, 520*time.Millisecond, 800*time.Millisecond, 0),
		s(2*time.Second, 2300*time.Millisecond, 900*time.Millisecond, 900*time.Millisecond, 0),
	}}
	bare := &procedure{name: "bare", samples: []sample{
		s(2*time.Second, 2050*time.Millisecond, 500*time.Millisecond, 700*time.Millisecond, 3),
		s(2*time.Second, 2050*time.Millisecond, 500*time.Millisecond, 700*time.Millisecond, 4),
	}}
	for _, n := range bare.samples {
		delete(n.steps, "drain")
	}
	got := table(8, []*procedure{ours, bare}, &cliRun{size: 96_000_000, maxRSS: 50 << 20, sample: ours.samples[0]})
	for _, want := range []string{
		"| metric | bluegreen | bare | bluegreen / bare |",
		"| **time to switch** (deploy start to end of switch) | 2.14 s | 2.05 s | 1.04 |",
		"| step drain (bare, naive: none) | 0 ms | - | - |",
		"| failed requests, all deploys (sum) | 0 | 7 | - |",
		"peak RSS 50.0 MiB",
		"binary 96.0 MB (96000000 bytes)",
		"- bluegreen: total deploy time <= 1.15 x bare's: 3.46 s vs 3.25 s (1.06) **PASS**",
		"- bluegreen: start <= 1.10 x bare's create + start: 520 ms vs 500 ms (1.04) **PASS**",
		"- bluegreen: retire <= 1.10 x bare's stop: 800 ms vs 700 ms (1.14) **FAIL**",
		"- bluegreen: time to switch <= first answer + one health interval + 50ms (150 ms): first answer + 140 ms **PASS**",
		"- bluegreen: requests/s during a deploy >= 0.9 x the second before it: 2000 vs 2100 (0.95) **PASS**",
		"- bluegreen: zero failed requests: 0 of 3000 **PASS**",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "replicas") {
		t.Errorf("no replicas column was run, yet the table names one:\n%s", got)
	}
}
