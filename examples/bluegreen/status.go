package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

func newStatusCommand(opts *globalOptions, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show which slot takes traffic, what runs in each slot, the shared services and recent releases",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, closeEngine, err := opts.readOnlyDeployer(cmd.Context(), cmd.ErrOrStderr())
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
			return printStatus(stdout, st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: {\"project\": ..., \"active\": \"blue\"|\"green\"|\"\", \"slots\": [...], ...}")
	return cmd
}

func printStatus(w io.Writer, st *bluegreen.Status) error {
	fmt.Fprintf(w, "project %s, live slot: %s\n", st.Project, st.Active)
	for _, warning := range st.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	if h := st.Deploying; h != nil {
		what := "a deploy, rollback, switch or down of the project"
		if rel := st.RunningRelease(); rel != nil {
			what = fmt.Sprintf("a %s (release %d)", rel.Kind, rel.ID)
		}
		fmt.Fprintf(w, "%s runs now", what)
		if h.PID != 0 {
			fmt.Fprintf(w, ": pid %d on %s since %s", h.PID, h.Host, h.Since.Local().Format("2006-01-02 15:04:05"))
		}
		fmt.Fprintln(w)
	}
	if c := st.Canary; c != nil {
		fmt.Fprintf(w, "canary: %s takes %d%% of new requests, %s %d%%", c.Slot, c.Percent, st.Active, 100-c.Percent)
		switch p := c.Progress; {
		case p != nil:
			fmt.Fprintf(w, "; %s", p)
		case st.Deploying == nil:
			fmt.Fprint(w, "; no deploy runs it (killed?): the next deploy sends all traffic to "+st.Active.String())
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tLIVE\tPORT\tSTATE\tHEALTH\tRELEASE\tSINCE")
	for _, s := range st.Slots {
		live, release, since := "", "-", "-"
		if s.Live {
			live = "yes"
		}
		if r := s.Release; r != nil {
			release = fmt.Sprintf("%d %s", r.ID, describeImages(r.Images))
			since = r.Finished.Local().Format("2006-01-02 15:04:05")
		}
		port := fmt.Sprint(s.Port)
		if s.Replicas > 1 {
			port = fmt.Sprintf("%d-%d", s.Port, s.Port+s.Replicas-1)
		}
		state, health := summarize(s.Containers)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Slot, live, port, state, health, release, since)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(st.Shared) > 0 {
		fmt.Fprintln(w, "\nshared services:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tCONTAINER\tIMAGE\tSTATE\tHEALTH")
		for _, c := range st.Shared {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Service, c.Name, c.Image, c.State, dash(c.Health))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if st.HistoryError != "" {
		fmt.Fprintf(w, "\nhistory: %s\n", st.HistoryError)
	}
	if len(st.History) > 0 {
		fmt.Fprintln(w, "\nrecent releases:")
		return printHistory(w, st.History)
	}
	return nil
}

// summarize gives one state and one health for a slot's containers: the
// worst of them, with their number when there are several, or "-" when
// there are none.
func summarize(cs []bluegreen.ContainerStatus) (state, health string) {
	if len(cs) == 0 {
		return "-", "-"
	}
	state, health = "running", "-"
	for _, c := range cs {
		if c.State != "running" {
			state = c.State
		}
		if c.Health != "" && (health == "-" || c.Health != "healthy") {
			health = c.Health
		}
	}
	if len(cs) > 1 {
		state = fmt.Sprintf("%s (%d containers)", state, len(cs))
	}
	return state, health
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
