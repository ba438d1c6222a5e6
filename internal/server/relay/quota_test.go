package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// answer is an HTTP answer as a sender sees it.
type answer struct {
	status     int
	code       string
	message    string
	retryAfter string
	body       []byte
}

// post sends body to path as d and returns the answer with its
// Retry-After header.
func (e *testEnv) post(t testing.TB, d device, path, ctype string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest("POST", e.httpURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	a.body, _ = io.ReadAll(resp.Body)
	if a.status >= 300 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(a.body, &eb) != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("POST %s: %d with a body not in the error shape: %q", path, a.status, a.body)
		}
		a.code, a.message = eb.Error.Code, eb.Error.Message
	}
	return a
}

// sendRaw posts one envelope from d to mailbox.
func (e *testEnv) sendRaw(t testing.TB, d device, mailbox string, env []byte) answer {
	t.Helper()
	return e.post(t, d, "/v1/mailboxes/"+mailbox+"/envelopes", "application/octet-stream", env)
}

// resources samples the heap in use and the goroutines after a GC.
func resources() (heap uint64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, runtime.NumGoroutine()
}

// Security regression (issue 9, item 2): any account could fill any
// mailbox to its quota (mailbox ids are public in directory answers),
// after which the owner's real contacts got mailbox_full until the
// envelopes expired. A sender now holds at most its share of a mailbox:
// the flood stops there, and another sender still gets through.
func TestSecurityMailboxFloodLeavesRoomForOtherSenders(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	e := newEnv(t, Limits{MaxEnvelope: 4096, Mailbox: store.MailboxLimits{MaxCount: 40, MaxBytes: 1 << 20}, Burst: 1000, RatePerSec: 1})
	victim, attacker, friend := e.device(t, "victim"), e.device(t, "attacker"), e.device(t, "friend")
	heap0, gr0 := resources()

	accepted := 0
	var refused answer
	for range 100 {
		a := e.sendRaw(t, attacker, victim.mailbox, sealed(1000))
		if a.status != http.StatusAccepted {
			refused = a
			break
		}
		accepted++
	}
	heap1, gr1 := resources()
	t.Logf("flood: %d accepted, then %d %s (Retry-After %q); heap %d → %d KiB, goroutines %d → %d",
		accepted, refused.status, refused.code, refused.retryAfter, heap0>>10, heap1>>10, gr0, gr1)
	if accepted != 10 || refused.status != http.StatusTooManyRequests || refused.code != "mailbox_share_full" || refused.retryAfter == "" {
		t.Fatalf("flood: %d accepted, then %d %s (Retry-After %q); want 10 (a quarter of 40), then 429 mailbox_share_full with Retry-After",
			accepted, refused.status, refused.code, refused.retryAfter)
	}
	if heap1 > heap0+16<<20 || gr1 > gr0+8 {
		t.Fatalf("flood grew the heap %d → %d KiB, goroutines %d → %d", heap0>>10, heap1>>10, gr0, gr1)
	}
	// The victim's real contact still delivers.
	if a := e.sendRaw(t, friend, victim.mailbox, sealed(1000)); a.status != http.StatusAccepted {
		t.Fatalf("friend after the flood: %d %s, want 202", a.status, a.code)
	}
	if n := len(e.pending(t, victim.mailbox)); n != 11 {
		t.Fatalf("victim's mailbox holds %d envelopes, want 11", n)
	}
	// The store records who sent what: the attacker's envelopes are
	// charged to the attacker.
	if n, _, err := e.db.SenderUsage(t.Context(), victim.mailbox, "attacker"); err != nil || n != 10 {
		t.Fatalf("attacker's share: %d, %v", n, err)
	}
	// What the victim takes is released: the attacker may send again.
	var seqs []int64
	for _, env := range e.pending(t, victim.mailbox)[:3] {
		seqs = append(seqs, env.Seq)
	}
	if st := e.postJSON(t, victim, "/v1/mailbox/ack", ackRequest{Seqs: seqs}, nil); st != http.StatusOK {
		t.Fatalf("ack: %d", st)
	}
	for i := range 4 {
		want := http.StatusAccepted
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if a := e.sendRaw(t, attacker, victim.mailbox, sealed(1000)); a.status != want {
			t.Fatalf("attacker's send %d after the victim took 3: %d %s, want %d", i, a.status, a.code, want)
		}
	}
}

