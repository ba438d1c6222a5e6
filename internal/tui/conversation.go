package tui

import (
	"strconv"
	"time"
)

// noticeKind styles a line that is not a message.
type noticeKind int

const (
	noticeInfo noticeKind = iota + 1
	noticeWarning
	noticeError
)

// item is one entry of the history pane: a message, or a notice when
// notice is non-zero.
type item struct {
	msg     Message
	pending string // local key while Send has not returned
	notice  noticeKind
	text    string // notice text
	at      time.Time
}

// conversation is the ordered list of what the history pane shows.
type conversation struct {
	items    []item
	nextPend int
}

// addPending appends an outgoing message that is being sent and returns
// the key its send result will carry.
func (c *conversation) addPending(self, text string, now time.Time) string {
	c.nextPend++
	key := "pending-" + strconv.Itoa(c.nextPend)
	c.items = append(c.items, item{pending: key, msg: Message{
		From: self, Text: text, At: now, Outgoing: true, State: StateSending,
	}})
	return key
}

// finishSend replaces a pending message with what Send returned. A failed
// send keeps the text on screen, marked failed.
func (c *conversation) finishSend(key string, got Message, err error) {
	i := c.findPending(key)
	if i < 0 {
		return
	}
	m := c.items[i].msg
	if got.ID != "" {
		m.ID = got.ID
	}
	if got.Text != "" {
		m.Text = got.Text
	}
	if !got.At.IsZero() {
		m.At = got.At
	}
	m.State = got.State
	switch {
	case err != nil:
		m.State = StateFailed
	case m.State == "":
		m.State = StateSent
	}
	c.items[i].pending = ""
	if j := c.findID(m.ID); m.ID != "" && j >= 0 && j != i {
		// The message already arrived by another path (an event echo):
		// keep one line for it.
		c.items[j].msg = m
		c.items = append(c.items[:i], c.items[i+1:]...)
		return
	}
	c.items[i].msg = m
}

// upsert adds a message, or updates it in place when its ID is known.
func (c *conversation) upsert(m Message) {
	if m.ID != "" {
		if i := c.findID(m.ID); i >= 0 {
			c.items[i].msg = m
			return
		}
	}
	c.items = append(c.items, item{msg: m})
}

// mergeHistory puts the stored history first, followed by whatever arrived
// on screen before it loaded and is not part of it.
func (c *conversation) mergeHistory(hist []Message) {
	seen := make(map[string]bool, len(hist))
	merged := make([]item, 0, len(hist)+len(c.items))
	for _, m := range hist {
		if m.ID != "" {
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
		}
		merged = append(merged, item{msg: m})
	}
	for _, it := range c.items {
		if it.notice == 0 && it.msg.ID != "" && seen[it.msg.ID] {
			continue
		}
		merged = append(merged, it)
	}
	c.items = merged
}

func (c *conversation) addNotice(kind noticeKind, text string, now time.Time) {
	c.items = append(c.items, item{notice: kind, text: text, at: now})
}

func (c *conversation) findPending(key string) int {
	for i := range c.items {
		if c.items[i].pending == key {
			return i
		}
	}
	return -1
}

func (c *conversation) findID(id string) int {
	for i := range c.items {
		if c.items[i].notice == 0 && c.items[i].pending == "" && c.items[i].msg.ID == id {
			return i
		}
	}
	return -1
}
