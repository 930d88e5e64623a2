package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/bluegreen-dev/bluegreen/bluegreen"
)

func newLogsCommand(opts *globalOptions, stdout io.Writer) *cobra.Command {
	var o bluegreen.LogOptions
	cmd := &cobra.Command{
		Use:   "logs [blue|green] [SERVICE...]",
		Short: "Print the container logs of a slot (the live one when none is named); --follow follows them",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				if slot, err := bluegreen.ParseSlot(args[0]); err == nil && slot != bluegreen.None {
					o.Slot, args = slot, args[1:]
				}
			}
			o.Services = args
			d, closeEngine, err := opts.readOnlyDeployer(cmd.Context(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeEngine()
			// Each line starts with its container's name, which names the slot.
			_, err = d.Logs(cmd.Context(), stdout, o)
			return err
		},
	}
	// -f is --file, as everywhere in the CLI.
	cmd.Flags().BoolVar(&o.Follow, "follow", false, "follow the logs until interrupted")
	cmd.Flags().IntVarP(&o.Tail, "tail", "n", 0, "only the last N lines of each container (0: all)")
	cmd.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "put the engine's timestamp before each line")
	return cmd
}
