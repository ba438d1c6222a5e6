// Package cli implements the hush command line: one cobra command tree
// whose subcommands call into the library packages. Main returns an exit
// code instead of exiting, so tests can run the whole CLI in process.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hush-chat/hush"
)

// Main runs the hush command line with args and returns the process exit
// code. Errors are printed as one line on stderr, never as a stack trace.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		var st exitStatus
		if errors.As(err, &st) {
			return int(st)
		}
		fmt.Fprintln(stderr, "hush:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		if errors.Is(err, hush.ErrQueued) {
			return ExitQueued
		}
		return 1
	}
	return 0
}

// ExitQueued is the exit code of a send whose message is stored and
// queued but not yet accepted by the server (sysexits' EX_TEMPFAIL): it
// is retried by the next send, sync or listen, so a script must not send
// it again.
const ExitQueued = 75

// exitStatus is a failure the command has already reported on stderr:
// Main exits with this status and prints nothing more.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// usageError marks mistakes in how a command was called (exit code 2).
type usageError struct{ error }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "hush",
		Short: "End-to-end encrypted messaging: client, server and library in one binary",
		Long: `hush is end-to-end encrypted messaging that a team self-hosts with one binary.
The server sees only ciphertext; the client holds the keys.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCmd(), newBenchCmd(), newServerCmd())
	addClientCommands(root)
	return root
}
