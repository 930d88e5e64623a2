// Command bluegreen deploys a docker compose service with zero downtime, by
// the blue/green method, behind nginx, Caddy or HAProxy. It is a thin
// example over the bluegreen package and the proxy packages.
//
//	IMAGE_TAG=v2 bluegreen deploy -f compose.yaml -p shop
//	bluegreen status --json
//	bluegreen demo
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
	"github.com/bluegreen-dev/bluegreen/internal/xvalue"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // the deploy (or another command) failed; traffic is on a good release
	exitBadInput = 2 // bad flags, compose file or x-bluegreen: nothing was changed
	exitLocked   = 3 // another deploy of the project holds the lock: nothing was changed
)

func main() {
	// compose logs some warnings through logrus' global logger; this
	// command reports through its own lines instead.
	logrus.SetOutput(io.Discard)

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		// The deploy now cleans up (before the switch) or finishes (after
		// it). A second signal ends the process at once, which is as safe
		// as kill -9: the next deploy repairs what is left.
		signal.Stop(signals)
		fmt.Fprintln(os.Stderr, "bluegreen: interrupted; cleaning up (press Ctrl-C again to quit at once)")
		cancel()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(code)
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(pluginArgs(args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	err = unknownCommand(err)
	prefix := "bluegreen: "
	if cmd != nil && cmd != root {
		prefix = "bluegreen " + cmd.Name() + ": "
	}
	fmt.Fprintln(stderr, prefix+oneLine(describe(err)))
	switch {
	case errors.Is(err, bluegreen.ErrLocked):
		return exitLocked
	case errors.Is(err, bluegreen.ErrBadInput) || errors.As(err, new(*usageError)):
		return exitBadInput
	}
	return exitFailed
}

// describe names the failed step and the slot that is live after it.
func describe(err error) string {
	var se *bluegreen.StepError
	if !errors.As(err, &se) {
		return err.Error()
	}
	msg := fmt.Sprintf("failed at step %s", se.Step)
	if se.Slot != bluegreen.None {
		msg += fmt.Sprintf(" (%s)", se.Slot)
	}
	msg += ": " + se.Err.Error()
	if se.Cleanup != nil {
		msg += "; removing the failed release also failed: " + se.Cleanup.Error()
	}
	// Only what was read back from the proxy is said about traffic.
	traffic := "the proxy routes to no slot"
	switch {
	case se.LiveErr != nil:
		traffic = fmt.Sprintf("which slot takes traffic is not known: %v", se.LiveErr)
	case se.Live != bluegreen.None:
		traffic = fmt.Sprintf("traffic is on %s", se.Live)
	}
	if errors.Is(err, bluegreen.ErrBadInput) && se.Step == bluegreen.StepPrepare {
		traffic = "nothing was changed; " + traffic
	}
	msg += " [" + traffic + "]"
	return msg
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// usageError is a bad flag or argument.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// unknownCommand rewrites cobra's several-line error for an unknown
// command ("Did you mean this?" and a list) as one usage error.
func unknownCommand(err error) error {
	first, rest, _ := strings.Cut(err.Error(), "\n")
	if !strings.HasPrefix(first, "unknown command ") {
		return err
	}
	_, list, ok := strings.Cut(rest, "Did you mean this?")
	if near := strings.Fields(list); ok && len(near) > 0 {
		first += fmt.Sprintf(" (did you mean %s?)", strings.Join(near, " or "))
	}
	return &usageError{errors.New(first + "; run bluegreen --help for the commands")}
}

// flagError is a bad flag, with the nearest known flag when one is close
// and the command's usage line.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var known []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				known = append(known, f.Name)
			}
		})
		if near, ok := xvalue.Nearest(name, known); ok {
			msg += fmt.Sprintf(" (did you mean --%s?)", near)
		}
	}
	return &usageError{fmt.Errorf("%s; usage: %s", msg, cmd.UseLine())}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	var opts globalOptions
	root := &cobra.Command{
		Use:           "bluegreen",
		Short:         "Deploy a docker compose service with zero downtime (blue/green behind nginx, Caddy or HAProxy)",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(flagError)
	opts.install(root)
	root.AddCommand(
		newDeployCommand(&opts, stdout, stderr),
		newRollbackCommand(&opts, stdout, stderr),
		newStatusCommand(&opts, stdout),
		newHistoryCommand(&opts, stdout),
		newLogsCommand(&opts, stdout),
		newCheckCommand(&opts, stdout),
		newSwitchCommand(&opts, stdout, stderr),
		newDownCommand(&opts, stdout, stderr),
		newDemoCommand(stdout, stderr),
		newInitCommand(&opts, stdout),
		newVersionCommand(stdout),
		newPluginMetadataCommand(stdout, root.Short),
	)
	return root
}
