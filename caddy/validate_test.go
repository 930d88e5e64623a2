package caddy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

// recorder stands in for the admin API where a test shows only what
// reaches it: it records each request and answers as Caddy does for an
// unknown @id.
type recorder struct {
	mu    sync.Mutex
	paths []string
	srv   *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.paths = append(r.paths, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"unknown object ID 'web'"}`)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

// TestCaddySwitchBadInput: nothing of a bad value reaches the admin API.
func TestCaddySwitchBadInput(t *testing.T) {
	rec := newRecorder(t)
	for _, tc := range []struct {
		name  string
		admin string
		id    string
		slot  bluegreen.Slot
		addrs []string
	}{
		{name: "slot none", slot: bluegreen.None},
		{name: "slot red", slot: "red"},
		{name: "no addresses", addrs: []string{}},
		{name: "no port", addrs: []string{"127.0.0.1"}},
		{name: "port not a number", addrs: []string{"127.0.0.1:abc"}},
		{name: "port 0", addrs: []string{"127.0.0.1:0"}},
		{name: "port too large", addrs: []string{"127.0.0.1:99999"}},
		{name: "port with a leading 0", addrs: []string{"127.0.0.1:080"}},
		{name: "port range", addrs: []string{"127.0.0.1:8080-8090"}},
		{name: "placeholder host", addrs: []string{"{http.request.header.X-Backend}:80"}},
		{name: "placeholder port", addrs: []string{"127.0.0.1:{http.request.header.X-Port}"}},
		{name: "network prefix", addrs: []string{"tcp/127.0.0.1:8080"}},
		{name: "unix socket", addrs: []string{"unix//run/app.sock"}},
		{name: "newline", addrs: []string{"127.0.0.1:8080\n"}},
		{name: "NUL", addrs: []string{"127.0.0.1\x00:8080"}},
		{name: "space", addrs: []string{"evil host:8080"}},
		{name: "quote", addrs: []string{`a"b:8080`}},
		{name: "zoned IPv6", addrs: []string{"[fe80::1%eth0]:8080"}},
		{name: "IPv4 in brackets", addrs: []string{"[127.0.0.1]:8080"}},
		{name: "one bad of two", addrs: []string{"127.0.0.1:8080", "127.0.0.1:"}},
		{name: "id with a slash", id: "web/../x"},
		{name: "id with a space", id: "we b"},
		{name: "id with a brace", id: "{web}"},
		{name: "id ..", id: ".."},
		{name: "id too long", id: strings.Repeat("w", 129)},
		{name: "admin ftp", admin: "ftp://127.0.0.1:2019"},
		{name: "admin without host", admin: "http://"},
		{name: "admin with a query", admin: rec.srv.URL + "/?token=t0ken"},
		{name: "admin with a fragment", admin: rec.srv.URL + "/#x"},
		{name: "admin with a newline", admin: rec.srv.URL + "\n"},
		{name: "admin port", admin: "http://127.0.0.1:99999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &Switcher{Admin: rec.srv.URL, ID: "web"}
			if tc.admin != "" {
				sw.Admin = tc.admin
			}
			if tc.name == "id" || strings.HasPrefix(tc.name, "id ") {
				sw.ID = tc.id
			}
			if tc.slot == "" && !strings.HasPrefix(tc.name, "slot") {
				tc.slot = bluegreen.Green
			}
			if tc.addrs == nil {
				tc.addrs = []string{"127.0.0.1:8080"}
			}
			err := sw.Switch(t.Context(), tc.slot, tc.addrs)
			if !errors.Is(err, bluegreen.ErrBadInput) {
				t.Fatalf("Switch: %v; want an error wrapping bluegreen.ErrBadInput", err)
			}
			if strings.Contains(err.Error(), "t0ken") {
				t.Errorf("error shows a query value: %v", err)
			}
			if got := rec.got(); len(got) != 0 {
				t.Errorf("the admin API received %v", got)
			}
		})
	}
}

// TestCaddyGoodInputReachesAdmin: the values a deploy sends are taken, and
// a path in Admin is a prefix.
func TestCaddyGoodInputReachesAdmin(t *testing.T) {
	rec := newRecorder(t)
	sw := &Switcher{Admin: rec.srv.URL + "/caddy-admin/", ID: "web.prod_1-a"}
	for _, addrs := range [][]string{
		{"127.0.0.1:8080"}, {"[::1]:8080"}, {"shop-green-web-1:8000", "shop_green_web_2:8000"}, {"backend.internal:443"},
	} {
		if err := sw.Switch(t.Context(), bluegreen.Green, addrs); !errors.Is(err, ErrNoHandler) {
			t.Errorf("Switch(%v): %v; want the admin API's unknown id", addrs, err)
		}
	}
	if got := rec.got(); len(got) != 4 || got[0] != "GET /caddy-admin/id/web.prod_1-a" {
		t.Errorf("the admin API received %v; want 4 times GET /caddy-admin/id/web.prod_1-a", got)
	}
}

// TestCaddyErrorsHideSecrets: no error shows the password or the query
// values of an admin URL, whatever fails.
func TestCaddyErrorsHideSecrets(t *testing.T) {
	closed, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An admin API behind a proxy whose error repeats a URL it was given.
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, `{"error":"upstream http://deploy:s3cret@10.0.0.1:2019/?token=t0ken failed"}`)
	}))
	defer echo.Close()
	for _, admin := range []string{
		fmt.Sprintf("http://deploy:s3cret@127.0.0.1:%d", closed),
		fmt.Sprintf("http://s3cret@127.0.0.1:%d/", closed),
		"http://deploy:s3cret@" + strings.TrimPrefix(echo.URL, "http://"),
		fmt.Sprintf("http://deploy:s3cret@127.0.0.1:%d/?token=t0ken", closed),
	} {
		sw := &Switcher{Admin: admin, ID: "web"}
		errs := []error{sw.Switch(t.Context(), bluegreen.Blue, []string{"127.0.0.1:8080"}), sw.Preflight(t.Context()), sw.Drain(t.Context())}
		_, aerr := sw.Active(t.Context())
		errs = append(errs, aerr)
		for _, err := range errs {
			if err == nil {
				continue
			}
			t.Log(err)
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0ken") {
				t.Errorf("error shows a secret: %v", err)
			}
		}
	}
}
