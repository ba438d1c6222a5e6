package tui

import (
	"context"
	"fmt"
	"io"

	tea "charm.land/bubbletea/v2"
)

// Run shows the chat with b's peer on the terminal behind in and out
// (normally os.Stdin and os.Stdout; nil means those) until the user quits
// with ctrl+c, esc or /quit, or ctx ends. A user's quit returns nil; the
// end of ctx returns its error.
func Run(ctx context.Context, b Backend, in io.Reader, out io.Writer) error {
	return run(ctx, b, in, out)
}

// run is Run with extra program options, for tests that need a fixed
// terminal environment.
func run(parent context.Context, b Backend, in io.Reader, out io.Writer, opts ...tea.ProgramOption) error {
	// Cancelling on return ends the event wait and any send in flight.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()

	var all []tea.ProgramOption
	if in != nil {
		all = append(all, tea.WithInput(in))
	}
	if out != nil {
		all = append(all, tea.WithOutput(out))
	}
	p := tea.NewProgram(newModel(ctx, b), append(all, opts...)...)

	// The end of ctx asks the program to quit rather than killing it: a
	// quit restores the terminal after the input reader has stopped.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-parent.Done():
			p.Quit()
		case <-finished:
		}
	}()

	_, err := p.Run()
	if err == nil {
		err = parent.Err()
	}
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}
