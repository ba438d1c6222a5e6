package directory

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/proto"
)

// fetchBundle fetches and verifies a bundle of username's device, as the
// account "fetcher".
func (e *env) fetchBundle(username string, device uint32) (*proto.BundleAnswer, error) {
	return e.fetchBundleAs("fetcher", username, device)
}

// fetchBundleAs fetches and verifies a bundle of username's device as
// requester.
func (e *env) fetchBundleAs(requester, username string, device uint32) (*proto.BundleAnswer, error) {
	status, body := e.getBundle(requester, username, device)
	if status != http.StatusOK {
		return nil, fmt.Errorf("bundle: %d %s", status, body)
	}
	return proto.VerifyBundleAnswer(e.server, body, username, device, time.Minute, e.clock.Now())
}

func TestSecurityOneTimePreKeysHandedOutOnce(t *testing.T) {
	// Limits out of the way: this is about concurrent fetches by many
	// accounts (the limits are TestSecurityPreKeyDrain's).
	e := newEnv(t, withLimits(Limits{DeviceMax: 1000}))
	alice := newUser(t, "alice")
	e.register(alice, 20)

	const fetchers = 50
	var wg sync.WaitGroup
	results := make(chan *proto.BundleAnswer, fetchers)
	errs := make(chan error, fetchers)
	for i := range fetchers {
		wg.Go(func() {
			b, err := e.fetchBundleAs(fmt.Sprintf("fetcher%d", i), "alice", 1)
			if err != nil {
				errs <- err
				return
			}
			results <- b
		})
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	otp, kem := map[uint32]bool{}, map[uint32]bool{}
	lastResort := 0
	for b := range results {
		if !b.Bundle.Device.Identity.Equal(alice.id.Public()) {
			t.Fatal("bundle of another identity")
		}
		if o := b.Bundle.OneTime; o != nil {
			if otp[o.ID] {
				t.Fatalf("one-time prekey %d handed out twice", o.ID)
			}
			otp[o.ID] = true
		}
		switch k := b.Bundle.KEMPreKey; k.Kind {
		case pqxdh.KEMOneTime:
			if kem[k.ID] {
				t.Fatalf("one-time KEM prekey %d handed out twice", k.ID)
			}
			kem[k.ID] = true
		case pqxdh.KEMLastResort:
			lastResort++
		}
	}
	if len(otp) != 20 || len(kem) != 20 || lastResort != fetchers-20 {
		t.Fatalf("handed out %d one-time, %d KEM one-time, %d last-resort; want 20, 20, 30", len(otp), len(kem), lastResort)
	}

	b, err := e.fetchBundle("alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Bundle.OneTime != nil || b.Bundle.KEMPreKey.Kind != pqxdh.KEMLastResort ||
		b.Bundle.KEMPreKey.ID != alice.ring.LastResort().ID || b.OneTimeRemaining != 0 || b.KEMOneTimeRemaining != 0 {
		t.Fatalf("exhausted bundle: one-time %v, KEM kind %v, remaining %d/%d",
			b.Bundle.OneTime, b.Bundle.KEMPreKey.Kind, b.OneTimeRemaining, b.KEMOneTimeRemaining)
	}
	// The bundle is usable for session setup.
	bob := newUser(t, "bob")
	if _, err := pqxdh.Initiate(bob.dev, bob.cert, b.Bundle); err != nil {
		t.Fatalf("initiating a session from the bundle: %v", err)
	}
}

func TestBundleAnswerBoundToDevice(t *testing.T) {
	e := newEnv(t)
	e.register(newUser(t, "alice"), 1)
	e.register(newUser(t, "mallory"), 1)
	_, body := e.getBundle("alice", "mallory", 1)
	if _, err := proto.VerifyBundleAnswer(e.server, body, "alice", 1, time.Minute, e.clock.Now()); !errors.Is(err, proto.ErrNotInQuery) {
		t.Fatalf("mallory's bundle accepted as alice's: %v", err)
	}
	if _, err := proto.VerifyAnswer(e.server, body, time.Minute, e.clock.Now()); !errors.Is(err, proto.ErrMalformedAnswer) {
		t.Fatalf("bundle accepted as a users answer: %v", err)
	}
	if _, err := proto.VerifyBundleAnswer(e.server, body, "mallory", 1, time.Minute, e.clock.Now().Add(time.Hour)); !errors.Is(err, proto.ErrStaleAnswer) {
		t.Fatalf("stale bundle: %v", err)
	}
	status, body := e.getBundle("mallory", "alice", 7)
	wantError(t, status, body, 404, "unknown_device")
	status, body = e.getBundle("mallory", "nobody", 1)
	wantError(t, status, body, 404, "unknown_user")
	for _, id := range []string{"0", "01", "+1", "4294967296", "x"} {
		status, body = e.do("GET", "/v1/users/alice/devices/"+id+"/bundle", nil, bearer("mallory")...)
		wantError(t, status, body, 400, "bad_request")
	}
}

func (e *env) counts(username string, device uint32) proto.PreKeyCounts {
	e.t.Helper()
	status, body := e.do("GET", fmt.Sprintf("/v1/users/%s/devices/%d/prekeys/count", username, device), nil)
	var c proto.PreKeyCounts
	if status != http.StatusOK || json.Unmarshal(body, &c) != nil {
		e.t.Fatalf("count: %d %s", status, body)
	}
	return c
}

func TestPreKeysUpload(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 2)
	if c := e.counts("alice", 1); c.OneTimeRemaining != 2 || c.KEMOneTimeRemaining != 2 {
		t.Fatalf("counts after register: %+v", c)
	}
	x, k := alice.oneTimes(t, 5)
	spk, err := alice.ring.RotateSignedPreKey(alice.id, 2)
	if err != nil {
		t.Fatal(err)
	}
	req := &proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, "alice"), DeviceID: 1,
		SignedPreKey: spk.Marshal(), OneTimePreKeys: x, KEMOneTimePreKeys: k}
	status, body := e.signed("/v1/prekeys", alice.id, req)
	var c proto.PreKeyCounts
	if status != http.StatusOK || json.Unmarshal(body, &c) != nil || c.OneTimeRemaining != 7 || c.KEMOneTimeRemaining != 7 {
		t.Fatalf("upload: %d %s", status, body)
	}
	b, err := e.fetchBundle("alice", 1)
	if err != nil {
		t.Fatal(err)
	}
	if b.Bundle.SignedPreKey.ID != spk.ID {
		t.Fatalf("bundle signed prekey %d, want the new %d", b.Bundle.SignedPreKey.ID, spk.ID)
	}

	// The same ids again: nothing is stored.
	e.clock.Advance(time.Second)
	req.RequestHeader = e.header(proto.OpPreKeys, "alice")
	status, body = e.signed("/v1/prekeys", alice.id, req)
	wantError(t, status, body, http.StatusConflict, "duplicate_prekey")
	// Repeated ids within one request.
	dup := &proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, "alice"), DeviceID: 1, OneTimePreKeys: [][]byte{x[0], x[0]}}
	status, body = e.signed("/v1/prekeys", alice.id, dup)
	wantError(t, status, body, http.StatusConflict, "duplicate_prekey")

	// A KEM prekey signed for another device is refused.
	other, err := pqxdh.NewKEMPreKey(alice.id, 9, 999, pqxdh.KEMOneTime)
	if err != nil {
		t.Fatal(err)
	}
	bad := &proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, "alice"), DeviceID: 1, KEMOneTimePreKeys: [][]byte{other.Public.Marshal()}}
	status, body = e.signed("/v1/prekeys", alice.id, bad)
	wantError(t, status, body, http.StatusBadRequest, "bad_signature")
	// A one-time KEM prekey offered as the last-resort one.
	lr := &proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, "alice"), DeviceID: 1, LastResortKEMPreKey: k[0]}
	status, body = e.signed("/v1/prekeys", alice.id, lr)
	wantError(t, status, body, http.StatusBadRequest, "bad_request")
	unknown := &proto.PreKeysRequest{RequestHeader: e.header(proto.OpPreKeys, "alice"), DeviceID: 5}
	status, body = e.signed("/v1/prekeys", alice.id, unknown)
	wantError(t, status, body, http.StatusNotFound, "unknown_device")
	if c := e.counts("alice", 1); c.OneTimeRemaining != 6 || c.KEMOneTimeRemaining != 6 {
		t.Fatalf("counts after refused uploads: %+v", c)
	}
}

