package backup

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"testing/cryptotest"

	"golang.org/x/crypto/argon2"

	"github.com/hush-chat/hush/internal/testkit"
)

const vectorsPath = "testdata/vectors.json"

// vector is one backup with every intermediate value, for a second
// implementation (doc/SPEC.md §16.7).
type vector struct {
	Comment        string      `json:"comment"`
	ServerSecret   testkit.Hex `json:"server_secret"`
	Username       string      `json:"username"`
	OPRFKey        testkit.Hex `json:"oprf_key"`
	Passphrase     string      `json:"passphrase"`
	Blind          testkit.Hex `json:"blind"`
	Blinded        testkit.Hex `json:"blinded_element"`
	Evaluated      testkit.Hex `json:"evaluated_element"`
	OPRFOutput     testkit.Hex `json:"oprf_output"`
	Salt           testkit.Hex `json:"salt"`
	Time           uint32      `json:"argon2_t"`
	MemoryKiB      uint32      `json:"argon2_m_kib"`
	Threads        uint8       `json:"argon2_p"`
	BackupKey      testkit.Hex `json:"backup_key"`
	RecoverySecret testkit.Hex `json:"recovery_secret"`
	RecoveryKey    testkit.Hex `json:"recovery_wrap_key"`
	ContentKey     testkit.Hex `json:"content_key"`
	PayloadKey     testkit.Hex `json:"payload_key"`
	HeaderKey      testkit.Hex `json:"header_mac_key"`
	Payload        testkit.Hex `json:"payload"`
	Backup         testkit.Hex `json:"backup"`
}

