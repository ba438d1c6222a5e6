package hush

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/localstore"
)

// Social recovery end to end: alice splits her recovery secret 2 of 3
// among bob, carol and dave; on a new machine, with no passphrase, two
// holders' approvals restore her as a new device of the same identity.
// One holder's share is not enough; a tampered share is named.
func TestSocialRecovery(t *testing.T) {
	srv := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mk := func(name string) *Client {
		return create(t, Options{Home: filepath.Join(dir, name), Passphrase: []byte("p" + name), ServerURL: srv.HTTPURL()}, name)
	}
	alice, bob, carol, dave := mk("alice"), mk("bob"), mk("carol"), mk("dave")
	pass := []byte("backup passphrase")
	if _, err := alice.CreateBackup(ctx, pass, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SetupRecovery(ctx, pass, 4, []string{"bob", "carol", "dave"}); err == nil {
		t.Fatal("a threshold above the holders was accepted")
	}
	setup, err := alice.SetupRecovery(ctx, pass, 2, []string{"bob", "carol", "dave"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Client{bob, carol, dave} {
		if _, err := h.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		held, err := h.HeldShares(ctx)
		if err != nil || len(held) != 1 || held[0].Owner != "alice" || held[0].Threshold != 2 || held[0].Total != 3 || held[0].SetID != setup.SetID {
			t.Fatalf("%s holds %+v, %v", h.Username(), held, err)
		}
	}
	// Dave's share is altered on his device.
	if err := dave.st.Update(ctx, func(tx *localstore.Tx) error {
		held, err := loadShares(tx)
		if err != nil {
			return err
		}
		h := held["alice"]
		h.Share[len(h.Share)-1] ^= 1
		held["alice"] = h
		return tx.PutSecret(secretRecoveryShares, encodeJSON(held))
	}); err != nil {
		t.Fatal(err)
	}

	rec, err := StartRecovery(ctx, Options{Home: filepath.Join(dir, "alice2"), Passphrase: []byte("new"), ServerURL: srv.HTTPURL()}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	approve := func(h *Client) {
		t.Helper()
		req, err := h.InspectRecovery(ctx, "alice", rec.Code())
		if err != nil {
			t.Fatal(err)
		}
		if req.Fingerprint != rec.Fingerprint() {
			t.Fatal("fingerprints differ")
		}
		if err := h.ApproveRecovery(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bob.InspectRecovery(ctx, "carol", rec.Code()); err == nil {
		t.Fatal("a request for alice approved as carol's")
	}
	approve(bob)
	// One share of two: nothing yet.
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	_, err = rec.Wait(short, nil)
	stop()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with one share: %v", err)
	}
	approve(dave) // tampered: named, not combined
	var named []string
	done := make(chan error, 1)
	var restored *Client
	go func() {
		var err error
		restored, err = rec.Wait(ctx, func(p RecoveryProgress) {
			if p.Err != nil {
				named = append(named, p.Err.Error())
			}
		})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	approve(carol)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Close() })
	if len(named) != 1 || !strings.Contains(named[0], "dave") {
		t.Fatalf("the tampered share was not named: %q", named)
	}
	if restored.Fingerprint() != alice.Fingerprint() || restored.DeviceID() != 2 {
		t.Fatalf("restored as device %d with %s", restored.DeviceID(), restored.Fingerprint())
	}
	if _, err := restored.Send(ctx, "bob", "back again"); err != nil {
		t.Fatal(err)
	}
	got, err := bob.Sync(ctx)
	if err != nil || len(got) != 1 || got[0].Text != "back again" {
		t.Fatalf("bob got %+v, %v", got, err)
	}
	// A new setup replaces the old shares: the old set no longer opens.
	if _, err := alice.SetupRecovery(ctx, pass, 2, []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
}
