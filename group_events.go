package hush

import (
	"fmt"

	"github.com/hush-chat/hush/internal/group"
)

// GroupEvent is a change of a group's membership as a member learns it, or
// a request to join a room this user administers.
type GroupEvent struct {
	Group   string         // the group's name, without the leading '#'
	Kind    GroupEventKind // what happened
	Actor   string         // who signed the change, or asks to join
	Target  string         // whom it concerns (added, removed, promoted, approved); for a rename, the new name
	Version uint64         // the group's version after the change; 0 for a join request
}

// GroupEventKind is what a GroupEvent reports.
type GroupEventKind int

// Group event kinds.
const (
	GroupCreated     GroupEventKind = iota + 1 // Actor created the group
	GroupAdded                                 // Actor added Target
	GroupRemoved                               // Actor removed Target
	GroupLeft                                  // Actor left
	GroupPromoted                              // Actor made Target an admin
	GroupRenamed                               // Actor renamed the group to Target
	GroupApproved                              // Actor approved Target's request to join
	GroupJoined                                // Actor joined (a public room)
	GroupDevices                               // Actor changed its devices
	GroupJoinRequest                           // Actor asks to join
)

// String is the event as one line: "#team: alice added carol". Names are
// group usernames and group names, which hold no control characters
// (doc/SPEC.md §12.2).
func (e *GroupEvent) String() string {
	var what string
	switch e.Kind {
	case GroupCreated:
		what = e.Actor + " created the group"
	case GroupAdded:
		what = e.Actor + " added " + e.Target
	case GroupRemoved:
		what = e.Actor + " removed " + e.Target
	case GroupLeft:
		what = e.Actor + " left"
	case GroupPromoted:
		what = e.Actor + " made " + e.Target + " an admin"
	case GroupRenamed:
		what = e.Actor + " renamed the group to #" + e.Target
	case GroupApproved:
		what = e.Actor + " approved " + e.Target
	case GroupJoined:
		what = e.Actor + " joined"
	case GroupDevices:
		what = e.Actor + " changed devices"
	case GroupJoinRequest:
		what = fmt.Sprintf("%s asks to join (hush group approve %s %s)", e.Actor, e.Group, e.Actor)
	default:
		what = e.Actor + " changed the group"
	}
	return "#" + e.Group + ": " + what
}

// changeEvent describes ch, applied to the group now called name.
func changeEvent(name string, ch *group.Change) *GroupEvent {
	e := &GroupEvent{Group: name, Actor: ch.Signer, Version: ch.Version}
	switch ch.Kind {
	case group.KindCreate:
		e.Kind = GroupCreated
	case group.KindAdd:
		e.Kind, e.Target = GroupAdded, ch.Member.Name
	case group.KindRemove:
		e.Kind, e.Target = GroupRemoved, ch.Target
	case group.KindLeave:
		e.Kind = GroupLeft
	case group.KindPromote:
		e.Kind, e.Target = GroupPromoted, ch.Target
	case group.KindRename:
		e.Kind, e.Target = GroupRenamed, ch.Name
	case group.KindApprove:
		e.Kind, e.Target = GroupApproved, requester(ch.Request)
	case group.KindJoin:
		e.Kind = GroupJoined
	case group.KindDevices:
		e.Kind = GroupDevices
	}
	return e
}

// joinRequestEvent describes a join request just kept.
func joinRequestEvent(recs []*groupRecord, body []byte) *GroupEvent {
	j, err := group.ParseJoinRequest(body)
	if err != nil {
		return nil
	}
	e := &GroupEvent{Kind: GroupJoinRequest, Actor: j.Member.Name}
	if r := findByID(recs, j.GroupID); r != nil {
		e.Group = r.Name
	}
	return e
}
