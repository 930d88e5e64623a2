package main

import (
	"context"
	"encoding/json"
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
	cmd := rolloutCommand(opts, stdout, stderr, &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the project's new release to the idle slot and switch traffic to it",
		Args:  noArgs,
	}, func(ctx context.Context, d *bluegreen.Deployer, _ []string) (*bluegreen.Report, error) {
		return d.Deploy(ctx)
	})
	var dryRun bool
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only check, changing nothing, what the deploy checks before it starts (as the check command)")
	deploy := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if dryRun {
			asJSON, _ := cmd.Flags().GetBool("json")
			return runCheck(cmd, opts, stdout, asJSON)
		}
		return deploy(cmd, args)
	}
	return cmd
}

func newRollbackCommand(opts *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	return rolloutCommand(opts, stdout, stderr, &cobra.Command{
		Use:   "rollback",
		Short: "Send traffic back to the previous release (kept stopped, or deployed again from the history)",
		Args:  noArgs,
	}, func(ctx context.Context, d *bluegreen.Deployer, _ []string) (*bluegreen.Report, error) {
		return d.Rollback(ctx)
	})
}

func newSwitchCommand(opts *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	return rolloutCommand(opts, stdout, stderr, &cobra.Command{
		Use:   "switch blue|green",
		Short: "Route traffic to the idle slot's release (started again when it was kept stopped), as a rollback does",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &usageError{fmt.Errorf("switch takes one slot, blue or green")}
			}
			if _, err := bluegreen.ParseSlot(args[0]); err != nil || args[0] == "" || args[0] == "none" {
				return &usageError{fmt.Errorf("unknown slot %q: want blue or green", args[0])}
			}
			return nil
		},
	}, func(ctx context.Context, d *bluegreen.Deployer, args []string) (*bluegreen.Report, error) {
		slot, _ := bluegreen.ParseSlot(args[0])
		return d.SwitchTo(ctx, slot)
	})
}

// rolloutCommand completes deploy, rollback and switch, which differ only in
// what they call: flags, progress output and the result line.
func rolloutCommand(opts *globalOptions, stdout, stderr io.Writer, cmd *cobra.Command,
	do func(context.Context, *bluegreen.Deployer, []string) (*bluegreen.Report, error)) *cobra.Command {
	var waitLock, asJSON, quiet bool
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		mode := outputLines
		switch {
		case asJSON && quiet:
			return &usageError{fmt.Errorf("--json and --quiet exclude each other")}
		case asJSON:
			mode = outputJSON
		case quiet:
			mode = outputQuiet
		}
		d, closeEngine, err := opts.deployer(cmd.Context(), stderr)
		if err != nil {
			return err
		}
		defer closeEngine()
		d.WaitLock = waitLock
		d.OnEvent = newProgressPrinter(stdout, mode).event
		report, err := do(cmd.Context(), d, args)
		if err != nil {
			return err
		}
		if mode == outputJSON {
			return json.NewEncoder(stdout).Encode(map[string]any{
				"phase": "result", "command": cmd.Name(), "project": report.Project,
				"release": report.Release.ID, "images": report.Release.Images,
				"slot": report.To, "previous": report.From, "elapsed_ms": report.Elapsed.Milliseconds(),
				"of": report.Release.Of,
			})
		}
		what := describeImages(report.Release.Images)
		if report.Release.Of != 0 {
			what = fmt.Sprintf("release %d's %s", report.Release.Of, what)
		}
		fmt.Fprintf(stdout, "%s: release %d (%s) is live in %s after %s (previous slot: %s)\n",
			cmd.Name(), report.Release.ID, what, report.To,
			report.Elapsed.Round(time.Millisecond), report.From)
		return nil
	}
	cmd.Flags().BoolVar(&waitLock, "wait-lock", false, "wait for another deploy of the project to end instead of failing at once")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per event, and the result, on stdout")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the result line (and errors on stderr)")
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
