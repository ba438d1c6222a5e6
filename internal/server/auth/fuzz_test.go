package auth

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// FuzzHandlers sends arbitrary bodies to the login endpoints: every answer
// must be a clean 2xx or a 4xx with the standard error body, never a 500.
func FuzzHandlers(f *testing.F) {
	for _, s := range []string{
		`{"username":"alice","device_id":1}`,
		`{"username":"alice","device_id":1,"response":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`,
		`{"username":"A","device_id":-1}`, `{`, `[]`, ``, `{"username":"alice","device_id":1}{}`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	fx := newFixture(f)
	h := fx.svc.Handler()
	f.Fuzz(func(t *testing.T, body []byte, challenge bool) {
		path := "/v1/auth/token"
		if challenge {
			path = "/v1/auth/challenge"
		}
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if rec.Code >= 400 {
			var e struct{ Error struct{ Code string } }
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error.Code == "" {
				t.Fatalf("error answer without a code: %s", rec.Body.Bytes())
			}
		}
	})
}
