package hush

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/localstore"
	"github.com/hush-chat/hush/internal/ratchet"
	"github.com/hush-chat/hush/internal/tagged"
)

// takeEnvelopes fetches what waits in c's mailbox and acknowledges it, so
// that a test can hand the envelopes to c itself, in any order.
func takeEnvelopes(t *testing.T, c *Client) [][]byte {
	t.Helper()
	ctx := context.Background()
	tr, err := c.transport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tr.(*relayTransport).token(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.api.Fetch(ctx, s.Token, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	var envs [][]byte
	var seqs []int64
	for _, e := range page {
		envs = append(envs, e.Envelope)
		seqs = append(seqs, e.Seq)
	}
	if len(seqs) > 0 {
		if _, err := c.api.Ack(ctx, s.Token, seqs); err != nil {
			t.Fatal(err)
		}
	}
	return envs
}

// receivePage runs envs through c's batched receive path as Sync does and
// returns the messages it reported and the other events.
func receivePage(t *testing.T, c *Client, envs [][]byte) ([]Message, []Event) {
	t.Helper()
	var ms []Message
	var other []Event
	n, err := c.processPage(context.Background(), envs, &recvCache{}, nil, func(e Event) {
		if e.Message != nil {
			ms = append(ms, *e.Message)
		} else {
			other = append(other, e)
		}
	})
	if err != nil || n != len(envs) {
		t.Fatalf("processPage handled %d of %d: %v", n, len(envs), err)
	}
	return ms, other
}

// storedSession returns c's stored session with peer's device 1.
func storedSession(t *testing.T, c *Client, peer string) sessionRecord {
	t.Helper()
	var s sessionRecord
	var have bool
	err := c.st.View(context.Background(), func(tx *localstore.Tx) (err error) {
		s, have, err = loadSession(tx, peer, 1)
		return err
	})
	if err != nil || !have {
		t.Fatalf("no session of %s with %s: %v", c.Username(), peer, err)
	}
	return s
}

// countingStore counts the write transactions of a Store.
type countingStore struct {
	Store
	updates atomic.Int64
}

func (s *countingStore) Update(ctx context.Context, fn func(StoreTx) error) error {
	s.updates.Add(1)
	return s.Store.Update(ctx, fn)
}

// Sync commits a page of ordinary messages in one transaction, not one
// per message (each commit of a durable store is an fsync).
func TestSyncStoresAPageInOneTransaction(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	st := &countingStore{Store: MemoryStore()}
	bob := create(t, Options{Storage: st, Key: make([]byte, 32), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	mustSend(t, bob, "alice", "hi") // bob's relay token and alice's contact are stored now
	syncErrs(t, alice)
	const n = 40
	var want []string
	for i := range n {
		want = append(want, fmt.Sprint("message ", i))
		mustSend(t, alice, "bob", want[i])
	}
	before := st.updates.Load()
	ms, err := bob.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := texts(ms); !slices.Equal(got, append([]string{"hello"}, want...)) {
		t.Fatalf("bob got %q", got)
	}
	if u := st.updates.Load() - before; u > 5 {
		t.Fatalf("Sync of %d messages ran %d write transactions, want a handful", n+1, u)
	}
}

// Security regression guard: a forged envelope in the middle of a page
// (it opens, claims a real session, and fails the ratchet's
// authentication) is refused and reported, changes no state, and the
// messages around it are stored as if it had not been there.
func TestBatchForgedEnvelopeInPageChangesNothing(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bo := Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}
	bob := create(t, bo, "bob")
	for _, m := range []string{"one", "two", "forged", "three"} {
		mustSend(t, alice, "bob", m)
	}
	envs := takeEnvelopes(t, bob)
	if len(envs) != 4 {
		t.Fatalf("%d envelopes queued, want 4", len(envs))
	}
	content, err := envelope.Open(bob.dev.EnvelopeKey(), envelope.Address{User: "bob", Device: bob.DeviceID()}, envs[2])
	if err != nil {
		t.Fatal(err)
	}
	content.Payload[len(content.Payload)-1] ^= 1 // the ratchet message's tag
	forged, err := envelope.Seal(bob.cert.Envelope, content)
	if err != nil {
		t.Fatal(err)
	}

	// A control copy of bob's profile receives the same page without the
	// forged envelope.
	bob.Close()
	ctl := filepath.Join(dir, "control")
	copyProfile(t, bo.Home, ctl)
	bob, err = Open(ctx, bo)
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	control, err := Open(ctx, Options{Home: ctl, Passphrase: bo.Passphrase})
	if err != nil {
		t.Fatal(err)
	}
	defer control.Close()

	for _, e := range [][]byte{envs[0], envs[1], forged, envs[3]} {
		sendRaw(t, alice, bob, e)
	}
	ms, err := bob.Sync(ctx)
	if got := texts(ms); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("bob got %q, want one, two, three", got)
	}
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Reasons) != 1 || re.Err != nil || !errors.Is(re.Reasons[0], ratchet.ErrAuth) {
		t.Fatalf("Sync error %v, want the forged envelope refused as unauthentic, alone", err)
	}
	cms, _ := receivePage(t, control, [][]byte{envs[0], envs[1], envs[3]})
	if got := texts(cms); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("control got %q", got)
	}
	// The session goes on from the same receiving state: the next message
	// opens on both with the same order information. (The sending half
	// differs: each offered alice envelope keys with fresh randomness.)
	got, want := storedSession(t, bob, "alice"), storedSession(t, control, "alice")
	if got.Has() != want.Has() || len(got.Archived) != len(want.Archived) {
		t.Fatal("the session after a page with a forged envelope differs from the one after the page without it")
	}
	mustSend(t, alice, "bob", "four")
	next := takeEnvelopes(t, bob)
	bms, _ := receivePage(t, bob, next)
	cms, _ = receivePage(t, control, next)
	if !slices.Equal(texts(bms), []string{"four"}) || !slices.Equal(texts(cms), []string{"four"}) || bms[0].Missing != cms[0].Missing || bms[0].Late {
		t.Fatalf("after the forged envelope: %+v, the control %+v", bms, cms)
	}
}