// Security regression (issue 9, item 2): an account's envelopes across all
// mailboxes are bounded, fan-out copies included, and what recipients take
// or what expires is released.
func TestSecurityAccountStorageBudget(t *testing.T) {
	e := newEnv(t, Limits{AccountMaxCount: 5, TTL: 30 * time.Minute})
	sender := e.device(t, "sender")
	var boxes []string
	var rcpts []device
	for i := range 8 {
		d := e.device(t, "r"+string(rune('a'+i)))
		rcpts, boxes = append(rcpts, d), append(boxes, d.mailbox)
	}
	env := sealed(300)
	env[0] = 0x03
	body, err := proto.EncodeFanout(boxes, env)
	if err != nil {
		t.Fatal(err)
	}
	var out proto.FanoutAnswer
	a := e.post(t, sender, "/v1/fanout", "application/octet-stream", body)
	if a.status != http.StatusAccepted || json.Unmarshal(a.body, &out) != nil {
		t.Fatalf("fan-out: %d %s", a.status, a.code)
	}
	t.Logf("fan-out to 8 with a budget of 5: seqs %v, errors %+v", out.Seqs, out.Errors)
	if len(out.Errors) != 3 || out.Errors[0].Index != 5 || out.Errors[0].Code != "account_storage_full" || out.Seqs[4] == 0 || out.Seqs[5] != 0 {
		t.Fatalf("fan-out to 8 with a budget of 5: %+v", out)
	}
	a = e.sendRaw(t, sender, boxes[7], sealed(300))
	if a.status != http.StatusTooManyRequests || a.code != "account_storage_full" || a.retryAfter == "" {
		t.Fatalf("send over the budget: %d %s Retry-After %q", a.status, a.code, a.retryAfter)
	}
	// Released by an ack.
	if st := e.postJSON(t, rcpts[0], "/v1/mailbox/ack", ackRequest{Seqs: []int64{out.Seqs[0]}}, nil); st != http.StatusOK {
		t.Fatalf("ack: %d", st)
	}
	if a := e.sendRaw(t, sender, boxes[7], sealed(300)); a.status != http.StatusAccepted {
		t.Fatalf("send after an ack: %d %s", a.status, a.code)
	}
	// Released by expiry (the tokens last an hour).
	e.clock.Add(45 * time.Minute)
	if err := e.r.ExpireOld(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, _, err := e.db.AccountUsage(t.Context(), "sender"); err != nil || n != 0 {
		t.Fatalf("budget after expiry: %d, %v", n, err)
	}
	if a := e.sendRaw(t, sender, boxes[7], sealed(300)); a.status != http.StatusAccepted {
		t.Fatalf("send after expiry: %d %s", a.status, a.code)
	}
}

// A fan-out copy counts against the sender's share of its mailbox like a
// send of its own.
func TestFanoutCopiesCountAgainstTheShare(t *testing.T) {
	e := newEnv(t, Limits{Mailbox: store.MailboxLimits{MaxCount: 8}})
	sender, full, other := e.device(t, "sender"), e.device(t, "full"), e.device(t, "other")
	for range 2 {
		if a := e.sendRaw(t, sender, full.mailbox, sealed(300)); a.status != http.StatusAccepted {
			t.Fatalf("filling the share: %d %s", a.status, a.code)
		}
	}
	env := sealed(300)
	env[0] = 0x03
	body, _ := proto.EncodeFanout([]string{other.mailbox, full.mailbox}, env)
	var out proto.FanoutAnswer
	a := e.post(t, sender, "/v1/fanout", "application/octet-stream", body)
	if a.status != http.StatusAccepted || json.Unmarshal(a.body, &out) != nil {
		t.Fatalf("fan-out: %d %s", a.status, a.code)
	}
	if out.Seqs[0] == 0 || len(out.Errors) != 1 || out.Errors[0] != (proto.FanoutError{Index: 1, Code: "mailbox_share_full"}) {
		t.Fatalf("fan-out with one share full: %+v", out)
	}
}

// Issue 9, item 12: a group message (0x03) sent to one mailbox through a
// single-recipient send is accepted, as doc/API.md §4.1 now says: the
// client sends a group message to a group with one other device, and the
// rest of a partly refused fan-out, that way. Other first bytes are not.
func TestSingleRecipientSendAcceptsGroupMessage(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	for _, c := range []struct {
		first byte
		want  int
	}{{0x01, http.StatusAccepted}, {0x02, http.StatusAccepted}, {0x03, http.StatusAccepted}, {0x00, http.StatusBadRequest}, {0x04, http.StatusBadRequest}} {
		env := sealed(300)
		env[0] = c.first
		if a := e.sendRaw(t, alice, bob.mailbox, env); a.status != c.want || (c.want != http.StatusAccepted && a.code != "bad_envelope") {
			t.Errorf("raw send of a 0x%02x envelope: %d %s, want %d", c.first, a.status, a.code, c.want)
		}
		if st := e.postJSON(t, alice, "/v1/messages", submitRequest{Mailbox: bob.mailbox, Envelope: env}, nil); st != c.want {
			t.Errorf("JSON send of a 0x%02x envelope: %d, want %d", c.first, st, c.want)
		}
	}
	cl := e.connect5(t, alice, false)
	env := sealed(300)
	env[0] = 0x03
	if code, _ := cl.publish(proto.InboxTopic(bob.mailbox), env); code >= 0x80 {
		t.Fatalf("MQTT publish of a group message: %#x", code)
	}
}

// Security regression (issue 9, item 2): one fan-out request stored up to
// 10,000 copies for one rate-limit token. Each recipient now costs a
// token; a request for more recipients than the burst is refused outright.
func TestSecurityFanoutIsChargedPerRecipient(t *testing.T) {
	e := newEnv(t, Limits{Burst: 10, RatePerSec: 1})
	sender := e.device(t, "sender")
	var boxes []string
	for i := range 11 {
		boxes = append(boxes, e.device(t, "r"+string(rune('a'+i))).mailbox)
	}
	fanout := func(mailboxes []string) answer {
		env := sealed(300)
		env[0] = 0x03
		body, err := proto.EncodeFanout(mailboxes, env)
		if err != nil {
			t.Fatal(err)
		}
		return e.post(t, sender, "/v1/fanout", "application/octet-stream", body)
	}
	if a := fanout(boxes); a.status != http.StatusRequestEntityTooLarge || a.code != "too_many_recipients" || !bytes.Contains([]byte(a.message), []byte("10")) {
		t.Fatalf("fan-out to 11 with a burst of 10: %d %s %q, want 413 too_many_recipients naming the limit", a.status, a.code, a.message)
	}
	if a := fanout(boxes[:6]); a.status != http.StatusAccepted {
		t.Fatalf("fan-out to 6: %d %s", a.status, a.code)
	}
	a := fanout(boxes[:6])
	t.Logf("second fan-out to 6 with 4 tokens left: %d %s, Retry-After %q", a.status, a.code, a.retryAfter)
	if a.status != http.StatusTooManyRequests || a.code != "rate_limited" || a.retryAfter != "2" {
		t.Fatalf("second fan-out to 6 with 4 tokens left: %d %s Retry-After %q, want 429 rate_limited, Retry-After 2", a.status, a.code, a.retryAfter)
	}
	e.clock.Add(2 * time.Second)
	if a := fanout(boxes[:6]); a.status != http.StatusAccepted {
		t.Fatalf("fan-out after the refill: %d %s", a.status, a.code)
	}
}
