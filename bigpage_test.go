package hush

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/proto"
)

// A mailbox holding more than one answer's worth of the largest envelopes
// (their JSON/base64 form past what the client reads in one answer) can
// be synced: once the relay filled a page by raw bytes, which encoded
// passed the client's read limit and broke every sync ("unexpected end of
// JSON input") until the mailbox expired.
func TestSyncMailboxLargerThanOneAnswer(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	alice := create(t, Options{Home: filepath.Join(dir, "a"), Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Home: filepath.Join(dir, "b"), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")

	// Enough maximal envelopes that their base64 passes one answer.
	n := proto.MaxListAnswer/(4*envelope.MaxEnvelope/3) + 1
	big := make([]byte, envelope.MaxEnvelope)
	for range n {
		rand.Read(big)
		big[0] = 0x01 // looks like a sealed envelope; bob refuses it
		sendRaw(t, alice, bob, big)
	}
	mustSend(t, alice, "bob", "after the big ones")

	ms, err := bob.Sync(ctx)
	var re *RefusedError
	if !errors.As(err, &re) || re.Err != nil || len(re.Reasons) != n {
		t.Fatalf("sync: %v, want %d refused envelopes and no other error", err, n)
	}
	if len(ms) != 1 || ms[0].Text != "after the big ones" {
		t.Fatalf("bob read %+v", ms)
	}
	if again, err := bob.Sync(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second sync: %v %v", again, err)
	}
}
