package tagged

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/testkit"
)

const (
	vectorsV2Path = "testdata/vectors_v2.json"
	vectorsV2Seed = 0x6875736820763274 // "hush v2t"
)

// vectorV2Order is the order the vectors' envelopes open in: in order, a
// skip, positions left behind opened late, and a gap beyond the window.
var vectorV2Order = []int{0, 2, 60, 1, 59, 1000}

type vectorV2File struct {
	Comment      string        `json:"comment"`
	Offer        hexBytes      `json:"offer"`
	Epoch        uint32        `json:"epoch"`
	Seed         hexBytes      `json:"seed"`
	PRK          hexBytes      `json:"prk"`
	TagKey       hexBytes      `json:"tag_key"`
	ChainKey0    hexBytes      `json:"chain_key_0"`
	Positions    []vecPosition `json:"positions"`
	LastTag      hexBytes      `json:"tag_of_last_position"`
	ReceiverInit hexBytes      `json:"receiver_state_offered"`
	SenderInit   hexBytes      `json:"sender_state_accepted"`
	Envelopes    []vecEnvelope `json:"envelopes"` // in the order they open; sender state after sealing that position
}

func generateVectorsV2(t *testing.T) *vectorV2File {
	cryptotest.SetGlobalRandom(t, vectorsV2Seed)
	r, s := pair(t)
	o := r.PendingOffer()
	tk, ck0 := epochKeys(o.Epoch, &o.Seed)
	vf := &vectorV2File{
		Comment: "hush internal/tagged known-answer vectors of continuable epochs (doc/SPEC.md §14.10); regenerate with: go test ./internal/tagged -run TestVectorsV2 -update",
		Offer:   o.Marshal(), Epoch: o.Epoch, Seed: o.Seed[:], TagKey: tk[:], ChainKey0: ck0[:],
		ReceiverInit: marshal(t, r), SenderInit: marshal(t, s),
	}
	h := hmac.New(sha256.New, make([]byte, 32))
	h.Write(o.Seed[:])
	vf.PRK = h.Sum(nil)
	blk := tagCipher(&tk)
	ck := ck0
	want := map[int]bool{0: true, 1: true, 2: true, 63: true, 64: true, 1000: true}
	for i := 0; i <= 1000; i++ {
		next, key := step2(&ck)
		if want[i] {
			g := tagAt(blk, uint32(i))
			vf.Positions = append(vf.Positions, vecPosition{Position: i, Tag: g[:], Key: key[:]})
		}
		ck = next
	}
	last := tagAt(blk, MaxPosition-1)
	vf.LastTag = last[:]
	// The sender seals every position up to the last; the receiver opens
	// those of vectorV2Order in that order.
	sealed := map[int]vecEnvelope{}
	for i := 0; i <= 1000; i++ {
		c := &envelope.Content{Sender: alice, Recipient: bob, MessageID: [16]byte{0xe0, byte(i >> 8), byte(i)}, Timestamp: 1767225600000 + int64(i), Type: 1, Payload: bytes.Repeat([]byte{byte(i)}, 20+i%200)}
		var env []byte
		var err error
		if s, env, err = s.Seal(c); err != nil {
			t.Fatal(err)
		}
		enc, _ := c.Marshal()
		sealed[i] = vecEnvelope{Position: i, Sender: c.Sender.User, SenderD: c.Sender.Device,
			Recip: c.Recipient.User, RecipD: c.Recipient.Device, ID: c.MessageID[:], Time: c.Timestamp, Type: c.Type,
			Payload: c.Payload, Encoded: enc, Envelope: env, SenderSt: marshal(t, s)}
	}
	for _, i := range vectorV2Order {
		v := sealed[i]
		var err error
		if r, _, err = r.Open(bob, v.Envelope); err != nil {
			t.Fatal(err)
		}
		v.RecvSt = marshal(t, r)
		vf.Envelopes = append(vf.Envelopes, v)
	}
	return vf
}

