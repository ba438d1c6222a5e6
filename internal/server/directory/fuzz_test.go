package directory

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/proto"
	"github.com/hush-chat/hush/internal/server/httpapi"
)

// addSeeds adds the seed corpus; a fuzz target without seeds would test
// nothing in an ordinary test run, so that is a failure.
func addSeeds(f *testing.F, seeds ...[]byte) {
	f.Helper()
	if len(seeds) == 0 {
		f.Fatal("fuzz target without seeds")
	}
	for _, s := range seeds {
		f.Add(s)
	}
}

func mustJSON(f *testing.F, v any) []byte {
	f.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// fuzzUser is a client whose requests seed the fuzzers.
func fuzzUser(f *testing.F) (*testUser, proto.DeviceUpload) {
	f.Helper()
	u := newUser(f, "alice")
	return u, u.upload(f, 2)
}

func hdr(op string) proto.RequestHeader {
	return proto.RequestHeader{Op: op, Username: "alice", Timestamp: 1_800_000_000}
}

func FuzzSignedEnvelope(f *testing.F) {
	u, up := fuzzUser(f)
	body, err := proto.SignRequest(u.id, &proto.RegisterRequest{RequestHeader: hdr(proto.OpRegister), IdentityKey: u.id.Public().Bytes(), DeviceUpload: up})
	if err != nil {
		f.Fatal(err)
	}
	rot, _ := proto.SignRotation(u.id, u.id, &proto.RotateRequest{RequestHeader: hdr(proto.OpRotateIdentity)})
	addSeeds(f, body, rot, []byte(`{"payload":"e30=","signature":""}`), []byte(`{}`), []byte(`[]`), []byte(`{"payload":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest("POST", "/v1/users", bytes.NewReader(b))
		env, err := readSigned(r, MaxSmallBody, true)
		if err != nil {
			return
		}
		if len(env.Payload) == 0 || len(env.Signature) != identity.SignatureSize {
			t.Fatalf("accepted envelope with payload %d bytes, signature %d bytes", len(env.Payload), len(env.Signature))
		}
	})
}

func FuzzRegisterPayload(f *testing.F) {
	u, up := fuzzUser(f)
	full := &proto.RegisterRequest{RequestHeader: hdr(proto.OpRegister), IdentityKey: u.id.Public().Bytes(), DeviceUpload: up, Email: "a@b.c"}
	bare := *full
	bare.OneTimePreKeys, bare.KEMOneTimePreKeys, bare.Email = nil, nil, ""
	addSeeds(f, mustJSON(f, full), mustJSON(f, &bare), []byte(`{"op":"register"}`), []byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodePayload[proto.RegisterRequest](b, proto.OpRegister)
		if err != nil {
			return
		}
		if req.Op != proto.OpRegister || !proto.ValidUsername(req.Username) {
			t.Fatalf("accepted header %+v", req.RequestHeader)
		}
		idk, err := identity.NewIdentityKey(req.IdentityKey)
		if err != nil {
			return
		}
		checkUpload(t, idk, &req.DeviceUpload)
	})
}

// checkUpload parses an upload and checks what an accepted one promises.
func checkUpload(t *testing.T, idk *identity.IdentityKey, up *proto.DeviceUpload) {
	k, err := parseUpload(idk, up)
	if err != nil {
		return
	}
	if !k.cert.Identity.Equal(idk) || k.mailbox != identity.MailboxID(idk, k.device) || k.signed == nil || k.lastResort == nil {
		t.Fatal("accepted a device upload that is not the identity's")
	}
	if len(k.oneTime) > MaxPreKeysPerRequest || len(k.kemOneTime) > MaxPreKeysPerRequest {
		t.Fatal("accepted too many prekeys")
	}
}

func FuzzPreKeysPayload(f *testing.F) {
	u, up := fuzzUser(f)
	req := &proto.PreKeysRequest{RequestHeader: hdr(proto.OpPreKeys), DeviceID: 1, SignedPreKey: up.SignedPreKey,
		LastResortKEMPreKey: up.LastResortKEMPreKey, OneTimePreKeys: up.OneTimePreKeys, KEMOneTimePreKeys: up.KEMOneTimePreKeys}
	addSeeds(f, mustJSON(f, req), mustJSON(f, &proto.PreKeysRequest{RequestHeader: hdr(proto.OpPreKeys), DeviceID: 1}),
		[]byte(`{"op":"prekeys","username":"alice","timestamp":1,"device_id":-1}`))
	idk := u.id.Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodePayload[proto.PreKeysRequest](b, proto.OpPreKeys)
		if err != nil {
			return
		}
		k, err := parsePreKeyUpload(idk, req)
		if err != nil {
			return
		}
		if k.device != req.DeviceID || (k.signed == nil) != (len(req.SignedPreKey) == 0) {
			t.Fatal("prekey upload parsed for another device or lost its signed prekey")
		}
	})
}

func FuzzDevicePayloads(f *testing.F) {
	u, up := fuzzUser(f)
	addSeeds(f,
		mustJSON(f, &proto.AddDeviceRequest{RequestHeader: hdr(proto.OpAddDevice), DeviceUpload: up}),
		mustJSON(f, &proto.DeleteDeviceRequest{RequestHeader: hdr(proto.OpDeleteDevice), DeviceID: 2}),
		mustJSON(f, &proto.DeleteAccountRequest{RequestHeader: hdr(proto.OpDeleteAccount)}),
		[]byte(`{"op":"delete_device","username":"alice","timestamp":1,"device_id":4294967296}`))
	idk := u.id.Public()
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, err := decodePayload[proto.AddDeviceRequest](b, proto.OpAddDevice); err == nil {
			checkUpload(t, idk, &req.DeviceUpload)
		}
		if req, err := decodePayload[proto.DeleteDeviceRequest](b, proto.OpDeleteDevice); err == nil && req.Op != proto.OpDeleteDevice {
			t.Fatal("wrong op accepted")
		}
		if req, err := decodePayload[proto.DeleteAccountRequest](b, proto.OpDeleteAccount); err == nil && !proto.ValidUsername(req.Username) {
			t.Fatal("invalid username accepted")
		}
	})
}

func FuzzRotatePayload(f *testing.F) {
	u, up := fuzzUser(f)
	req := &proto.RotateRequest{RequestHeader: hdr(proto.OpRotateIdentity), NewIdentityKey: u.id.Public().Bytes(), Devices: []proto.DeviceUpload{up}}
	addSeeds(f, mustJSON(f, req), []byte(`{"op":"rotate_identity","username":"alice","timestamp":1,"devices":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodePayload[proto.RotateRequest](b, proto.OpRotateIdentity)
		if err != nil {
			return
		}
		idk, err := identity.NewIdentityKey(req.NewIdentityKey)
		if err != nil {
			return
		}
		devs, err := parseDevices(idk, req.Devices)
		if err != nil {
			return
		}
		seen := map[uint32]bool{}
		for _, d := range devs {
			if seen[d.device] || !d.cert.Identity.Equal(idk) {
				t.Fatal("rotation accepted a repeated or foreign device")
			}
			seen[d.device] = true
		}
	})
}

func FuzzLookupRequest(f *testing.F) {
	addSeeds(f, []byte(`{"usernames":["alice","bob","alice"]}`), []byte(`{"usernames":[]}`),
		[]byte(`{"usernames":["ALICE"]}`), []byte(`{"usernames":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := httptest.NewRequest("POST", "/v1/users/lookup", bytes.NewReader(b))
		var req proto.LookupRequest
		if err := httpapi.DecodeJSON(r, MaxSmallBody, &req); err != nil {
			return
		}
		q, err := parseLookup(&req)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range q {
			if !proto.ValidUsername(n) || seen[n] {
				t.Fatalf("lookup query %q", q)
			}
			seen[n] = true
		}
		if len(q) == 0 || len(q) > MaxLookup {
			t.Fatalf("lookup of %d names accepted", len(q))
		}
	})
}
