package hush

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/tagged"
)

// rawSession returns c's stored session record bytes with peer's device 1.
func rawSession(t *testing.T, c *Client, peer string) []byte {
	t.Helper()
	var b []byte
	if err := c.st.View(context.Background(), func(tx *localstore.Tx) (err error) { b, err = tx.GetSession(peer, 1); return err }); err != nil {
		t.Fatal(err)
	}
	return b
}

// establish makes alice and bob exchange a message each way and lets the
// offers of envelope keys cross.
func establish(t *testing.T, alice, bob *Client) {
	t.Helper()
	mustSend(t, alice, bob.Username(), "hello")
	syncErrs(t, bob) // accepts the session, offers alice a batch
	mustSend(t, bob, alice.Username(), "hi")
	syncErrs(t, alice) // takes bob's batch, offers hers
	syncErrs(t, bob)   // takes alice's batch
}

// A conversation starts on sealed envelopes and moves to tagged ones once
// the offers have crossed, much smaller; both receive paths read them.
func TestConversationSwitchesToTaggedEnvelopes(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	first := takeEnvelopes(t, bob)
	if len(first) != 1 || first[0][0] != 0x01 {
		t.Fatalf("first envelope: %d of them, type %#x, want one sealed", len(first), first[0][0])
	}
	if ms, _ := receivePage(t, bob, first); len(ms) != 1 {
		t.Fatalf("bob: %+v", ms)
	}
	if _, err := bob.RetrySends(ctx); err != nil { // bob's offer
		t.Fatal(err)
	}
	mustSend(t, bob, "alice", "hi")
	syncErrs(t, alice)
	syncErrs(t, bob)
	for _, text := range []string{"one", "two", "three"} {
		mustSend(t, alice, "bob", text)
	}
	envs := takeEnvelopes(t, bob)
	if len(envs) != 3 {
		t.Fatalf("%d envelopes, want 3", len(envs))
	}
	for _, e := range envs {
		if e[0] != tagged.Type || len(e) >= len(first[0])/2 {
			t.Fatalf("envelope of type %#x, %d bytes (the first was %d), want a tagged one far smaller", e[0], len(e), len(first[0]))
		}
	}
	// The per-message path (Listen) reads the first, the batch (Sync) the rest.
	var got []string
	if err := bob.process(ctx, envs[0], nil, func(e Event) {
		if e.Err != nil {
			t.Fatalf("per-message path: %v", e.Err)
		}
		got = append(got, e.Message.Text)
	}); err != nil {
		t.Fatal(err)
	}
	ms, other := receivePage(t, bob, envs[1:])
	if got = append(got, texts(ms)...); !slices.Equal(got, []string{"one", "two", "three"}) || len(other) != 0 {
		t.Fatalf("bob got %q %+v", got, other)
	}
	// The other way too.
	mustSend(t, bob, "alice", "back")
	back := takeEnvelopes(t, alice)
	if len(back) != 1 || back[0][0] != tagged.Type {
		t.Fatalf("bob's answer: %d envelopes, type %#x", len(back), back[0][0])
	}
}

// Security regression guard: a tagged envelope with a byte flipped, or
// with a tag no session expects, is refused and reported and changes no
// state; one received again is a known duplicate, stored once.
func TestTaggedEnvelopeRefusedChangesNothing(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	establish(t, alice, bob)
	mustSend(t, alice, "bob", "real")
	envs := takeEnvelopes(t, bob)
	if len(envs) != 1 || envs[0][0] != tagged.Type {
		t.Fatalf("want one tagged envelope, have %d", len(envs))
	}
	before := rawSession(t, bob, "alice")
	unknown := bytes.Clone(envs[0])
	unknown[5] ^= 0x40 // in the tag
	bad := [][]byte{unknown}
	for _, i := range []int{0, 1 + tagged.TagLen, len(envs[0]) - 1} { // type, first ciphertext byte, GCM tag
		f := bytes.Clone(envs[0])
		f[i] ^= 1
		bad = append(bad, f)
	}
	for i, e := range bad {
		for _, batch := range []bool{false, true} {
			var errs []error
			if batch {
				_, other := receivePage(t, bob, [][]byte{e})
				for _, ev := range other {
					errs = append(errs, ev.Err)
				}
			} else if err := bob.process(ctx, e, nil, func(ev Event) { errs = append(errs, ev.Err) }); err != nil {
				t.Fatal(err)
			}
			if len(errs) != 1 || !errors.Is(errs[0], ErrRefused) {
				t.Fatalf("altered envelope %d (batch %v): %v, want it refused and reported", i, batch, errs)
			}
			if !bytes.Equal(rawSession(t, bob, "alice"), before) {
				t.Fatalf("altered envelope %d (batch %v) changed the session", i, batch)
			}
		}
	}
	if ms, other := receivePage(t, bob, [][]byte{envs[0], envs[0]}); !slices.Equal(texts(ms), []string{"real"}) || len(other) != 0 {
		t.Fatalf("the real envelope, twice: %q %+v", texts(ms), other)
	}
	after := rawSession(t, bob, "alice")
	if ms, other := receivePage(t, bob, envs); len(ms) != 0 || len(other) != 0 || !bytes.Equal(rawSession(t, bob, "alice"), after) {
		t.Fatalf("a replay: %q %+v, want nothing stored and no change", texts(ms), other)
	}
}

