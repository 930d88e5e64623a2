package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

func newDeployCommand(opts *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the project's new release to the idle slot and switch traffic to it",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := opts.deployer(cmd.Context(), stderr)
			if err != nil {
				return err
			}
			d.OnEvent = newProgressPrinter(stdout).event
			report, err := d.Deploy(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "deployed %s to %s in %s (previous: %s)\n",
				report.Project, report.To, report.Elapsed.Round(time.Millisecond), report.From)
			return nil
		},
	}
}

func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Errorf("unexpected argument %q", args[0])}
	}
	return nil
}
