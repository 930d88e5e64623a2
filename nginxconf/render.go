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
}

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
	addrs := make([]string, len(u.Addrs))
	for i, a := range u.Addrs {
		c, err := hostport.Parse(a)
		if err != nil {
			return u, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		addrs[i] = c.String()
	}
	u.Addrs = addrs
	return u, nil
}

// render validates u and returns the content of the managed file:
//
//	# Managed by bluegreen: do not edit. slot=blue
//	upstream backend {
//	    server 127.0.0.1:8081;
//	    keepalive 16;
//	}
//
// with the keepalive line only when Keepalive is above 0.
func render(u upstream) ([]byte, error) {
	u, err := u.validate()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s%s\n", header, u.Slot)
	fmt.Fprintf(&b, "upstream %s {\n", u.Name)
	for _, a := range u.Addrs {
		fmt.Fprintf(&b, "    server %s;\n", a)
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
	slot, err := bluegreen.ParseSlot(slotText)
	if err != nil {
		return upstream{}, fmt.Errorf("%w: %v", ErrUnmanaged, err)
	}
	u := upstream{Slot: slot}
	lines := strings.Split(string(rest), "\n")
	if name, ok := strings.CutPrefix(lines[0], "upstream "); ok {
		u.Name = strings.TrimSuffix(name, " {")
	}
	for _, line := range lines[1:] {
		if a, ok := strings.CutPrefix(line, "    server "); ok {
			u.Addrs = append(u.Addrs, strings.TrimSuffix(a, ";"))
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
