package sqlstore

import (
	"bytes"
	"sort"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func testCreateAndGetAccount(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	a, d := f.register("alice")

	got, err := f.db.GetAccount(f.ctx, "alice")
	f.must(err)
	if got.Username != "alice" || !bytes.Equal(got.IdentityKey, a.IdentityKey) || got.KeyVersion != 1 ||
		got.State != store.StateActive || got.Email != "" || !got.CreatedAt.Equal(a.CreatedAt) || !got.UpdatedAt.Equal(a.CreatedAt) {
		t.Fatalf("GetAccount = %+v, want %+v", got, a)
	}
	_, err = f.db.GetAccount(f.ctx, "nobody")
	wantErr(t, "GetAccount(nobody)", err, store.ErrNotFound)

	gd, err := f.db.GetDevice(f.ctx, "alice", 1)
	f.must(err)
	if gd.Mailbox != d.Mailbox || !bytes.Equal(gd.Cert, d.Cert) || !gd.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("GetDevice = %+v, want %+v", gd, d)
	}
	hist, err := f.db.KeyHistory(f.ctx, "alice")
	f.must(err)
	if len(hist) != 1 || hist[0].Version != 1 || !bytes.Equal(hist[0].IdentityKey, a.IdentityKey) ||
		!hist[0].ValidFrom.Equal(a.CreatedAt) || !hist[0].ValidUntil.IsZero() {
		t.Fatalf("KeyHistory = %+v", hist)
	}
	_, err = f.db.KeyHistory(f.ctx, "nobody")
	wantErr(t, "KeyHistory(nobody)", err, store.ErrNotFound)

	f.register("bob")
	accs, err := f.db.GetAccounts(f.ctx, []string{"bob", "nobody", "alice", "bob"})
	f.must(err)
	var names []string
	for _, a := range accs {
		names = append(names, a.Username)
	}
	sort.Strings(names)
	if len(names) != 2 || names[0] != "alice" || names[1] != "bob" {
		t.Fatalf("GetAccounts = %v, want [alice bob]", names)
	}
	if accs, err := f.db.GetAccounts(f.ctx, nil); err != nil || len(accs) != 0 {
		t.Fatalf("GetAccounts(nil) = %v, %v", accs, err)
	}
	n, err := f.db.CountAccounts(f.ctx)
	f.must(err)
	if n != 2 {
		t.Fatalf("CountAccounts = %d, want 2", n)
	}

	// A device id or mailbox in use cannot be registered again.
	other := device("carol", 1)
	other.Mailbox = d.Mailbox
	err = f.db.CreateAccount(f.ctx, store.Account{Username: "carol", IdentityKey: randBytes(32)}, other, preKey(1), preKey(2), false)
	wantErr(t, "CreateAccount with a used mailbox", err, store.ErrExists)
	wantErr(t, "GetAccount after a failed registration", func() error { _, err := f.db.GetAccount(f.ctx, "carol"); return err }(), store.ErrNotFound)
}

// TestUsernameTakeover is a security regression test: a username once
// bound to an identity key cannot be registered with another key, not even
// after the account was deleted, unless the operator allows reuse.
func testUsernameTakeover(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	a, _ := f.register("alice")
	mallory := store.Account{Username: "alice", IdentityKey: randBytes(32)}

	err := f.db.CreateAccount(f.ctx, mallory, device("alice", 1), preKey(1), preKey(2), false)
	wantErr(t, "takeover of an active account", err, store.ErrUsernameTaken)
	err = f.db.CreateAccount(f.ctx, mallory, device("alice", 1), preKey(1), preKey(2), true)
	wantErr(t, "takeover of an active account with allowReuse", err, store.ErrUsernameTaken)
	same := store.Account{Username: "alice", IdentityKey: a.IdentityKey}
	err = f.db.CreateAccount(f.ctx, same, device("alice", 1), preKey(1), preKey(2), false)
	wantErr(t, "re-registration of an active account with its own key", err, store.ErrUsernameTaken)

	f.must(f.db.DeleteAccount(f.ctx, "alice"))
	err = f.db.CreateAccount(f.ctx, mallory, device("alice", 1), preKey(1), preKey(2), false)
	wantErr(t, "takeover after deletion", err, store.ErrUsernameTaken)
	got, err := f.db.GetAccount(f.ctx, "alice")
	f.must(err)
	if got.State != store.StateDeleted || !bytes.Equal(got.IdentityKey, a.IdentityKey) {
		t.Fatalf("tombstone = %+v", got)
	}

	// The same key may come back.
	f.must(f.db.CreateAccount(f.ctx, same, device("alice", 1), preKey(1), preKey(2), false))
	got, err = f.db.GetAccount(f.ctx, "alice")
	f.must(err)
	if got.State != store.StateActive || got.KeyVersion != 1 {
		t.Fatalf("re-registered account = %+v", got)
	}

	// The operator may allow another key to take a deleted name.
	f.must(f.db.DeleteAccount(f.ctx, "alice"))
	f.must(f.db.CreateAccount(f.ctx, mallory, device("alice", 1), preKey(1), preKey(2), true))
	got, err = f.db.GetAccount(f.ctx, "alice")
	f.must(err)
	hist, err := f.db.KeyHistory(f.ctx, "alice")
	f.must(err)
	if !bytes.Equal(got.IdentityKey, mallory.IdentityKey) || len(hist) != 1 || !bytes.Equal(hist[0].IdentityKey, mallory.IdentityKey) {
		t.Fatalf("reused account = %+v, history %+v", got, hist)
	}
}

