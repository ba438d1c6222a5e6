package envelope

import (
	"bytes"
	"crypto/hpke"
	"encoding/json"
	"strings"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/testkit"
)

const (
	vectorsPath = "testdata/vectors.json"
	vectorsSeed = 0x6875736820656e76 // "hush env"
)

// hexBytes is a byte string written as hex in JSON.
type hexBytes = testkit.Hex

type vecAddress struct {
	User   string `json:"user"`
	Device uint32 `json:"device"`
}

type vecContent struct {
	Sender    vecAddress `json:"sender"`
	Recipient vecAddress `json:"recipient"`
	MessageID hexBytes   `json:"message_id"`
	Timestamp int64      `json:"timestamp"`
	Type      uint8      `json:"type"`
	Payload   hexBytes   `json:"payload"`
}

type sealedVector struct {
	Name       string     `json:"name"`
	PrivateKey hexBytes   `json:"private_key"` // X-Wing seed, as hpke PrivateKey.Bytes
	PublicKey  hexBytes   `json:"public_key"`
	Content    vecContent `json:"content"`
	Encoded    hexBytes   `json:"encoded_content"` // padded, the HPKE plaintext
	Envelope   hexBytes   `json:"envelope"`
}

type multiVector struct {
	Name        string     `json:"name"`
	PrivateKeys []hexBytes `json:"private_keys"`
	PublicKeys  []hexBytes `json:"public_keys"`
	Content     vecContent `json:"content"`
	Encoded     hexBytes   `json:"encoded_content"`
	Multi       hexBytes   `json:"multi"`
	Deliveries  []hexBytes `json:"deliveries"`
}

type vectorFile struct {
	Comment string         `json:"comment"`
	Sealed  []sealedVector `json:"sealed"`
	Multi   []multiVector  `json:"multi"`
}

func toVec(c *Content) vecContent {
	return vecContent{
		Sender:    vecAddress(c.Sender),
		Recipient: vecAddress(c.Recipient),
		MessageID: c.MessageID[:],
		Timestamp: c.Timestamp,
		Type:      c.Type,
		Payload:   c.Payload,
	}
}

func fromVec(v vecContent) *Content {
	c := &Content{
		Sender:    Address(v.Sender),
		Recipient: Address(v.Recipient),
		Timestamp: v.Timestamp,
		Type:      v.Type,
		Payload:   v.Payload,
	}
	copy(c.MessageID[:], v.MessageID)
	return c
}

func vecPayload(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i) ^ seed
	}
	return p
}

// sealedCases covers the buckets, both known types, the longest user name
// and the extremes of the timestamp.
func sealedCases() []struct {
	name string
	c    *Content
} {
	long := strings.Repeat("ü", MaxUserLen/2)
	mk := func(to Address, ts int64, typ uint8, n int) *Content {
		return &Content{Sender: alice, Recipient: to, MessageID: [16]byte{0xa0, byte(n), typ}, Timestamp: ts, Type: typ, Payload: vecPayload(n, byte(n))}
	}
	withLong := mk(Address{User: long, Device: 0xffffffff}, -1, 200, 1000)
	withLong.Sender = Address{User: long, Device: 0}
	return []struct {
		name string
		c    *Content
	}{
		{"ratchet message, 256 bucket", mk(bob, 1767225600123, 1, 100)},
		{"prekey message, empty payload", mk(bob, 0, 2, 0)},
		{"512 bucket", mk(carol, 1767225600999, 1, 300)},
		{"64-byte user names, 2048 bucket", withLong},
	}
}

