package sealed

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/testkit"
)

const vectorsPath = "testdata/vectors.json"

// hexBytes is a byte string written as hex in JSON.
type hexBytes = testkit.Hex

// vector is one sealed blob with everything needed to open and check it.
type vector struct {
	Comment        string     `json:"comment"`
	SenderSeed     hexBytes   `json:"sender_identity_seed"` // Ed25519 seed of the sender's identity key
	SenderKey      hexBytes   `json:"sender_identity_key"`
	SenderUser     string     `json:"sender_user"`
	SenderDevice   uint32     `json:"sender_device"`
	MessageID      hexBytes   `json:"message_id"`
	Timestamp      int64      `json:"timestamp"`
	Users          []string   `json:"users"`
	DeviceKeys     []hexBytes `json:"device_private_keys"` // X-Wing seeds of the recipient devices, in sealing order
	Plaintext      hexBytes   `json:"plaintext"`
	EnvelopeSHA256 hexBytes   `json:"envelope_sha256"`
	Signed         hexBytes   `json:"signed_message"`
	Blob           hexBytes   `json:"blob"`
}

func newDeviceKey(t *testing.T) hpke.PrivateKey {
	t.Helper()
	k, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func generate(t *testing.T) *vector {
	cryptotest.SetGlobalRandom(t, 0x6875736820736561) // "hush sea"
	id, err := identity.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	// One device: the multi envelope then draws its randomness in a
	// fixed order.
	dev := newDeviceKey(t)
	seed, _ := dev.Bytes()
	v := &vector{
		Comment:    "hush sealed data (doc/SPEC.md §13); regenerate with: go test ./internal/sealed -run TestVectors -update",
		SenderSeed: id.Seed(), SenderKey: id.Public().Bytes(), SenderUser: "alice", SenderDevice: 1,
		MessageID: bytes.Repeat([]byte{0xa5}, 16), Timestamp: 1767225600123, Users: []string{"alice", "bob"},
		DeviceKeys: []hexBytes{seed}, Plaintext: []byte("row 1: the quarterly numbers"),
	}
	h := Header{Sender: envelope.Address{User: v.SenderUser, Device: v.SenderDevice}, Timestamp: v.Timestamp, Users: v.Users}
	copy(h.MessageID[:], v.MessageID)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, id, h, []hpke.PublicKey{dev.PublicKey()})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(v.Plaintext)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	v.Blob = buf.Bytes()
	n := 5 + int(uint32(v.Blob[1])<<24|uint32(v.Blob[2])<<16|uint32(v.Blob[3])<<8|uint32(v.Blob[4]))
	eh := sha256.Sum256(v.Blob[:n])
	d := sha256.Sum256(v.Plaintext)
	v.EnvelopeSHA256, v.Signed = eh[:], SignedMessage(&h, eh[:], d[:])
	return v
}

// The stored blob opens with the stored device key, names the stored
// header, and its signature verifies over the stored signed message under
// the sender's key; and sealing again with the same randomness gives the
// same bytes (the encoding has not drifted).
func TestVectors(t *testing.T) {
	got := generate(t)
	testkit.Golden(t, vectorsPath, got)
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	priv, err := hpke.MLKEM768X25519().NewPrivateKey(v.DeviceKeys[0])
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(bytes.NewReader(v.Blob), priv)
	if err != nil {
		t.Fatal(err)
	}
	if o.Sender.User != v.SenderUser || o.Sender.Device != v.SenderDevice || o.Timestamp != v.Timestamp ||
		!bytes.Equal(o.MessageID[:], v.MessageID) || len(o.Users) != len(v.Users) || o.Users[1] != v.Users[1] {
		t.Fatalf("header %+v", o.Header)
	}
	key, err := identity.NewIdentityKey(v.SenderKey)
	if err != nil {
		t.Fatal(err)
	}
	var signed []byte
	r, err := o.Data(func(m, sig []byte) error {
		signed = m
		return key.Verify(SignLabel, m, sig)
	})
	if err != nil {
		t.Fatal(err)
	}
	pt, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(pt, v.Plaintext) || !bytes.Equal(signed, v.Signed) {
		t.Fatalf("plaintext %q, signed %x, %v", pt, signed, err)
	}
}

// A key that is not a recipient's finds no slot.
func TestOpenWithOtherKey(t *testing.T) {
	v := generate(t)
	if _, err := Open(bytes.NewReader(v.Blob), newDeviceKey(t)); !errors.Is(err, ErrNotRecipient) {
		t.Fatal(err)
	}
}
