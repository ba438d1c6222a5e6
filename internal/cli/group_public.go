package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/textsafe"
)

// newGroupPublicCmd lists the public rooms the server knows.
func newGroupPublicCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "public",
		Short: "List the public rooms",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			rs, err := cl.PublicRooms(c.Context())
			for _, r := range rs {
				fmt.Fprintf(c.OutOrStdout(), "#%s\t%d members\tversion %d\tid %s\n", textsafe.Line(r.Name), r.Members, r.Version, r.ID)
			}
			return explain(err)
		}),
	}
}

// newGroupJoinCmd joins a public room without approval.
func newGroupJoinCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "join <id|name>",
		Short: "Join a public room (no approval needed)",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			gi, err := cl.JoinPublic(c.Context(), args[0])
			if gi != nil {
				printGroup(c, gi)
			}
			return explain(err)
		}),
	}
}
