package proto

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
)

var testNow = time.Unix(1_800_000_000, 0)

type testUser struct {
	id   *identity.IdentityPrivateKey
	cert *identity.DeviceCert
	ring *pqxdh.Keyring
}

func newTestUser(t testing.TB) *testUser {
	t.Helper()
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := identity.GenerateDevice(1)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pqxdh.NewKeyring(id, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &testUser{id: id, cert: identity.Certify(id, dev, 1), ring: ring}
}

func (u *testUser) record(name string) UserRecord {
	pub := u.id.Public()
	return UserRecord{Username: name, State: StateActive, IdentityKey: pub.Bytes(), KeyVersion: 1,
		Devices:    []DeviceRecord{{DeviceID: 1, Cert: u.cert.Marshal(), Mailbox: identity.MailboxID(pub, 1)}},
		KeyHistory: []KeyHistoryRecord{{Version: 1, IdentityKey: pub.Bytes(), ValidFrom: 1}}}
}

// signAnswer signs payload as the directory does.
func signAnswer(t testing.TB, key *identity.IdentityPrivateKey, payload any) []byte {
	t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(SignedAnswer{Payload: p, Signature: key.Sign(LabelAnswer, p)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustServerKey(t testing.TB) *identity.IdentityPrivateKey {
	t.Helper()
	k, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerifyAnswerAcceptsAndReads(t *testing.T) {
	server, alice := mustServerKey(t), newTestUser(t)
	body := signAnswer(t, server, UsersPayload{Type: AnswerTypeUsers, ServerTime: testNow.Unix(),
		Query: []string{"alice", "bob"}, Users: []UserRecord{alice.record("alice")}, Missing: []string{"bob"}})
	a, err := VerifyAnswer(server.Public(), body, time.Minute, testNow)
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.User("alice")
	if err != nil || !u.IdentityKey.Equal(alice.id.Public()) || len(u.Devices) != 1 || u.Devices[0].Broker != "" {
		t.Fatalf("alice: %+v %v", u, err)
	}
	if _, err := a.User("bob"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("bob: %v, want ErrNoSuchUser", err)
	}
	if _, err := a.User("carol"); !errors.Is(err, ErrNotInQuery) {
		t.Errorf("carol: %v, want ErrNotInQuery", err)
	}
	if err := a.CheckQuery([]string{"bob", "alice"}); err != nil {
		t.Errorf("CheckQuery of the same names: %v", err)
	}
	if err := a.CheckQuery([]string{"alice"}); !errors.Is(err, ErrNotInQuery) {
		t.Errorf("CheckQuery of other names: %v", err)
	}
}

// Security: an answer is accepted only when signed by the pinned key,
// fresh, of the right type and consistent with what was asked.
func TestSecurityVerifyAnswerRefuses(t *testing.T) {
	server, other, alice, mallory := mustServerKey(t), mustServerKey(t), newTestUser(t), newTestUser(t)
	good := func() UsersPayload {
		return UsersPayload{Type: AnswerTypeUsers, ServerTime: testNow.Unix(), Query: []string{"alice"},
			Users: []UserRecord{alice.record("alice")}, Missing: []string{}}
	}
	stolen := good()
	// Mallory's device under Alice's name: the certificate names another
	// identity.
	stolen.Users[0].Devices = mallory.record("alice").Devices
	extra := good()
	extra.Missing = []string{"bob"}
	old := good()
	old.ServerTime = testNow.Add(-time.Hour).Unix()
	bundle := good()
	bundle.Type = AnswerTypeBundle
	broker := good()
	broker.Users[0].Devices[0].Delivery, broker.Users[0].Devices[0].Broker = DeliveryDirect, "mqtt://u:p@b.example:1883"
	for name, c := range map[string]struct {
		body []byte
		want error
	}{
		"other server key":   {signAnswer(t, other, good()), ErrAnswerSignature},
		"stale":              {signAnswer(t, server, old), ErrStaleAnswer},
		"wrong type":         {signAnswer(t, server, bundle), ErrMalformedAnswer},
		"foreign device":     {signAnswer(t, server, stolen), ErrMalformedAnswer},
		"answers unasked":    {signAnswer(t, server, extra), ErrMalformedAnswer},
		"broker with secret": {signAnswer(t, server, broker), ErrMalformedAnswer},
		"trailing data":      {append(signAnswer(t, server, good()), '{', '}'), ErrMalformedAnswer},
	} {
		if _, err := VerifyAnswer(server.Public(), c.body, time.Minute, testNow); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// Security: a bundle answer for another user or device is refused, so a
// server cannot answer a bundle request with someone else's keys.
func TestSecurityVerifyBundleAnswerRefusesOtherDevice(t *testing.T) {
	server, alice := mustServerKey(t), newTestUser(t)
	b := &pqxdh.Bundle{Device: alice.cert, SignedPreKey: alice.ring.SignedPreKey(), KEMPreKey: alice.ring.LastResort()}
	body := signAnswer(t, server, BundlePayload{Type: AnswerTypeBundle, ServerTime: testNow.Unix(),
		Username: "alice", DeviceID: 1, Bundle: b.Marshal()})
	got, err := VerifyBundleAnswer(server.Public(), body, "alice", 1, time.Minute, testNow)
	if err != nil || got.Bundle.Device.Device != 1 {
		t.Fatalf("bundle: %+v %v", got, err)
	}
	if _, err := VerifyBundleAnswer(server.Public(), body, "bob", 1, time.Minute, testNow); !errors.Is(err, ErrNotInQuery) {
		t.Errorf("other user: %v, want ErrNotInQuery", err)
	}
	if _, err := VerifyBundleAnswer(server.Public(), body, "alice", 2, time.Minute, testNow); !errors.Is(err, ErrNotInQuery) {
		t.Errorf("other device: %v, want ErrNotInQuery", err)
	}
}

func FuzzVerifyAnswer(f *testing.F) {
	server, u := mustServerKey(f), newTestUser(f)
	good := signAnswer(f, server, UsersPayload{Type: AnswerTypeUsers, ServerTime: testNow.Unix(),
		Query: []string{"alice", "bob"}, Users: []UserRecord{u.record("alice")}, Missing: []string{"bob"}})
	for _, s := range [][]byte{good, []byte(`{"payload":"e30=","signature":""}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := VerifyAnswer(server.Public(), b, time.Hour, testNow)
		if err != nil {
			return
		}
		if len(a.Users)+len(a.Missing) != len(a.Query) {
			t.Fatal("accepted an answer that does not cover its query")
		}
	})
}
