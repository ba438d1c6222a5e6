package hush

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/localstore"
)

// dataPayload is bytes no text could be: a zero byte, invalid UTF-8 and
// a terminal escape sequence.
var dataPayload = []byte{0x00, 0xff, 0xfe, 0x1b, '[', '3', '1', 'm', 'h', 'i', 0x00}

func twoClients(t *testing.T, serverURL string) (alice, bob *Client) {
	t.Helper()
	dir := t.TempDir()
	alice = create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: serverURL}, "alice")
	bob = create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: serverURL}, "bob")
	return alice, bob
}

// A data message reaches the recipient's receive loop as an EventMessage
// carrying the exact bytes, and both histories keep it.
func TestDataMessageRoundTrip(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := twoClients(t, srv.HTTPURL())

	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan Event, 8)
	done := make(chan error, 1)
	go func() {
		done <- bob.Listen(lctx, func(e Event) {
			if e.Message != nil {
				got <- e
			}
		})
	}()
	sent, err := alice.SendData(ctx, "bob", dataPayload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sent.Data, dataPayload) || sent.Text != "" || sent.State != StateSent {
		t.Fatalf("sent %+v", sent)
	}
	if _, err := alice.Send(ctx, "bob", "a text"); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	for len(evs) < 2 {
		select {
		case e := <-got:
			evs = append(evs, e)
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of 2 messages arrived", len(evs))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e := evs[0]; e.Kind != EventMessage || !bytes.Equal(e.Message.Data, dataPayload) || e.Message.Text != "" ||
		e.Message.From != "alice" || e.Message.ID != sent.ID {
		t.Fatalf("data event %+v (message %+v)", e, e.Message)
	}
	if e := evs[1]; e.Kind != EventMessage || e.Message.Data != nil || e.Message.Text != "a text" {
		t.Fatalf("text event %+v", e.Message)
	}
	for _, c := range []*Client{alice, bob} {
		peer := map[*Client]string{alice: "bob", bob: "alice"}[c]
		h, err := c.History(ctx, peer, 0)
		if err != nil || len(h) != 2 || !bytes.Equal(h[0].Data, dataPayload) || h[0].Text != "" || h[1].Data != nil {
			t.Fatalf("%s history %+v %v", c.Username(), h, err)
		}
	}
}

// The largest data goes through; empty and oversized data are refused
// before anything is stored or sent, to a user and to a group.
func TestDataMessageLimits(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob")
	alice, bob := cs[0], cs[1]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	syncTexts(t, bob)
	sends := map[string]func(data []byte) (*Message, error){
		"bob":   func(d []byte) (*Message, error) { return alice.SendData(ctx, "bob", d) },
		"#team": func(d []byte) (*Message, error) { return alice.Group("team").SendData(ctx, d) },
	}
	for conv, send := range sends {
		for _, bad := range []struct {
			data []byte
			want error
		}{{nil, ErrEmptyMessage}, {[]byte{}, ErrEmptyMessage}, {make([]byte, MaxData+1), ErrTooLarge}} {
			if m, err := send(bad.data); !errors.Is(err, bad.want) || m != nil {
				t.Fatalf("%s: %d bytes: %v %v, want %v", conv, len(bad.data), m, err, bad.want)
			}
		}
		if h, err := alice.History(ctx, conv, 0); err != nil || len(h) != 0 {
			t.Fatalf("%s: refused data stored: %+v %v", conv, h, err)
		}
		if p, err := alice.Pending(ctx); err != nil || len(p) != 0 {
			t.Fatalf("%s: refused data queued: %+v %v", conv, p, err)
		}
	}
	if ms, err := bob.Sync(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("bob received %+v %v", ms, err)
	}
	full := bytes.Repeat([]byte{0xab}, MaxData)
	for conv, send := range sends {
		if _, err := send(full); err != nil {
			t.Fatalf("%s: %d bytes: %v", conv, MaxData, err)
		}
	}
	ms, err := bob.Sync(ctx)
	if err != nil || len(ms) != 2 || !bytes.Equal(ms[0].Data, full) || !bytes.Equal(ms[1].Data, full) {
		t.Fatalf("bob got %d messages, %v", len(ms), err)
	}
}

// A data message to a group is stored by every member in the group's
// conversation, with the exact bytes.
func TestGroupDataMessageRoundTrip(t *testing.T) {
	ctx := context.Background()
	cs := groupClients(t, "alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.Group("#team").SendData(ctx, dataPayload)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sent.Data, dataPayload) || sent.Group != "team" {
		t.Fatalf("sent %+v", sent)
	}
	mustSend(t, alice, "#team", "a text")
	for _, c := range []*Client{bob, carol} {
		ms, err := c.Sync(ctx)
		if err != nil || len(ms) != 2 {
			t.Fatalf("%s got %+v %v", c.Username(), ms, err)
		}
		if m := ms[0]; !bytes.Equal(m.Data, dataPayload) || m.Text != "" || m.Group != "team" || m.From != "alice" || m.ID != sent.ID {
			t.Fatalf("%s data message %+v", c.Username(), m)
		}
		if m := ms[1]; m.Data != nil || m.Text != "a text" {
			t.Fatalf("%s text message %+v", c.Username(), m)
		}
		h, err := c.Group("team").History(ctx, 0)
		if err != nil || len(h) != 2 || !bytes.Equal(h[0].Data, dataPayload) {
			t.Fatalf("%s history %+v %v", c.Username(), h, err)
		}
	}
	if h, err := alice.Group("team").History(ctx, 0); err != nil || len(h) != 2 || !bytes.Equal(h[0].Data, dataPayload) {
		t.Fatalf("alice history %+v %v", h, err)
	}
}

// A data message sent while the server is down waits in the outbox, as a
// text does, and is delivered once the server answers again.
func TestDataMessageQueuedWhileServerDown(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	g := newGate(t, srv.HTTPURL())
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: g.URL}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "before"); err != nil {
		t.Fatal(err)
	}
	g.down.Store(true)
	m, err := alice.SendData(ctx, "bob", dataPayload)
	if !errors.Is(err, ErrQueued) || m == nil || m.State != StateSending || !bytes.Equal(m.Data, dataPayload) {
		t.Fatalf("send with the server down: %+v %v, want queued", m, err)
	}
	if p, err := alice.Pending(ctx); err != nil || len(p) != 1 || !bytes.Equal(p[0].Data, dataPayload) {
		t.Fatalf("pending: %+v %v", p, err)
	}
	g.down.Store(false)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent := make(chan Message, 2)
	done := make(chan error, 1)
	go func() {
		done <- alice.Listen(lctx, func(e Event) {
			if e.Sent != nil {
				sent <- *e.Sent
			}
		})
	}()
	select {
	case m := <-sent:
		if m.State != StateSent || !bytes.Equal(m.Data, dataPayload) {
			t.Fatalf("background delivery: %+v", m)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("queued data never delivered")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, err := bob.Sync(ctx)
	if err != nil || len(got) != 2 || got[0].Text != "before" || !bytes.Equal(got[1].Data, dataPayload) {
		t.Fatalf("bob got %+v %v", got, err)
	}
}

// Message records stored before data messages existed (no "data" field)
// still decode, as texts and files; a data record keeps its bytes.
func TestMessageRecordsWithoutDataDecode(t *testing.T) {
	ctx := context.Background()
	c := create(t, Options{Home: t.TempDir(), Passphrase: []byte("pa"), ServerURL: startServer(t).HTTPURL()}, "alice")
	old := []string{
		`{"id":"00000000000000000000000000000001","peer":"bob","from":"bob","from_device":1,"to":"alice","text":"old text","sent_at":1700000000000,"received_at":1700000000001,"state":1}`,
		`{"id":"00000000000000000000000000000002","peer":"bob","from":"alice","from_device":1,"to":"bob","text":"","sent_at":1700000000002,"received_at":1700000000002,"outgoing":true,"state":3,"attachment":{"blob_id":"AAAAAAAAAAAAAAAAAAAAAA","key":null,"header":null,"size":3,"sha256":null,"name":"a.txt"}}`,
	}
	data := messageRecord{ID: "00000000000000000000000000000003", Peer: "bob", From: "bob", FromDevice: 1, To: "alice",
		SentAt: 1700000000003, ReceivedAt: 1700000000003, State: StateReceived, Data: dataPayload}
	if !strings.Contains(string(encodeJSON(data)), `"data":"`) {
		t.Fatalf("data record %s", encodeJSON(data))
	}
	err := c.st.Update(ctx, func(tx *localstore.Tx) error {
		for i, rec := range append(old, string(encodeJSON(data))) {
			id, _ := hex.DecodeString(strings.Repeat("0", 31) + string(rune('1'+i)))
			if _, err := tx.AddMessage("bob", id, time.UnixMilli(1700000000000+int64(i)), []byte(rec)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.History(ctx, "bob", 0)
	if err != nil || len(h) != 3 {
		t.Fatalf("history %+v %v", h, err)
	}
	if h[0].Text != "old text" || h[0].Data != nil || h[1].Attachment == nil || h[1].Data != nil ||
		!bytes.Equal(h[2].Data, dataPayload) || h[2].Text != "" {
		t.Fatalf("history %+v", h)
	}
}

// A message of a kind this client does not know (a newer client's) is
// refused and reported, never shown as text or lost without a word, and
// its session step is kept: the next message shows nothing missing.
func TestUnknownKindIsReported(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	alice, bob := twoClients(t, srv.HTTPURL())
	mustSend(t, alice, "bob", "one")
	if err := alice.sendControl(ctx, "bob", []byte{appVersion, 0x7f, 'n', 'e', 'w'}, "a future kind"); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "bob", "two")
	ms, err := bob.Sync(ctx)
	if len(ms) != 2 || ms[0].Text != "one" || ms[1].Text != "two" || ms[1].Missing != 0 {
		t.Fatalf("bob read %+v", ms)
	}
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Reasons) != 1 || re.Err != nil || !strings.Contains(re.Reasons[0].Error(), "unknown kind 127") {
		t.Fatalf("sync error %v, want one refusal naming the unknown kind", err)
	}
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second sync: %+v %v", again, err)
	}
}

// Known-answer vectors of the data message (doc/SPEC.md §11, §11.2).
func TestDataMessageVector(t *testing.T) {
	data, _ := hex.DecodeString("00ff6869")
	const app = "0107" + "00ff6869"
	if got := hex.EncodeToString(encodeData(data)); got != app {
		t.Fatalf("data message %s, want %s", got, app)
	}
	b, _ := hex.DecodeString(app)
	kind, body, err := decodeApp(b)
	if err != nil || kind != appKindData {
		t.Fatalf("decode: %d %v", kind, err)
	}
	if d, err := decodeData(body); err != nil || !bytes.Equal(d, data) {
		t.Fatalf("decode data: %x %v", d, err)
	}
	var id [16]byte
	for i := range id {
		id[i] = byte(i)
	}
	const plain = "01" + "000102030405060708090a0b0c0d0e0f" + "0000018bcfe56800" + app
	if got := hex.EncodeToString(encodeGroupPlain(id, 1700000000000, encodeData(data))); got != plain {
		t.Fatalf("group plaintext %s, want %s", got, plain)
	}
	for _, bad := range [][]byte{nil, make([]byte, MaxData+1)} {
		if _, err := decodeData(bad); err == nil {
			t.Fatalf("accepted %d bytes of data", len(bad))
		}
	}
}

// Session recovery sends a data message again as data: the peer that
// could not read it receives the same bytes, not an empty text.
func TestDataMessageResentAfterSessionReset(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "a1")
	syncErrs(t, bob)
	mustSend(t, bob, "alice", "b1")
	syncErrs(t, alice)
	alice.Close()
	copyProfile(t, ao.Home, filepath.Join(dir, "backup"))
	alice, err := Open(ctx, ao)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		from, to *Client
		text     string
	}{{alice, bob, "a2"}, {bob, alice, "b2"}, {alice, bob, "a3"}} {
		mustSend(t, step.from, step.to.Username(), step.text)
		syncErrs(t, step.to)
	}
	alice.Close()
	copyProfile(t, filepath.Join(dir, "backup"), ao.Home) // the restore: alice is behind bob's ratchet
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	if _, err := bob.SendData(ctx, "alice", dataPayload); err != nil {
		t.Fatal(err)
	}
	if got, errs := syncErrs(t, alice); len(got) != 0 || len(errs) != 1 {
		t.Fatalf("restored alice: %q %v, want one reset request", got, errs)
	}
	if _, errs := syncErrs(t, bob); len(errs) != 1 {
		t.Fatalf("bob on the reset request: %v", errs)
	}
	ms, err := alice.Sync(ctx)
	if err != nil || len(ms) != 1 || !bytes.Equal(ms[0].Data, dataPayload) || ms[0].Text != "" {
		t.Fatalf("alice after the re-send: %+v %v", ms, err)
	}
}
