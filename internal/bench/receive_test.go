package bench

import (
	"context"
	"testing"
)

// `hush bench receive` says what its backlog was made of: senders that
// never heard from the receiver send sealed envelopes only, and every
// message arrives once.
func TestReceiveReportsTheBacklogMix(t *testing.T) {
	r, err := Receive(context.Background(), ReceiveOptions{Messages: 12, Senders: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Sealed != 12 || r.Tagged != 0 || r.Other != 0 {
		t.Fatalf("mix: %d sealed, %d tagged, %d other; want 12 sealed", r.Sealed, r.Tagged, r.Other)
	}
	if r.Received != 12 || r.Lost != 0 || r.Duplicated != 0 {
		t.Fatalf("received %d, lost %d, duplicated %d", r.Received, r.Lost, r.Duplicated)
	}
}
