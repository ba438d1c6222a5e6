package relay

import "sync"

// listSlots bounds the GET /v1/mailbox requests each device has running
// at once. It holds an entry only for a device with a request running.
type listSlots struct {
	max int
	mu  sync.Mutex
	n   map[string]int // mailbox → requests running
}

func newListSlots(max int) *listSlots { return &listSlots{max: max, n: map[string]int{}} }

// acquire takes a slot for mailbox, or reports false when the device
// already has max requests running.
func (s *listSlots) acquire(mailbox string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[mailbox] >= s.max {
		return false
	}
	s.n[mailbox]++
	return true
}

func (s *listSlots) release(mailbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[mailbox]--; s.n[mailbox] <= 0 {
		delete(s.n, mailbox)
	}
}
