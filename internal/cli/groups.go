package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
	"github.com/hush-chat/hush/internal/textsafe"
)

// newGroupCmd is `hush group …`: groups and rooms. Messages to a group go
// through `hush send '#name' text` and `hush chat '#name'`.
func newGroupCmd(pf *profileFlags) *cobra.Command {
	g := &cobra.Command{Use: "group", Short: "Create and manage groups and rooms"}
	g.AddCommand(newGroupCreateCmd(pf), newGroupListCmd(pf), newGroupInfoCmd(pf),
		groupMemberCmd(pf, "add", "Add a member (admins)", (*hush.Client).AddMember),
		groupMemberCmd(pf, "remove", "Remove a member (admins); the others start new keys", (*hush.Client).RemoveMember),
		groupMemberCmd(pf, "promote", "Make a member an admin (admins)", (*hush.Client).PromoteMember),
		groupMemberCmd(pf, "approve", "Approve a request to join (admins of request rooms)", (*hush.Client).ApproveJoin),
		newGroupResyncCmd(pf), newGroupRejectCmd(pf), newGroupLeaveCmd(pf), newGroupRequestCmd(pf), newGroupRequestsCmd(pf),
		newGroupPublicCmd(pf), newGroupJoinCmd(pf)) // group_public.go
	return g
}

func parseGroupType(s string) (hush.GroupType, error) {
	t, err := hush.ParseGroupType(s)
	if err != nil {
		return 0, usageError{err}
	}
	return t, nil
}

func newGroupCreateCmd(pf *profileFlags) *cobra.Command {
	var typ string
	c := &cobra.Command{
		Use:   "create <name> [members…]",
		Short: "Create a group with you as its admin",
		Args:  cobra.MinimumNArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			t, err := parseGroupType(typ)
			if err != nil {
				return err
			}
			gi, err := cl.CreateGroup(c.Context(), args[0], t, args[1:])
			if gi != nil {
				fmt.Fprintf(c.OutOrStdout(), "created #%s (%s, %d members, id %s)\n", textsafe.Line(gi.Name), gi.Type, len(gi.Members), gi.ID)
			}
			return changeQueued(c, err, args[0], cl.Username())
		}),
	}
	c.Flags().StringVar(&typ, "type", "private", "private (invite only), request (admins approve) or public")
	return c
}

func printGroup(c *cobra.Command, gi *hush.GroupInfo) {
	w := c.OutOrStdout()
	fmt.Fprintf(w, "#%s\t%s\tversion %d\tid %s\n", textsafe.Line(gi.Name), gi.Type, gi.Version, gi.ID)
	fmt.Fprintf(w, "state %s\n", gi.StateHash)
	for _, m := range gi.Members {
		role := "member"
		if m.Admin {
			role = "admin"
		}
		fmt.Fprintf(w, "  %s\t%s\t%d device(s)\t%s\t%s\n", textsafe.Line(m.Name), role, len(m.Devices), m.Fingerprint, m.KeyState)
	}
	for _, warn := range gi.Warnings {
		fmt.Fprintf(w, "WARNING: %s; compare safety numbers with them (hush verify <user>) and ask the group's admins which key they added\n", textsafe.Line(warn.Error()))
	}
}

func newGroupListCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List your groups",
		Args:  cobra.NoArgs,
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, _ []string) error {
			gs, err := cl.Groups(c.Context())
			for _, g := range gs {
				fmt.Fprintf(c.OutOrStdout(), "#%s\t%s\t%d members\n", textsafe.Line(g.Name), g.Type, len(g.Members))
			}
			return explain(err)
		}),
	}
}

func newGroupInfoCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "info <name>",
		Short: "Show a group's members and state",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			gi, err := cl.GroupInfo(c.Context(), args[0])
			if err != nil {
				return explain(err)
			}
			printGroup(c, gi)
			return nil
		}),
	}
}

func groupMemberCmd(pf *profileFlags, use, short string, fn func(*hush.Client, context.Context, string, string) (*hush.GroupInfo, error)) *cobra.Command {
	return &cobra.Command{
		Use:   use + " <name> <user>",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			gi, err := fn(cl, c.Context(), args[0], args[1])
			if gi != nil {
				fmt.Fprintf(c.OutOrStdout(), "#%s: %d members, version %d\n", textsafe.Line(gi.Name), len(gi.Members), gi.Version)
			}
			return changeQueued(c, err, args[0], args[1])
		}),
	}
}

