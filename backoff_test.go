package hush

import (
	"testing"
	"time"
)

func TestReconnectBackoffDoublesThenResetsAfterAGoodConnection(t *testing.T) {
	ms := time.Millisecond
	var b backoff
	// Connections that never come up: 100 ms doubling to the 5 s cap.
	for i, want := range []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second} {
		if got := b.wait(0, false); got != want {
			t.Fatalf("failure %d: wait %v, want %v", i, got, want)
		}
	}
	// A connection that drops soon without delivering keeps backing off.
	if got := b.wait(backoffStable-ms, false); got != 5*time.Second {
		t.Fatalf("after a short connection: wait %v, want 5s", got)
	}
	// A connection that stayed up starts again from the minimum.
	if got := b.wait(backoffStable, false); got != backoffMin {
		t.Fatalf("after a stable connection: wait %v, want %v", got, backoffMin)
	}
	if got := b.wait(0, false); got != 2*backoffMin {
		t.Fatalf("failure after the reset: wait %v, want %v", got, 2*backoffMin)
	}
	// So does one that delivered a message, however short.
	b.wait(0, false)
	b.wait(0, false)
	if got := b.wait(ms, true); got != backoffMin {
		t.Fatalf("after a connection that delivered: wait %v, want %v", got, backoffMin)
	}
}
