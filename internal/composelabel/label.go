// Package composelabel labels the services of a compose project as the
// compose CLI does: compose's Go API (pkg/compose) does not, and without the
// labels it finds none of the project's containers. The bluegreen package
// labels its projects with it; the benchmark labels its own.
package composelabel

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v2/pkg/api"
)

// Services sets compose's labels on every service of p.
func Services(p *types.Project) {
	for name, svc := range p.Services {
		svc.CustomLabels = map[string]string{
			api.ProjectLabel:     p.Name,
			api.ServiceLabel:     name,
			api.VersionLabel:     api.ComposeVersion,
			api.WorkingDirLabel:  p.WorkingDir,
			api.ConfigFilesLabel: strings.Join(p.ComposeFiles, ","),
			api.OneoffLabel:      "False",
		}
		p.Services[name] = svc
	}
}
