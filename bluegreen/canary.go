package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// Defaults of CanaryConfig.
const (
	DefaultCanaryStepTime     = 20 * time.Second
	DefaultCanaryMaxErrorRate = 0.01
	DefaultCanaryMinRequests  = 50
	// canaryExtension bounds a step that lacks traffic: it runs at most
	// this many times its StepTime before the deploy fails as "not enough
	// traffic to judge".
	canaryExtension = 3
	// canaryPoll is how often a step's figures are read from the proxy.
	canaryPoll = 100 * time.Millisecond
)

// ErrCanary reports a canary that was aborted: the new release's error rate
// went above max_error_rate, or it had too little traffic to be judged.
// Traffic is back on the old release when it is returned.
var ErrCanary = errors.New("canary aborted")

// CanaryConfig tunes StrategyCanary: after the new release passes its
// health checks, the proxy sends it Steps[0] percent of new requests for
// StepTime, then Steps[1] percent, and so on, then all of them, as a
// blue/green switch does. Judgement is continuous: as soon as the new
// release has had MinRequests responses in a step and more than
// MaxErrorRate of them were errors (5xx, or a failed connection), all
// traffic goes back to the old release and the new one is removed. A step
// that ends with fewer than MinRequests is extended, up to three times its
// StepTime, then the deploy fails: it is not passed on no evidence.
type CanaryConfig struct {
	// Steps are percents of new requests, ascending, each from 1 to 99;
	// empty means 10 then 50.
	Steps []int
	// StepTime is how long each step runs when all is well; zero means
	// DefaultCanaryStepTime.
	StepTime time.Duration
	// MaxErrorRate is the highest share (0.01 for 1%) of the new
	// release's responses in a step that may be errors; zero means
	// DefaultCanaryMaxErrorRate.
	MaxErrorRate float64
	// MinRequests is how many responses of the new release a step needs
	// before its rate counts; zero means DefaultCanaryMinRequests.
	MinRequests int
}

func (c CanaryConfig) withDefaults() CanaryConfig {
	if len(c.Steps) == 0 {
		c.Steps = []int{10, 50}
	}
	if c.StepTime == 0 {
		c.StepTime = DefaultCanaryStepTime
	}
	if c.MaxErrorRate == 0 {
		c.MaxErrorRate = DefaultCanaryMaxErrorRate
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultCanaryMinRequests
	}
	return c
}

// parsePercent reads "1%" or "0.5%" as a share (0.01, 0.005).
func parsePercent(key, v string) (float64, error) {
	text, ok := strings.CutSuffix(strings.TrimSpace(v), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
	if !ok || err != nil || f < 0 || f > 100 {
		return 0, xvalue.KeyError{Key: key, Problem: "want a percentage like 1%, got " + xvalue.Shown(v)}
	}
	if f == 0 {
		return 0, xvalue.KeyError{Key: key, Problem: "0% would abort on the first error of a healthy release too; leave it out for the default 1%, or give a small rate such as 0.1%"}
	}
	return f / 100, nil
}

// canaryErrors checks Strategy and Canary.
func (c Config) canaryErrors() []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	switch c.Strategy {
	case "", StrategyBlueGreen:
		return errs
	case StrategyCanary:
	default:
		bad("strategy: %s is not %s or %s", xvalue.Shown(c.Strategy), StrategyBlueGreen, StrategyCanary)
		return errs
	}
	k := c.Canary
	for i, pct := range k.Steps {
		switch {
		case pct < 1 || pct > 99:
			bad("canary.steps: %d is not a percent from 1 to 99 (100 is the switch that follows the last step)", pct)
		case i > 0 && pct <= k.Steps[i-1]:
			bad("canary.steps: %v must go up, step by step", k.Steps)
		}
	}
	if k.StepTime < 0 {
		bad("canary.step_time: %s may not be negative", k.StepTime)
	}
	if k.MaxErrorRate < 0 || k.MaxErrorRate > 1 {
		bad("canary.max_error_rate: %s is not from 0%% to 100%%", percent(k.MaxErrorRate))
	}
	if k.MinRequests < 0 {
		bad("canary.min_requests: %d may not be negative", k.MinRequests)
	}
	return errs
}

// percent writes a share (0.012) as "1.2%", to a tenth of a percent (two
// digits under 1%).
func percent(share float64) string {
	digits := 10.0
	if share < 0.01 {
		digits = 100
	}
	return strconv.FormatFloat(math.Round(share*100*digits)/digits, 'f', -1, 64) + "%"
}