func testPendingAccounts(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	start := f.now.Now()
	for _, name := range []string{"old1", "old2", "young"} {
		if name == "young" {
			f.now.Add(time.Hour)
		}
		a := store.Account{Username: name, IdentityKey: randBytes(32), State: store.StatePending, Email: name + "@example.org", CreatedAt: f.now.Now()}
		f.must(f.db.CreateAccount(f.ctx, a, device(name, 1), preKey(1), preKey(2), false))
	}
	f.must(f.db.PutToken(f.ctx, store.Token{Hash: randBytes(32), Purpose: "activate", Username: "old1", ExpiresAt: start.Add(time.Hour)}))
	got, err := f.db.GetAccount(f.ctx, "old1")
	f.must(err)
	if got.State != store.StatePending || got.Email != "old1@example.org" {
		t.Fatalf("pending account = %+v", got)
	}

	f.now.Add(time.Minute)
	f.must(f.db.ActivateAccount(f.ctx, "old2"))
	got, err = f.db.GetAccount(f.ctx, "old2")
	f.must(err)
	if got.State != store.StateActive || got.Email != "" || !got.UpdatedAt.Equal(f.now.Now()) {
		t.Fatalf("activated account = %+v (the e-mail must be forgotten)", got)
	}
	wantErr(t, "ActivateAccount of an active account", f.db.ActivateAccount(f.ctx, "old2"), store.ErrNotFound)
	wantErr(t, "ActivateAccount(nobody)", f.db.ActivateAccount(f.ctx, "nobody"), store.ErrNotFound)

	names, err := f.db.ExpirePending(f.ctx, start.Add(30*time.Minute))
	f.must(err)
	if len(names) != 1 || names[0] != "old1" {
		t.Fatalf("ExpirePending = %v, want [old1]", names)
	}
	_, err = f.db.GetAccount(f.ctx, "old1")
	wantErr(t, "GetAccount of an expired pending account", err, store.ErrNotFound)
	for _, name := range []string{"old2", "young"} {
		_, err := f.db.GetAccount(f.ctx, name)
		wantErr(t, "GetAccount("+name+")", err, nil)
	}
	// The purged name is free again, for any key.
	f.must(f.db.CreateAccount(f.ctx, store.Account{Username: "old1", IdentityKey: randBytes(32)}, device("old1", 1), preKey(1), preKey(2), false))
}

