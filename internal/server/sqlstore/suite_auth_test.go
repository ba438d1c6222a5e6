package sqlstore

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func testOneTimePreKeys(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	x := []store.PreKey{preKey(10), preKey(11), preKey(12)}
	kem := []store.PreKey{preKey(10), preKey(20)}
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, x))
	// Key ids are per kind: the KEM list may reuse 10.
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindKEMOneTime, kem))

	err := f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, []store.PreKey{preKey(13), preKey(11)})
	wantErr(t, "AddOneTimePreKeys with a stored id", err, store.ErrExists)
	err = f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, []store.PreKey{preKey(14), preKey(14)})
	wantErr(t, "AddOneTimePreKeys with a repeated id", err, store.ErrExists)
	if n, _ := f.db.CountOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime); n != 3 {
		t.Fatalf("count = %d after refused adds, want 3 (nothing added)", n)
	}
	wantErr(t, "AddOneTimePreKeys for an unknown device",
		f.db.AddOneTimePreKeys(f.ctx, "alice", 9, store.KindOneTime, x), store.ErrNotFound)
	wantErr(t, "AddOneTimePreKeys of kind signed",
		f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindSigned, x), ErrInvalid)

	// Oldest first.
	for _, want := range x {
		k, err := f.db.TakeOneTimePreKey(f.ctx, "alice", 1, store.KindOneTime)
		f.must(err)
		if k.KeyID != want.KeyID || !bytes.Equal(k.Data, want.Data) {
			t.Fatalf("took %d, want %d", k.KeyID, want.KeyID)
		}
	}
	_, err = f.db.TakeOneTimePreKey(f.ctx, "alice", 1, store.KindOneTime)
	wantErr(t, "TakeOneTimePreKey when none is left", err, store.ErrNotFound)
	if n, _ := f.db.CountOneTimePreKeys(f.ctx, "alice", 1, store.KindKEMOneTime); n != 2 {
		t.Fatalf("KEM count = %d, want 2", n)
	}
	// A taken id may be uploaded again.
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, []store.PreKey{preKey(10)}))
	_, err = f.db.TakeOneTimePreKey(f.ctx, "bob", 1, store.KindOneTime)
	wantErr(t, "TakeOneTimePreKey for an unknown device", err, store.ErrNotFound)
}

// testOneTimePreKeysConcurrent is a security regression test: a one-time
// prekey handed out twice lets two senders share it, which breaks the
// forward secrecy it exists for. 50 goroutines over two handles (two
// server instances) take keys until none is left.
func testOneTimePreKeysConcurrent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	const keys = 200
	var ks []store.PreKey
	for i := range keys {
		ks = append(ks, preKey(uint32(1000+i)))
	}
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, ks))
	dbs := []*DB{f.db, reopen(t, f.db)}

	var mu sync.Mutex
	taken := map[uint32]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := range 50 {
		wg.Add(1)
		go func(db *DB) {
			defer wg.Done()
			for {
				k, err := db.TakeOneTimePreKey(f.ctx, "alice", 1, store.KindOneTime)
				if err == store.ErrNotFound {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				taken[k.KeyID]++
				mu.Unlock()
			}
		}(dbs[g%2])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for id, n := range taken {
		if n != 1 {
			t.Fatalf("key %d handed out %d times", id, n)
		}
	}
	if len(taken) != keys {
		t.Fatalf("%d keys handed out, want %d", len(taken), keys)
	}
	if n, _ := f.db.CountOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
	_, err := f.db.TakeOneTimePreKey(f.ctx, "alice", 1, store.KindOneTime)
	wantErr(t, "TakeOneTimePreKey after all were taken", err, store.ErrNotFound)
}

func testTokens(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	now := f.now.Now()
	tok := store.Token{Hash: randBytes(32), Purpose: "activate", Username: "alice", DeviceID: 3, ExpiresAt: now.Add(time.Hour)}
	f.must(f.db.PutToken(f.ctx, tok))
	wantErr(t, "PutToken with a stored hash", f.db.PutToken(f.ctx, tok), store.ErrExists)
	wantErr(t, "PutToken for nobody", f.db.PutToken(f.ctx, store.Token{Hash: randBytes(32), Purpose: "x", Username: "nobody"}), store.ErrNotFound)

	_, err := f.db.TakeToken(f.ctx, tok.Hash, "delete", now)
	wantErr(t, "TakeToken with another purpose", err, store.ErrNotFound)
	got, err := f.db.TakeToken(f.ctx, tok.Hash, "activate", now)
	f.must(err)
	if !bytes.Equal(got.Hash, tok.Hash) || got.Username != "alice" || got.DeviceID != 3 || !got.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("TakeToken = %+v, want %+v", got, tok)
	}
	_, err = f.db.TakeToken(f.ctx, tok.Hash, "activate", now)
	wantErr(t, "TakeToken twice (single use)", err, store.ErrNotFound)

	late := store.Token{Hash: randBytes(32), Purpose: "activate", Username: "alice", ExpiresAt: now.Add(time.Hour)}
	f.must(f.db.PutToken(f.ctx, late))
	_, err = f.db.TakeToken(f.ctx, late.Hash, "activate", now.Add(time.Hour))
	wantErr(t, "TakeToken at its expiry", err, store.ErrNotFound)

	// ExpireTokens removes expired tokens and sessions, and only those.
	keep := store.Token{Hash: randBytes(32), Purpose: "activate", Username: "alice", ExpiresAt: now.Add(2 * time.Hour)}
	old := store.Token{Hash: randBytes(32), Purpose: "activate", Username: "alice", ExpiresAt: now.Add(time.Minute)}
	forever := store.Token{Hash: randBytes(32), Purpose: "activate", Username: "alice"}
	f.must(f.db.PutToken(f.ctx, keep))
	f.must(f.db.PutToken(f.ctx, old))
	f.must(f.db.PutToken(f.ctx, forever))
	n, err := f.db.ExpireTokens(f.ctx, now.Add(90*time.Minute))
	f.must(err)
	if n != 1 {
		t.Fatalf("ExpireTokens = %d, want 1", n)
	}
	for _, tk := range []store.Token{keep, forever} {
		if _, err := f.db.TakeToken(f.ctx, tk.Hash, "activate", now.Add(90*time.Minute)); err != nil {
			t.Fatalf("token expiring at %v: %v", tk.ExpiresAt, err)
		}
	}
}