// Splitter is implemented by Switchers that can split new requests between
// the two slots by weight and count each slot's responses, as the proxy
// sees them: StrategyCanary needs one, and a deploy with any other
// Switcher is refused (ErrBadInput) before anything changes. A Switch ends
// a split: all new requests go to the slot it names.
type Splitter interface {
	// Split sends percent (1-99) of new requests to canary, at
	// canaryAddrs, and the rest to base, at baseAddrs. When it returns nil
	// the split is live; on error the routing before it is still live.
	Split(ctx context.Context, base Slot, baseAddrs []string, canary Slot, canaryAddrs []string, percent int) error
	// Canary reads back from the proxy the slot that takes a share of new
	// requests beside the one Active names, and its percent; None when
	// the proxy routes to one slot.
	Canary(ctx context.Context) (Slot, int, error)
	// Counts returns running totals of the responses the proxy has had
	// from slot's addresses since the first Split: only the difference
	// between two calls means something.
	Counts(ctx context.Context, slot Slot) (Counts, error)
	// PreflightSplit checks, changing nothing, that Split and Counts would
	// work (an nginx must log responses where the Switcher reads them): a
	// canary deploy, and check, call it before anything changes.
	PreflightSplit(ctx context.Context) error
}

// Counts are the responses a proxy has had from one slot.
type Counts struct {
	// Requests counts responses and failed attempts (a connection refused
	// or reset).
	Requests int64 `json:"requests"`
	// Errors counts those that were 5xx or failed.
	Errors int64 `json:"errors"`
}

// Rate is Errors over Requests, 0 without requests.
func (c Counts) Rate() float64 {
	if c.Requests == 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

func (c Counts) sub(o Counts) Counts {
	return Counts{Requests: c.Requests - o.Requests, Errors: c.Errors - o.Errors}
}

// CanaryProgress is where a canary stands: in events (Event.Canary), in
// the history while it runs (Release.Canary), and in Status.
type CanaryProgress struct {
	// Step counts from 1 to Steps.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// Percent of new requests goes to the new release.
	Percent int `json:"percent"`
	// Counts are the new release's responses in this step.
	Counts
	// Elapsed is the time the step has run.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// String is "step 1/2 (10%): 240 requests, 3 errors (1.2%)".
func (p CanaryProgress) String() string {
	return fmt.Sprintf("step %d/%d (%d%%): %d requests, %d errors (%s)",
		p.Step, p.Steps, p.Percent, p.Requests, p.Errors, percent(p.Rate()))
}

// canaryPlan says whether this rollout runs as a canary: a deploy with
// StrategyCanary and a live slot to compare with.
func (d *Deployer) canaryPlan(kind string, from Slot) bool {
	return kind == "deploy" && d.Project.Config.Strategy == StrategyCanary && from != None
}

// checkSplitter refuses StrategyCanary up front when the Switcher cannot
// split traffic.
func (d *Deployer) checkSplitter() error {
	if d.Project.Config.Strategy != StrategyCanary {
		return nil
	}
	if _, ok := d.Switcher.(Splitter); !ok {
		why := ""
		if n, ok := d.Switcher.(interface{ NoSplit() string }); ok {
			why = " (" + n.NoSplit() + ")"
		}
		return fmt.Errorf("%w: strategy canary: the proxy's switcher (%T) cannot split traffic by weight or count a slot's responses%s; use one that can (nginx with nginx.access_log, HAProxy, the Go proxy), or strategy blue-green",
			ErrBadInput, d.Switcher, why)
	}
	return nil
}

// canary runs the steps of a canary from r.From to r.To: each step splits
// traffic and judges the new release's responses. It returns nil when the
// last step passed, with traffic still split (the switch follows). On any
// error all traffic is back on r.From when it returns, unless the error
// says otherwise and r.Switched is set: then traffic is still split.
func (d *Deployer) canary(ctx context.Context, r *Report) error {
	sp := d.Switcher.(Splitter)
	cfg := d.Project.Config.Canary
	baseAddrs, err := d.upstreams(ctx, r.From)
	if err != nil {
		return err
	}
	newAddrs, err := d.upstreams(ctx, r.To)
	if err != nil {
		return err
	}
	if err := d.record(r, func(rel *Release) { rel.Switching = true }); err != nil {
		return err
	}
	d.info(StepCanary, r.To, fmt.Sprintf("canary: %s of new requests to %s, %s a step, while at most %s of its responses fail",
		stepsWord(cfg.Steps), r.To, cfg.StepTime, percent(cfg.MaxErrorRate)))
	for i, pct := range cfg.Steps {
		p := CanaryProgress{Step: i + 1, Steps: len(cfg.Steps), Percent: pct}
		err = d.run(ctx, r, StepCanary, r.To, func(ctx context.Context) error {
			return d.canaryStep(ctx, r, sp, p, baseAddrs, newAddrs)
		})
		if err != nil {
			return d.abortCanary(ctx, r, err)
		}
	}
	return nil
}

// canaryStep splits traffic as p says and judges the step.
func (d *Deployer) canaryStep(ctx context.Context, r *Report, sp Splitter, p CanaryProgress, baseAddrs, newAddrs []string) error {
	cfg := d.Project.Config.Canary
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), switchTimeout)
	err := sp.Split(sctx, r.From, baseAddrs, r.To, newAddrs, p.Percent)
	cancel()
	if err != nil {
		return fmt.Errorf("splitting traffic %d%% to %s: %w", p.Percent, r.To, err)
	}
	r.Canary = append(r.Canary, p)
	d.info(StepCanary, r.To, fmt.Sprintf("step %d/%d: %d%% of new requests to %s, %d%% to %s, for %s",
		p.Step, p.Steps, p.Percent, r.To, 100-p.Percent, r.From, cfg.StepTime))
	base, err := sp.Counts(ctx, r.To)
	if err != nil {
		return fmt.Errorf("reading %s's responses from the proxy: %w", r.To, err)
	}
	start := time.Now()
	tick := time.NewTicker(canaryPoll)
	defer tick.Stop()
	extended, lastShown := false, time.Now()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped during canary step %d: %w", p.Step, context.Cause(ctx))
		case <-tick.C:
		}
		now, err := sp.Counts(ctx, r.To)
		if err != nil {
			return fmt.Errorf("reading %s's responses from the proxy: %w", r.To, err)
		}
		p.Counts, p.Elapsed = now.sub(base), time.Since(start)
		r.Canary[len(r.Canary)-1] = p
		judged := p.Requests >= int64(cfg.MinRequests)
		if judged && p.Rate() > cfg.MaxErrorRate {
			d.progress(r, p)
			return fmt.Errorf("%w: %s: %s of the new release's responses failed, above max_error_rate %s (%d of %d in %s)",
				ErrCanary, p, percent(p.Rate()), percent(cfg.MaxErrorRate), p.Errors, p.Requests, p.Elapsed.Round(time.Millisecond))
		}
		done := p.Elapsed >= cfg.StepTime
		if done || time.Since(lastShown) >= time.Second {
			lastShown = time.Now()
			d.progress(r, p)
		}
		switch {
		case done && judged:
			d.info(StepCanary, r.To, fmt.Sprintf("step %d/%d passed: %d requests, %d errors (%s, max %s)",
				p.Step, p.Steps, p.Requests, p.Errors, percent(p.Rate()), percent(cfg.MaxErrorRate)))
			return nil
		case p.Elapsed >= canaryExtension*cfg.StepTime:
			d.progress(r, p)
			return fmt.Errorf("%w: not enough traffic to judge: %s after %s, min_requests is %d",
				ErrCanary, p, p.Elapsed.Round(time.Millisecond), cfg.MinRequests)
		case done && !extended:
			extended = true
			d.info(StepCanary, r.To, fmt.Sprintf("step %d/%d: %d requests in %s, fewer than min_requests %d: extending it (up to %s)",
				p.Step, p.Steps, p.Requests, cfg.StepTime, cfg.MinRequests, canaryExtension*cfg.StepTime))
		}
	}
}

