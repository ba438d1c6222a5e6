package relay

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

// checkHTTPError fails unless err is an *httpapi.Error with a 4xx status
// and a code (what a client must see for any bad request).
func checkHTTPError(t *testing.T, err error) {
	t.Helper()
	var he *httpapi.Error
	if !errors.As(err, &he) || he.Status < 400 || he.Status >= 500 || he.Code == "" {
		t.Fatalf("error %v is not a client error", err)
	}
}

func FuzzDecodeSubmit(f *testing.F) {
	mb := strings.Repeat("ab", 16)
	for _, s := range []string{
		`{"mailbox":"` + mb + `","envelope":"AQID"}`,
		`{"mailbox":"` + mb + `","envelope":"` + strings.Repeat("AAAA", 400) + `"}`,
		`{"mailbox":1}`, `{"envelope":"!!"}`, `{}`, `[]`, `{"mailbox":"x"} {}`, `{"a":1}`, ``,
	} {
		f.Add(s)
	}
	const max = 1000
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		got, err := decodeSubmit(req, max)
		if err != nil {
			checkHTTPError(t, err)
			return
		}
		if len(got.Envelope) > max {
			t.Fatalf("%d-byte envelope accepted, limit %d", len(got.Envelope), max)
		}
	})
}

func FuzzReadEnvelope(f *testing.F) {
	for _, s := range []struct {
		ctype string
		body  []byte
	}{
		{"application/octet-stream", []byte{1, 2, 3}},
		{"application/octet-stream; charset=binary", nil},
		{"application/json", []byte{1}},
		{"", bytes.Repeat([]byte{1}, 2000)},
		{"application/octet-stream", bytes.Repeat([]byte{1}, 1001)},
	} {
		f.Add(s.ctype, s.body)
	}
	const max = 1000
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		req := httptest.NewRequest("POST", "/v1/mailboxes/x/envelopes", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		env, err := readEnvelope(req, max)
		if err != nil {
			checkHTTPError(t, err)
			return
		}
		if !bytes.Equal(env, body) {
			t.Fatal("body changed")
		}
	})
}

func FuzzDecodeAckRequest(f *testing.F) {
	for _, s := range []string{`{"seqs":[1,2,3]}`, `{"seqs":[]}`, `{"seqs":[-1]}`, `{"seqs":[1e3]}`, `{"seqs":"x"}`, `{"seqs":[9223372036854775808]}`, `{}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/mailbox/ack", strings.NewReader(body))
		seqs, err := decodeAckRequest(req)
		if err != nil {
			checkHTTPError(t, err)
			return
		}
		if len(seqs) == 0 || len(seqs) > maxHTTPAckSeqs {
			t.Fatalf("%d seqs accepted", len(seqs))
		}
		for _, s := range seqs {
			if s <= 0 {
				t.Fatalf("seq %d accepted", s)
			}
		}
	})
}

func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "after=5&limit=10", "after=-1", "limit=0", "limit=1001", "after=x", "after=99999999999999999999", "limit=1&limit=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		after, limit, err := parseListQuery(q)
		if err != nil {
			checkHTTPError(t, err)
			return
		}
		if after < 0 || limit < 1 || limit > maxListLimit {
			t.Fatalf("after %d limit %d accepted", after, limit)
		}
	})
}

// A panic in a handler becomes a 500 in the shared error shape.
func TestHandlerPanicIsInternalError(t *testing.T) {
	h := handle(func(http.ResponseWriter, *http.Request) error { panic("boom") })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 500 || !strings.Contains(w.Body.String(), `"internal"`) || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
