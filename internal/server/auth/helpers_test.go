package auth

import (
	"bytes"
	"fmt"
	"net/http/httptest"
)

// challengeFrom posts a challenge request for a device of alice as if it
// came from addr.
func (f *fixture) challengeFrom(addr string, device uint32) *httptest.ResponseRecorder {
	body := fmt.Sprintf(`{"username":"alice","device_id":%d}`, device)
	req := httptest.NewRequest("POST", "/v1/auth/challenge", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	f.svc.Handler().ServeHTTP(rec, req)
	return rec
}
