package relay

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// call makes an HTTP request as d (no token if d.token is "") and decodes
// a JSON answer into out. It returns the status and the error code of an
// error answer.
func (e *testEnv) call(t testing.TB, d device, method, path, ctype string, body io.Reader, out any) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.httpURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("%s %s: %d with a body not in the error shape: %q", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, eb.Error.Code
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, path, err, raw)
		}
	}
	return resp.StatusCode, ""
}

func (e *testEnv) postJSON(t testing.TB, d device, path string, body, out any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	st, _ := e.call(t, d, "POST", path, "application/json", bytes.NewReader(b), out)
	return st
}

func TestHTTPSendListAck(t *testing.T) {
	e := newEnv(t, Limits{})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	b := e.connect5(t, bob, false)
	b.subscribe(proto.InboxTopic(bob.mailbox))

	env1, env2 := sealed(400), sealed(500)
	env2[0] = 0x02 // a multi-recipient delivery is accepted too
	var r1, r2 submitResponse
	if st := e.postJSON(t, alice, "/v1/messages", submitRequest{Mailbox: bob.mailbox, Envelope: env1}, &r1); st != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d", st)
	}
	st, _ := e.call(t, alice, "POST", "/v1/mailboxes/"+bob.mailbox+"/envelopes", "application/octet-stream", bytes.NewReader(env2), &r2)
	if st != http.StatusAccepted || r2.Seq <= r1.Seq {
		t.Fatalf("POST envelopes: %d seq %d after %d", st, r2.Seq, r1.Seq)
	}
	// Delivered to bob's MQTT connection (live, and possibly again from
	// the backlog pass his subscription started: dedupe on seq).
	want := map[int64][]byte{r1.Seq: env1, r2.Seq: env2}
	for len(want) > 0 {
		seq, env := b.nextDelivery()
		if w, ok := want[seq]; ok {
			if !bytes.Equal(env, w) {
				t.Fatalf("seq %d delivered with the wrong envelope", seq)
			}
			delete(want, seq)
		} else if seq != r1.Seq && seq != r2.Seq {
			t.Fatalf("unexpected seq %d", seq)
		}
	}

	var list listResponse
	if st, _ := e.call(t, bob, "GET", "/v1/mailbox", "", nil, &list); st != 200 || len(list.Envelopes) != 2 {
		t.Fatalf("GET /v1/mailbox: %d, %d envelopes", st, len(list.Envelopes))
	}
	if l := list.Envelopes[0]; l.Seq != r1.Seq || !bytes.Equal(l.Envelope, env1) || l.StoredAt != e.clock.Now().Unix() {
		t.Errorf("first listed envelope: seq %d stored %v", l.Seq, l.StoredAt)
	}
	if st, _ := e.call(t, bob, "GET", "/v1/mailbox?after="+itoa(r1.Seq)+"&limit=1", "", nil, &list); st != 200 || len(list.Envelopes) != 1 || list.Envelopes[0].Seq != r2.Seq {
		t.Fatalf("GET after=%d: %d %+v", r1.Seq, st, list.Envelopes)
	}
	// Alice's own mailbox is empty: the list is the token's mailbox.
	if st, _ := e.call(t, alice, "GET", "/v1/mailbox", "", nil, &list); st != 200 || len(list.Envelopes) != 0 {
		t.Fatalf("security: alice listed %d envelopes of another mailbox", len(list.Envelopes))
	}

	var ack ackResponse
	if st := e.postJSON(t, bob, "/v1/mailbox/ack", ackRequest{Seqs: []int64{r1.Seq, r2.Seq, 999999}}, &ack); st != 200 || ack.Deleted != 2 {
		t.Fatalf("POST /v1/mailbox/ack: %d deleted %d", st, ack.Deleted)
	}
	if st, _ := e.call(t, bob, "GET", "/v1/mailbox", "", nil, &list); st != 200 || len(list.Envelopes) != 0 {
		t.Fatalf("after ack: %d envelopes", len(list.Envelopes))
	}
}

