package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"
	"slices"

	"github.com/spf13/cobra"
)

// buildVersion is what the binary knows of its own build: the module
// version ("(devel)" when built from a working tree), the commit, and the
// versions of Go and of compose, as the Go toolchain recorded them.
type buildVersion struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Compose  string `json:"compose"`
}

const composeModule = "github.com/docker/compose/v2"

func readBuildVersion() buildVersion {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return buildVersion{Version: "unknown", Compose: "unknown", Go: "unknown"}
	}
	v := buildVersion{Module: info.Main.Path, Version: info.Main.Version, Go: info.GoVersion, Compose: "unknown"}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if i := slices.IndexFunc(info.Deps, func(m *debug.Module) bool { return m.Path == composeModule }); i >= 0 {
		v.Compose = info.Deps[i].Version
	}
	return v
}

func newVersionCommand(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of bluegreen, its commit, and the versions of Go and compose it was built with",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			v := readBuildVersion()
			if asJSON {
				return json.NewEncoder(stdout).Encode(v)
			}
			commit := v.Commit
			switch {
			case commit == "":
				commit = "unknown"
			case v.Modified:
				commit += " (with uncommitted changes)"
			}
			fmt.Fprintf(stdout, "bluegreen %s\n  module:  %s\n  commit:  %s\n  go:      %s\n  compose: %s\n", v.Version, v.Module, commit, v.Go, v.Compose)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
