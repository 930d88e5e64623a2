package haproxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/testutil"
)

func load(t *testing.T, section string) *bluegreen.Project {
	t.Helper()
	return testutil.ProjectWithSection(t, SectionKey, section)
}

func TestConfigFromProject(t *testing.T) {
	for _, tc := range []struct {
		name, section string
		want          Config
	}{
		{"as written", `{socket: /run/haproxy/admin.sock, backend: web}`, Config{Socket: "/run/haproxy/admin.sock", Backend: "web"}},
		{"defaults", `{socket: "ipv4@127.0.0.1:9999", backend: web}`, Config{Socket: "ipv4@127.0.0.1:9999", Backend: "web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromProject(load(t, tc.section))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ConfigFromProject (-want +got):\n%s", diff)
			}
			if sw, err := FromProject(load(t, tc.section), nil); err != nil || sw == nil {
				t.Errorf("FromProject = %v, %v", sw, err)
			}
		})
	}
}

func TestConfigFromProjectBadInput(t *testing.T) {
	for _, tc := range []struct{ name, section, want string }{
		{"unknown key", `{idd: web}`, `x-bluegreen.haproxy: unknown key "idd" (known keys: backend, socket)`},
		{"misspelt key", `{sockte: /run/haproxy/admin.sock, backend: web}`, `x-bluegreen.haproxy: unknown key "sockte" (did you mean "socket"?)`},
		{"a list for a string", `{socket: /run/haproxy/admin.sock, backend: [web]}`, `x-bluegreen.haproxy.backend: want a string, got a list`},
		{"a value that could inject", `{socket: /run/haproxy/admin.sock, backend: "web;disable"}`, "haproxy.backend"},
		{"missing key", `{backend: web}`, "socket and backend are both required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromProject(load(t, tc.section))
			if !errors.Is(err, bluegreen.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want bluegreen.ErrBadInput saying %q", err, tc.want)
			}
		})
	}
}