func TestHTTPErrors(t *testing.T) {
	e := newEnv(t, Limits{MaxEnvelope: 4096, Mailbox: store.MailboxLimits{MaxCount: 1}})
	alice, bob, full := e.device(t, "alice"), e.device(t, "bob"), e.device(t, "full")
	if _, err := e.r.Submit(t.Context(), full.mailbox, sealed(300)); err != nil {
		t.Fatal(err)
	}
	jsonBody := func(mailbox string, env []byte) io.Reader {
		b, _ := json.Marshal(submitRequest{Mailbox: mailbox, Envelope: env})
		return bytes.NewReader(b)
	}
	huge := strings.NewReader(`{"mailbox":"` + bob.mailbox + `","envelope":"` + base64.StdEncoding.EncodeToString(sealed(100_000)) + `"}`)
	cases := []struct {
		name        string
		who         device
		path, ctype string
		body        io.Reader
		status      int
		code        string
	}{
		{"no token", device{}, "/v1/messages", "application/json", jsonBody(bob.mailbox, sealed(300)), 401, "unauthorized"},
		{"bad token", device{token: "nope"}, "/v1/messages", "application/json", jsonBody(bob.mailbox, sealed(300)), 401, "unauthorized"},
		{"too large", alice, "/v1/messages", "application/json", jsonBody(bob.mailbox, sealed(4097)), 413, "envelope_too_large"},
		{"too large body", alice, "/v1/messages", "application/json", huge, 413, "envelope_too_large"},
		{"too large raw", alice, "/v1/mailboxes/" + bob.mailbox + "/envelopes", "application/octet-stream", bytes.NewReader(sealed(4097)), 413, "envelope_too_large"},
		{"bad envelope", alice, "/v1/messages", "application/json", jsonBody(bob.mailbox, []byte{0x06, 1, 2}), 400, "bad_envelope"},
		{"empty envelope", alice, "/v1/mailboxes/" + bob.mailbox + "/envelopes", "application/octet-stream", bytes.NewReader(nil), 400, "bad_envelope"},
		{"unknown mailbox", alice, "/v1/messages", "application/json", jsonBody(randHex(16), sealed(300)), 404, "unknown_mailbox"},
		{"malformed mailbox", alice, "/v1/mailboxes/x/envelopes", "application/octet-stream", bytes.NewReader(sealed(300)), 404, "unknown_mailbox"},
		{"mailbox full", alice, "/v1/messages", "application/json", jsonBody(full.mailbox, sealed(300)), 429, "mailbox_full"},
		{"unknown field", alice, "/v1/messages", "application/json", strings.NewReader(`{"mailbox":"x","envelope":"AQ==","from":"alice"}`), 400, "bad_request"},
		{"bad base64", alice, "/v1/messages", "application/json", strings.NewReader(`{"mailbox":"x","envelope":"!!"}`), 400, "bad_request"},
		{"wrong content type", alice, "/v1/mailboxes/" + bob.mailbox + "/envelopes", "application/json", bytes.NewReader(sealed(300)), 415, "bad_content_type"},
		{"ack empty", bob, "/v1/mailbox/ack", "application/json", strings.NewReader(`{"seqs":[]}`), 400, "bad_request"},
		{"ack negative", bob, "/v1/mailbox/ack", "application/json", strings.NewReader(`{"seqs":[-1]}`), 400, "bad_request"},
	}
	for _, c := range cases {
		st, code := e.call(t, c.who, "POST", c.path, c.ctype, c.body, nil)
		if st != c.status || code != c.code {
			t.Errorf("%s: %d %s, want %d %s", c.name, st, code, c.status, c.code)
		}
	}
	for _, q := range []string{"?after=-1", "?after=x", "?limit=0", "?limit=1001", "?limit=x"} {
		if st, code := e.call(t, bob, "GET", "/v1/mailbox"+q, "", nil, nil); st != 400 || code != "bad_request" {
			t.Errorf("GET /v1/mailbox%s: %d %s", q, st, code)
		}
	}
}

func TestHTTPRateLimit(t *testing.T) {
	e := newEnv(t, Limits{Burst: 2, RatePerSec: 1})
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	send := func() (int, string) {
		b, _ := json.Marshal(submitRequest{Mailbox: bob.mailbox, Envelope: sealed(300)})
		return e.call(t, alice, "POST", "/v1/messages", "application/json", bytes.NewReader(b), nil)
	}
	for range 2 {
		if st, code := send(); st != 202 {
			t.Fatalf("send within burst: %d %s", st, code)
		}
	}
	// The clock does not move: the third send is over the limit.
	if st, code := send(); st != 429 || code != "rate_limited" {
		t.Fatalf("rate limit: %d %s", st, code)
	}
	e.clock.Add(time.Second)
	if st, code := send(); st != 202 {
		t.Fatalf("after refill: %d %s", st, code)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
