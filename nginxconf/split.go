package nginxconf

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

var _ bluegreen.Splitter = (*Switcher)(nil)

// Split writes an upstream file in which canary's servers take percent of
// new requests (nginx's weighted round robin) and base's the rest, checks
// it with nginx -t and reloads nginx, as Switch does. The first Split of a
// canary starts following AccessLog: Counts counts what nginx logs from
// then on. A Switch ends the split.
func (s *Switcher) Split(ctx context.Context, base bluegreen.Slot, baseAddrs []string, canary bluegreen.Slot, canaryAddrs []string, percent int) error {
	if s.AccessLog == "" {
		return fmt.Errorf("split: %w: nginx.access_log is not set: a canary counts the new release's responses in nginx's access log", ErrInvalid)
	}
	if s.File == "" {
		return fmt.Errorf("split: %w: File is empty", ErrInvalid)
	}
	if err := checkPath("nginx.upstream_file", s.File); err != nil {
		return fmt.Errorf("split: %w", err)
	}
	content, err := render(upstream{Slot: base, Name: s.Upstream, Addrs: baseAddrs, Keepalive: s.Keepalive,
		Canary: canary, CanaryAddrs: canaryAddrs, Percent: percent})
	if err != nil {
		return fmt.Errorf("split: %w", err)
	}
	if s.follow == nil {
		f := &logFollower{path: s.AccessLog}
		if err := f.start(); err != nil {
			return fmt.Errorf("split: %w", err)
		}
		s.follow = f
	}
	log := logger(s.Logger).With("slot", base.String(), "canary", canary.String(), "percent", percent, "file", s.File)
	if err := replace(ctx, s.host(), s.File, content, s.ReloadTimeout, log, &s.retiring); err != nil {
		return err
	}
	// As nginx logs them: render has checked that they parse.
	b, _ := canonical(baseAddrs)
	c, _ := canonical(canaryAddrs)
	s.splitAddrs = map[bluegreen.Slot][]string{base: b, canary: c}
	return nil
}

// Canary reads the split back from File: the canary slot and its percent,
// or None when File routes to one slot (or does not exist).
func (s *Switcher) Canary(context.Context) (bluegreen.Slot, int, error) {
	u, err := s.readUpstream()
	if err != nil {
		return bluegreen.None, 0, fmt.Errorf("canary: %w", err)
	}
	return u.Canary, u.Percent, nil
}

// readUpstream parses File; a missing or hand-written one routes nowhere.
func (s *Switcher) readUpstream() (upstream, error) {
	live, err := readSnapshot(s.File)
	if err != nil {
		return upstream{}, err
	}
	if !live.exists || !strings.HasPrefix(string(live.data), header) && isPlainUpstream(live.data, s.Upstream) {
		return upstream{}, nil
	}
	u, err := parse(live.data)
	if err != nil {
		return upstream{}, fmt.Errorf("%s: %w", s.File, err)
	}
	return u, nil
}

// Counts reads what nginx has logged since the last call and returns the
// running totals of slot's servers since the first Split: each attempt at
// one of them is a request, a 5xx or no answer an error.
func (s *Switcher) Counts(_ context.Context, slot bluegreen.Slot) (bluegreen.Counts, error) {
	if s.follow == nil {
		return bluegreen.Counts{}, fmt.Errorf("counts: no split was made: nothing is followed in nginx.access_log")
	}
	addrs := s.splitAddrs[slot]
	if addrs == nil {
		// The file names the servers of the split in place.
		u, err := s.readUpstream()
		if err != nil {
			return bluegreen.Counts{}, fmt.Errorf("counts: %w", err)
		}
		addrs = map[bluegreen.Slot][]string{u.Slot: u.Addrs, u.Canary: u.CanaryAddrs}[slot]
	}
	if err := s.follow.read(); err != nil {
		return bluegreen.Counts{}, fmt.Errorf("counts: %w", err)
	}
	return s.follow.sum(addrs), nil
}

// PreflightSplit checks, changing nothing, that a canary can be judged:
// AccessLog is set, and the configuration nginx loads (nginx -T) defines
// the bluegreen log_format with its three fields in order and logs with it
// to AccessLog.
func (s *Switcher) PreflightSplit(ctx context.Context) error {
	if s.AccessLog == "" {
		return fail("nginx.access_log is not set: a canary counts the new release's responses in the access log that nginx writes in the bluegreen format (" + LogFormat + ")")
	}
	if err := checkPath("nginx.access_log", s.AccessLog); err != nil {
		return fail(err.Error(), err)
	}
	out, err := s.host().nginx(ctx, "-T")
	if err != nil {
		return fail(fmt.Sprintf("nginx -T: %v: %s", err, oneLine(out)), err)
	}
	return checkLogLines(string(out), s.AccessLog)
}

var (
	logFormatLine = regexp.MustCompile(`(?m)^\s*log_format\s+bluegreen\s+(?:'|")\$upstream_addr \$upstream_status \$request_time[ '"]`)
	accessLogLine = regexp.MustCompile(`(?m)^\s*access_log\s+(\S+)\s+bluegreen\b`)
)

// checkLogLines finds, in the configuration nginx -T printed, the
// log_format and the access_log lines a canary needs.
func checkLogLines(conf, path string) error {
	if !logFormatLine.MatchString(conf) {
		return fail(fmt.Sprintf("the nginx configuration has no bluegreen log format; add at http level: %s", LogFormat))
	}
	for _, m := range accessLogLine.FindAllStringSubmatch(conf, -1) {
		if strings.Trim(m[1], `'"`) == path {
			return nil
		}
	}
	return fail(fmt.Sprintf("the nginx configuration does not log to nginx.access_log %s in the bluegreen format; add to the server or location that proxies to the upstream: access_log %s bluegreen;", path, path))
}