// changeQueued reports a change that is made but whose messages to the
// members wait in the outbox: the command did its work, and the next
// hush command sends them.
func changeQueued(c *cobra.Command, err error, name, user string) error {
	var qe *hush.QueuedError
	if errors.As(err, &qe) {
		fmt.Fprintf(c.ErrOrStderr(), "hush: the change is made; telling the members waits (%v): hush sends it by itself on the next hush command (hush outbox lists what waits)\n", qe.Cause)
		return nil
	}
	return explainGroup(err, name, user)
}

func newGroupResyncCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "resync <name>",
		Short: "Bring the group up to date: ask its admins for missed changes; as an admin, send every member the recent changes again",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			gi, err := cl.ResyncGroup(c.Context(), args[0])
			if gi != nil {
				what := "asked the admins for changes after version"
				if gi.Admin {
					what = "sent the recent changes to the members; at version"
				}
				fmt.Fprintf(c.OutOrStdout(), "#%s: %s %d\n", textsafe.Line(gi.Name), what, gi.Version)
			}
			return changeQueued(c, err, args[0], cl.Username())
		}),
	}
}

// explainGroup turns a group change the rules refuse into a sentence
// about the group and the user it was about, with what to do instead.
func explainGroup(err error, name, user string) error {
	g := "#" + textsafe.Line(strings.TrimPrefix(name, "#"))
	user = textsafe.Line(user)
	switch {
	case errors.Is(err, hush.ErrSelfRemove):
		return fmt.Errorf("you cannot remove yourself from %s: to leave the group use hush group leave %s", g, g)
	case errors.Is(err, hush.ErrLastAdmin):
		return fmt.Errorf("you are the last admin of %s: make another member an admin first (hush group promote %s <user>), then leave", g, g)
	case errors.Is(err, hush.ErrLastMember):
		return fmt.Errorf("%s is the last member of %s and cannot be removed", user, g)
	case errors.Is(err, hush.ErrAlreadyMember):
		return fmt.Errorf("%s is already a member of %s", user, g)
	case errors.Is(err, hush.ErrNotMember):
		return fmt.Errorf("%s is not a member of %s", user, g)
	case errors.Is(err, hush.ErrAlreadyAdmin):
		return fmt.Errorf("%s is already an admin of %s", user, g)
	case errors.Is(err, hush.ErrGroupFull):
		return fmt.Errorf("%s is full: a group has at most %d members", g, hush.MaxGroupMembers)
	case errors.Is(err, hush.ErrGroupChangeInvalid):
		return fmt.Errorf("%s does not allow that change in its current state (hush group info %s shows it)", g, g)
	}
	return explain(err)
}

func newGroupRejectCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reject <name> <user>",
		Short: "Reject a request to join",
		Args:  cobra.ExactArgs(2),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			return explain(cl.RejectJoin(c.Context(), args[0], args[1]))
		}),
	}
}

func newGroupLeaveCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "leave <name>",
		Short: "Leave a group",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			return changeQueued(c, cl.LeaveGroup(c.Context(), args[0]), args[0], cl.Username())
		}),
	}
}

func newGroupRequestCmd(pf *profileFlags) *cobra.Command {
	var admin string
	c := &cobra.Command{
		Use:   "request <group-id> --admin <user>",
		Short: "Ask an admin of a request room to let you in (the admin shares the id from hush group info)",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			if admin == "" {
				return usageError{errors.New("--admin <user> is required")}
			}
			if err := cl.RequestJoin(c.Context(), strings.TrimPrefix(args[0], "#"), admin); err != nil {
				return explain(err)
			}
			fmt.Fprintf(c.OutOrStdout(), "asked %s\n", textsafe.Line(admin))
			return nil
		}),
	}
	c.Flags().StringVar(&admin, "admin", "", "the admin to ask")
	return c
}

func newGroupRequestsCmd(pf *profileFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "requests <name>",
		Short: "List pending requests to join (sync first)",
		Args:  cobra.ExactArgs(1),
		RunE: pf.with(func(c *cobra.Command, cl *hush.Client, args []string) error {
			us, err := cl.GroupRequests(c.Context(), args[0])
			for _, u := range us {
				fmt.Fprintln(c.OutOrStdout(), textsafe.Line(u))
			}
			return explain(err)
		}),
	}
}
