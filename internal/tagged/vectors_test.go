package tagged

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"testing/cryptotest"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/testkit"
)

const (
	vectorsPath = "testdata/vectors.json"
	vectorsSeed = 0x6875736820746167 // "hush tag"
)

// hexBytes is a byte string written as hex in JSON.
type hexBytes = testkit.Hex

type vecPosition struct {
	Position int      `json:"position"`
	Tag      hexBytes `json:"tag"`
	Key      hexBytes `json:"key"`
}

type vecEnvelope struct {
	Position int      `json:"position"`
	Sender   string   `json:"sender_user"`
	SenderD  uint32   `json:"sender_device"`
	Recip    string   `json:"recipient_user"`
	RecipD   uint32   `json:"recipient_device"`
	ID       hexBytes `json:"message_id"`
	Time     int64    `json:"timestamp"`
	Type     uint8    `json:"type"`
	Payload  hexBytes `json:"payload"`
	Encoded  hexBytes `json:"encoded_content"`
	Envelope hexBytes `json:"envelope"`
	SenderSt hexBytes `json:"sender_state_after"`
	RecvSt   hexBytes `json:"receiver_state_after"`
}

type vectorFile struct {
	Comment      string        `json:"comment"`
	Offer        hexBytes      `json:"offer"`
	Epoch        uint32        `json:"epoch"`
	Seed         hexBytes      `json:"seed"`
	ChainKey0    hexBytes      `json:"chain_key_0"`
	Positions    []vecPosition `json:"positions"`
	ReceiverInit hexBytes      `json:"receiver_state_offered"`
	SenderInit   hexBytes      `json:"sender_state_accepted"`
	Envelopes    []vecEnvelope `json:"envelopes"`
}

func generateVectors(t *testing.T) *vectorFile {
	cryptotest.SetGlobalRandom(t, vectorsSeed)
	r, s := legacyPair(t) // the seed drawn as the first release's Offer drew it
	o := r.PendingOffer()
	var err error
	ck0 := firstChainKey(o.Epoch, &o.Seed)
	vf := &vectorFile{
		Comment: "hush internal/tagged known-answer vectors (doc/SPEC.md §14.10); regenerate with: go test ./internal/tagged -run TestVectors -update",
		Offer:   o.Marshal(), Epoch: o.Epoch, Seed: o.Seed[:], ChainKey0: ck0[:],
		ReceiverInit: marshal(t, r), SenderInit: marshal(t, s),
	}
	for _, p := range []int{0, 1, 2, Window - 1} {
		e := r.batches[0].entries[p]
		vf.Positions = append(vf.Positions, vecPosition{Position: p, Tag: e.tag[:], Key: e.key[:]})
	}
	for i, n := range []int{100, 0, 300} {
		c := &envelope.Content{Sender: alice, Recipient: bob, MessageID: [16]byte{0xd0, byte(i)}, Timestamp: 1767225600000 + int64(i), Type: 1, Payload: bytes.Repeat([]byte{byte(0x30 + i)}, n)}
		var env []byte
		if s, env, err = s.Seal(c); err != nil {
			t.Fatal(err)
		}
		if r, _, err = r.Open(bob, env); err != nil {
			t.Fatal(err)
		}
		enc, _ := c.Marshal()
		vf.Envelopes = append(vf.Envelopes, vecEnvelope{Position: i, Sender: c.Sender.User, SenderD: c.Sender.Device,
			Recip: c.Recipient.User, RecipD: c.Recipient.Device, ID: c.MessageID[:], Time: c.Timestamp, Type: c.Type,
			Payload: c.Payload, Encoded: enc, Envelope: env, SenderSt: marshal(t, s), RecvSt: marshal(t, r)})
	}
	return vf
}

func TestVectors(t *testing.T) {
	want := testkit.GoldenBytes(t, vectorsPath, generateVectors(t))
	var vf vectorFile
	if err := json.Unmarshal(want, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Positions) == 0 || len(vf.Envelopes) == 0 {
		t.Fatal("no vectors")
	}
	checkSchedule(t, &vf)
	// Open every stored envelope from the stored offer alone, in the
	// order given, and compare the stored states.
	o, err := ParseOffer(vf.Offer)
	if err != nil || o.Epoch != vf.Epoch || !bytes.Equal(o.Seed[:], vf.Seed) {
		t.Fatalf("stored offer: %v", err)
	}
	r, _, _, err := (&Receiver{}).withBatch(newBatch(o.Epoch, &o.Seed))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(marshal(t, r), vf.ReceiverInit) {
		t.Fatal("receiver state from the stored offer differs")
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
		var s Sender
		if err := s.UnmarshalBinary(v.SenderSt); err != nil {
			t.Fatal(err)
		}
	}
}

// checkSchedule re-derives the key schedule with HMAC written out (RFC 5869
// by hand), as a second implementation would.
func checkSchedule(t *testing.T, vf *vectorFile) {
	mac := func(k []byte, data ...[]byte) []byte {
		h := hmac.New(sha256.New, k)
		for _, d := range data {
			h.Write(d)
		}
		return h.Sum(nil)
	}
	prk := mac(make([]byte, 32), vf.Seed)
	info := append([]byte("hush/v2 tagged epoch"), 0, 0, 0, byte(vf.Epoch))
	ck := mac(prk, info, []byte{1})
	if !bytes.Equal(ck, vf.ChainKey0) {
		t.Fatal("ck_0 differs from HKDF written out")
	}
	if got, _ := hkdf.Key(sha256.New, vf.Seed, make([]byte, 32), string(info), 32); !bytes.Equal(got, ck) {
		t.Fatal("ck_0 differs from crypto/hkdf")
	}
	want := map[int]vecPosition{}
	for _, p := range vf.Positions {
		want[p.Position] = p
	}
	for i := range Window {
		t1 := mac(ck, []byte("hush/v2 tagged step"), []byte{1})
		t2 := mac(ck, t1, []byte("hush/v2 tagged step"), []byte{2})
		t3 := mac(ck, t2, []byte("hush/v2 tagged step"), []byte{3})
		out := append(append(t1, t2...), t3...)
		if p, ok := want[i]; ok && (!bytes.Equal(out[32:48], p.Tag) || !bytes.Equal(out[48:80], p.Key)) {
			t.Fatalf("position %d: tag or key differs from the stored one", i)
		}
		ck = out[0:32]
	}
}
