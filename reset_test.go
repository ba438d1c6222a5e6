package hush

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/testkit"
)

// copyProfile copies the files of a closed profile directory.
func copyProfile(t *testing.T, from, to string) {
	t.Helper()
	os.RemoveAll(to)
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// syncErrs syncs c and returns the texts it received and the errors it
// reported.
func syncErrs(t *testing.T, c *Client) (got []string, errs []error) {
	t.Helper()
	ms, err := c.SyncEvents(context.Background(), func(e Event) {
		if e.Err != nil {
			errs = append(errs, e.Err)
		}
	})
	if err != nil {
		t.Fatalf("%s: sync: %v", c.Username(), err)
	}
	return texts(ms), errs
}

// Regression (issue 8, item 2): after alice's profile is restored from an
// older copy, messages in both directions used to be lost for good with
// no error anywhere. The device that cannot read asks for a new session;
// the other starts one and sends again what could not be read.
func TestRestoredProfileRecoversBothDirections(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	exchange := func(from, to *Client, text string) {
		t.Helper()
		if _, err := from.Send(ctx, to.Username(), text); err != nil {
			t.Fatal(err)
		}
		if got, errs := syncErrs(t, to); strings.Join(got, "|") != text || len(errs) != 0 {
			t.Fatalf("%s got %q %v, want %q", to.Username(), got, errs, text)
		}
	}
	exchange(alice, bob, "a1")
	exchange(bob, alice, "b1")

	alice.Close()
	copyProfile(t, ao.Home, filepath.Join(dir, "backup"))
	alice, err := Open(ctx, ao)
	if err != nil {
		t.Fatal(err)
	}
	exchange(alice, bob, "a2")
	exchange(bob, alice, "b2")
	exchange(alice, bob, "a3")
	alice.Close()
	copyProfile(t, filepath.Join(dir, "backup"), ao.Home) // the restore
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	// Bob writes first: the restored alice cannot follow his ratchet.
	if _, err := bob.Send(ctx, "alice", "b3 after the restore"); err != nil {
		t.Fatal(err)
	}
	got, errs := syncErrs(t, alice)
	var se *SessionResetError
	if len(got) != 0 || len(errs) != 1 || !errors.As(errs[0], &se) || !se.Asked || se.Peer != "bob" {
		t.Fatalf("restored alice: got %q, events %v; want one reset request to bob", got, errs)
	}
	got, errs = syncErrs(t, bob)
	if len(errs) != 1 || !errors.As(errs[0], &se) || se.Asked || se.Resent != 1 {
		t.Fatalf("bob on the reset request: got %q, events %v; want one message re-sent", got, errs)
	}
	if got, errs = syncErrs(t, alice); strings.Join(got, "|") != "b3 after the restore" || len(errs) != 0 {
		t.Fatalf("restored alice after the re-send: %q %v", got, errs)
	}

	// Alice writes on the new session; bob reads it.
	if _, err := alice.Send(ctx, "bob", "a4 after the restore"); err != nil {
		t.Fatal(err)
	}
	if got, errs = syncErrs(t, bob); strings.Join(got, "|") != "a4 after the restore" || len(errs) != 0 {
		t.Fatalf("bob: %q %v", got, errs)
	}
	// Redelivering what was already read is still a silent duplicate.
	if got, errs = syncErrs(t, bob); len(got) != 0 || len(errs) != 0 {
		t.Fatalf("bob's second sync: %q %v", got, errs)
	}
}

// Regression (issue 8, item 2): a restored profile whose sending chain is
// behind sends at a position its peer already used; the peer used to drop
// it as a duplicate. It asks for a new session and gets the message.
func TestRestoredSenderIsAskedToResend(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Send(ctx, "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	syncErrs(t, alice)
	syncErrs(t, bob)
	alice.Close()
	copyProfile(t, ao.Home, filepath.Join(dir, "backup"))
	alice, err := Open(ctx, ao)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"lost 1", "lost 2"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	syncErrs(t, bob)
	alice.Close()
	copyProfile(t, filepath.Join(dir, "backup"), ao.Home)
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	if _, err := alice.Send(ctx, "bob", "written after the restore"); err != nil {
		t.Fatal(err)
	}
	got, errs := syncErrs(t, bob)
	var se *SessionResetError
	if len(got) != 0 || len(errs) != 1 || !errors.As(errs[0], &se) || !se.Asked {
		t.Fatalf("bob: got %q %v, want a reset request and no message yet", got, errs)
	}
	if _, errs = syncErrs(t, alice); len(errs) != 1 || !errors.As(errs[0], &se) || se.Resent != 1 {
		t.Fatalf("alice on the request: %v", errs)
	}
	if got, errs = syncErrs(t, bob); strings.Join(got, "|") != "written after the restore" || len(errs) != 0 {
		t.Fatalf("bob after the re-send: %q %v", got, errs)
	}
}

// Security: a reset request is signed with the requester's identity key
// over both addresses; one from anyone else, or moved to another
// recipient, is refused, so a stranger cannot make a device start over
// and re-send its history.
func TestSecurityRegressionResetRequestMustBeSignedByThePeer(t *testing.T) {
	alice, _ := identity.GenerateIdentity()
	mallory, _ := identity.GenerateIdentity()
	a := envelope.Address{User: "alice", Device: 1}
	b := envelope.Address{User: "bob", Device: 1}
	c := envelope.Address{User: "carol", Device: 1}
	var failed [16]byte
	failed[0] = 7
	p := encodeReset(alice, a, b, failed, 1_700_000_000_000)
	if got, ts, err := decodeReset(alice.Public(), a, b, p); err != nil || got != failed || ts != 1_700_000_000_000 {
		t.Fatalf("genuine request: %x %d %v", got, ts, err)
	}
	if _, _, err := decodeReset(mallory.Public(), a, b, p); !errors.Is(err, identity.ErrSignature) {
		t.Fatalf("request checked against another key: %v", err)
	}
	if _, _, err := decodeReset(alice.Public(), a, c, p); !errors.Is(err, identity.ErrSignature) {
		t.Fatalf("request moved to another recipient: %v", err)
	}
	forged := encodeReset(mallory, a, b, failed, 1_700_000_000_000)
	if _, _, err := decodeReset(alice.Public(), a, b, forged); !errors.Is(err, identity.ErrSignature) {
		t.Fatalf("request signed by a stranger: %v", err)
	}
	testkit.FlipEachByte(t, p, func(i int, m []byte) bool {
		_, _, err := decodeReset(alice.Public(), a, b, m)
		return err != nil
	})
	if _, _, err := decodeReset(alice.Public(), a, b, append(p, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// resetVector is the known-answer vector of SPEC §11.4.
type resetVector struct {
	IdentitySeed string `json:"identity_seed"`
	From, To     string
	Failed       string `json:"failed_message_id"`
	Timestamp    int64  `json:"timestamp"`
	Signed       string `json:"signed"`
	Payload      string `json:"payload"`
}

func TestResetRequestVector(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	id, err := identity.NewIdentityPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	var failed [16]byte
	for i := range failed {
		failed[i] = byte(0xa0 + i)
	}
	from, to := envelope.Address{User: "alice", Device: 1}, envelope.Address{User: "bob", Device: 2}
	const ts = 1_700_000_000_000
	v := resetVector{IdentitySeed: hexs(seed), From: "alice/1", To: "bob/2", Failed: hexs(failed[:]), Timestamp: ts,
		Signed: hexs(resetSigned(from, to, failed, ts)), Payload: hexs(encodeReset(id, from, to, failed, ts))}
	testkit.Golden(t, "testdata/reset_vector.json", v)
	p, _ := hex.DecodeString(v.Payload)
	if got, gts, err := decodeReset(id.Public(), from, to, p); err != nil || got != failed || gts != ts {
		t.Fatalf("vector does not decode: %v", err)
	}
}

// Regression (issue 8, item 2): a profile database put back from an older
// copy used to encrypt again with message keys it had already used. The
// counter kept outside the database shows the copy is older; the device
// starts every session anew, so its next message is readable at once,
// and a contact's message on the old session comes again through session
// recovery.
func TestRestoredDatabaseStartsSessionsAnew(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	ao := Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}
	alice := create(t, ao, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	if _, err := alice.Send(ctx, "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	syncErrs(t, bob)
	if _, err := bob.Send(ctx, "alice", "hi"); err != nil {
		t.Fatal(err)
	}
	syncErrs(t, alice)
	db := filepath.Join(ao.Home, "profile.db")
	alice.Close()
	saved, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	if alice.Restored() {
		t.Fatal("a profile opened as it was left reports a restore")
	}
	for _, text := range []string{"lost 1", "lost 2"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := syncErrs(t, bob); len(got) != 2 {
		t.Fatalf("bob: %q", got)
	}
	alice.Close()
	if err := os.WriteFile(db, saved, 0o600); err != nil { // the database alone put back
		t.Fatal(err)
	}
	if alice, err = Open(ctx, ao); err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if !alice.Restored() {
		t.Fatal("an older copy of the database was not detected")
	}
	if _, err := bob.Send(ctx, "alice", "bob after the restore"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "alice after the restore"); err != nil {
		t.Fatal(err)
	}
	// Alice's message is on a new session: bob reads it without asking.
	got, errs := syncErrs(t, bob)
	if strings.Join(got, "|") != "alice after the restore" || len(errs) != 0 {
		t.Fatalf("bob: %q %v", got, errs)
	}
	// Bob's, on the old session, comes again after alice asks.
	got, errs = syncErrs(t, alice)
	var se *SessionResetError
	if len(got) != 0 || len(errs) != 1 || !errors.As(errs[0], &se) || !se.Asked {
		t.Fatalf("alice: %q %v", got, errs)
	}
	if _, errs = syncErrs(t, bob); len(errs) != 1 || !errors.As(errs[0], &se) || se.Resent != 1 {
		t.Fatalf("bob on the request: %v", errs)
	}
	if got, errs = syncErrs(t, alice); strings.Join(got, "|") != "bob after the restore" || len(errs) != 0 {
		t.Fatalf("alice after the re-send: %q %v", got, errs)
	}
}