// progress sends a step's figures as an info event and keeps them in the
// history, where Status finds them.
func (d *Deployer) progress(r *Report, p CanaryProgress) {
	d.emit(Event{Step: StepCanary, Phase: PhaseInfo, Slot: r.To, Message: p.String(), Canary: &p})
	if err := d.record(r, func(rel *Release) { rel.Canary = &p }); err != nil {
		d.log().Warn("recording the canary's progress", "err", err)
	}
}

// abortCanary sends all traffic back to r.From after a failed step and
// lets the requests the new release holds finish; err is why.
func (d *Deployer) abortCanary(ctx context.Context, r *Report, err error) error {
	ctx = context.WithoutCancel(ctx)
	d.log().Warn("canary aborted: all traffic back to the old release", "slot", r.From, "err", err)
	back := d.run(ctx, r, StepSwitchBack, r.From, func(ctx context.Context) error {
		_, err := d.switchTo(ctx, r, r.From)
		return err
	})
	if back != nil {
		// The split may still be live: the new slot stays.
		r.Switched = true
		return errors.Join(err, fmt.Errorf("traffic may still be split between %s and %s: %w", r.From, r.To, back))
	}
	if derr := d.drain(ctx); derr != nil {
		d.log().Warn("drain after the canary", "err", derr)
	}
	return err
}

// splitSlot is the slot that takes a share of traffic beside the live one,
// as the proxy says, or None.
func (d *Deployer) splitSlot(ctx context.Context) (Slot, error) {
	sp, ok := d.Switcher.(Splitter)
	if !ok {
		return None, nil
	}
	slot, _, err := sp.Canary(ctx)
	return slot, err
}

// stepsWord lists the steps: "10% → 50% → 100%".
func stepsWord(steps []int) string {
	parts := make([]string, 0, len(steps)+1)
	for _, s := range steps {
		parts = append(parts, strconv.Itoa(s)+"%")
	}
	return strings.Join(append(parts, "100%"), " → ")
}
