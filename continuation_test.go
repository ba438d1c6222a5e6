package hush

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/tagged"
)

// A contact offline while its peer sends more than a window of messages
// gets them all tagged (continuable epochs, SPEC §14.8), none sealed; a gap
// the relay made (envelopes it expired) is crossed by the table's trial,
// in a page (Sync's batch) and one by one (Listen's path); a copy within
// the window is a known duplicate, and so is a copy of one opened up to
// tagged.ReplayMemory positions ago; one never opened and older than the
// window is refused as too old.
func TestBacklogStaysTaggedAcrossGaps(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	establish(t, alice, bob)
	const n = 190
	for i := range n {
		mustSend(t, alice, "bob", fmt.Sprintf("m%d", i))
	}
	envs := takeEnvelopes(t, bob)
	if len(envs) != n {
		t.Fatalf("%d envelopes, want %d", len(envs), n)
	}
	for i, e := range envs {
		if e[0] != tagged.Type {
			t.Fatalf("envelope %d of type %#x: the peer ran out of tagged positions", i, e[0])
		}
	}
	want := func(lo, hi int) []string {
		var out []string
		for i := lo; i < hi; i++ {
			out = append(out, fmt.Sprintf("m%d", i))
		}
		return out
	}
	ms, other := receivePage(t, bob, envs[:40])
	if !slices.Equal(texts(ms), want(0, 40)) || len(other) != 0 {
		t.Fatalf("first page: %q %+v", texts(ms), other)
	}
	// envs[40:140] never arrive: a gap of 100 positions, beyond the window.
	ms, other = receivePage(t, bob, envs[140:170])
	if !slices.Equal(texts(ms), want(140, 170)) || len(other) != 0 {
		t.Fatalf("page after the gap: %q %+v", texts(ms), other)
	}
	var got []string
	var errs []error
	one := func(env []byte) {
		t.Helper()
		if err := bob.process(ctx, env, nil, func(e Event) {
			if e.Err != nil {
				errs = append(errs, e.Err)
			} else if e.Message != nil {
				got = append(got, e.Message.Text)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Another gap, read one by one.
	for _, env := range envs[180:] {
		one(env)
	}
	if !slices.Equal(got, want(180, n)) || len(errs) != 0 {
		t.Fatalf("one by one after a gap: %q %v", got, errs)
	}
	// A copy within the window: a duplicate, acknowledged without a
	// report; the skipped 170..179 still open late; one older than the
	// window is refused as too old.
	got = nil
	one(envs[185])
	for _, env := range envs[170:180] {
		one(env)
	}
	if !slices.Equal(got, want(170, 180)) || len(errs) != 0 {
		t.Fatalf("late envelopes within the window: %q %v", got, errs)
	}
	// A copy of one opened long ago (a relay re-sending a page after a
	// lost acknowledgement): a known duplicate too, within the replay
	// memory; one of the gap that never opened, older than the window:
	// refused as too old, reported.
	one(envs[10])
	if len(got) != 10 || len(errs) != 0 {
		t.Fatalf("copy of an envelope opened long ago: %q %v", got, errs)
	}
	one(envs[50])
	if len(errs) != 1 || !errors.Is(errs[0], tagged.ErrTooOld) || !errors.Is(errs[0], ErrRefused) {
		t.Fatalf("envelope older than the window: %v", errs)
	}
	hist, err := bob.History(ctx, "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, m := range hist {
		if m.From == "alice" && len(m.Text) > 1 && m.Text[0] == 'm' {
			all = append(all, m.Text)
		}
	}
	if len(all) != 40+50 {
		t.Fatalf("bob's history holds %d of alice's backlog, want 90", len(all))
	}
}

// A gap beyond tagged.MaxGap (the relay lost that many envelopes): the
// next envelope of the peer's epoch is refused as too far ahead, with a
// report, and the device offers a fresh epoch, on which the conversation
// goes on tagged.
func TestGapBeyondMaxGapOffersFreshEpoch(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	establish(t, alice, bob)
	mustSend(t, alice, "bob", "before")
	if got, errs := syncErrs(t, bob); !slices.Equal(got, []string{"before"}) || len(errs) != 0 {
		t.Fatalf("bob: %q %v", got, errs)
	}
	// Alice's sender moves past MaxGap positions whose envelopes never
	// reach bob.
	err := alice.st.Update(ctx, func(tx *localstore.Tx) error {
		sess, err := getSession(tx, "bob", 1)
		if err != nil {
			return err
		}
		var s tagged.Sender
		if err := s.UnmarshalBinary(sess.TagSend); err != nil {
			return err
		}
		c := &envelope.Content{Sender: envelope.Address{User: "alice", Device: alice.dev.ID()}, Recipient: envelope.Address{User: "bob", Device: 1}, Type: 1, Payload: []byte{1}}
		sp := &s
		for range tagged.MaxGap + 1 {
			if sp, _, err = sp.Seal(c); err != nil {
				return err
			}
		}
		if sess.TagSend, err = sp.MarshalBinary(); err != nil {
			return err
		}
		return putSession(tx, "bob", 1, &sess)
	})
	if err != nil {
		t.Fatal(err)
	}
	mustSend(t, alice, "bob", "beyond the gap")
	got, errs := syncErrs(t, bob)
	if len(got) != 0 || len(errs) != 1 || !errors.Is(errs[0], tagged.ErrTooFarAhead) {
		t.Fatalf("bob after the gap: %q %v", got, errs)
	}
	syncErrs(t, alice) // takes bob's fresh epoch
	mustSend(t, alice, "bob", "on the fresh epoch")
	envs := takeEnvelopes(t, bob)
	if len(envs) != 1 || envs[0][0] != tagged.Type {
		t.Fatalf("%d envelopes after the fresh offer", len(envs))
	}
	if ms, other := receivePage(t, bob, envs); !slices.Equal(texts(ms), []string{"on the fresh epoch"}) || len(other) != 0 {
		t.Fatalf("bob on the fresh epoch: %q %+v", texts(ms), other)
	}
}
