package redact

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		// Nothing to mask: returned as given.
		{"plain", "http://127.0.0.1:8080/healthz", "http://127.0.0.1:8080/healthz"},
		{"empty", "", ""},
		{"path only", "/healthz", "/healthz"},
		{"empty query", "http://x/?", "http://x/?"},
		{"ipv6", "http://[::1]:8080/healthz", "http://[::1]:8080/healthz"},
		{"escapes kept", "http://x/a%2Fb%20c", "http://x/a%2Fb%20c"},
		{"path with a colon", "/a:b", "/a:b"},

		// Userinfo.
		{"password", "https://deploy:s3cret@shop.example.com/healthz", "https://deploy:xxxxx@shop.example.com/healthz"},
		{"user alone may be a token", "https://ghp_token@github.com/x", "https://xxxxx@github.com/x"},
		{"empty user", "http://:pw@host", "http://:xxxxx@host"},
		{"empty password", "http://u:@host", "http://u:xxxxx@host"},
		{"escaped userinfo", "http://u%40x:p%3Ass@h/", "http://u%40x:xxxxx@h/"},
		{"@ in password", "http://u:p@ss@host/", "http://u:xxxxx@host/"},
		{"scheme-relative", "//u:p@h/x", "//u:xxxxx@h/x"},
		{"no scheme", "user:pass@host", "user:xxxxx@host"},
		{"no scheme, query", "user:pass@host/x?y=z", "user:xxxxx@host/x?y=xxxxx"},
		{"ipv6 with password", "http://u:p@[::1]:80/", "http://u:xxxxx@[::1]:80/"},

		// Query values.
		{"query", "http://x/h?token=abc&v=1", "http://x/h?token=xxxxx&v=xxxxx"},
		{"empty value stays empty", "http://x/h?token=&v=1", "http://x/h?token=&v=xxxxx"},
		{"bare part may be a value", "http://x/?s3cret", "http://x/?xxxxx"},
		{"empty parts", "http://x/?&&a=b&", "http://x/?&&a=xxxxx&"},
		{"= in value", "http://x/?a=b=c", "http://x/?a=xxxxx"},
		{"semicolon is no separator", "http://x/?a=1;b=2", "http://x/?a=xxxxx"},
		{"bad escape in value", "http://x/?a=%zz", "http://x/?a=xxxxx"},
		{"escaped key kept", "http://x/?a%20b=c", "http://x/?a%20b=xxxxx"},
		{"relative", "/healthz?token=abc", "/healthz?token=xxxxx"},
		{"host:port without scheme", "localhost:8080?token=abc", "localhost:8080?token=xxxxx"},
		{"ipv6 query", "http://[::1]:8080/h?a=b", "http://[::1]:8080/h?a=xxxxx"},
		{"ipv6 zone", "http://[fe80::1%25eth0]:80/?a=b", "http://[fe80::1%25eth0]:80/?a=xxxxx"},
		{"scheme lowercased", "HTTP://X/?A=B", "http://X/?A=xxxxx"},

		// Fragment.
		{"fragment dropped", "http://x/h#top", "http://x/h"},
		{"empty fragment dropped", "http://x/#", "http://x/"},
		{"query and fragment", "http://[::1]:8080/h?a=b#frag", "http://[::1]:8080/h?a=xxxxx"},
		{"? in fragment", "http://x/h#a?b=c", "http://x/h"},

		// Does not parse: masked by shape.
		{"bad escape in path", "http://host/%zz?c=d", "http://host/%zz?xxxxx"},
		{"colon in first segment", "127.0.0.1:8080/x?token=abc", "127.0.0.1:8080/x?xxxxx"},
		{"space in host", "http://ho st/?a=b", "http://ho st/?xxxxx"},
		{"control character", "http://u:p@host\n/x?a=b", "http://u:xxxxx@host\n/x?xxxxx"},
		{"# in password", "http://u:p#w@host?x=1", "http://u:xxxxx@host?xxxxx"},
		{"? in password", "http://u:p?ss@host/", "http://u:xxxxx?xxxxx"},
		{"bad port, @ in query", "http://host:badport/path?email=a@b.com", "http://host:xxxxx?xxxxx"},
		{"bad port, fragment", "http://host:x/p#f?a=b", "http://host:x/p"},
		{"bad, lone user", "http://tok@ho st/", "http://xxxxx@ho st/"},

		// Parses, but a password may hide behind a port: masked by shape.
		{"/ in password", "http://user:12/ab@host/x", "http://user:xxxxx@host/x"},
		{"? in password, digits", "http://u:12?ss@host", "http://u:xxxxx?xxxxx"},
		{"# in password, digits", "http://u:12#ss@host/?a=b", "http://u:xxxxx@host/?xxxxx"},
		{"/ in password after @", "http://u:p@s/s@host", "http://u:xxxxx@host"},
		{"/ in a lone token", "https://AbC/dEf+==@github.com", "https://xxxxx@github.com"},
		{"@ in path", "http://host/users/@me", "http://xxxxx@me"},
		{"@ in query", "http://host:8080/?to=ops@example.com", "http://host:xxxxx?xxxxx"},

		// No authority: '@' in a path is no userinfo.
		{"relative @ path", "/users/@me?a=b", "/users/@me?a=xxxxx"},
		{"opaque", "mailto:ops@example.com", "mailto:xxxxx@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := URL(tc.raw); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"none", "connection refused", "connection refused"},
		{"url.Error", `Get "http://u:***@127.0.0.1:1/x?token=abc": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Get "http://u:xxxxx@127.0.0.1:1/x?token=xxxxx": dial tcp 127.0.0.1:1: connect: connection refused`},
		{"several", "from https://a/b?c=d to http://e:f@g/ and back", "from https://a/b?c=xxxxx to http://e:xxxxx@g/ and back"},
		{"angle brackets", "<http://x/?a=b>", "<http://x/?a=xxxxx>"},
		{"other scheme", "redis://:pw@cache:6379/0", "redis://:xxxxx@cache:6379/0"},
		{"unchanged url", "see http://127.0.0.1:8080/healthz.", "see http://127.0.0.1:8080/healthz."},
		{"ipv6", `Get "http://[::1]:8080/h?k=v": EOF`, `Get "http://[::1]:8080/h?k=xxxxx": EOF`},
		{"no scheme is not matched", "127.0.0.1:8080/x", "127.0.0.1:8080/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q) =\n %q, want\n %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Error("Error(nil) is not nil")
	}
	inner := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/h?token=abc", Err: context.DeadlineExceeded}
	err := Error(fmt.Errorf("probe: %w", inner))
	if want := `probe: Get "http://127.0.0.1:1/h?token=xxxxx": context deadline exceeded`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is(err, context.DeadlineExceeded) = false")
	}
	var ue *url.Error
	if !errors.As(err, &ue) || ue != inner {
		t.Error("errors.As(err, *url.Error) does not find the inner error")
	}
}

