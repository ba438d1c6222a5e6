package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

func testSurvivesReopen(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	a, d := f.register("alice")
	f.must(f.db.AddOneTimePreKeys(f.ctx, "alice", 1, store.KindKEMOneTime, []store.PreKey{preKey(7)}))
	e := env(d.Mailbox, 300)
	res, err := f.db.AppendEnvelopes(f.ctx, []store.NewEnvelope{e}, store.MailboxLimits{})
	f.must(err)
	f.must(f.db.CreateBlob(f.ctx, newBlob("b", 3, 3, 1, f.now.Now()), store.BlobQuota{}))
	f.must(f.db.PutChunk(f.ctx, "b", 0, []byte("abc")))
	f.must(f.db.Close())

	db := reopen(t, f.db)
	got, err := db.GetAccount(f.ctx, "alice")
	f.must(err)
	if !bytes.Equal(got.IdentityKey, a.IdentityKey) {
		t.Fatal("identity key changed across reopen")
	}
	envs, err := db.PendingEnvelopes(f.ctx, d.Mailbox, 0, 10)
	f.must(err)
	if len(envs) != 1 || envs[0].Seq != res[0].Seq || !bytes.Equal(envs[0].Data, e.Data) {
		t.Fatalf("envelopes after reopen = %+v", envs)
	}
	if count, size, _ := db.MailboxUsage(f.ctx, d.Mailbox); count != 1 || size != 300 {
		t.Fatalf("usage after reopen = %d, %d", count, size)
	}
	if k, err := db.TakeOneTimePreKey(f.ctx, "alice", 1, store.KindKEMOneTime); err != nil || k.KeyID != 7 {
		t.Fatalf("one-time prekey after reopen = %v, %v", k, err)
	}
	if c, err := db.GetChunk(f.ctx, "b", 0); err != nil || string(c) != "abc" {
		t.Fatalf("chunk after reopen = %q, %v", c, err)
	}
	// A new envelope continues the sequence.
	res2, err := db.AppendEnvelopes(f.ctx, []store.NewEnvelope{env(d.Mailbox, 1)}, store.MailboxLimits{})
	f.must(err)
	if res2[0].Seq <= res[0].Seq {
		t.Fatalf("seq after reopen = %d, before = %d", res2[0].Seq, res[0].Seq)
	}
}

func testMigrationsIdempotent(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.register("alice")
	for range 2 {
		reopen(t, f.db).Close()
	}
	db := reopen(t, f.db)
	var versions, maxVersion int
	f.must(db.queryRow(f.ctx, "SELECT COUNT(*), MAX(version) FROM schema_version").Scan(&versions, &maxVersion))
	if versions != SchemaVersion() || maxVersion != SchemaVersion() {
		t.Fatalf("schema_version has %d rows up to %d, want %d", versions, maxVersion, SchemaVersion())
	}
	if _, err := db.GetAccount(f.ctx, "alice"); err != nil {
		t.Fatalf("data lost by re-running migrations: %v", err)
	}
	if n, _ := db.CountAccounts(f.ctx); n != 1 {
		t.Fatalf("CountAccounts = %d", n)
	}
}

func testNewerSchemaRefused(t *testing.T, open func(t *testing.T) *DB) {
	f := newFixture(t, open)
	f.must(f.db.write(f.ctx, func(t tx) error {
		_, err := t.exec(f.ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", SchemaVersion()+1)
		return err
	}))
	f.must(f.db.Close())
	db, err := Open(context.Background(), f.db.src)
	if err == nil {
		db.Close()
		t.Fatal("Open accepted a database with a newer schema")
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
}
