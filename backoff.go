package hush

import "time"

// Reconnect policy of the live listeners.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	// backoffStable is how long a connection must stay up to count as
	// good: after it, the next reconnect starts again from backoffMin.
	backoffStable = 10 * time.Second
)

// backoff is the delay before a listener reconnects: it doubles after each
// connection that failed or dropped soon, up to backoffMax, and starts
// again from backoffMin after a good connection (one that stayed up
// backoffStable or delivered a message), so a relay restart an hour into
// a session is followed by a quick reconnect. Not safe for concurrent
// use; each listener owns one.
type backoff struct{ next time.Duration }

// wait returns how long to wait after a connection that was up for up
// (0 when it never came up) and delivered or not, and advances the policy.
func (b *backoff) wait(up time.Duration, delivered bool) time.Duration {
	if b.next == 0 || delivered || up >= backoffStable {
		b.next = backoffMin
	}
	d := b.next
	b.next = min(2*b.next, backoffMax)
	return d
}
