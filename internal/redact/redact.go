// Package redact masks the secrets that a URL may carry before the URL, or a
// text that holds one, reaches an error message, a log line or any other
// output.
//
// A URL's secrets are its userinfo and its query values: URL keeps the
// scheme, the host, the port, the path and the query keys, so that a message
// still says which address was meant, and writes Mask for the rest:
//
//	redact.URL("https://deploy:s3cret@shop.example.com/healthz?token=abc&v=")
//	// "https://deploy:xxxxx@shop.example.com/healthz?token=xxxxx&v="
//
// The rules:
//
//   - A password is replaced by Mask; the user name before it is kept.
//   - A user name without a password is replaced by Mask too: services that
//     take a token as the user name (https://TOKEN@host) are common, and
//     the user name is then the secret.
//   - Each query value is replaced by Mask; an empty value stays empty (it
//     hides nothing, and shows that a variable was empty); a query part
//     without '=' is replaced whole, since it may be a value.
//   - The fragment is dropped.
//   - A string that does not parse as a URL is masked by its shape: after
//     its first "//" (or from its start, when an '@' comes first), everything up to the last '@' is userinfo,
//     and everything after the first '?' is masked, keys too. When that is
//     ambiguous (an '@' after the '?'), both readings are masked.
//   - So is a URL with an '@' after its host ("http://host/users/@me",
//     "http://host/?to=ops@example.com"): a password holding an unescaped
//     '/', '?' or '#' parses so ("http://user:12/ab@host" has the host
//     "user:12"), and the host and port may then be masked with it.
//
// A URL with nothing to mask is returned as it was given. Text does the same
// for every URL (scheme://...) in a free text, such as the message of an
// error from net/http, whose *url.Error includes the request URL with its
// query (Go replaces only the password, by "***").
//
// Secrets elsewhere in a URL (a token as a path segment) are not recognised.
package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask stands in for each secret.
const Mask = "xxxxx"

// URL returns raw with its userinfo and query values masked and its
// fragment dropped, as the package documentation says.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || atAfterAuthority(raw, u) {
		return byShape(raw)
	}
	changed := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), Mask)
		} else {
			u.User = url.User(Mask)
		}
		changed = true
	}
	// "user:pass@host" without "//" parses as the scheme "user" with the
	// opaque "pass@host".
	if at := strings.LastIndexByte(u.Opaque, '@'); at >= 0 {
		u.Opaque = Mask + u.Opaque[at:]
		changed = true
	}
	if u.RawQuery != "" {
		u.RawQuery = maskQuery(u.RawQuery)
		changed = true
	}
	if strings.Contains(raw, "#") {
		u.Fragment, u.RawFragment = "", ""
		changed = true
	}
	if !changed {
		return raw
	}
	return u.String()
}

// atAfterAuthority reports whether raw, parsed as u, has an authority
// ("//host") and an '@' after it. Then the parse may have cut a password
// holding an unescaped '/', '?' or '#' ("http://user:12/ab@host" parses as
// the host "user:12" and the path "/ab@host"), and only a mask by shape is
// safe.
func atAfterAuthority(raw string, u *url.URL) bool {
	i := strings.Index(raw, "//")
	if i < 0 || u.Opaque != "" || (i > 0 && !strings.EqualFold(raw[:i], u.Scheme+":")) {
		return false // no authority: the "//" is in the path or further
	}
	rest := raw[i+2:]
	end := strings.IndexAny(rest, "/?#")
	return end >= 0 && strings.Contains(rest[end:], "@")
}

// maskQuery masks each value of a raw query, keeping its keys.
func maskQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, part := range parts {
		key, value, ok := strings.Cut(part, "=")
		switch {
		case part == "":
		case !ok:
			parts[i] = Mask
		case value == "":
			parts[i] = key + "="
		default:
			parts[i] = key + "=" + Mask
		}
	}
	return strings.Join(parts, "&")
}

// byShape masks a string that does not parse as a URL.
func byShape(s string) string {
	q, query := len(s), false
	if i := strings.IndexByte(s, '?'); i >= 0 {
		q, query = i, true
	}
	start := 0
	if i := strings.Index(s[:q], "//"); i >= 0 && !strings.Contains(s[:i], "@") {
		start = i + 2
	}
	out := s[:start]
	rest := s[start:q]
	if at := strings.LastIndexByte(s[start:], '@'); at >= 0 {
		if start+at < q {
			// userinfo@host...
			out += maskUserinfo(s[start:start+at]) + "@"
			rest = s[start+at+1 : q]
		} else {
			// The '@' follows the '?': a password holding a '?', or a
			// query value holding an '@'. Mask for both.
			return out + maskUserinfo(rest) + "?" + Mask
		}
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest, query = rest[:i], false // the '?' was in the fragment
	}
	out += rest
	if query {
		out += "?" + Mask
	}
	return out
}

// maskUserinfo keeps the user of "user:password" and masks the password, or
// masks a lone user name.
func maskUserinfo(userinfo string) string {
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return user + ":" + Mask
	}
	return Mask
}

// urlInText matches a URL written in a text: a scheme, "://", and what
// follows up to a space, a quote or an angle bracket.
var urlInText = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'`<>]+")

// Text returns s with every URL in it (scheme://...) passed through URL.
func Text(s string) string {
	return urlInText.ReplaceAllStringFunc(s, URL)
}

// Error returns an error whose message is err's passed through Text, and
// which unwraps to err, so that errors.Is and errors.As see err's chain as
// before. A nil err gives nil. The errors of the chain keep their own
// messages: print the returned error, not what it unwraps to.
func Error(err error) error {
	if err == nil {
		return nil
	}
	return &redacted{msg: Text(err.Error()), err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }
