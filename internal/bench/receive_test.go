package bench

import (
	"context"
	"testing"
)

// A small backlog from senders that said hello first (and so hold the
// receiver's offer of envelope keys) drains completely: every message
// once, the hellos not counted against it; and the result says what the
// backlog was made of: all tagged envelopes.
func TestReceiveSmallBacklog(t *testing.T) {
	r, err := Receive(context.Background(), ReceiveOptions{Messages: 150, Senders: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.Received != 150 || r.Lost != 0 || r.Duplicated != 0 {
		t.Fatalf("received %d, lost %d, duplicated %d", r.Received, r.Lost, r.Duplicated)
	}
	if r.Tagged < 150 || r.Sealed != 0 || r.Other != 0 {
		t.Fatalf("mix: %d sealed, %d tagged, %d other; want the 150 messages tagged", r.Sealed, r.Tagged, r.Other)
	}
}
