package hush

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

// A range over Events is a receive loop: each event carries the Kind that
// names what happened, the field it names is set, and breaking out of the
// loop stops the listener (the profile can receive again at once).
func TestEventsYieldsTypedEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob := cs[0], cs[1]

	mustSend(t, alice, "bob", "hello")
	data := make([]byte, 100_000)
	rand.Read(data)
	if _, err := alice.SendFileFrom(ctx, "bob", "../data.bin", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	sendRaw(t, alice, bob, append([]byte{0x01}, make([]byte, 200)...))
	team := alice.Group("#team")
	if _, err := alice.CreateGroup(ctx, team.Name(), GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := team.Add(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := team.Send(ctx, "to the team"); err != nil {
		t.Fatal(err)
	}

	want := []EventKind{EventMessage, EventFileOffered, EventRefused, EventGroupChanged, EventMemberJoined, EventMessage}
	var got []EventKind
	var file *Message
	for ev, err := range bob.Events(ctx) {
		if err != nil {
			t.Fatalf("events: %v", err)
		}
		got = append(got, ev.Kind)
		switch ev.Kind {
		case EventMessage:
			if ev.Message == nil || (ev.Message.Text != "hello" && ev.Message.Text != "to the team") {
				t.Fatalf("message event %+v", ev)
			}
			if ev.Message.Text == "to the team" && (ev.Message.Group != "team" || ev.Message.Peer != "#team") {
				t.Fatalf("group message %+v does not name its group", ev.Message)
			}
		case EventFileOffered:
			file = ev.Message
		case EventRefused:
			if !errors.Is(ev.Err, ErrRefused) {
				t.Fatalf("refused event without ErrRefused: %v", ev.Err)
			}
		case EventGroupChanged, EventMemberJoined:
			if ev.Group == nil || ev.Group.Group != "team" {
				t.Fatalf("group event %+v", ev)
			}
		}
		if len(got) == len(want) {
			break
		}
	}
	if len(got) != len(want) || !equalKinds(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	if err := bob.CheckReceive(); err != nil {
		t.Fatalf("the listener still runs after the loop ended: %v", err)
	}

	// The file sent from a reader arrives under its safe name and comes
	// back, verified, through a writer.
	if file == nil || file.Attachment == nil || file.Attachment.Name != "data.bin" || file.Attachment.Size != int64(len(data)) {
		t.Fatalf("file message %+v", file)
	}
	var out bytes.Buffer
	if err := bob.DownloadToWriter(ctx, file.ID, &out, nil); err != nil || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("download to a writer: %v (%d bytes)", err, out.Len())
	}
	h, err := bob.Group("team").History(ctx, 0)
	if err != nil || len(h) != 1 || h[0].Text != "to the team" {
		t.Fatalf("group history %v %v", h, err)
	}
}

func equalKinds(a, b []EventKind) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// A group is reached through its handle; a "#name" where a user is
// expected is refused rather than taken as a group.
func TestSendRefusesAGroupName(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice := cs[0]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "#team", "hi"); err == nil || !strings.Contains(err.Error(), "Group") {
		t.Fatalf("Send to #team: %v", err)
	}
	if _, err := alice.Group("nowhere").Send(ctx, "hi"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("send to an unknown group: %v", err)
	}
	// A reader longer than announced sends nothing.
	if _, err := alice.SendFileFrom(ctx, "bob", "x", strings.NewReader("12345"), 3, nil); err == nil {
		t.Fatal("a reader longer than its size was sent")
	}
}

// A message yielded by Events counts as shown; breaking out of the loop
// loses nothing: what was stored but not yielded stays in Unshown.
func TestEventsMarksShownOnlyWhatItYielded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	for _, s := range []string{"one", "two", "three"} {
		mustSend(t, alice, "bob", s)
	}
	for ev, err := range bob.Events(ctx) {
		if err != nil || ev.Kind != EventMessage || ev.Message.Text != "one" {
			t.Fatalf("first event %+v %v", ev, err)
		}
		break
	}
	un, err := bob.Unshown(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := bob.History(ctx, "alice", 0)
	// Whatever the listener stored beyond "one" is unshown, not lost.
	if len(un) != len(h)-1 || (len(un) > 0 && un[0].Text != "two") {
		t.Fatalf("unshown %q of history %q", texts(un), texts(h))
	}
	for _, m := range un {
		if m.Text == "one" {
			t.Fatal("the yielded message is still unshown")
		}
	}
}
