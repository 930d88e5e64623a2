package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

func newHistoryCommand(opts *globalOptions, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the project's releases: slot, images, start, duration, outcome and reason",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := opts.open(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			d := &bluegreen.Deployer{Project: p}
			releases, err := d.History()
			if err != nil {
				return fmt.Errorf("history: %w", err)
			}
			for i := range releases {
				releases[i].Env = nil // the values may be secrets; the state file keeps them
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(releases)
			}
			return printHistory(stdout, releases)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the releases as JSON")
	return cmd
}

func printHistory(w io.Writer, releases []bluegreen.Release) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSLOT\tIMAGES\tSTARTED\tTOOK\tOUTCOME\tREASON")
	for _, r := range releases {
		took := "-"
		if !r.Finished.IsZero() {
			took = r.Finished.Sub(r.Started).Round(100 * time.Millisecond).String()
		}
		reason := r.Reason
		if r.Step != "" {
			reason = fmt.Sprintf("at %s: %s", r.Step, reason)
		}
		if len(reason) > 120 {
			reason = reason[:117] + "..."
		}
		kind := r.Kind
		if r.Of != 0 {
			kind = fmt.Sprintf("%s to %d", r.Kind, r.Of)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, kind, r.Slot, describeImages(r.Images),
			r.Started.Local().Format("2006-01-02 15:04:05"), took, r.Outcome, oneLine(reason))
	}
	return tw.Flush()
}
