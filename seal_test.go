package hush

import (
	"bytes"
	"context"
	"crypto/hpke"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/sealed"
	"github.com/hush-chat/hush/internal/server"
)

// sealCast is alice, bob, carol and dave on one server.
func sealCast(t *testing.T) (srv *server.Server, alice, bob, carol, dave *Client) {
	t.Helper()
	srv = startServer(t)
	dir := t.TempDir()
	mk := func(name string) *Client {
		return create(t, Options{Home: filepath.Join(dir, name), Passphrase: []byte("pw-" + name), ServerURL: srv.HTTPURL()}, name)
	}
	return srv, mk("alice"), mk("bob"), mk("carol"), mk("dave")
}

func TestSealForUsers(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, carol, dave := sealCast(t)
	secret := []byte("the launch code is 0000, tell nobody")
	blob, err := alice.Seal(ctx, secret, "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	// Every recipient, and the sender's own device, opens it and sees alice.
	for _, c := range []*Client{bob, carol, alice} {
		pt, from, err := c.Unseal(ctx, blob)
		if err != nil || !bytes.Equal(pt, secret) || from != "alice" {
			t.Fatalf("%s: %q from %q, %v", c.Username(), pt, from, err)
		}
	}
	// Someone else's device finds no slot of its own.
	if pt, _, err := dave.Unseal(ctx, blob); !errors.Is(err, ErrNotRecipient) || pt != nil {
		t.Fatalf("dave: %q %v", pt, err)
	}
	// One slot per device: alice, bob, carol.
	m := parseSealedMulti(t, blob)
	if m.NumSlots() != 3 {
		t.Fatalf("%d slots, want 3", m.NumSlots())
	}
}

// Nobody who holds the blob without a recipient's key learns whom it is
// for or who sealed it: no user name, mailbox, device key or sender
// address appears in it.
func TestSealedBlobNamesNobody(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, carol, _ := sealCast(t)
	blob, err := alice.Seal(ctx, []byte("x"), "bob", "carol")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{alice, bob, carol} {
		name := c.Username()
		mailbox := identity.MailboxID(c.id.Public(), c.DeviceID())
		raw, _ := hex.DecodeString(mailbox)
		addr := append([]byte{byte(len(name))}, name...)
		addr = binary.BigEndian.AppendUint32(addr, c.DeviceID())
		for what, b := range map[string][]byte{
			"user name": []byte(name), "mailbox id": []byte(mailbox), "raw mailbox id": raw,
			"address": addr, "identity key": c.id.Public().Bytes(),
			"envelope key": c.dev.EnvelopePublicKey().Bytes()[:32],
		} {
			if bytes.Contains(blob, b) {
				t.Errorf("the blob holds %s's %s in clear", name, what)
			}
		}
	}
}

// A byte flipped anywhere in the blob, or a blob cut short or extended,
// is refused; nothing of it is returned.
func TestSealedBlobTamperingFails(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, _, _ := sealCast(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes: two chunks
	blob, err := alice.Seal(ctx, data, "bob")
	if err != nil {
		t.Fatal(err)
	}
	open := func(b []byte) error {
		pt, _, err := bob.Unseal(ctx, b)
		if err == nil || pt != nil {
			t.Fatalf("altered blob opened (%d of %d bytes, differs at %d)", len(pt), len(b), firstDiff(b, blob))
		}
		return err
	}
	envEnd := 5 + int(binary.BigEndian.Uint32(blob[1:5]))
	var positions []int
	for i := 0; i < len(blob); i += 1 + i/8 {
		positions = append(positions, i)
	}
	positions = append(positions, envEnd-1, envEnd, len(blob)-65, len(blob)-1)
	for _, i := range positions {
		b := bytes.Clone(blob)
		b[i] ^= 0x20
		err := open(b)
		// In the envelope part every slot fails, as for a stranger; after
		// it the stream or the signature fails.
		if i >= envEnd && !errors.Is(err, ErrSealTampered) {
			t.Fatalf("byte %d (data part) flipped: %v", i, err)
		}
		if i < envEnd && !errors.Is(err, ErrSealTampered) && !errors.Is(err, ErrNotRecipient) && !isWireErr(err) {
			t.Fatalf("byte %d (envelope part) flipped: %v", i, err)
		}
	}
	for _, b := range [][]byte{blob[:len(blob)-1], blob[:envEnd+17], blob[:envEnd], blob[:3], append(bytes.Clone(blob), 0)} {
		if err := open(b); !errors.Is(err, ErrSealTampered) {
			t.Fatalf("%d of %d bytes: %v", len(b), len(blob), err)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func isWireErr(err error) bool {
	var we interface{ Unwrap() error }
	return errors.As(err, &we)
}

// SECURITY: a blob that claims alice as its sender but is signed by
// mallory's key is refused, even though bob can open its envelope.
func TestSealedBlobClaimingAnotherSenderFails(t *testing.T) {
	ctx := context.Background()
	srv, alice, bob, _, mallory := sealCast(t)
	_ = srv
	// Bob knows alice (her key is pinned).
	if _, err := bob.Contact(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	forge := func(sender string) []byte {
		var buf bytes.Buffer
		h := sealed.Header{Sender: envelope.Address{User: sender, Device: 1}, Timestamp: 1, Users: []string{"bob", sender}}
		slices.Sort(h.Users)
		w, err := sealed.NewWriter(&buf, mallory.id, h, []hpke.PublicKey{bob.dev.EnvelopePublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("pay mallory"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if pt, from, err := bob.Unseal(ctx, forge("alice")); !errors.Is(err, ErrSealTampered) || pt != nil {
		t.Fatalf("forged blob: %q from %q, %v", pt, from, err)
	}
	// The streaming reader returns the claim and refuses at the end.
	r, from, err := bob.UnsealStream(ctx, bytes.NewReader(forge("alice")))
	if err != nil || from != "alice" {
		t.Fatalf("stream: %q %v", from, err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrSealTampered) {
		t.Fatalf("stream end: %v", err)
	}
	// A sender the directory does not know.
	if _, _, err := bob.Unseal(ctx, forge("nobody-here")); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown sender: %v", err)
	}
	// Alice's own, honest blob still opens.
	blob, err := alice.Seal(ctx, []byte("hi"), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, from, err := bob.Unseal(ctx, blob); err != nil || from != "alice" {
		t.Fatalf("%q %v", from, err)
	}
}

// SECURITY: a recipient who re-wraps the sender's blob for someone the
// sender did not name gets it refused there: the recipients are signed.
func TestSealedBlobRewrappedForAnotherUserFails(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, _, dave := sealCast(t)
	// What bob could build after opening a blob alice sealed for him:
	// the same signed header, one more slot for dave. Simulated by
	// alice's key (bob learns the data and signature, not the key, but
	// the header still names only alice and bob).
	var buf bytes.Buffer
	h := sealed.Header{Sender: envelope.Address{User: "alice", Device: 1}, Timestamp: 1, Users: []string{"alice", "bob"}}
	w, err := sealed.NewWriter(&buf, alice.id, h, []hpke.PublicKey{bob.dev.EnvelopePublicKey(), dave.dev.EnvelopePublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("for bob only"))
	w.Close()
	if _, _, err := dave.Unseal(ctx, buf.Bytes()); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("dave: %v", err)
	}
	if pt, _, err := bob.Unseal(ctx, buf.Bytes()); err != nil || string(pt) != "for bob only" {
		t.Fatalf("bob: %q %v", pt, err)
	}
}

// Large data goes through the streaming pair without being held whole,
// and an empty plaintext is sealed too.
func TestSealStreamLargeAndEmpty(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, _, _ := sealCast(t)
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var blob bytes.Buffer
	w, err := alice.SealStream(ctx, &blob, "bob")
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 10_000 {
		if _, err := w.Write(data[off : off+10_000]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, from, err := bob.UnsealStream(ctx, &blob)
	if err != nil || from != "alice" {
		t.Fatal(from, err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%d bytes, %v", len(got), err)
	}
	empty, err := alice.Seal(ctx, nil, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if pt, from, err := bob.Unseal(ctx, empty); err != nil || len(pt) != 0 || from != "alice" {
		t.Fatalf("empty: %q %q %v", pt, from, err)
	}
}

// Sealing for an unknown user names it and seals nothing; a contact whose
// key changed is refused until the user decides.
func TestSealUnknownUser(t *testing.T) {
	ctx := context.Background()
	_, alice, _, _, _ := sealCast(t)
	_, err := alice.Seal(ctx, []byte("x"), "bob", "nosuchuser", "zed")
	var ue *UnknownUsersError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnknownUser) || strings.Join(ue.Users, ",") != "nosuchuser,zed" {
		t.Fatalf("%v", err)
	}
}

func parseSealedMulti(t *testing.T, blob []byte) *envelope.Multi {
	t.Helper()
	n := binary.BigEndian.Uint32(blob[1:5])
	m, err := envelope.ParseMulti(blob[5 : 5+n])
	if err != nil {
		t.Fatal(err)
	}
	return m
}