// Two or three messages of one session in one page: each is decrypted
// with the state the one before it left, in order and reversed (keys of
// skipped messages), before and after the session is established; a page
// delivered again, or an envelope twice in a page, stores nothing twice.
func TestBatchOneSessionTwiceInAPage(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	i := 0
	for _, established := range []bool{false, true} {
		for _, reversed := range []bool{false, true} {
			t.Run(fmt.Sprintf("established=%v,reversed=%v", established, reversed), func(t *testing.T) {
				i++
				an, bn := fmt.Sprint("alice", i), fmt.Sprint("bob", i)
				alice := create(t, Options{Home: filepath.Join(dir, an), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, an)
				defer alice.Close()
				bob := create(t, Options{Home: filepath.Join(dir, bn), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, bn)
				defer bob.Close()
				var first []string
				if established {
					mustSend(t, alice, bn, "hello")
					syncErrs(t, bob)
					mustSend(t, bob, an, "hi")
					syncErrs(t, alice) // bob's offer of envelope keys, and hi
					syncErrs(t, bob)   // alice's offer
					first = []string{"hello", "hi"}
				}
				sent := []string{"m1", "m2", "m3"}
				for _, m := range sent {
					mustSend(t, alice, bn, m)
				}
				envs := takeEnvelopes(t, bob)
				if len(envs) != 3 {
					t.Fatalf("%d envelopes, want 3", len(envs))
				}
				if established {
					// The offers crossed: alice seals with bob's envelope keys.
					for _, e := range envs {
						if e[0] != tagged.Type {
							t.Fatalf("envelope type %#x on an established session, want tagged", e[0])
						}
					}
				} else if c, err := envelope.Open(bob.dev.EnvelopeKey(), envelope.Address{User: bn, Device: bob.DeviceID()}, envs[0]); err != nil || c.Type != typePreKey {
					t.Fatalf("envelope type %d (%v), want a prekey message", c.Type, err)
				}
				if reversed {
					slices.Reverse(envs)
				}
				ms, other := receivePage(t, bob, append(envs, envs[0])) // the first one twice
				if len(other) != 0 {
					t.Fatalf("events besides messages: %+v", other)
				}
				got := texts(ms)
				want := slices.Clone(sent)
				if reversed {
					slices.Reverse(want)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("received %q, want %q", got, want)
				}
				for j, m := range ms {
					late := reversed && j > 0
					if m.Late != late {
						t.Fatalf("%s: Late %v, want %v", m.Text, m.Late, late)
					}
				}
				if reversed && ms[0].Missing != 2 {
					t.Fatalf("%s shows %d missing, want 2", ms[0].Text, ms[0].Missing)
				}
				// Delivered again (an acknowledgement lost after the commit).
				if again, other := receivePage(t, bob, envs); len(again) != 0 || len(other) != 0 {
					t.Fatalf("the page again: %q %+v", texts(again), other)
				}
				hist, err := bob.History(ctx, an, 100)
				if err != nil {
					t.Fatal(err)
				}
				if h := texts(hist); !slices.Equal(h, append(first, sent...)) {
					t.Fatalf("history %q", h)
				}
				// The session goes on from the state the page left.
				mustSend(t, alice, bn, "m4")
				if ms, err := bob.Sync(ctx); err != nil || !slices.Equal(texts(ms), []string{"m4"}) {
					t.Fatalf("after the page: %q %v", texts(ms), err)
				}
			})
		}
	}
}

// A receiver that has opened tagged.RefillMark positions of its newest
// batch offers the next one, on the batch path and on the per-message
// path alike, so a sender that keeps sending, and syncs between rounds,
// never runs out of positions and falls back to sealed envelopes.
func TestRefillOfferKeepsEnvelopesTagged(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	mustSend(t, alice, "bob", "hello")
	syncErrs(t, bob)
	mustSend(t, bob, "alice", "hi")
	syncErrs(t, alice)
	syncErrs(t, bob)                       // alice's offer
	const perRound = tagged.RefillMark + 8 // past the refill mark, within a batch
	for round, batch := range []bool{true, false, true} {
		for i := range perRound {
			mustSend(t, alice, "bob", fmt.Sprint(round, " ", i))
		}
		envs := takeEnvelopes(t, bob)
		nt := 0
		for _, e := range envs {
			if e[0] == tagged.Type {
				nt++
			}
		}
		if len(envs) != perRound || nt != perRound {
			t.Fatalf("round %d: %d envelopes, %d tagged; want %d, all tagged", round, len(envs), nt, perRound)
		}
		var got []string
		if batch {
			ms, other := receivePage(t, bob, envs)
			if got = texts(ms); len(other) != 0 {
				t.Fatalf("round %d: %+v", round, other)
			}
		} else {
			for _, e := range envs {
				if err := bob.process(ctx, e, nil, func(e Event) {
					if e.Err != nil || e.Message == nil {
						t.Fatalf("round %d: %+v", round, e)
					}
					got = append(got, e.Message.Text)
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(got) != perRound {
			t.Fatalf("round %d: bob got %d messages, want %d", round, len(got), perRound)
		}
		if _, err := bob.RetrySends(ctx); err != nil { // the offer
			t.Fatal(err)
		}
		syncErrs(t, alice)
	}
}

// Sync fetches the next page while it stores one and acknowledges a page
// while it stores the next, but never acknowledges an envelope before the
// function storing its page returned, nor one it did not handle: a page
// that fails locally is acknowledged up to where it stopped, and the rest
// stays pending.
func TestDrainAcknowledgesAPageOnlyAfterItsCommit(t *testing.T) {
	defer func(n int) { drainPageSize = n }(drainPageSize)
	drainPageSize = 3
	ctx := context.Background()
	srv := startServer(t)
	alice := create(t, Options{Storage: MemoryStore(), Key: make([]byte, 32), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Storage: MemoryStore(), Key: make([]byte, 32), ServerURL: srv.HTTPURL()}, "bob")
	for i := range 8 {
		mustSend(t, alice, "bob", fmt.Sprint("m", i))
	}
	tr, err := bob.transport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rt := tr.(*relayTransport)
	pending := func() []int64 { // the mailbox, left as it is
		s, err := rt.token(ctx, false)
		if err != nil {
			t.Error(err)
			return nil
		}
		page, err := bob.api.Fetch(ctx, s.Token, 0, 100)
		if err != nil {
			t.Error(err)
		}
		var seqs []int64
		for _, e := range page {
			seqs = append(seqs, e.Seq)
		}
		return seqs
	}
	all := pending()
	if len(all) != 8 {
		t.Fatalf("%d envelopes pending, want 8", len(all))
	}
	failure := errors.New("disk full")
	var pages [][]int64
	err = rt.drainPages(ctx, func(envs [][]byte) (int, error) {
		first := 3 * len(pages)
		page := all[first : first+len(envs)]
		pages = append(pages, page)
		if p := pending(); len(p) < len(all)-first || !slices.Equal(p[len(p)-(len(all)-first):], all[first:]) {
			t.Errorf("while page %d is stored, pending %v: acknowledged before its commit", len(pages), p)
		}
		if len(pages) == 2 {
			return 1, failure
		}
		return len(envs), nil
	})
	if !errors.Is(err, failure) {
		t.Fatalf("drain: %v, want the local failure", err)
	}
	if len(pages) != 2 {
		t.Fatalf("%d pages handed over, want 2", len(pages))
	}
	if p := pending(); !slices.Equal(p, all[4:]) {
		t.Fatalf("pending after the failure %v, want %v (the first page and one more acknowledged)", p, all[4:])
	}
}