func generate(t *testing.T) *vector {
	cryptotest.SetGlobalRandom(t, 0x6875736820626b70) // "hush bkp"
	v := &vector{
		Comment:      "hush key backup (doc/SPEC.md §16); regenerate with: go test ./internal/backup -run TestVectors -update",
		ServerSecret: bytes.Repeat([]byte{0x5a}, SecretSize),
		Username:     "alice",
		Passphrase:   "correct horse battery staple",
		Payload:      []byte("identity seed, contacts, groups, settings"),
	}
	var err error
	if v.OPRFKey, err = ServerKey(v.ServerSecret, v.Username); err != nil {
		t.Fatal(err)
	}
	state, blinded, err := Blind([]byte(v.Passphrase))
	if err != nil {
		t.Fatal(err)
	}
	v.Blind, v.Blinded = state[:OPRFKeySize], blinded
	if v.Evaluated, err = Evaluate(v.OPRFKey, blinded); err != nil {
		t.Fatal(err)
	}
	if v.OPRFOutput, err = Finalize(state, v.Evaluated); err != nil {
		t.Fatal(err)
	}
	key, err := NewKey(v.OPRFOutput, DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	v.Salt, v.BackupKey = key.salt[:], key.key[:]
	v.Time, v.MemoryKiB, v.Threads = key.params.Time, key.params.MemoryKiB, key.params.Threads
	v.RecoverySecret = bytes.Repeat([]byte{0x52}, SecretSize)
	b, err := Seal(v.Username, v.Payload, key, v.RecoverySecret)
	if err != nil {
		t.Fatal(err)
	}
	v.Backup = b.Bytes()
	if v.ContentKey, err = b.unwrapPassphrase(v.Username, key); err != nil {
		t.Fatal(err)
	}
	v.RecoveryKey = subkey(v.RecoverySecret, recoveryLabel)
	v.PayloadKey, v.HeaderKey = subkey(v.ContentKey, payloadLabel), subkey(v.ContentKey, headerLabel)
	return v
}

// The stored vectors are what the package makes with fixed randomness, and
// every stored value follows from the ones before it by the spec's
// formulas, computed here from the standard library and x/crypto alone
// (not through the package): the OPRF by RFC 9497 (checked against the
// RFC's own vectors in TestRFC9497Vectors), then Argon2id, HKDF, the wraps,
// the tag and the payload, byte by byte.
func TestVectors(t *testing.T) {
	testkit.Golden(t, vectorsPath, generate(t))
	var v vector
	testkit.ReadJSON(t, vectorsPath, &v)

	if k, _ := deriveKeyPair(v.ServerSecret, []byte("hush/v2 backup oprf\x00"+v.Username)); !bytes.Equal(k, v.OPRFKey) {
		t.Fatal("oprf_key")
	}
	state, blinded, err := blindWith([]byte(v.Passphrase), v.Blind)
	if err != nil || !bytes.Equal(blinded, v.Blinded) {
		t.Fatal("blinded_element", err)
	}
	if ev, _ := Evaluate(v.OPRFKey, v.Blinded); !bytes.Equal(ev, v.Evaluated) {
		t.Fatal("evaluated_element")
	}
	if out, _ := Finalize(state, v.Evaluated); !bytes.Equal(out, v.OPRFOutput) {
		t.Fatal("oprf_output")
	}
	if k := argon2.IDKey(v.OPRFOutput, v.Salt, v.Time, v.MemoryKiB, v.Threads, 32); !bytes.Equal(k, v.BackupKey) {
		t.Fatal("backup_key")
	}
	hk := func(secret []byte, info string) []byte {
		k, _ := hkdf.Key(sha256.New, secret, nil, info, 32)
		return k
	}
	if !bytes.Equal(hk(v.RecoverySecret, "hush/v2 backup recovery"), v.RecoveryKey) ||
		!bytes.Equal(hk(v.ContentKey, "hush/v2 backup payload"), v.PayloadKey) ||
		!bytes.Equal(hk(v.ContentKey, "hush/v2 backup header"), v.HeaderKey) {
		t.Fatal("HKDF subkeys")
	}

	// Decode the backup by hand.
	d := []byte(v.Backup)
	var params [9]byte
	binary.BigEndian.PutUint32(params[0:], v.Time)
	binary.BigEndian.PutUint32(params[4:], v.MemoryKiB)
	params[8] = v.Threads
	prefix := append(append([]byte{0x01}, v.Salt...), params[:]...)
	if !bytes.HasPrefix(d, prefix) {
		t.Fatal("header prefix")
	}
	rest := d[len(prefix):]
	if rest[0] != 60 || rest[61] != 60 {
		t.Fatal("wrap lengths")
	}
	passWrap, recWrap := rest[1:61], rest[62:122]
	tag, payload := rest[122:154], rest[154:]
	open := func(key, nonceCT, aad []byte) []byte {
		c, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(c)
		pt, err := g.Open(nil, nonceCT[:12], nonceCT[12:], aad)
		if err != nil {
			t.Fatal(err)
		}
		return pt
	}
	user := append([]byte{byte(len(v.Username))}, v.Username...)
	if ck := open(v.BackupKey, passWrap, append([]byte("hush/v2 backup wrap\x00\x01"), user...)); !bytes.Equal(ck, v.ContentKey) {
		t.Fatal("pass_wrap")
	}
	if ck := open(v.RecoveryKey, recWrap, append([]byte("hush/v2 backup wrap\x00\x02"), user...)); !bytes.Equal(ck, v.ContentKey) {
		t.Fatal("recovery_wrap")
	}
	m := hmac.New(sha256.New, v.HeaderKey)
	m.Write(append([]byte("hush/v2 backup header\x00"), user...))
	m.Write(d[:len(prefix)+122])
	if !hmac.Equal(m.Sum(nil), tag) {
		t.Fatal("tag")
	}
	if pt := open(v.PayloadKey, payload, append([]byte("hush/v2 backup payload\x00\x01"), user...)); !bytes.Equal(pt, v.Payload) {
		t.Fatal("payload")
	}

	// And the package opens it on both paths.
	b, err := Parse(v.Backup)
	if err != nil {
		t.Fatal(err)
	}
	key, err := KeyFor(b, v.OPRFOutput)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := OpenWithKey(b, v.Username, key); err != nil || !bytes.Equal(pt, v.Payload) {
		t.Fatal("OpenWithKey", err)
	}
	if pt, err := OpenWithRecovery(b, v.Username, v.RecoverySecret); err != nil || !bytes.Equal(pt, v.Payload) {
		t.Fatal("OpenWithRecovery", err)
	}
}
