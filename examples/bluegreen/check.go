package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newCheckCommand(opts *globalOptions, stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check, changing nothing, everything a deploy checks before it starts; exit 0 only when it could start",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd, opts, stdout, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, `print JSON: [{"name": ..., "ok": true|false, "detail": ...}, ...]`)
	return cmd
}

// runCheck prints the checklist of a deploy of the file's release; check
// and deploy --dry-run run it.
func runCheck(cmd *cobra.Command, opts *globalOptions, stdout io.Writer, asJSON bool) error {
	d, closeEngine, err := opts.deployer(cmd.Context(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer closeEngine()
	items, err := d.Check(cmd.Context())
	if asJSON {
		if jerr := json.NewEncoder(stdout).Encode(items); jerr != nil {
			return jerr
		}
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, item := range items {
		mark := "ok"
		if !item.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", mark, item.Name, oneLine(item.Detail))
	}
	if ferr := tw.Flush(); ferr != nil {
		return ferr
	}
	if err == nil {
		fmt.Fprintln(stdout, "a deploy could start; nothing was changed")
	}
	return err
}
