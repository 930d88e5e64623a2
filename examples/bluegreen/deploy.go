package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

func newDeployCommand(opts *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	return rolloutCommand(opts, stdout, stderr, "deploy",
		"Deploy the project's new release to the idle slot and switch traffic to it",
		(*bluegreen.Deployer).Deploy)
}

func newRollbackCommand(opts *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	return rolloutCommand(opts, stdout, stderr, "rollback",
		"Send traffic back to the previous release (kept stopped, or deployed again from the history)",
		(*bluegreen.Deployer).Rollback)
}

// rolloutCommand makes deploy and rollback, which differ only in what they
// call.
func rolloutCommand(opts *globalOptions, stdout, stderr io.Writer, use, short string,
	do func(*bluegreen.Deployer, context.Context) (*bluegreen.Report, error)) *cobra.Command {
	var waitLock bool
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, closeEngine, err := opts.deployer(cmd.Context(), stderr)
			if err != nil {
				return err
			}
			defer closeEngine()
			d.WaitLock = waitLock
			d.OnEvent = newProgressPrinter(stdout).event
			report, err := do(d, cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: release %d (%s) is live in %s after %s (previous slot: %s)\n",
				use, report.Release.ID, describeImages(report.Release.Images), report.To,
				report.Elapsed.Round(time.Millisecond), report.From)
			return nil
		},
	}
	cmd.Flags().BoolVar(&waitLock, "wait-lock", false, "wait for another deploy of the project to end instead of failing at once")
	return cmd
}

func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}

// describeImages lists service=image pairs in a stable order.
func describeImages(images map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(images)) {
		parts = append(parts, name+"="+images[name])
	}
	return strings.Join(parts, " ")
}