func testSessions(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, d := f.register("alice")
	_, bd := f.register("bob")
	now := f.now.Now()
	s := store.Session{Hash: randBytes(32), Username: "alice", DeviceID: 1, Mailbox: d.Mailbox, ExpiresAt: now.Add(time.Hour)}
	f.must(f.db.PutSession(f.ctx, s))
	wantErr(t, "PutSession with a stored hash", f.db.PutSession(f.ctx, s), store.ErrExists)
	bad := s
	bad.Hash, bad.Mailbox = randBytes(32), bd.Mailbox
	wantErr(t, "PutSession naming another device's mailbox", f.db.PutSession(f.ctx, bad), ErrInvalid)
	bad.DeviceID = 9
	wantErr(t, "PutSession for an unknown device", f.db.PutSession(f.ctx, bad), store.ErrNotFound)

	got, err := f.db.GetSession(f.ctx, s.Hash, now)
	f.must(err)
	if got.Username != "alice" || got.DeviceID != 1 || got.Mailbox != d.Mailbox || !got.ExpiresAt.Equal(s.ExpiresAt) {
		t.Fatalf("GetSession = %+v", got)
	}
	_, err = f.db.GetSession(f.ctx, s.Hash, now.Add(time.Hour))
	wantErr(t, "GetSession at expiry", err, store.ErrNotFound)
	_, err = f.db.GetSession(f.ctx, randBytes(32), now)
	wantErr(t, "GetSession(unknown)", err, store.ErrNotFound)

	n, err := f.db.ExpireTokens(f.ctx, now.Add(2*time.Hour))
	f.must(err)
	if n != 1 {
		t.Fatalf("ExpireTokens = %d, want 1 session", n)
	}
	s2 := store.Session{Hash: randBytes(32), Username: "alice", DeviceID: 1, Mailbox: d.Mailbox, ExpiresAt: now.Add(time.Hour)}
	f.must(f.db.PutSession(f.ctx, s2))
	f.must(f.db.DeleteSession(f.ctx, s2.Hash))
	_, err = f.db.GetSession(f.ctx, s2.Hash, now)
	wantErr(t, "GetSession after DeleteSession", err, store.ErrNotFound)
	wantErr(t, "DeleteSession again", f.db.DeleteSession(f.ctx, s2.Hash), store.ErrNotFound)
}

// describe formats append results for failure messages.
func describe(res []store.AppendResult) string {
	var b bytes.Buffer
	for i, r := range res {
		fmt.Fprintf(&b, "[%d seq=%d err=%v] ", i, r.Seq, r.Err)
	}
	return b.String()
}
