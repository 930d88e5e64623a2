package caddy

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
		{"as written", `{admin: "http://127.0.0.1:2020", id: web}`, Config{Admin: "http://127.0.0.1:2020", ID: "web"}},
		{"defaults", `{id: web}`, Config{Admin: DefaultAdmin, ID: "web"}},
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
		{"unknown key", `{idd: web}`, `x-bluegreen.caddy: unknown key "idd" (did you mean "id"?)`},
		{"unknown key, no near one", `{id: web, upstreams: [a]}`, `x-bluegreen.caddy: unknown key "upstreams" (known keys: admin, id)`},
		{"a number for a string", `{admin: 2019, id: web}`, `x-bluegreen.caddy.admin: want a string, got 2019`},
		{"not a mapping", `web`, `x-bluegreen.caddy: want a mapping of keys, got "web"`},
		{"a value that could inject", `{id: "web; rm"}`, "caddy"},
		{"missing key", `{admin: "http://127.0.0.1:2019"}`, "id: not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromProject(load(t, tc.section))
			if !errors.Is(err, bluegreen.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want bluegreen.ErrBadInput saying %q", err, tc.want)
			}
		})
	}
}