func testDeleteAccount(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, d := f.register("alice")
	d2 := device("alice", 2)
	f.must(f.db.AddDevice(f.ctx, d2, preKey(1), preKey(2)))
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 2, store.KindOneTime, []store.PreKey{preKey(10)}))
	sess := store.Session{Hash: randBytes(32), Username: "alice", DeviceID: 1, Mailbox: d.Mailbox, ExpiresAt: f.now.Now().Add(time.Hour)}
	f.must(f.db.PutSession(f.ctx, sess))
	tok := store.Token{Hash: randBytes(32), Purpose: "delete", Username: "alice", ExpiresAt: f.now.Now().Add(time.Hour)}
	f.must(f.db.PutToken(f.ctx, tok))
	res, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{{Mailbox: d.Mailbox, Data: []byte("x")}}, store.MailboxLimits{})
	f.must(err)
	f.must(res[0].Err)

	f.now.Add(time.Minute)
	f.must(f.db.DeleteAccount(f.ctx, "alice"))
	got, err := f.db.GetAccount(f.ctx, "alice")
	f.must(err)
	if got.State != store.StateDeleted || !got.UpdatedAt.Equal(f.now.Now()) {
		t.Fatalf("tombstone = %+v", got)
	}
	if devs, err := f.db.ListDevices(f.ctx, "alice"); err != nil || len(devs) != 0 {
		t.Fatalf("ListDevices after deletion = %v, %v", devs, err)
	}
	_, err = f.db.GetSession(f.ctx, sess.Hash, f.now.Now())
	wantErr(t, "GetSession after deletion", err, store.ErrNotFound)
	_, err = f.db.TakeToken(f.ctx, tok.Hash, "delete", f.now.Now())
	wantErr(t, "TakeToken after deletion", err, store.ErrNotFound)
	_, _, err = f.db.MailboxUsage(f.ctx, d.Mailbox)
	wantErr(t, "MailboxUsage after deletion", err, store.ErrNotFound)
	if envs, err := f.db.PendingEnvelopes(f.ctx, d.Mailbox, 0, 10); err != nil || len(envs) != 0 {
		t.Fatalf("PendingEnvelopes after deletion = %v, %v", envs, err)
	}
	if n, err := f.db.CountOneTimePreKeys(f.ctx, "alice", 2, store.KindOneTime); err != nil || n != 0 {
		t.Fatalf("CountOneTimePreKeys after deletion = %d, %v", n, err)
	}
	if hist, err := f.db.KeyHistory(f.ctx, "alice"); err != nil || len(hist) != 1 {
		t.Fatalf("KeyHistory of a tombstone = %v, %v (kept so old signatures stay verifiable)", hist, err)
	}
	wantErr(t, "AddDevice to a tombstone", f.db.AddDevice(f.ctx, device("alice", 3), preKey(1), preKey(2)), store.ErrNotFound)
	wantErr(t, "DeleteAccount of a tombstone", f.db.DeleteAccount(f.ctx, "alice"), nil)
	wantErr(t, "DeleteAccount(nobody)", f.db.DeleteAccount(f.ctx, "nobody"), store.ErrNotFound)
	if n, _ := f.db.CountAccounts(f.ctx); n != 1 {
		t.Fatalf("CountAccounts = %d, want 1 (tombstones count)", n)
	}
}

func testPurgeAccount(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, d := f.register("alice")
	f.must(f.db.PutToken(f.ctx, store.Token{Hash: randBytes(32), Purpose: "activate", Username: "alice"}))
	f.must(f.db.PurgeAccount(f.ctx, "alice"))
	_, err := f.db.GetAccount(f.ctx, "alice")
	wantErr(t, "GetAccount after purge", err, store.ErrNotFound)
	_, err = f.db.DeviceByMailbox(f.ctx, d.Mailbox)
	wantErr(t, "DeviceByMailbox after purge", err, store.ErrNotFound)
	_, err = f.db.KeyHistory(f.ctx, "alice")
	wantErr(t, "KeyHistory after purge", err, store.ErrNotFound)
	wantErr(t, "PurgeAccount again", f.db.PurgeAccount(f.ctx, "alice"), store.ErrNotFound)
	f.register("alice")
}

