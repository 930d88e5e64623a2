package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusServer answers each request with the status in its ?status= query,
// redirecting for 3xx.
func statusServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("status"))
		if code >= 300 && code < 400 {
			http.Redirect(w, r, "/elsewhere-that-404s", code)
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPStatuses(t *testing.T) {
	srv := statusServer(t)
	for _, tc := range []struct {
		serve   int
		require int    // HTTP.Status
		wantErr string // empty: the probe passes
	}{
		{serve: 200},
		{serve: 204},
		{serve: 302},
		{serve: 404, wantErr: "status 404, want 2xx/3xx"},
		{serve: 500, wantErr: "status 500, want 2xx/3xx"},
		{serve: 503, wantErr: "status 503, want 2xx/3xx"},
		{serve: 200, require: 200},
		{serve: 204, require: 200, wantErr: "status 204, want 200"},
		{serve: 302, require: 200, wantErr: "status 302, want 200"},
		{serve: 204, require: 204},
		{serve: 200, require: 204, wantErr: "status 200, want 204"},
		{serve: 503, require: 503},
	} {
		url := srv.URL + "/healthz?status=" + strconv.Itoa(tc.serve)
		err := HTTP{URL: url, Status: tc.require}.Check(context.Background())
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("serve %d, require %d: err = %v, want pass", tc.serve, tc.require, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("serve %d, require %d: passed, want %q", tc.serve, tc.require, tc.wantErr)
		case tc.wantErr != "" && err.Error() != "GET "+srv.URL+"/healthz?status=xxxxx: "+tc.wantErr:
			t.Errorf("serve %d, require %d: err = %q, want %q", tc.serve, tc.require, err, "GET "+srv.URL+"/healthz?status=xxxxx: "+tc.wantErr)
		}
	}
}

func TestHTTPSendsHost(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Host
	}))
	defer srv.Close()
	for _, tc := range []struct {
		host string
		want string
	}{
		{host: "", want: srv.Listener.Addr().String()},
		{host: "app.example.com", want: "app.example.com"},
		{host: "app.example.com:8443", want: "app.example.com:8443"},
	} {
		if err := (HTTP{URL: srv.URL + "/healthz", Host: tc.host}).Check(context.Background()); err != nil {
			t.Fatalf("Host %q: %v", tc.host, err)
		}
		if h := <-got; h != tc.want {
			t.Errorf("Host %q: server saw Host %q, want %q", tc.host, h, tc.want)
		}
	}
}

// An app behind a virtual host rejects requests for any other name, as a
// probe to 127.0.0.1:port is unless it sets Host.
func TestHTTPHostValidatingApp(t *testing.T) {
	for _, tc := range []struct {
		reject int // the app's answer to a wrong Host
		host   string
		pass   bool
	}{
		{reject: http.StatusMisdirectedRequest, host: "", pass: false},
		{reject: http.StatusMisdirectedRequest, host: "other.example.com", pass: false},
		{reject: http.StatusMisdirectedRequest, host: "app.example.com", pass: true},
		{reject: http.StatusBadRequest, host: "", pass: false},
		{reject: http.StatusBadRequest, host: "app.example.com", pass: true},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Host != "app.example.com" {
				w.WriteHeader(tc.reject)
			}
		}))
		err := HTTP{URL: srv.URL + "/healthz", Host: tc.host}.Check(context.Background())
		srv.Close()
		if (err == nil) != tc.pass {
			t.Errorf("reject %d, Host %q: err = %v, want pass=%v", tc.reject, tc.host, err, tc.pass)
		}
		if err != nil && !strings.Contains(err.Error(), "status "+strconv.Itoa(tc.reject)) {
			t.Errorf("reject %d, Host %q: err = %v, want it to name the status", tc.reject, tc.host, err)
		}
	}
}

func TestHTTPRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	err := HTTP{URL: url}.Check(context.Background())
	if err == nil {
		t.Fatal("Check passed against a closed port")
	}
	if errors.Is(err, ErrPermanent) {
		t.Errorf("err = %v: a closed port may open later, want a retryable error", err)
	}
}

// secretURL is u with a password and query values, which no error or
// description may show.
func secretURL(hostport string) string {
	return "http://deploy:Pa55w0rdZ@" + hostport + "/healthz?token=T0kenValueQ&empty=&mode=V4lueTwo"
}

var secrets = []string{"Pa55w0rdZ", "T0kenValueQ", "V4lueTwo"}

// noSecrets fails when s shows a secret.
func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the secret %q: %s", what, secret, s)
		}
	}
}

func TestHTTPErrorsHideSecrets(t *testing.T) {
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer status.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedAddr := closed.Listener.Addr().String()
	closed.Close()

	masked := func(hostport string) string {
		return "http://deploy:xxxxx@" + hostport + "/healthz?token=xxxxx&empty=&mode=xxxxx"
	}
	for _, tc := range []struct {
		name      string
		check     HTTP
		want      string // the whole error
		is        error  // errors.Is(err, is) when set
		permanent bool
	}{
		{
			name:  "wrong status",
			check: HTTP{URL: secretURL(status.Listener.Addr().String())},
			want:  "GET " + masked(status.Listener.Addr().String()) + ": status 500, want 2xx/3xx",
		},
		{
			name:  "connection refused",
			check: HTTP{URL: secretURL(closedAddr)},
			want:  "GET " + masked(closedAddr) + ": dial tcp " + closedAddr + ": connect: connection refused",
		},
		{
			name:  "timeout",
			check: HTTP{URL: secretURL(hang.Listener.Addr().String()), ProbeTimeout: 50 * time.Millisecond},
			want:  "GET " + masked(hang.Listener.Addr().String()) + ": context deadline exceeded",
			is:    context.DeadlineExceeded,
		},
		{
			name:      "password with a slash does not parse",
			check:     HTTP{URL: "http://deploy:Pa55w0rdZ/x@127.0.0.1:1/healthz?token=T0kenValueQ"},
			want:      `health URL "http://deploy:xxxxx@127.0.0.1:1/healthz?xxxxx" does not parse: invalid port after host`,
			permanent: true,
		},
		{
			name:      "control character",
			check:     HTTP{URL: "http://deploy:Pa55w0rdZ@127.0.0.1:1/healthz?token=T0kenValueQ\n"},
			want:      `health URL "http://deploy:xxxxx@127.0.0.1:1/healthz?xxxxx" does not parse: net/url: invalid control character in URL`,
			permanent: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check.Check(context.Background())
			if err == nil {
				t.Fatal("Check passed")
			}
			noSecrets(t, "the error", err.Error())
			noSecrets(t, "String()", tc.check.String())
			if err.Error() != tc.want {
				t.Errorf("err = %q,\nwant %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(err, %v) = false", tc.is)
			}
			if errors.Is(err, ErrPermanent) != tc.permanent {
				t.Errorf("permanent = %v, want %v", errors.Is(err, ErrPermanent), tc.permanent)
			}
			// Wait's timeout error carries the last probe's error.
			_, werr := Wait(context.Background(), Policy{Interval: 10 * time.Millisecond, Timeout: 120 * time.Millisecond}, tc.check)
			if werr == nil {
				t.Fatal("Wait passed")
			}
			noSecrets(t, "Wait's error", werr.Error())
		})
	}
}

func TestHTTPString(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://127.0.0.1:8080/healthz", "GET http://127.0.0.1:8080/healthz"},
		{secretURL("127.0.0.1:8080") + "#frag", "GET http://deploy:xxxxx@127.0.0.1:8080/healthz?token=xxxxx&empty=&mode=xxxxx"},
	} {
		if got := (HTTP{URL: tc.url}).String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}
