package ratchet

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/mlkem"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// refWalker re-derives the message keys of a conversation, version 1 or 2,
// written from SPEC §5 and §5.12 with the primitives only. It walks the
// messages in send order. What it knows is what it is given: the X25519
// private keys (priv), ML-KEM seeds and secrets per epoch. The same walker
// computes the true keys (given everything) and an attacker's (given what
// a stolen state and broken X25519 reveal).
type refWalker struct {
	rk      []byte
	ad      []byte
	lastPub map[string][]byte // last ratchet public key of each side
	chains  map[string]*refChain
	priv    func(pub []byte) []byte
	seeds   map[uint32][]byte // ML-KEM-768 seed of epoch e's EK side
	secrets map[uint32][]byte // ss_e known outright
	cts     map[uint32][]byte // ciphertext of epoch e, reassembled from chunks
	mixes   uint32            // epochs mixed so far
	blind   bool              // a secret it did not know went into the root key
}

type refChain struct {
	ck []byte
	n  uint32
}

type refHeader struct {
	version    byte
	dh         []byte
	pn, n      uint32
	mixed      bool
	kind, idx  byte
	epoch      uint32
	chunk      []byte
	headerSize int
}

func parseRef(msg []byte) refHeader {
	h := refHeader{version: msg[0], dh: msg[1:33], pn: binary.BigEndian.Uint32(msg[33:]), n: binary.BigEndian.Uint32(msg[37:]), headerSize: 41}
	if h.version == 2 {
		pq := msg[41]
		h.mixed, h.kind, h.idx = pq&0x80 != 0, (pq>>5)&3, pq&0x1f
		h.headerSize = 42
		if h.kind != 0 {
			h.epoch = binary.BigEndian.Uint32(msg[42:])
			h.headerSize = 46
		}
		if h.kind == 1 || h.kind == 2 {
			size := 1184
			if h.kind == 2 {
				size = 1088
			}
			l := min(64, size-64*int(h.idx))
			h.chunk = msg[46 : 46+l]
			h.headerSize += l
		}
	}
	return h
}

func newRefWalker(rk, ad []byte, priv func([]byte) []byte) *refWalker {
	return &refWalker{
		rk: bytes.Clone(rk), ad: ad, priv: priv,
		lastPub: map[string][]byte{}, chains: map[string]*refChain{},
		seeds: map[uint32][]byte{}, secrets: map[uint32][]byte{}, cts: map[uint32][]byte{},
	}
}

// secret returns ss_e as far as the walker knows it; an unknown secret is
// guessed as zeros, and the walker notes that it is now blind.
func (w *refWalker) secret(e uint32) []byte {
	if ss, ok := w.secrets[e]; ok {
		return ss
	}
	if seed, ok := w.seeds[e]; ok && w.cts[e] != nil {
		dk, err := mlkem.NewDecapsulationKey768(seed)
		if err == nil {
			if ss, err := dk.Decapsulate(w.cts[e]); err == nil {
				return ss
			}
		}
	}
	w.blind = true
	return make([]byte, 32)
}

// next derives the key of the next message in send order, sent by side,
// and reports whether it opens the message.
func (w *refWalker) next(t testing.TB, side string, msg []byte) (mk []byte, opens bool) {
	t.Helper()
	h := parseRef(msg)
	if !bytes.Equal(w.lastPub[side], h.dh) { // a sending DH ratchet step
		peer, err := ecdh.X25519().NewPublicKey(w.lastPub[other2(side)])
		if err != nil {
			t.Fatal(err)
		}
		priv, err := ecdh.X25519().NewPrivateKey(w.priv(h.dh))
		if err != nil {
			t.Fatal(err)
		}
		shared, err := priv.ECDH(peer)
		if err != nil {
			t.Fatal(err)
		}
		ikm, label := shared, "hush/v1 ratchet root"
		if h.mixed {
			w.mixes++ // the k-th mixing step mixes epoch k
			ikm, label = append(shared, w.secret(w.mixes)...), "hush/v2 ratchet root pq"
		}
		out, _ := hkdf.Key(sha256.New, ikm, w.rk, label, 64)
		w.rk = out[:32]
		w.chains[side] = &refChain{ck: out[32:]}
		w.lastPub[side] = h.dh
	}
	c := w.chains[side]
	if c == nil || h.n != c.n {
		t.Fatalf("%s message n=%d does not follow its chain", side, h.n)
	}
	mac := func(b byte) []byte { m := hmac.New(sha256.New, c.ck); m.Write([]byte{b}); return m.Sum(nil) }
	mk = mac(0x01)
	c.ck, c.n = mac(0x02), c.n+1
	if h.kind == 2 {
		if w.cts[h.epoch] == nil {
			w.cts[h.epoch] = make([]byte, 1088)
		}
		copy(w.cts[h.epoch][64*int(h.idx):], h.chunk)
	}
	kn, _ := hkdf.Key(sha256.New, mk, make([]byte, 32), "hush/v1 ratchet message", 44)
	block, _ := aes.NewCipher(kn[:32])
	gcm, _ := cipher.NewGCM(block)
	_, err := gcm.Open(nil, kn[32:], msg[h.headerSize:], append(bytes.Clone(w.ad), msg[:h.headerSize]...))
	return mk, err == nil
}

// other2 maps the two naming schemes the tests use.
func other2(side string) string {
	switch side {
	case "alice":
		return "bob"
	case "bob":
		return "alice"
	}
	return other(side)
}

// keyBook collects every X25519 ratchet key pair both parties use: the
// model of an adversary who can break X25519.
type keyBook map[string][]byte

func (k keyBook) note(s *State) { k[hex.EncodeToString(s.dhsPub[:])] = bytes.Clone(s.dhsPriv[:]) }
func (k keyBook) priv(pub []byte) []byte {
	return k[hex.EncodeToString(pub)]
}
