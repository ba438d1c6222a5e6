package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the hush release; release builds set it with
// -ldflags "-X github.com/hush-chat/hush/internal/cli.Version=v1.2.3".
var Version = "v0.1.0-dev"

// ProtocolVersion is the version of doc/SPEC.md this build speaks.
const ProtocolVersion = 1

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the hush version, protocol version and build details",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			rev := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(c.OutOrStdout(), "hush %s (protocol %d, %s %s/%s, revision %s)\n",
				Version, ProtocolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, rev)
			return nil
		},
	}
}