func testRotateIdentity(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	a, d := f.register("alice")
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime, []store.PreKey{preKey(10)}))
	sess := store.Session{Hash: randBytes(32), Username: "alice", DeviceID: 1, Mailbox: d.Mailbox, ExpiresAt: f.now.Now().Add(time.Hour)}
	f.must(f.db.PutSession(f.ctx, sess))

	keys := [][]byte{a.IdentityKey}
	times := []time.Time{a.CreatedAt}
	var devs []store.Device
	for round := 0; round < 2; round++ {
		f.now.Add(time.Hour)
		key := randBytes(32)
		devs = []store.Device{device("alice", 1), device("alice", 7)}
		f.must(f.db.RotateIdentity(f.ctx, "alice", key, devs, f.now.Now()))
		keys = append(keys, key)
		times = append(times, f.now.Now())
	}

	got, err := f.db.GetAccount(f.ctx, "alice")
	f.must(err)
	if got.KeyVersion != 3 || !bytes.Equal(got.IdentityKey, keys[2]) || !got.UpdatedAt.Equal(times[2]) {
		t.Fatalf("account after two rotations = %+v", got)
	}
	hist, err := f.db.KeyHistory(f.ctx, "alice")
	f.must(err)
	if len(hist) != 3 {
		t.Fatalf("KeyHistory has %d entries, want 3", len(hist))
	}
	for i, h := range hist {
		wantUntil := time.Time{}
		if i < 2 {
			wantUntil = times[i+1]
		}
		if h.Version != i+1 || !bytes.Equal(h.IdentityKey, keys[i]) || !h.ValidFrom.Equal(times[i]) || !h.ValidUntil.Equal(wantUntil) {
			t.Fatalf("history[%d] = %+v, want version %d from %v until %v", i, h, i+1, times[i], wantUntil)
		}
	}
	list, err := f.db.ListDevices(f.ctx, "alice")
	f.must(err)
	if len(list) != 2 || list[0].Mailbox != devs[0].Mailbox || list[1].DeviceID != 7 {
		t.Fatalf("devices after rotation = %+v", list)
	}
	_, err = f.db.DeviceByMailbox(f.ctx, d.Mailbox)
	wantErr(t, "old mailbox after rotation", err, store.ErrNotFound)
	_, err = f.db.GetSession(f.ctx, sess.Hash, f.now.Now())
	wantErr(t, "old session after rotation", err, store.ErrNotFound)
	_, err = f.db.GetPreKey(f.ctx, "alice", 1, store.KindSigned)
	wantErr(t, "signed prekey after rotation", err, store.ErrNotFound)
	if n, _ := f.db.CountOneTimePreKeys(f.ctx, "alice", 1, store.KindOneTime); n != 0 {
		t.Fatalf("%d one-time prekeys left after rotation", n)
	}
	// The new devices have working mailboxes.
	if _, _, err := f.db.MailboxUsage(f.ctx, devs[1].Mailbox); err != nil {
		t.Fatal(err)
	}

	err = f.db.RotateIdentity(f.ctx, "nobody", randBytes(32), nil, f.now.Now())
	wantErr(t, "RotateIdentity(nobody)", err, store.ErrNotFound)
	f.must(f.db.DeleteAccount(f.ctx, "alice"))
	err = f.db.RotateIdentity(f.ctx, "alice", randBytes(32), nil, f.now.Now())
	wantErr(t, "RotateIdentity of a tombstone", err, store.ErrNotFound)
}

func testDevices(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	_, d1 := f.register("alice")
	f.register("bob")
	d2 := device("alice", 2)
	f.must(f.db.AddDevice(f.ctx, d2, preKey(5), preKey(6)))
	if d, err := f.db.GetDevice(f.ctx, "alice", 2); err != nil || !d.CreatedAt.Equal(f.now.Now()) {
		t.Fatalf("GetDevice = %+v, %v (zero CreatedAt means now)", d, err)
	}

	wantErr(t, "AddDevice with a used id", f.db.AddDevice(f.ctx, device("alice", 2), preKey(1), preKey(2)), store.ErrExists)
	dup := device("bob", 9)
	dup.Mailbox = d1.Mailbox
	wantErr(t, "AddDevice with another device's mailbox", f.db.AddDevice(f.ctx, dup, preKey(1), preKey(2)), store.ErrExists)
	wantErr(t, "AddDevice to nobody", f.db.AddDevice(f.ctx, device("nobody", 1), preKey(1), preKey(2)), store.ErrNotFound)

	got, err := f.db.DeviceByMailbox(f.ctx, d2.Mailbox)
	f.must(err)
	if got.Username != "alice" || got.DeviceID != 2 {
		t.Fatalf("DeviceByMailbox = %+v", got)
	}
	list, err := f.db.ListDevices(f.ctx, "alice")
	f.must(err)
	if len(list) != 2 || list[0].DeviceID != 1 || list[1].DeviceID != 2 {
		t.Fatalf("ListDevices = %+v", list)
	}
	if list, err := f.db.ListDevices(f.ctx, "nobody"); err != nil || len(list) != 0 {
		t.Fatalf("ListDevices(nobody) = %v, %v", list, err)
	}

	sess := store.Session{Hash: randBytes(32), Username: "alice", DeviceID: 2, Mailbox: d2.Mailbox, ExpiresAt: f.now.Now().Add(time.Hour)}
	f.must(f.db.PutSession(f.ctx, sess))
	f.must(f.db.DeleteDevice(f.ctx, "alice", 2))
	_, err = f.db.GetDevice(f.ctx, "alice", 2)
	wantErr(t, "GetDevice after DeleteDevice", err, store.ErrNotFound)
	_, err = f.db.GetSession(f.ctx, sess.Hash, f.now.Now())
	wantErr(t, "session of a deleted device", err, store.ErrNotFound)
	_, err = f.db.GetPreKey(f.ctx, "alice", 2, store.KindSigned)
	wantErr(t, "prekey of a deleted device", err, store.ErrNotFound)
	wantErr(t, "DeleteDevice again", f.db.DeleteDevice(f.ctx, "alice", 2), store.ErrNotFound)
	_, err = f.db.GetDevice(f.ctx, "alice", 1)
	wantErr(t, "the other device", err, nil)
}