func TestAddAndDeleteDevice(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	laptop := newUserWithKey(t, "alice", alice.id, 2)
	status, body := e.signed("/v1/devices", alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: laptop.upload(t, 1)})
	if status != http.StatusCreated {
		t.Fatalf("add device: %d %s", status, body)
	}
	if devs := mustUser(t, e.verify(body), "alice").Devices; len(devs) != 2 {
		t.Fatalf("%d devices, want 2", len(devs))
	}
	if _, err := e.fetchBundle("alice", 2); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(time.Second)
	status, body = e.signed("/v1/devices", alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: laptop.upload(t, 0)})
	wantError(t, status, body, http.StatusConflict, "device_exists")

	// A device certified by another identity cannot be added to alice.
	stranger := newUserWithKey(t, "alice", mustIdentity(t), 4)
	status, body = e.signed("/v1/devices", alice.id, &proto.AddDeviceRequest{RequestHeader: e.header(proto.OpAddDevice, "alice"), DeviceUpload: stranger.upload(t, 0)})
	wantError(t, status, body, http.StatusBadRequest, "bad_request")

	status, body = e.signed("/v1/devices/delete", alice.id, &proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"), DeviceID: 2})
	if status != http.StatusOK || len(mustUser(t, e.verify(body), "alice").Devices) != 1 {
		t.Fatalf("delete device: %d %s", status, body)
	}
	status, body = e.getBundle("bob", "alice", 2)
	wantError(t, status, body, http.StatusNotFound, "unknown_device")
	e.clock.Advance(time.Second)
	status, body = e.signed("/v1/devices/delete", alice.id, &proto.DeleteDeviceRequest{RequestHeader: e.header(proto.OpDeleteDevice, "alice"), DeviceID: 2})
	wantError(t, status, body, http.StatusNotFound, "unknown_device")
}