// An offer lost on the way is sent again when the peer's next sealed
// message shows it has no batch, and the conversation then moves to
// tagged envelopes.
func TestLostOfferSentAgain(t *testing.T) {
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	syncErrs(t, bob) // bob's offer goes out
	if lost := takeEnvelopes(t, alice); len(lost) != 1 {
		t.Fatalf("alice's mailbox: %d envelopes, want bob's offer", len(lost))
	}
	mustSend(t, bob, "alice", "hi") // sealed: bob holds no batch of alice's yet
	syncErrs(t, alice)              // offers hers
	syncErrs(t, bob)                // takes it
	mustSend(t, alice, "bob", "still sealed")
	envs := takeEnvelopes(t, bob)
	if len(envs) != 1 || envs[0][0] != 0x01 {
		t.Fatalf("alice without bob's batch: %d envelopes, want one sealed", len(envs))
	}
	if ms, _ := receivePage(t, bob, envs); !slices.Equal(texts(ms), []string{"still sealed"}) {
		t.Fatalf("bob: %q", texts(ms))
	}
	if _, err := bob.RetrySends(context.Background()); err != nil { // the offer again
		t.Fatal(err)
	}
	syncErrs(t, alice)
	mustSend(t, alice, "bob", "tagged now")
	if envs := takeEnvelopes(t, bob); len(envs) != 1 || envs[0][0] != tagged.Type {
		t.Fatalf("after the offer came again: %d envelopes, type %#x, want one tagged", len(envs), envs[0][0])
	}
}

// Security regression guard: a profile put back from an older copy must
// not seal again at positions its sender state used after the copy: its
// sender state is gone, the receiver retired, and it seals until the peer
// offers a fresh batch.
func TestRestoredProfileDoesNotReusePositions(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	establish(t, alice, bob)
	db := filepath.Join(ao.Home, "profile.db")
	alice.Close()
	saved, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "bob", "after the copy")
	used := takeEnvelopes(t, bob)
	if len(used) != 1 || used[0][0] != tagged.Type {
		t.Fatal("alice did not seal with bob's batch")
	}
	alice.Close()
	if err := os.WriteFile(db, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if !alice.Restored() {
		t.Fatal("the restore was not detected")
	}
	if s, err := sessbook.Decode(rawSession(t, alice, "bob")); err != nil || len(s.TagSend) != 0 || s.Has() || len(s.TagRecv) != 0 || len(s.TagOld) == 0 {
		t.Fatalf("alice's session after the restore: %+v %v, want only a retired receiver", s, err)
	}
	mustSend(t, alice, "bob", "restored")
	envs := takeEnvelopes(t, bob)
	if len(envs) != 1 || envs[0][0] != 0x01 {
		t.Fatalf("the restored profile's message: %d envelopes, type %#x, want one sealed", len(envs), envs[0][0])
	}
	if bytes.Equal(envs[0][1:1+tagged.TagLen], used[0][1:1+tagged.TagLen]) {
		t.Fatal("a position used again")
	}
}

// Accepting a contact's new identity key drops the tagged state of its
// old devices with the sessions, and the tag table with it.
func TestIdentityChangeDropsTaggedState(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	establish(t, alice, bob)
	if n := alice.tags.t.Len(); n == 0 {
		t.Fatal("alice's tag table is empty after the offers crossed")
	}
	err := alice.st.Update(ctx, func(tx *localstore.Tx) error {
		r, err := getContact(tx, "bob")
		if err != nil {
			return err
		}
		r.Changed, r.NewIdentityKey = true, r.IdentityKey
		return tx.PutContact("bob", encodeJSON(r))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.AcceptIdentity(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if n := alice.tags.t.Len(); n != 0 {
		t.Fatalf("%d tags mapped after the identity change, want none", n)
	}
	err = alice.st.View(ctx, func(tx *localstore.Tx) error {
		_, err := tx.GetSession("bob", 1)
		return err
	})
	if !errors.Is(err, localstore.ErrNotFound) {
		t.Fatalf("alice's session with bob after the change: %v, want none", err)
	}
}

// A session record of version 1 (JSON) still decodes, with its first
// offer due; the binary encoding round-trips and refuses trailing bytes.
func TestSessionRecordEncodings(t *testing.T) {
	old := []byte(`{"state":"AQID","prekey":"BAU=","archived":[{"state":"Bgc=","base_key":"CA=="}]}`)
	r, err := sessbook.Decode(old)
	if err != nil || !bytes.Equal(r.State, []byte{1, 2, 3}) || !bytes.Equal(r.PreKey, []byte{4, 5}) ||
		len(r.Archived) != 1 || !bytes.Equal(r.Archived[0].BaseKey, []byte{8}) || !r.OfferDue {
		t.Fatalf("version 1 record: %+v %v", r, err)
	}
	r.TagSend, r.TagRecv = []byte{9}, []byte{10, 11}
	enc := r.Encode()
	back, err := sessbook.Decode(enc)
	if err != nil || !bytes.Equal(back.Encode(), enc) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	if _, err := sessbook.Decode(append(enc, 0)); err == nil {
		t.Fatal("a record with a trailing byte decoded")
	}
	enc[1] |= 0x80
	if _, err := sessbook.Decode(enc); err == nil {
		t.Fatal("a record with an unknown flag decoded")
	}
}
