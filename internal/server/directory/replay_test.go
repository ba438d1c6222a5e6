package directory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/store"
)

// Regression tests for issue 9, item 7: the replay guard recorded a
// signature before the request was parsed and, once its 65,536 entries
// were full, forgot the oldest, so 65,546 invalid signed requests from a
// throwaway key let a captured prekeys request be accepted again (200).

// capturePreKeys signs a prekeys upload of u with n fresh one-time
// prekeys of each kind.
func (e *env) capturePreKeys(u *testUser, n int) []byte {
	e.t.Helper()
	x, k := u.oneTimes(e.t, n)
	b, err := proto.SignRequest(u.id, &proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, u.name), DeviceID: 1,
		OneTimePreKeys: x, KEMOneTimePreKeys: k})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func TestSecurityReplayGuardNotEvicted(t *testing.T) {
	debug.SetGCPercent(10)
	defer debug.SetGCPercent(100)
	const cap = 16 // the per-account bound, scaled down from 1000
	e := newEnv(t, withLimits(Limits{RequestsPerAccount: cap}), withoutRegistrationThrottle())
	alice := newUser(t, "alice")
	e.register(alice, 0)
	captured := e.capturePreKeys(alice, 3)
	if status, body := e.do("POST", "/v1/prekeys", captured); status != http.StatusOK {
		t.Fatalf("prekeys: %d %s", status, body)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()

	// Many invalid signed requests, from a throwaway key (registrations
	// with a broken prekey) and from alice's own key (a broken upload):
	// refused, and recorded nowhere.
	throwaway := newUser(t, "throwaway")
	const invalid = 40 * cap
	for i := range invalid {
		req := e.registerReq(throwaway, 0)
		req.Timestamp += int64(i % 300)
		req.Email = fmt.Sprintf("x%d@example.org", i) // a new payload each time
		req.SignedPreKey = []byte("not a prekey")
		status, body := e.signed("/v1/users", throwaway.id, req)
		wantError(t, status, body, http.StatusBadRequest, "bad_request")
		bad := proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, "alice"), DeviceID: 1, OneTimePreKeys: [][]byte{{byte(i)}}}
		bad.Timestamp += int64(i % 300)
		status, body = e.signed("/v1/prekeys", alice.id, bad)
		wantError(t, status, body, http.StatusBadRequest, "bad_request")
	}
	// So alice's next valid requests are all taken, up to her bound ...
	accepted := 2 // the registration and the captured upload
	for i := 0; accepted < cap; i++ {
		e.clock.Advance(time.Second)
		status, body := e.setDelivery(alice, 1, proto.DeliveryRelay, "")
		if status != http.StatusOK {
			t.Fatalf("valid request %d: %d %s", i, status, body)
		}
		accepted++
	}
	// ... and past it refused with a retry hint, never by forgetting one.
	e.clock.Advance(time.Second)
	status, body := e.setDelivery(alice, 1, proto.DeliveryRelay, "")
	wantError(t, status, body, http.StatusTooManyRequests, "too_many_requests")
	t.Logf("after %d invalid signed requests and %d valid ones: next valid request %d %s", 2*invalid, cap, status, body)

	status, body = e.do("POST", "/v1/prekeys", captured)
	wantError(t, status, body, http.StatusConflict, "replayed_request")
	t.Logf("captured prekeys request replayed: %d %s", status, body)

	// A restarted directory over the same database remembers it too.
	e2 := newEnvWithStore(t, e.clock, e.st, withLimits(Limits{RequestsPerAccount: cap}))
	status, body = e2.do("POST", "/v1/prekeys", captured)
	wantError(t, status, body, http.StatusConflict, "replayed_request")
	t.Logf("replayed after a restart: %d %s", status, body)

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("heap %.1f MiB before the flood, %.1f MiB after; goroutines %d, %d",
		float64(before.HeapAlloc)/(1<<20), float64(after.HeapAlloc)/(1<<20), goroutines, runtime.NumGoroutine())
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Fatalf("heap grew by %d bytes over the flood", grown)
	}

	// Once the timestamps are stale the records go, and alice may sign
	// again; the stale capture is refused for its timestamp.
	e.clock.Advance(2*proto.MaxClockSkew + time.Second)
	if err := e.dir.ExpireRecords(t.Context()); err != nil {
		t.Fatal(err)
	}
	if status, body := e.setDelivery(alice, 1, proto.DeliveryRelay, ""); status != http.StatusOK {
		t.Fatalf("after the window: %d %s", status, body)
	}
	status, body = e.do("POST", "/v1/prekeys", captured)
	wantError(t, status, body, http.StatusUnauthorized, "stale_request")
}