func TestRotateIdentity(t *testing.T) {
	e := newEnv(t)
	alice := newUser(t, "alice")
	e.register(alice, 0)
	nextKey, _ := identity.GenerateIdentity()
	next := newUserWithKey(t, "alice", nextKey, 3)
	req := &proto.RotateRequest{RequestHeader: e.header(proto.OpRotateIdentity, "alice"), NewIdentityKey: nextKey.Public().Bytes(),
		Devices: []proto.DeviceUpload{next.upload(t, 2)}}

	// Without the new key's signature the rotation is refused.
	withoutNew, _ := proto.SignRequest(alice.id, req)
	status, body := e.do("POST", "/v1/users/rotate", withoutNew)
	wantError(t, status, body, http.StatusUnauthorized, "bad_signature")
	// Signed by the new key only: refused (the current key must agree).
	e.clock.Advance(time.Second)
	req.RequestHeader = e.header(proto.OpRotateIdentity, "alice")
	onlyNew, _ := proto.SignRotation(nextKey, nextKey, req)
	status, body = e.do("POST", "/v1/users/rotate", onlyNew)
	wantError(t, status, body, http.StatusUnauthorized, "bad_signature")

	e.clock.Advance(time.Second)
	req.RequestHeader = e.header(proto.OpRotateIdentity, "alice")
	ok, err := proto.SignRotation(alice.id, nextKey, req)
	if err != nil {
		t.Fatal(err)
	}
	status, body = e.do("POST", "/v1/users/rotate", ok)
	if status != http.StatusOK {
		t.Fatalf("rotate: %d %s", status, body)
	}
	u := mustUser(t, e.verify(body), "alice")
	if u.KeyVersion != 2 || !u.IdentityKey.Equal(nextKey.Public()) || len(u.Devices) != 1 || u.Devices[0].ID != 3 {
		t.Fatalf("after rotation: %+v", u)
	}
	h := u.KeyHistory
	if len(h) != 2 || !h[0].IdentityKey.Equal(alice.id.Public()) || h[0].ValidUntil.IsZero() || !h[1].ValidUntil.IsZero() {
		t.Fatalf("key history keeps the old key closed and the new one open: %+v", h)
	}
	b, err := e.fetchBundle("alice", 3)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Bundle.Device.Identity.Equal(nextKey.Public()) || b.Bundle.OneTime == nil {
		t.Fatal("bundle after rotation is not the new device's")
	}
	// The old key no longer speaks for alice.
	e.clock.Advance(time.Second)
	status, body = e.signed("/v1/users/delete", alice.id, &proto.DeleteAccountRequest{RequestHeader: e.header(proto.OpDeleteAccount, "alice")})
	wantError(t, status, body, http.StatusUnauthorized, "bad_signature")
}

func mustIdentity(t testing.TB) *identity.IdentityPrivateKey {
	t.Helper()
	k, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}
