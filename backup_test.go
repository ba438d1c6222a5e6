package hush

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

// A backup restored on a new machine is a new device of the same identity:
// the account's device list grows by one, the contact sees a device added
// (never an identity change, the safety number stays), and messages flow
// both ways; contacts and history come back.
func TestRestoreBackupAddsDevice(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := bob.Send(ctx, "alice", "hi alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "hi bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := bob.SafetyNumber(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}

	pass := []byte("a long backup passphrase")
	var shown BackupInfo
	info, err := alice.CreateBackup(ctx, pass, BackupOptions{WithHistory: true, BeforeUpload: func(i BackupInfo) error { shown = i; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if info.Contacts != 1 || info.Messages != 2 || info.Size <= info.PayloadSize || shown != *info {
		t.Fatalf("backup info %+v, shown before upload %+v", info, shown)
	}

	// A wrong passphrase is refused and says how many tries are left
	// (two evaluations so far: the backup and this one).
	o := Options{Home: filepath.Join(dir, "a2"), Passphrase: []byte("pa2"), ServerURL: srv.HTTPURL()}
	_, err = RestoreBackup(ctx, o, "alice", []byte("not the passphrase"))
	var pe *BackupPassphraseError
	if !errors.Is(err, ErrWrongBackupPassphrase) || !errors.As(err, &pe) || pe.TriesLeft != 8 {
		t.Fatalf("wrong passphrase: %v, want ErrWrongBackupPassphrase with 8 tries left", err)
	}
	if sqliteExists(o.Home) {
		t.Fatal("a failed restore left a profile")
	}

	restored, err := RestoreBackup(ctx, o, "alice", pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Close() })
	if restored.DeviceID() != 2 || restored.Fingerprint() != alice.Fingerprint() {
		t.Fatalf("restored as device %d, fingerprint %s; want device 2 of %s", restored.DeviceID(), restored.Fingerprint(), alice.Fingerprint())
	}
	if h, err := restored.History(ctx, "bob", 0); err != nil || !slices.Equal(texts(h), []string{"hi alice", "hi bob"}) {
		t.Fatalf("restored history %v, %v", texts(h), err)
	}
	if cs, err := restored.Contacts(ctx); err != nil || len(cs) != 1 || cs[0].Username != "bob" {
		t.Fatalf("restored contacts %+v, %v", cs, err)
	}

	// The directory's list names both devices, at version 2.
	u, err := bob.lookup(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.DeviceList == nil || u.DeviceList.Version != 2 || !u.DeviceList.Lists(alice.cert) || !u.DeviceList.Lists(restored.cert) || len(u.DeviceList.Devices) != 2 {
		t.Fatalf("alice's list after restore: %+v", u.DeviceList)
	}

	// The restored device writes; bob sees a device added and no identity change.
	if _, err := restored.Send(ctx, "bob", "back again"); err != nil {
		t.Fatal(err)
	}
	var kinds []EventKind
	var added []uint32
	got, err := bob.SyncEvents(ctx, func(e Event) {
		kinds = append(kinds, e.Kind)
		if e.Kind == EventDevicesChanged {
			added = append(added, e.Devices.Added...)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(texts(got), []string{"back again"}) || slices.Contains(kinds, EventIdentityChanged) || !slices.Equal(added, []uint32{2}) {
		t.Fatalf("bob got %v with events %v, added %v", texts(got), kinds, added)
	}
	after, err := bob.SafetyNumber(ctx, "alice")
	if err != nil || after.String() != before.String() {
		t.Fatalf("safety number changed: %v -> %v (%v)", before, after, err)
	}
	c, err := bob.Contact(ctx, "alice")
	if err != nil || c.Changed || len(c.Devices) != 2 {
		t.Fatalf("bob's contact alice: %+v, %v", c, err)
	}

	// Bob answers; both of alice's devices read it.
	if _, err := bob.Send(ctx, "alice", "welcome back"); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*Client{restored, alice} {
		got, err := cl.Sync(ctx)
		if err != nil || !slices.Contains(texts(got), "welcome back") {
			t.Fatalf("device %d got %v, %v", cl.DeviceID(), texts(got), err)
		}
	}
}

func TestBackupErrors(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	o := Options{Home: filepath.Join(dir, "x"), Passphrase: []byte("px"), ServerURL: srv.HTTPURL()}
	if _, err := RestoreBackup(ctx, o, "nobody", []byte("pass")); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("restore of an unknown account: %v, want ErrNoBackup", err)
	}
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	if _, err := RestoreBackup(ctx, o, "alice", []byte("pass")); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("restore without a backup: %v, want ErrNoBackup", err)
	}
	if err := alice.ChangeBackupPassphrase(ctx, []byte("a"), []byte("b")); !errors.Is(err, ErrNoBackup) {
		t.Fatalf("passwd without a backup: %v, want ErrNoBackup", err)
	}
	if _, err := alice.CreateBackup(ctx, nil, BackupOptions{}); err == nil {
		t.Fatal("an empty backup passphrase was accepted")
	}
}

// hush backup passwd: a wrong current passphrase costs one try (the next
// one is not evaluated); afterwards only the new passphrase restores.
func TestChangeBackupPassphrase(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	if _, err := alice.CreateBackup(ctx, []byte("old"), BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	var pe *BackupPassphraseError
	if err := alice.ChangeBackupPassphrase(ctx, []byte("wrong"), []byte("new")); !errors.As(err, &pe) || pe.TriesLeft != 8 {
		t.Fatalf("wrong current passphrase: %v, want a passphrase error with 8 tries left", err)
	}
	if err := alice.ChangeBackupPassphrase(ctx, []byte("old"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	o := Options{Home: filepath.Join(dir, "r"), Passphrase: []byte("pr"), ServerURL: srv.HTTPURL()}
	if _, err := RestoreBackup(ctx, o, "alice", []byte("old")); !errors.Is(err, ErrWrongBackupPassphrase) {
		t.Fatalf("old passphrase after passwd: %v", err)
	}
	if err := alice.UnlockBackup(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := RestoreBackup(ctx, o, "alice", []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}