// Every signed operation is recorded before it changes anything, so each
// one replayed while its timestamp is fresh is refused.
func TestSecurityEverySignedOperationRefusesReplay(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	register, err := proto.SignRequest(alice.id, e.registerReq(alice, 0))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.do("POST", "/v1/users", register); status != http.StatusCreated {
		t.Fatalf("register: %d %s", status, body)
	}
	once := func(name, path string, body []byte, ok int) {
		t.Helper()
		if status, b := e.do("POST", path, body); status != ok {
			t.Fatalf("%s: %d %s", name, status, b)
		}
		status, b := e.do("POST", path, body)
		wantError(t, status, b, http.StatusConflict, "replayed_request")
	}
	sign := func(payload any) []byte {
		b, err := proto.SignRequest(alice.id, payload)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	once("prekeys", "/v1/prekeys", e.capturePreKeys(alice, 1), http.StatusOK)
	once("set_delivery", "/v1/devices/delivery", sign(proto.SetDeliveryRequest{RequestHeader: e.header(proto.OpSetDelivery, "alice"),
		DeviceID: 1, Delivery: proto.DeliveryRelay}), http.StatusOK)
	laptop := newUserWithKey(t, "alice", alice.id, 2)
	once("add_device", "/v1/devices", sign(&proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: laptop.upload(t, 0)}), http.StatusCreated)
	e.clock.Advance(time.Second)
	remove := sign(&proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"), DeviceID: 2})
	if status, body := e.do("POST", "/v1/devices/delete", remove); status != http.StatusOK {
		t.Fatalf("delete_device: %d %s", status, body)
	}
	// The device comes back; a captured removal does not remove it again.
	e.clock.Advance(time.Second)
	if status, body := e.signed("/v1/devices", alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: laptop.upload(t, 0)}); status != http.StatusCreated {
		t.Fatalf("add_device again: %d %s", status, body)
	}
	status, body := e.do("POST", "/v1/devices/delete", remove)
	wantError(t, status, body, http.StatusConflict, "replayed_request")
	if status, body := e.signed("/v1/users/delete", alice.id, &proto.DeleteAccountRequest{RequestHeader: e.header(proto.OpDeleteAccount, "alice")}); status != http.StatusOK {
		t.Fatalf("delete_account: %d %s", status, body)
	}
	// The tombstone's own key may register again, but not with the
	// captured registration.
	status, body = e.do("POST", "/v1/users", register)
	wantError(t, status, body, http.StatusConflict, "replayed_request")
}

// A registration for a username that is taken is refused before it is
// recorded: throwaway keys cannot fill the guard with them.
func TestRegistrationForTakenNameNotRecorded(t *testing.T) {
	e := newEnv(t, withLimits(Limits{RequestsPerAccount: 2}))
	alice := newUser(t, "alice")
	e.register(alice, 0)
	for range 5 {
		other := newUser(t, "alice")
		status, body := e.signed("/v1/users", other.id, e.registerReq(other, 0))
		wantError(t, status, body, http.StatusConflict, "username_taken")
	}
	// Had they been recorded for alice, her bound would be spent.
	if status, body := e.setDelivery(alice, 1, proto.DeliveryRelay, ""); status != http.StatusOK {
		t.Fatalf("alice after the refused registrations: %d %s", status, body)
	}
}

// claimFails is a store that cannot record signed requests.
type claimFails struct{ store.Store }

func (claimFails) ClaimRequest(context.Context, []byte, string, time.Time, time.Time, int) error {
	return errors.New("disk full")
}

// When the request cannot be recorded, nothing is done: acting without a
// record would let it be replayed later.
func TestRequestNotRecordedChangesNothing(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	broken := newEnvWithStore(t, e.clock, claimFails{e.st})
	req, _ := http.NewRequest("POST", broken.srv.URL+"/v1/prekeys", bytes.NewReader(e.capturePreKeys(alice, 2)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := broken.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, resp.StatusCode, body, http.StatusServiceUnavailable, "unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if x, k := e.remaining("alice"); x != 0 || k != 0 {
		t.Fatalf("an unrecorded request stored %d + %d prekeys", x, k)
	}
}
