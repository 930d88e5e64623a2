package nginxconf

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/hostport"
)

// header starts every file Switch writes; Active reads the slot from it.
const header = "# Managed by bluegreen: do not edit. slot="

var (
	upstreamName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// upstream is what the managed file says.
type upstream struct {
	Slot  bluegreen.Slot
	Name  string
	Addrs []string
	// Keepalive is the idle connections each worker keeps; 0 for none.
	Keepalive int
	// Canary, when not None, takes Percent of new requests at CanaryAddrs
	// (a split), Slot the rest at Addrs.
	Canary      bluegreen.Slot
	CanaryAddrs []string
	Percent     int
}

// canaryMark is what follows the slot in the header line of a split.
const canaryMark = " canary="

// validate returns u with its addresses in canonical host:port form. Every
// field ends up in nginx syntax, so only characters that can neither end a
// token nor start a directive get through.
func (u upstream) validate() (upstream, error) {
	if err := u.Slot.Validate(); err != nil {
		return u, err
	}
	if !upstreamName.MatchString(u.Name) {
		return u, fmt.Errorf("%w: upstream name %q: want letters, digits, '_', '.' or '-'", ErrInvalid, u.Name)
	}
	if len(u.Addrs) == 0 {
		return u, fmt.Errorf("%w: no addresses for slot %s", ErrInvalid, u.Slot)
	}
	if u.Keepalive < 0 || u.Keepalive > MaxKeepalive {
		return u, fmt.Errorf("%w: keepalive %d: want 0-%d", ErrInvalid, u.Keepalive, MaxKeepalive)
	}
	var err error
	if u.Addrs, err = canonical(u.Addrs); err != nil {
		return u, err
	}
	if u.Canary == bluegreen.None {
		return u, nil
	}
	if err := u.Canary.Validate(); err != nil {
		return u, err
	}
	switch {
	case u.Canary == u.Slot:
		return u, fmt.Errorf("%w: base and canary are both %s", ErrInvalid, u.Slot)
	case u.Percent < 1 || u.Percent > 99:
		return u, fmt.Errorf("%w: percent %d is not from 1 to 99", ErrInvalid, u.Percent)
	case len(u.CanaryAddrs) == 0:
		return u, fmt.Errorf("%w: no addresses for canary %s", ErrInvalid, u.Canary)
	}
	u.CanaryAddrs, err = canonical(u.CanaryAddrs)
	return u, err
}

// canonical returns addrs in canonical host:port form.
func canonical(in []string) ([]string, error) {
	addrs := make([]string, len(in))
	for i, a := range in {
		c, err := hostport.Parse(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		addrs[i] = c.String()
	}
	return addrs, nil
}

// render validates u and returns the content of the managed file:
//
//	# Managed by bluegreen: do not edit. slot=blue
//	upstream backend {
//	    server 127.0.0.1:8081;
//	    keepalive 16;
//	}
//
// with the keepalive line only when Keepalive is above 0. A split weighs
// the servers so that the canary's take Percent of requests, each server
// line naming its slot. The canary's servers are never marked down after
// a failure (max_fails=0): each request meant for them tries them, so their
// errors are counted, and nginx passes a failed attempt on to the base:
//
//	# Managed by bluegreen: do not edit. slot=blue canary=green:10
//	upstream backend {
//	    server 127.0.0.1:8081 weight=90; # blue
//	    server 127.0.0.1:8080 weight=10 max_fails=0; # green
//	}
func render(u upstream) ([]byte, error) {
	u, err := u.validate()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s%s", header, u.Slot)
	if u.Canary != bluegreen.None {
		fmt.Fprintf(&b, "%s%s:%d", canaryMark, u.Canary, u.Percent)
	}
	fmt.Fprintf(&b, "\nupstream %s {\n", u.Name)
	if u.Canary == bluegreen.None {
		for _, a := range u.Addrs {
			fmt.Fprintf(&b, "    server %s;\n", a)
		}
	} else {
		// Per server: (100-p)*nc for the base's, p*nb for the canary's.
		nb, nc := len(u.Addrs), len(u.CanaryAddrs)
		for _, a := range u.Addrs {
			fmt.Fprintf(&b, "    server %s weight=%d; # %s\n", a, (100-u.Percent)*nc, u.Slot)
		}
		for _, a := range u.CanaryAddrs {
			fmt.Fprintf(&b, "    server %s weight=%d max_fails=0; # %s\n", a, u.Percent*nb, u.Canary)
		}
	}
	if u.Keepalive > 0 {
		fmt.Fprintf(&b, "    keepalive %d;\n", u.Keepalive)
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

// parse reads a file written by render. Anything else, including a managed
// file edited by hand, is an error wrapping ErrUnmanaged: parse accepts data
// only if render gives it back byte for byte.
func parse(data []byte) (upstream, error) {
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	slotText, ok := strings.CutPrefix(string(first), header)
	if !ok {
		return upstream{}, fmt.Errorf("%w: first line is not %q", ErrUnmanaged, header+"<slot>")
	}
	slotText, split, isSplit := strings.Cut(slotText, canaryMark)
	slot, err := bluegreen.ParseSlot(slotText)
	if err != nil {
		return upstream{}, fmt.Errorf("%w: %v", ErrUnmanaged, err)
	}
	u := upstream{Slot: slot}
	if isSplit {
		canary, pct, _ := strings.Cut(split, ":")
		if u.Canary, err = bluegreen.ParseSlot(canary); err != nil || u.Canary == bluegreen.None {
			return upstream{}, fmt.Errorf("%w: canary %q is not a slot", ErrUnmanaged, canary)
		}
		u.Percent, _ = strconv.Atoi(pct) // not a number: the comparison below refuses it
	}
	lines := strings.Split(string(rest), "\n")
	if name, ok := strings.CutPrefix(lines[0], "upstream "); ok {
		u.Name = strings.TrimSuffix(name, " {")
	}
	for _, line := range lines[1:] {
		if a, ok := strings.CutPrefix(line, "    server "); ok {
			a, owner, _ := strings.Cut(a, "; # ")
			a, _, _ = strings.Cut(strings.TrimSuffix(a, ";"), " ")
			if isSplit && owner == u.Canary.String() {
				u.CanaryAddrs = append(u.CanaryAddrs, a)
			} else {
				u.Addrs = append(u.Addrs, a)
			}
		}
		if n, ok := strings.CutPrefix(line, "    keepalive "); ok {
			// Not a number: render gives other bytes back, and the
			// comparison below refuses the file.
			u.Keepalive, _ = strconv.Atoi(strings.TrimSuffix(n, ";"))
		}
	}
	want, err := render(u)
	if err != nil {
		return upstream{}, fmt.Errorf("%w: %v", ErrUnmanaged, err)
	}
	if !bytes.Equal(want, data) {
		return upstream{}, fmt.Errorf("%w: content differs from what bluegreen writes (edited by hand?)", ErrUnmanaged)
	}
	return u, nil
}

// plainUpstream matches a file that holds nothing but one upstream block of
// server lines (and comments), as written by hand before a first deploy.
var plainUpstream = regexp.MustCompile(`^\s*upstream\s+([A-Za-z0-9_.-]+)\s*\{(\s*server\s+[^;{}#]+;)+\s*\}\s*$`)

var comment = regexp.MustCompile(`(?m)#.*$`)

// isPlainUpstream reports whether data is a hand-written file with only an
// upstream block named name: safe to replace, since it holds nothing else.
func isPlainUpstream(data []byte, name string) bool {
	m := plainUpstream.FindSubmatch(comment.ReplaceAll(data, nil))
	return m != nil && string(m[1]) == name
}
