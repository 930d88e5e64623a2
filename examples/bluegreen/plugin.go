package main

import (
	"encoding/json"
	"io"
	"os"
	"slices"

	"github.com/spf13/cobra"
)

// The docker CLI's plugin protocol: a binary named docker-bluegreen in a
// cli-plugins directory (~/.docker/cli-plugins) answers the metadata
// subcommand, and `docker bluegreen ARGS` runs it with docker's own
// arguments (docker's options, the plugin's name, then ARGS) and with
// pluginEnv set.
const (
	pluginName        = "bluegreen"
	pluginMetadataCmd = "docker-cli-plugin-metadata"
	pluginEnv         = "DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND"
)

// pluginMetadata is what the docker CLI reads of a plugin.
type pluginMetadata struct {
	SchemaVersion    string
	Vendor           string
	Version          string `json:",omitempty"`
	ShortDescription string `json:",omitempty"`
	URL              string `json:",omitempty"`
}

func newPluginMetadataCommand(stdout io.Writer, short string) *cobra.Command {
	return &cobra.Command{
		Use:    pluginMetadataCmd,
		Hidden: true,
		Args:   noArgs,
		RunE: func(*cobra.Command, []string) error {
			return json.NewEncoder(stdout).Encode(pluginMetadata{
				SchemaVersion: "0.1.0", Vendor: "bluegreen", Version: readBuildVersion().Version,
				ShortDescription: short, URL: "https://github.com/bluegreen-dev/bluegreen",
			})
		},
	}
}

// pluginArgs returns the arguments meant for bluegreen: when the docker CLI
// runs it as a plugin, those after the plugin's name, with docker's
// -H/--host carried over (docker's other options are its own).
func pluginArgs(args []string) []string {
	if os.Getenv(pluginEnv) == "" {
		return args
	}
	i := slices.Index(args, pluginName)
	if i < 0 {
		return args
	}
	rest := slices.Clone(args[i+1:])
	for j := 0; j < i; j++ {
		switch a := args[j]; {
		case (a == "-H" || a == "--host") && j+1 < i:
			rest = append(rest, "--host", args[j+1])
			j++
		case len(a) > len("--host=") && a[:len("--host=")] == "--host=":
			rest = append(rest, a)
		}
	}
	return rest
}
