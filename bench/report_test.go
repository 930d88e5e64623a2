package bench_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// stepNames are the steps both procedures report, in order: the naive one
// has no drain, and its wait-healthy is the fixed sleep.
var stepNames = []string{
	"load-config", "prepare", "start", "wait-healthy", "wait-healthy.after-answer",
	"switch", "switch.write", "switch.nginx-t", "switch.reload", "switch.confirm", "switch.record",
	"drain", "retire",
}

// targets of issue 7.
const (
	switchOverReady = time.Second            // time to switch <= ready time + this
	switchStepMax   = 100 * time.Millisecond // median switch step
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

// reportMetrics reports the medians over the deploys as the benchmark's
// metrics; ns/op (which would count the load's warm-up and tail) is
// suppressed.
func reportMetrics(b *testing.B, samples []sample) {
	b.ReportMetric(0, "ns/op")
	if len(samples) == 0 {
		return
	}
	b.ReportMetric(med(samples, func(s sample) float64 { return secs(s.ready) }), "ready-s")
	b.ReportMetric(med(samples, func(s sample) float64 { return secs(s.toSwitch) }), "to-switch-s")
	b.ReportMetric(med(samples, func(s sample) float64 { return secs(s.total) }), "total-s")
	for _, name := range stepNames {
		if _, ok := samples[0].steps[name]; ok {
			b.ReportMetric(1000*med(samples, stepSecs(name)), name+"-ms")
		}
	}
	b.ReportMetric(med(samples, func(s sample) float64 { return float64(s.sent) }), "sent")
	b.ReportMetric(med(samples, func(s sample) float64 { return float64(s.failed) }), "failed")
	b.ReportMetric(float64(totalFailed(samples)), "failed-all")
	b.ReportMetric(med(samples, func(s sample) float64 { return s.rate }), "req/s")
}

// table compares the medians of both procedures as a markdown table, then
// checks ours against the targets of issue 7.
func table(workers int, ours, naive []sample) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d keep-alive workers through nginx; app ready %v after its start; medians of %d bluegreen and %d naive deploys\n\n",
		workers, bootDelay, len(ours), len(naive))
	sb.WriteString("| metric | bluegreen | naive | ours/naive |\n| --- | --- | --- | --- |\n")
	row := func(name string, f func(sample) float64, format func(float64) string, has func(sample) bool) {
		o, n := med(ours, f), med(naive, f)
		oc, nc := cell(ours, o, format, has), cell(naive, n, format, has)
		ratio := "-"
		if oc != "-" && nc != "-" && n != 0 {
			ratio = fmt.Sprintf("%.2f", o/n)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", name, oc, nc, ratio)
	}
	row("new release first answers on its port", func(s sample) float64 { return secs(s.ready) }, seconds, nil)
	row("**time to switch** (deploy start to end of switch)", func(s sample) float64 { return secs(s.toSwitch) }, seconds, nil)
	row("switch after first answer (overhead)", func(s sample) float64 { return secs(s.toSwitch - s.ready) }, seconds, nil)
	row("**total deploy time**", func(s sample) float64 { return secs(s.total) }, seconds, nil)
	labels := map[string]string{
		"load-config":               "step load-config (Load, before Deploy)",
		"prepare":                   "step prepare (naive: load the project)",
		"start":                     "step start (compose Up)",
		"wait-healthy":              "step wait-healthy (naive: fixed sleep + ps)",
		"wait-healthy.after-answer": "↳ of which after the first answer",
		"switch":                    "step switch (naive: write + reload, unconfirmed)",
		"switch.write":              "↳ (history record +) write upstream file",
		"switch.nginx-t":            "↳ nginx -t",
		"switch.reload":             "↳ nginx -s reload (the command)",
		"switch.confirm":            "↳ reload confirmed (new workers up)",
		"switch.record":             "↳ history record",
		"drain":                     "step drain (naive: none)",
		"retire":                    "step retire (ours: stop; naive: compose down)",
	}
	for _, name := range stepNames {
		row(labels[name], stepSecs(name), seconds, func(s sample) bool { _, ok := s.steps[name]; return ok })
	}
	row("requests sent during a deploy", func(s sample) float64 { return float64(s.sent) }, count, nil)
	row("failed requests during a deploy", func(s sample) float64 { return float64(s.failed) }, count, nil)
	fmt.Fprintf(&sb, "| failed requests, all deploys | %d | %d | - |\n", totalFailed(ours), totalFailed(naive))
	row("requests/s during a deploy", func(s sample) float64 { return s.rate }, count, nil)
	row("TIME_WAIT sockets on the host at deploy start", func(s sample) float64 { return float64(s.timeWait) }, count, nil)

	if len(ours) == 0 {
		return sb.String()
	}
	sb.WriteString("\ntargets (issue 7), bluegreen:\n\n")
	target := func(name, got string, ok bool) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		fmt.Fprintf(&sb, "- %s: %s **%s**\n", name, got, verdict)
	}
	// "The app's ready time" read two ways: its boot delay counted from
	// the deploy's start (the container's create and start count against
	// us), and the moment it first answered (they do not).
	toSwitch := med(ours, func(s sample) float64 { return secs(s.toSwitch) })
	limit := (bootDelay + switchOverReady).Seconds()
	target(fmt.Sprintf("time to switch <= boot delay + 1 s (%s)", seconds(limit)), seconds(toSwitch), toSwitch <= limit)
	over := med(ours, func(s sample) float64 { return secs(s.toSwitch - s.ready) })
	target("time to switch <= first answer + 1 s", fmt.Sprintf("first answer + %s", seconds(over)), over <= switchOverReady.Seconds())
	sw := med(ours, stepSecs("switch"))
	target("switch step <= 100 ms median", seconds(sw), sw <= switchStepMax.Seconds())
	var sent int64
	for _, s := range ours {
		sent += s.sent
	}
	target("zero failed requests", fmt.Sprintf("%d of %d", totalFailed(ours), sent), totalFailed(ours) == 0 && sent > 0)
	return sb.String()
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
	s := func(toSwitch, sw time.Duration, failed int64) sample {
		return sample{ready: bootDelay, toSwitch: toSwitch, total: toSwitch + time.Second, sent: 1000, failed: failed,
			rate: 2000, steps: map[string]time.Duration{"switch": sw, "drain": 0}}
	}
	ours := []sample{s(2900*time.Millisecond, 40*time.Millisecond, 0), s(2800*time.Millisecond, 60*time.Millisecond, 0), s(5*time.Second, time.Second, 0)}
	naive := []sample{s(12*time.Second, 5*time.Millisecond, 3), s(13*time.Second, 5*time.Millisecond, 0)}
	for _, n := range naive {
		delete(n.steps, "drain")
	}
	got := table(8, ours, naive)
	for _, want := range []string{
		"| **time to switch** (deploy start to end of switch) | 2.90 s | 12.50 s | 0.23 |",
		"| step switch (naive: write + reload, unconfirmed) | 60 ms | 5 ms | 12.00 |",
		"| step drain (naive: none) | 0 ms | - | - |",
		"| failed requests, all deploys | 0 | 3 | - |",
		"time to switch <= boot delay + 1 s (3.00 s): 2.90 s **PASS**",
		"time to switch <= first answer + 1 s: first answer + 900 ms **PASS**",
		"switch step <= 100 ms median: 60 ms **PASS**",
		"zero failed requests: 0 of 3000 **PASS**",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if got := table(8, []sample{s(4*time.Second, 200*time.Millisecond, 1)}, nil); strings.Count(got, "**FAIL**") != 4 {
		t.Errorf("want four failed targets:\n%s", got)
	}
}