func generateVectors(t *testing.T) *vectorFile {
	cryptotest.SetGlobalRandom(t, vectorsSeed)
	vf := &vectorFile{Comment: "hush internal/envelope known-answer vectors; regenerate with: go test ./internal/envelope -run TestVectors -update"}
	for _, tc := range sealedCases() {
		priv := newKey(t)
		env, err := Seal(priv.PublicKey(), tc.c)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := tc.c.Marshal()
		seed, _ := priv.Bytes()
		vf.Sealed = append(vf.Sealed, sealedVector{
			Name: tc.name, PrivateKey: seed, PublicKey: priv.PublicKey().Bytes(),
			Content: toVec(tc.c), Encoded: enc, Envelope: env,
		})
	}
	c := &Content{Sender: carol, MessageID: [16]byte{0xb0}, Timestamp: 1767225601000, Type: 1, Payload: vecPayload(200, 0x5a)}
	privs, pubs := newKeys(t, 3)
	m, err := sealMulti(pubs, c, 1) // one worker: randomness in recipient order
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := c.Marshal()
	mv := multiVector{Name: "three recipients", Content: toVec(c), Encoded: enc, Multi: m.Marshal()}
	for i, priv := range privs {
		seed, _ := priv.Bytes()
		d, _ := m.Delivery(i)
		mv.PrivateKeys = append(mv.PrivateKeys, seed)
		mv.PublicKeys = append(mv.PublicKeys, pubs[i].Bytes())
		mv.Deliveries = append(mv.Deliveries, d)
	}
	vf.Multi = append(vf.Multi, mv)
	return vf
}

func TestVectors(t *testing.T) {
	want := testkit.GoldenBytes(t, vectorsPath, generateVectors(t))
	var vf vectorFile
	if err := json.Unmarshal(want, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Sealed) == 0 || len(vf.Multi) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vf.Sealed {
		checkSealedVector(t, v)
	}
	for _, v := range vf.Multi {
		checkMultiVector(t, v)
	}
}

func loadKey(t *testing.T, seed, pub []byte) hpke.PrivateKey {
	t.Helper()
	priv, err := hpke.MLKEM768X25519().NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), pub) || len(pub) != PublicKeyLen {
		t.Fatal("stored public key does not match the stored private key")
	}
	return priv
}

// checkSealedVector opens a stored vector from its stored key alone.
func checkSealedVector(t *testing.T, v sealedVector) {
	want := fromVec(v.Content)
	priv := loadKey(t, v.PrivateKey, v.PublicKey)
	c, err := ParseContent(v.Encoded)
	if err != nil || !equalContent(c, want) {
		t.Errorf("%s: encoded content does not decode to the content: %v", v.Name, err)
	}
	if enc, _ := want.Marshal(); !bytes.Equal(enc, v.Encoded) {
		t.Errorf("%s: content does not encode to the stored encoding", v.Name)
	}
	if len(v.Envelope) != 1+EncLen+len(v.Encoded)+tagLen {
		t.Errorf("%s: envelope length %d", v.Name, len(v.Envelope))
	}
	c, err = Open(priv, want.Recipient, v.Envelope)
	if err != nil || !equalContent(c, want) {
		t.Errorf("%s: stored envelope does not open to the content: %v", v.Name, err)
	}
}

func checkMultiVector(t *testing.T, v multiVector) {
	want := fromVec(v.Content)
	m, err := ParseMulti(v.Multi)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	if m.NumSlots() != len(v.PrivateKeys) || len(v.Deliveries) != len(v.PrivateKeys) {
		t.Fatalf("%s: %d slots for %d keys", v.Name, m.NumSlots(), len(v.PrivateKeys))
	}
	if enc, _ := want.Marshal(); !bytes.Equal(enc, v.Encoded) {
		t.Errorf("%s: content does not encode to the stored encoding", v.Name)
	}
	for i, seed := range v.PrivateKeys {
		priv := loadKey(t, seed, v.PublicKeys[i])
		if d, _ := m.Delivery(i); !bytes.Equal(d, v.Deliveries[i]) {
			t.Errorf("%s: delivery %d differs from the stored one", v.Name, i)
		}
		c, err := OpenDelivery(priv, v.Deliveries[i])
		if err != nil || !equalContent(c, want) {
			t.Errorf("%s: delivery %d does not open to the content: %v", v.Name, i, err)
		}
	}
}
