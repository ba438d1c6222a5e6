// Package tui is the terminal chat screen behind `hush chat <user>`.
//
// It shows one conversation: a header naming both users and whether the
// peer's safety number was verified, the scrollable history with each
// outgoing message's delivery state, warnings (such as an identity-key
// change) in their own style, and an input line. It talks to the rest of
// hush only through the Backend interface, so it never sees keys, sessions
// or the network.
//
// Message text is written to the screen and nowhere else: the package logs
// nothing, and the errors Run returns never carry message text. Everything
// that came from outside (the peer's text and name, warnings, error
// strings) is stripped of terminal control sequences before it is drawn, so
// a peer cannot rewrite the user's terminal by sending escape codes.
package tui

import (
	"context"
	"time"
)

// Message states, as Message.State holds them.
const (
	StateSending  = "sending"  // outgoing, Send has not returned yet
	StateSent     = "sent"     // outgoing, accepted by the relay or broker
	StateFailed   = "failed"   // outgoing, refused or not delivered
	StateReceived = "received" // incoming
)

// Message is one message of the conversation as the screen shows it.
type Message struct {
	ID       string // unique per message; used to merge history and live events
	From     string // sender username
	Text     string
	At       time.Time // when it was sent
	Outgoing bool
	State    string // one of the State constants
}

// Event is what the backend reports while the chat is open: a new incoming
// message, or a warning for the user (for example that the peer's identity
// key changed and nothing is sent until it is accepted).
type Event struct {
	Message *Message
	Warning string
}

// Backend is everything the chat screen needs from a hush client, for one
// conversation between Self and Peer. Its methods are called from
// goroutines other than the one that draws the screen.
type Backend interface {
	Self() string
	Peer() string
	// History returns the last limit messages, oldest first.
	History(ctx context.Context, limit int) ([]Message, error)
	// Send encrypts and sends text to the peer. It may take a moment; it
	// returns the stored message with its state (StateSent or StateFailed).
	Send(ctx context.Context, text string) (Message, error)
	// Events delivers live incoming messages and warnings; it is closed
	// when the backend stops.
	Events() <-chan Event
	// SafetyNumber is the number both users compare to verify each other.
	SafetyNumber(ctx context.Context) (string, error)
}

// Verifier is optionally implemented by a Backend that knows whether the
// user has marked the peer's safety number as verified. Without it the
// header only suggests /safety.
type Verifier interface {
	Verified(ctx context.Context) (bool, error)
}
