package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newDownCommand(opts *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	var volumes bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove both slots and the shared services (named volumes only with --volumes)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, closeEngine, err := opts.readOnlyDeployer(cmd.Context(), stderr)
			if err != nil {
				return err
			}
			defer closeEngine()
			if err := d.Down(cmd.Context(), volumes); err != nil {
				return fmt.Errorf("down: %w", err)
			}
			what := "both slots and the shared services removed; named volumes kept"
			if volumes {
				what = "both slots, the shared services and the named volumes removed"
			}
			fmt.Fprintf(stdout, "%s: %s\n", d.Project.Name(), what)
			return nil
		},
	}
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also remove the named volumes (their data is lost)")
	return cmd
}
