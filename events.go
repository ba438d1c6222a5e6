package hush

import (
	"context"
	"errors"
	"iter"
)

// EventKind says what an Event reports; a receive loop switches on it.
type EventKind int

// Event kinds. Each names the field of Event that carries it.
const (
	// EventMessage: a new incoming text or data message (Message; its
	// Data is set for data).
	EventMessage EventKind = iota + 1
	// EventFileOffered: a new incoming file message (Message, with its
	// Attachment); Download or DownloadTo fetches it.
	EventFileOffered
	// EventDelivery: an outgoing message changed state in the background
	// (Sent): the server accepted it after a retry (StateSent) or refused
	// it for good (StateFailed, with Err matching ErrSendRefused).
	EventDelivery
	// EventGroupChanged: a group's state changed (Group): created,
	// renamed, a member promoted or its devices changed.
	EventGroupChanged
	// EventMemberJoined: someone joined a group (Group: added, approved
	// or joined a public room).
	EventMemberJoined
	// EventMemberLeft: someone left a group or was removed (Group).
	EventMemberLeft
	// EventJoinRequest: someone asks to join a request room this user
	// administers (Group); ApproveJoin or RejectJoin answers.
	EventJoinRequest
	// EventIdentityChanged: a message from a contact whose identity key
	// changed was held unread (Held); it is delivered once the user
	// accepts the new key (AcceptIdentity).
	EventIdentityChanged
	// EventRefused: an incoming envelope was refused for good and
	// acknowledged (Err matches ErrRefused; errors.Unwrap gives why). When
	// it was a message this device could not read, Err is a
	// *SessionResetError: the sender was asked to send it again.
	EventRefused
	// EventSessionReset: a contact's device could not read this device's
	// messages; a new session was started and they were sent again (Err
	// is a *SessionResetError).
	EventSessionReset
	// EventWarning: a problem that stopped nothing (Err): group material
	// held until what it depends on arrives (ErrGroupHeld), a member key
	// that differs from the pinned one (ErrGroupKeyDiffers), prekeys
	// fetched too fast (ErrPreKeysDraining), a retry that failed.
	EventWarning
	// EventDevicesChanged: a contact linked or removed a device, or the
	// directory served a device list the client did not take (Devices).
	EventDevicesChanged
)

var eventKindNames = [...]string{EventMessage: "message", EventFileOffered: "file offered", EventDelivery: "delivery",
	EventGroupChanged: "group changed", EventMemberJoined: "member joined", EventMemberLeft: "member left",
	EventJoinRequest: "join request", EventIdentityChanged: "identity changed", EventRefused: "refused",
	EventSessionReset: "session reset", EventWarning: "warning", EventDevicesChanged: "devices changed"}

func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return "unknown"
}

// kind classifies an event by the fields set.
func (e *Event) kind() EventKind {
	var se *SessionResetError
	switch {
	case e.Message != nil && e.Message.Attachment != nil && !e.Message.Attachment.Memo:
		return EventFileOffered
	case e.Message != nil:
		return EventMessage
	case e.Sent != nil:
		return EventDelivery
	case e.Held != nil:
		return EventIdentityChanged
	case e.Devices != nil:
		return EventDevicesChanged
	case e.Group != nil:
		switch e.Group.Kind {
		case GroupAdded, GroupApproved, GroupJoined:
			return EventMemberJoined
		case GroupRemoved, GroupLeft:
			return EventMemberLeft
		case GroupJoinRequest:
			return EventJoinRequest
		}
		return EventGroupChanged
	case errors.As(e.Err, &se) && !se.Asked:
		return EventSessionReset
	case errors.Is(e.Err, ErrRefused):
		return EventRefused
	}
	return EventWarning
}

// typed returns fn with every event's Kind set (nil stays nil).
func typed(fn func(Event)) func(Event) {
	if fn == nil {
		return nil
	}
	return func(e Event) {
		if e.Kind == 0 {
			e.Kind = e.kind()
		}
		fn(e)
	}
}

// Events receives live, as Listen does, and yields every event until ctx
// is done or the loop's body stops: a range over it is the receive loop.
//
//	for ev, err := range c.Events(ctx) {
//		if err != nil {
//			return err // the receive loop stopped (ErrProfileBusy, ErrAccountDeleted…)
//		}
//		switch ev.Kind {
//		case hush.EventMessage:
//			fmt.Println(ev.Message.From, ev.Message.Text)
//		case hush.EventRefused:
//			log.Print(ev.Err)
//		}
//	}
//
// Each event is yielded after what it reports is stored. A message counts
// as shown (MarkShown) once the loop's body returned for it; one stored
// but not yet yielded when the loop stopped is returned by Unshown. err is
// not nil only once, last, when the receive loop stopped for another
// reason than ctx.
func (c *Client) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		evs := make(chan Event)
		done := make(chan error, 1)
		go func() {
			done <- c.ListenShowing(ctx, func(string) bool { return false }, func(e Event) {
				select {
				case evs <- e:
				case <-ctx.Done():
				}
			})
		}()
		for {
			select {
			case e := <-evs:
				more := yield(e, nil)
				if e.Message != nil {
					// Best effort: a message left unshown is returned by
					// Unshown, never lost.
					_ = c.MarkShown(context.WithoutCancel(ctx), *e.Message)
				}
				if !more {
					cancel()
					<-done
					return
				}
			case err := <-done:
				if err != nil && ctx.Err() == nil {
					yield(Event{}, err)
				}
				return
			}
		}
	}
}
