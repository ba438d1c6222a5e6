package hush

import (
	"bytes"
	"context"
	"io"
)

// Group is a handle on a group conversation of this profile, by name.
// Getting one checks nothing: every method fails with ErrUnknownGroup
// while this user is in no group of that name.
type Group struct {
	c    *Client
	name string // without the leading '#'
}

// Group returns the handle on the group called name (a leading '#', as
// users type it, is dropped).
func (c *Client) Group(name string) *Group { return &Group{c: c, name: groupName(name)} }

// Name returns the group's name, without a leading '#'.
func (g *Group) Name() string { return g.name }

// conversation is the peer name of the group's conversation in History
// and Message.Peer.
func (g *Group) conversation() string { return "#" + g.name }

// Send sends text to every member: encrypted once under the own sender
// key (doc/SPEC.md §11.2) and fanned out to every other member device.
// Long texts travel as memos, as with Client.Send.
func (g *Group) Send(ctx context.Context, text string) (*Message, error) {
	return g.c.sendTo(ctx, g.conversation(), text)
}

// SendData sends data, opaque bytes of the application's own format, to
// every member, as Send sends a text (see Client.SendData): empty data is
// refused with ErrEmptyMessage, more than MaxData bytes with ErrTooLarge,
// before anything is stored.
func (g *Group) SendData(ctx context.Context, data []byte) (*Message, error) {
	if err := checkData(data); err != nil {
		return nil, err
	}
	return g.c.sendGroupBody(ctx, g.name, messageRecord{Data: bytes.Clone(data)})
}

// SendFile sends the file at path to the group: uploaded once for every
// other member device, announced under the own sender key. See
// Client.SendFile.
func (g *Group) SendFile(ctx context.Context, path string, progress func(done, total int64)) (*Message, error) {
	return g.c.sendFile(ctx, g.conversation(), path, progress)
}

// SendFileFrom sends size bytes read from r to the group under name. See
// Client.SendFileFrom.
func (g *Group) SendFileFrom(ctx context.Context, name string, r io.Reader, size int64, progress func(done, total int64)) (*Message, error) {
	return g.c.sendFileFrom(ctx, g.conversation(), name, r, size, progress)
}

// History returns the last limit messages of the group, oldest first (0:
// all).
func (g *Group) History(ctx context.Context, limit int) ([]Message, error) {
	return g.c.History(ctx, g.conversation(), limit)
}

// Info describes the group as this member holds it.
func (g *Group) Info(ctx context.Context) (*GroupInfo, error) { return g.c.GroupInfo(ctx, g.name) }

// Add adds user to the group (admins only). See Client.AddMember.
func (g *Group) Add(ctx context.Context, user string) (*GroupInfo, error) {
	return g.c.AddMember(ctx, g.name, user)
}

// Remove removes user from the group (admins only). See
// Client.RemoveMember.
func (g *Group) Remove(ctx context.Context, user string) (*GroupInfo, error) {
	return g.c.RemoveMember(ctx, g.name, user)
}

// Promote makes user an admin (admins only). See Client.PromoteMember.
func (g *Group) Promote(ctx context.Context, user string) (*GroupInfo, error) {
	return g.c.PromoteMember(ctx, g.name, user)
}

// Leave leaves the group; its history stays readable here.
func (g *Group) Leave(ctx context.Context) error { return g.c.LeaveGroup(ctx, g.name) }
