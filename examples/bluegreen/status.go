package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newStatusCommand(opts *globalOptions, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which slot takes traffic and what runs in each slot",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, closeEngine, err := opts.deployer(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeEngine()
			st, err := d.Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			fmt.Fprintf(stdout, "project %s, live slot: %s\n", st.Project, st.Active)
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SLOT\tPORT\tLIVE\tCONTAINER\tIMAGE\tSTATE")
			for _, s := range st.Slots {
				live := ""
				if s.Live {
					live = "yes"
				}
				if len(s.Containers) == 0 {
					fmt.Fprintf(tw, "%s\t%d\t%s\t-\t-\t-\n", s.Slot, s.Port, live)
				}
				for _, c := range s.Containers {
					state := c.State
					if c.Health != "" {
						state += " (" + c.Health + ")"
					}
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", s.Slot, s.Port, live, c.Name, c.Image, state)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(st.History) > 0 {
				fmt.Fprintln(stdout, "\nrecent releases:")
				return printHistory(stdout, st.History)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"project\": ..., \"active\": \"blue\"|\"green\"|\"\", \"slots\": [...]}")
	return cmd
}