func TestVectorsV2(t *testing.T) {
	want := testkit.GoldenBytes(t, vectorsV2Path, generateVectorsV2(t))
	var vf vectorV2File
	if err := json.Unmarshal(want, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Positions) == 0 || len(vf.Envelopes) != len(vectorV2Order) {
		t.Fatal("no vectors")
	}
	checkScheduleV2(t, &vf)
	// Open every stored envelope from the stored offer alone, in the
	// order given, and compare the stored states.
	o, err := ParseOffer(vf.Offer)
	if err != nil || o.Version != OfferContinuable || o.Epoch != vf.Epoch || !bytes.Equal(o.Seed[:], vf.Seed) {
		t.Fatalf("stored offer: %v", err)
	}
	r := &Receiver{chains: []*chain{newChain(o.Epoch, &o.Seed)}}
	if !bytes.Equal(marshal(t, r), vf.ReceiverInit) {
		t.Fatal("receiver state from the stored offer differs")
	}
	s, err := (&Sender{}).Accept(o)
	if err != nil || !bytes.Equal(marshal(t, s), vf.SenderInit) {
		t.Fatalf("sender state from the stored offer differs: %v", err)
	}
	for _, v := range vf.Envelopes {
		var op *Opened
		if r, op, err = r.Open(envelope.Address{User: v.Recip, Device: v.RecipD}, v.Envelope); err != nil {
			t.Fatalf("envelope %d: %v", v.Position, err)
		}
		if op.Position != v.Position || op.Content.Sender.User != v.Sender || !bytes.Equal(op.Content.Payload, v.Payload) {
			t.Fatalf("envelope %d opens to other content", v.Position)
		}
		if enc, _ := op.Content.Marshal(); !bytes.Equal(enc, v.Encoded) {
			t.Fatalf("envelope %d: content encoding differs", v.Position)
		}
		if !bytes.Equal(marshal(t, r), v.RecvSt) {
			t.Fatalf("envelope %d: receiver state differs", v.Position)
		}
		var ss Sender
		if err := ss.UnmarshalBinary(v.SenderSt); err != nil || !bytes.Equal(marshal(t, &ss), v.SenderSt) {
			t.Fatalf("envelope %d: stored sender state: %v", v.Position, err)
		}
	}
}

// checkScheduleV2 re-derives the continuable schedule with HMAC written out
// (RFC 5869 by hand) and AES from crypto/aes, as a second implementation
// would.
func checkScheduleV2(t *testing.T, vf *vectorV2File) {
	mac := func(k []byte, data ...[]byte) []byte {
		h := hmac.New(sha256.New, k)
		for _, d := range data {
			h.Write(d)
		}
		return h.Sum(nil)
	}
	prk := mac(make([]byte, 32), vf.Seed)
	if !bytes.Equal(prk, vf.PRK) {
		t.Fatal("prk differs from HKDF-Extract written out")
	}
	ep := binary.BigEndian.AppendUint32(nil, vf.Epoch)
	if tk := mac(prk, []byte("hush/v2 tagged tag key"), ep, []byte{1}); !bytes.Equal(tk, vf.TagKey) {
		t.Fatal("tk differs")
	}
	ck := mac(prk, []byte("hush/v2 tagged chain"), ep, []byte{1})
	if !bytes.Equal(ck, vf.ChainKey0) {
		t.Fatal("ck_0 differs")
	}
	blk, err := aes.NewCipher(vf.TagKey)
	if err != nil {
		t.Fatal(err)
	}
	tagOf := func(i uint64) []byte {
		in, out := make([]byte, 16), make([]byte, 16)
		binary.BigEndian.PutUint64(in, i)
		blk.Encrypt(out, in)
		return out
	}
	want := map[int]vecPosition{}
	for _, p := range vf.Positions {
		want[p.Position] = p
	}
	for i := 0; i <= 1000; i++ {
		t1 := mac(ck, []byte("hush/v2 tagged key step"), []byte{1})
		t2 := mac(ck, t1, []byte("hush/v2 tagged key step"), []byte{2})
		if p, ok := want[i]; ok && (!bytes.Equal(tagOf(uint64(i)), p.Tag) || !bytes.Equal(t2, p.Key)) {
			t.Fatalf("position %d: tag or key differs from the stored one", i)
		}
		ck = t1
	}
	if !bytes.Equal(tagOf(MaxPosition-1), vf.LastTag) {
		t.Fatal("the last position's tag differs")
	}
	for _, v := range vf.Envelopes {
		if !bytes.Equal(v.Envelope[1:1+TagLen], tagOf(uint64(v.Position))) {
			t.Fatalf("envelope %d carries another tag", v.Position)
		}
	}
}
