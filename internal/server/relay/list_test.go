package relay

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// A GET /v1/mailbox answer never passes the list budget as sent (JSON,
// base64), so a client reading answers of up to MaxListAnswer bytes
// always gets whole pages; paging on with after= returns every envelope
// once, in order, and an envelope larger than the budget still comes,
// alone on its page. The same holds when the relay reads the mailbox in
// chunks smaller than a page.
func TestMailboxPagesFitTheEncodedBudget(t *testing.T) {
	for _, chunk := range []int{listChunk, 3000, 1} {
		t.Run(itoa(int64(chunk)), func(t *testing.T) { testPagesFitTheBudget(t, chunk) })
	}
}

func testPagesFitTheBudget(t *testing.T, chunk int) {
	e := newEnv(t, Limits{})
	const budget = 8 << 10
	e.r.listBudget, e.r.listChunk = budget, chunk
	alice, bob := e.device(t, "alice"), e.device(t, "bob")
	var sent [][]byte
	for _, n := range []int{1500, 2500, 3000, 100, 4000, 5000, 12000, 700, 900, 6000} {
		env := sealed(n)
		st, _ := e.call(t, alice, "POST", "/v1/mailboxes/"+bob.mailbox+"/envelopes", "application/octet-stream", bytes.NewReader(env), nil)
		if st != http.StatusAccepted {
			t.Fatalf("send: %d", st)
		}
		sent = append(sent, env)
	}
	var got [][]byte
	var after int64
	for pages := 0; ; pages++ {
		if pages > len(sent) {
			t.Fatal("paging does not end")
		}
		raw := e.getRaw(t, bob, "/v1/mailbox?limit=1000&after="+itoa(after))
		var list listResponse
		if err := json.Unmarshal(raw, &list); err != nil {
			t.Fatalf("page %d: %v", pages, err)
		}
		if len(list.Envelopes) == 0 {
			break
		}
		if len(raw) > budget && len(list.Envelopes) > 1 {
			t.Fatalf("page %d: %d bytes with %d envelopes, budget %d", pages, len(raw), len(list.Envelopes), budget)
		}
		if len(list.Envelopes) == 1 && len(raw) > budget && len(list.Envelopes[0].Envelope) < budget/2 {
			t.Fatalf("page %d: %d bytes for one small envelope", pages, len(raw))
		}
		for _, le := range list.Envelopes {
			got = append(got, le.Envelope)
			after = le.Seq
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("listed %d envelopes, sent %d", len(got), len(sent))
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("envelope %d differs", i)
		}
	}
}

// listedSize counts exactly what encoding/json writes.
func TestListedSizeIsExact(t *testing.T) {
	for _, le := range []listedEnvelope{{Seq: 1, Envelope: []byte{1}, StoredAt: 0}, {Seq: 1 << 60, Envelope: sealed(1001), StoredAt: 1798761600}} {
		one, _ := json.Marshal(listResponse{Envelopes: []listedEnvelope{le}})
		two, _ := json.Marshal(listResponse{Envelopes: []listedEnvelope{le, le}})
		// One entry plus framing (with the newline WriteJSON adds) minus
		// the comma a single entry does not need.
		if want := len(one) + 1; listFraming+listedSize(le)-1 != want {
			t.Fatalf("one entry: counted %d, encoded %d", listFraming+listedSize(le)-1, want)
		}
		if len(two)-len(one) != listedSize(le) {
			t.Fatalf("another entry: counted %d, encoded %d", listedSize(le), len(two)-len(one))
		}
	}
}

func (e *testEnv) getRaw(t *testing.T, d device, path string) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", e.httpURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return raw
}
