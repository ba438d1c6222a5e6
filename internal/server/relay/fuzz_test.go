package relay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hush-chat/hush/internal/server/httpapi"
)

func TestAckFrameRoundTrip(t *testing.T) {
	seqs := []int64{1, 42, 1<<63 - 1}
	frame, err := EncodeAck(seqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) != 3+8*len(seqs) || frame[0] != 0x01 || binary.BigEndian.Uint16(frame[1:]) != 3 {
		t.Fatalf("frame %x", frame)
	}
	got, err := DecodeAck(frame)
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 42 || got[2] != 1<<63-1 {
		t.Fatalf("decoded %v %v", got, err)
	}
	if _, err := EncodeAck(nil); err == nil {
		t.Error("empty ack encoded")
	}
}

func TestDecodeAckRefuses(t *testing.T) {
	ok, _ := EncodeAck([]int64{7, 8})
	cases := map[string][]byte{
		"empty":             nil,
		"header only":       {0x01, 0x00},
		"zero count":        {0x01, 0x00, 0x00},
		"wrong version":     append([]byte{0x02}, ok[1:]...),
		"truncated":         ok[:len(ok)-1],
		"trailing byte":     append(append([]byte{}, ok...), 0),
		"count too high":    {0x01, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1},
		"zero seq":          {0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0},
		"negative seq":      {0x01, 0x00, 0x01, 0x80, 0, 0, 0, 0, 0, 0, 1},
		"extra seq payload": append(append([]byte{}, ok...), ok[3:11]...),
	}
	for name, frame := range cases {
		if _, err := DecodeAck(frame); !errors.Is(err, ErrBadAck) {
			t.Errorf("%s: %v, want ErrBadAck", name, err)
		}
	}
}

func TestDeliveryFrame(t *testing.T) {
	env := []byte{0x01, 0xaa, 0xbb}
	frame := EncodeDelivery(0x0102030405060708, env)
	want := []byte{0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0xaa, 0xbb}
	if !bytes.Equal(frame, want) {
		t.Fatalf("frame %x, want %x", frame, want)
	}
	seq, got, err := DecodeDelivery(frame)
	if err != nil || seq != 0x0102030405060708 || !bytes.Equal(got, env) {
		t.Fatalf("decoded %d %x %v", seq, got, err)
	}
	for _, bad := range [][]byte{nil, frame[:9], append([]byte{0x02}, frame[1:]...)} {
		if _, _, err := DecodeDelivery(bad); err == nil {
			t.Errorf("DecodeDelivery(%x) accepted", bad)
		}
	}
}

func FuzzDecodeAck(f *testing.F) {
	one, _ := EncodeAck([]int64{1})
	many, _ := EncodeAck([]int64{5, 3, 1 << 40})
	for _, s := range [][]byte{one, many, nil, {0x01}, {0x01, 0, 0}, {0x01, 0xff, 0xff}, {0x02, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		seqs, err := DecodeAck(frame)
		if err != nil {
			if !errors.Is(err, ErrBadAck) {
				t.Fatalf("error %v is not ErrBadAck", err)
			}
			return
		}
		// One encoding per value: what decodes re-encodes to the input.
		again, err := EncodeAck(seqs)
		if err != nil || !bytes.Equal(again, frame) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", again, frame, err)
		}
		for _, s := range seqs {
			if s <= 0 {
				t.Fatalf("non-positive seq %d accepted", s)
			}
		}
	})
}

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