// FuzzURL builds URLs around a password and a query value that must never
// show, whatever the other parts hold.
func FuzzURL(f *testing.F) {
	for _, seed := range []struct {
		form                         uint8
		user, host, path, key, value string
	}{
		{0, "deploy", "shop.example.com", "/healthz", "token", ""},
		{0, "u?x", "h", "/p", "k", "v"},
		{0, "u", "h:12", "/a#b", "k", "v"},
		{0, "", "[::1]:80", "", "", ""},
		{0, "a:b", "h?a=b/", "/x@y", "a@b", "&"},
		{0, "u/s", "h", "/%zz", "a=b", "#"},
		{0, "x//y", "h@x", "//", "k?", "v"},
		{0, "?", "00", "", "0", "0"}, // found by fuzzing: no host, the password in a query key
		{0, "0", "00", "", "\f", "0"},
		{1, "u", "h", "/p", "k", "v"},
		{2, "user", "host", "/x", "y", "z"},
		{2, "0", "0//", "", "0", "0"}, // found by fuzzing: a "//" after the '@'

		{3, "U", "[fe80::1%25eth0]:80", "", "k", ""},
	} {
		f.Add(seed.form, seed.user, seed.host, seed.path, seed.key, seed.value)
	}
	const pw, qv = "PWSECRET", "QVSECRET"
	prefixes := []string{"http://", "//", "", "HTTPS://"}
	f.Fuzz(func(t *testing.T, form uint8, user, host, path, key, value string) {
		for _, part := range []string{user, host, path, key, value} {
			// A part of their own may spell the markers, or escape
			// letters that decode to them.
			if strings.Contains(strings.ToUpper(part), "SECRET") || strings.Contains(part, "%") {
				return // not an input this property speaks of
			}
		}
		prefix := prefixes[int(form)%len(prefixes)]
		if prefix == "" && !isWord(user) {
			// Without "//", "a/b:pw@host" is a path, not a user and a
			// password: only "user:pw@host" reads as one.
			return
		}
		raw := prefix + user + ":" + pw + "@" + host + path + "?" + key + "=" + qv + value
		got := URL(raw)
		if strings.Contains(got, pw) || strings.Contains(got, qv) {
			t.Errorf("URL(%q) = %q shows a secret", raw, got)
		}
		if !strings.Contains(prefix, "://") || strings.ContainsAny(user+host+path+key+value, " \t\n\f\r\"'`<>") {
			return // Text reads scheme://..., up to a space or a quote
		}
		text := Text(`Get "` + raw + `": EOF`)
		if strings.Contains(text, pw) || strings.Contains(text, qv) {
			t.Errorf("Text of %q = %q shows a secret", raw, text)
		}
	})
}

// FuzzURLAnyString checks that any string gives an answer, and that the
// password and the query values of a URL that parses never show, when they
// are words that appear nowhere else in it.
func FuzzURLAnyString(f *testing.F) {
	for _, s := range []string{"", "http://u:pass@h/?a=value#c", "%", "//@", "?#@", "http://[::1", "a:word@c?d=value"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := URL(raw)
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		var secrets []string
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
		for _, part := range strings.Split(u.RawQuery, "&") {
			if _, v, ok := strings.Cut(part, "="); ok {
				secrets = append(secrets, v)
			}
		}
		for _, s := range secrets {
			if len(s) >= 4 && isWord(s) && strings.Count(raw, s) == 1 && strings.Contains(got, s) {
				t.Errorf("URL(%q) = %q shows %q", raw, got, s)
			}
		}
	})
}

func isWord(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return !strings.Contains(Mask, s)
}