func testPreKeys(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	k, err := f.db.GetPreKey(f.ctx, "alice", 1, store.KindSigned)
	f.must(err)
	if k.KeyID != 1 || len(k.Data) != 33 {
		t.Fatalf("signed prekey = %+v", k)
	}
	k, err = f.db.GetPreKey(f.ctx, "alice", 1, store.KindLastResort)
	f.must(err)
	if k.KeyID != 2 {
		t.Fatalf("last-resort prekey = %+v", k)
	}
	repl := preKey(42)
	f.must(f.db.SetPreKey(f.ctx, "alice", 1, store.KindSigned, repl))
	k, err = f.db.GetPreKey(f.ctx, "alice", 1, store.KindSigned)
	f.must(err)
	if k.KeyID != 42 || !bytes.Equal(k.Data, repl.Data) {
		t.Fatalf("replaced signed prekey = %+v", k)
	}
	if k, _ := f.db.GetPreKey(f.ctx, "alice", 1, store.KindLastResort); k.KeyID != 2 {
		t.Fatalf("last-resort prekey changed with the signed one: %+v", k)
	}
	wantErr(t, "SetPreKey for nobody", f.db.SetPreKey(f.ctx, "alice", 9, store.KindSigned, repl), store.ErrNotFound)
	wantErr(t, "SetPreKey of a one-time kind", f.db.SetPreKey(f.ctx, "alice", 1, store.KindOneTime, repl), ErrInvalid)
	_, err = f.db.GetPreKey(f.ctx, "alice", 9, store.KindSigned)
	wantErr(t, "GetPreKey for an unknown device", err, store.ErrNotFound)
}

func testImportAccounts(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("taken")
	mk := func(name string, n byte) store.Import {
		return store.Import{
			Account:    store.Account{Username: name, IdentityKey: bytes.Repeat([]byte{n}, 32)},
			Device:     store.Device{DeviceID: 1, Cert: []byte("cert-" + name), Mailbox: string(bytes.Repeat([]byte{'a' + n%26}, 32))},
			Signed:     store.PreKey{KeyID: 1, Data: []byte("spk")},
			LastResort: store.PreKey{KeyID: 2, Data: []byte("kem")},
		}
	}
	f.must(f.db.ImportAccounts(f.ctx, []store.Import{mk("imp1", 1), mk("imp2", 2)}))
	for _, name := range []string{"imp1", "imp2"} {
		if a, err := f.db.GetAccount(f.ctx, name); err != nil || a.State != store.StateActive {
			t.Fatalf("imported %s: %+v %v", name, a, err)
		}
		if k, err := f.db.GetPreKey(f.ctx, name, 1, store.KindSigned); err != nil || string(k.Data) != "spk" {
			t.Fatalf("imported %s prekey: %v", name, err)
		}
	}
	// One taken name fails the whole batch: nothing of it is stored.
	err := f.db.ImportAccounts(f.ctx, []store.Import{mk("imp3", 3), mk("taken", 4)})
	wantErr(t, "ImportAccounts with a taken name", err, store.ErrUsernameTaken)
	_, err = f.db.GetAccount(f.ctx, "imp3")
	wantErr(t, "GetAccount(imp3) after a failed batch", err, store.ErrNotFound)
}
