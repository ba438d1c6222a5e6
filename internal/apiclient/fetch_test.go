package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// mailboxServer answers GET /v1/mailbox with min(limit, left) envelopes
// of size bytes each (a server whose pages are larger than the client
// reads) and records the limits asked for.
func mailboxServer(t *testing.T, size int, asked *[]int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		*asked = append(*asked, limit)
		var out struct {
			Envelopes []Envelope `json:"envelopes"`
		}
		for i := range min(limit, 10) {
			out.Envelopes = append(out.Envelopes, Envelope{Seq: int64(i + 1), Envelope: make([]byte, size)})
		}
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An answer longer than the client reads is ErrAnswerTooLarge, never a
// JSON error from a cut body, and Fetch asks again for half as many
// envelopes until a page fits.
func TestFetchShrinksPagesThatDoNotFit(t *testing.T) {
	var asked []int
	srv := mailboxServer(t, 1000, &asked)
	c := New(srv.URL, nil)
	c.maxAnswer = 3000 // two 1000-byte envelopes in base64 fit, three do not
	page, err := c.Fetch(context.Background(), "tok", 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	// 200, 100, … 6, 3 do not fit; 1 does.
	if len(asked) < 2 || asked[0] != 200 || asked[len(asked)-1] != 1 {
		t.Fatalf("asked for %v, want halving from 200 down to a page that fits", asked)
	}
	if len(page) != 1 || page[0].Seq != 1 || len(page[0].Envelope) != 1000 {
		t.Fatalf("got %d envelopes", len(page))
	}
	for i := 1; i < len(asked); i++ {
		if asked[i] != asked[i-1]/2 {
			t.Fatalf("asked for %v, want each limit half the one before", asked)
		}
	}
}

func TestFetchOneEnvelopeLargerThanAnAnswer(t *testing.T) {
	var asked []int
	srv := mailboxServer(t, 5000, &asked)
	c := New(srv.URL, nil)
	c.maxAnswer = 3000
	_, err := c.Fetch(context.Background(), "tok", 0, 8)
	if !errors.Is(err, ErrAnswerTooLarge) {
		t.Fatalf("got %v, want ErrAnswerTooLarge", err)
	}
	if asked[len(asked)-1] != 1 {
		t.Fatalf("asked for %v, want down to 1", asked)
	}
}
