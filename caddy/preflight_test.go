package caddy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func TestCaddyPreflight(t *testing.T) {
	c := testutil.Caddy(t)
	// Objects for ids that are no reverse_proxy handler, added as a user
	// would: a second route, for /static only, and ids on the route objects.
	adminDo(t, c, http.MethodPut, "/config/apps/http/servers/srv/routes/0",
		`{"@id": "static-route", "match": [{"path": ["/static"]}], "handle": [{"@id": "static", "handler": "static_response", "body": "x"}]}`)
	adminDo(t, c, http.MethodPut, "/config/apps/http/servers/srv/routes/0",
		`{"match": [{"path": ["/dyn"]}], "handle": [{"@id": "dynamic", "handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:1"}],
		  "dynamic_upstreams": {"source": "a", "name": "localhost", "port": "8080"}}]}`)
	adminDo(t, c, http.MethodPut, "/config/apps/http/servers/srv/routes/0",
		`{"match": [{"path": ["/marked"]}], "handle": [{"@id": "marked", "handler": "reverse_proxy",
		  "upstreams": [{"dial": "127.0.0.1:1"}, {"@id": "bluegreen.marked.blue", "dial": "127.0.0.1:2"}]}]}`)
	before := adminDo(t, c, http.MethodGet, "/config/", "")
	closed, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		admin   string
		id      string
		wantErr error  // besides ErrPreflight
		want    string // in the message
	}{
		{name: "ok", admin: c.Admin, id: c.ID},
		{name: "nothing listens", admin: fmt.Sprintf("http://127.0.0.1:%d", closed), id: c.ID,
			wantErr: ErrAdmin, want: "caddy.admin http://127.0.0.1:%d: Caddy's admin API does not answer"},
		{name: "the proxy's port, not the admin API's", admin: c.URL, id: c.ID,
			wantErr: ErrAdmin, want: "502 Bad Gateway"},
		{name: "no such id", admin: c.Admin, id: "nope",
			wantErr: ErrNoHandler, want: `caddy.id nope: Caddy's config (admin API ` + c.Admin + `) has no object with "@id": "nope"`},
		{name: "not a reverse_proxy handler", admin: c.Admin, id: "static",
			wantErr: ErrNoHandler, want: `caddy.id static names a "static_response" handler, not a reverse_proxy handler`},
		{name: "not a handler", admin: c.Admin, id: "static-route",
			wantErr: ErrNoHandler, want: `caddy.id static-route names an object that is not a handler`},
		{name: "dynamic upstreams", admin: c.Admin, id: "dynamic",
			wantErr: ErrNoHandler, want: "dynamic_upstreams"},
		{name: "markers edited by hand", admin: c.Admin, id: "marked",
			wantErr: ErrUnmanaged, want: `the upstreams hold the markers ["bluegreen.marked.blue"]`},
		{name: "id with a slash", admin: c.Admin, id: "web/upstreams",
			wantErr: bluegreen.ErrBadInput, want: `caddy.id "web/upstreams": want`},
		{name: "empty id", admin: c.Admin, id: "",
			wantErr: bluegreen.ErrBadInput, want: `caddy.id ""`},
		{name: "admin not http", admin: "unix//run/caddy/admin.sock", id: c.ID,
			wantErr: bluegreen.ErrBadInput, want: "want an http:// or https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := &Switcher{Admin: tc.admin, ID: tc.id}
			err := sw.Preflight(t.Context())
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Preflight: %v", err)
				}
				return
			}
			want := tc.want
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, closed)
			}
			if !errors.Is(err, ErrPreflight) || !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Preflight: %v\nwant an error wrapping ErrPreflight and %v, saying %q", err, tc.wantErr, want)
			}
			if !strings.HasPrefix(err.Error(), "caddy preflight failed: ") || strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("Preflight error is not one line starting with %q: %q", "caddy preflight failed: ", err)
			}
			t.Logf("%v", err)
		})
	}
	if after := adminDo(t, c, http.MethodGet, "/config/", ""); after != before {
		t.Errorf("Preflight changed Caddy's config:\nbefore %s\nafter  %s", before, after)
	}
}
