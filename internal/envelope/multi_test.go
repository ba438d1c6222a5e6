package envelope

import (
	"bytes"
	"crypto/hpke"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hush-chat/hush/internal/wire"
)

func newKeys(tb testing.TB, n int) ([]hpke.PrivateKey, []hpke.PublicKey) {
	tb.Helper()
	privs := make([]hpke.PrivateKey, n)
	pubs := make([]hpke.PublicKey, n)
	for i := range privs {
		privs[i] = newKey(tb)
		pubs[i] = privs[i].PublicKey()
	}
	return privs, pubs
}

func TestMulti50Recipients(t *testing.T) {
	privs, pubs := newKeys(t, 50)
	c := testContent(Address{}, 1000)
	m, err := SealMulti(pubs, c)
	if err != nil {
		t.Fatal(err)
	}
	if m.NumSlots() != 50 {
		t.Fatalf("NumSlots = %d", m.NumSlots())
	}
	full := m.Marshal()
	bodyLen := PaddedLen(encodedLen(c)) + tagLen
	if want := 1 + 4 + bodyLen + 4 + 50*SlotLen; len(full) != want {
		t.Errorf("full encoding is %d bytes, want %d", len(full), want)
	}
	parsed, err := ParseMulti(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parsed.Marshal(), full) {
		t.Fatal("ParseMulti/Marshal round trip differs")
	}
	for i, priv := range privs {
		d, err := parsed.Delivery(i)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 1+SlotLen+bodyLen {
			t.Errorf("delivery %d is %d bytes", i, len(d))
		}
		got, err := OpenDelivery(priv, d)
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if !equalContent(got, c) {
			t.Errorf("recipient %d got different content", i)
		}
	}
	for _, i := range []int{-1, 50} {
		if _, err := m.Delivery(i); !errors.Is(err, ErrInvalid) {
			t.Errorf("Delivery(%d): %v", i, err)
		}
	}
}

// Security regression: the relay must not be able to move a slot onto
// another body, even one of the same length sent to the same devices.
func TestSlotMovedToOtherBodyFails(t *testing.T) {
	privs, pubs := newKeys(t, 2)
	m1, err := SealMulti(pubs, testContent(Address{}, 100))
	if err != nil {
		t.Fatal(err)
	}
	c2 := testContent(Address{}, 100)
	c2.Payload[0] ^= 1
	m2, err := SealMulti(pubs, c2)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := m1.Delivery(0)
	d2, _ := m2.Delivery(0)
	if len(d1) != len(d2) {
		t.Fatal("bodies of different lengths")
	}
	spliced := append(bytes.Clone(d1[:1+SlotLen]), d2[1+SlotLen:]...)
	if _, err := OpenDelivery(privs[0], spliced); !errors.Is(err, ErrAuth) {
		t.Errorf("slot of m1 on body of m2: %v", err)
	}
}

// Security regression: a recipient knows the content key, so it could
// encrypt a forged body under it; the other recipients' slots must not open
// with that body (the slot's aad is the hash of the original body).
func TestSlotBoundToBodyAgainstInsider(t *testing.T) {
	privs, pubs := newKeys(t, 2)
	m, err := SealMulti(pubs, testContent(Address{}, 100))
	if err != nil {
		t.Fatal(err)
	}
	d0, _ := m.Delivery(0)
	key, err := unwrapKey(privs[0], d0[1:1+SlotLen], d0[1+SlotLen:])
	if err != nil {
		t.Fatal(err)
	}
	forged := testContent(Address{}, 100)
	forged.Payload[0] ^= 1
	pt, _ := forged.Marshal()
	aead, _ := bodyAEAD(key)
	body := aead.Seal(nil, make([]byte, 12), pt, []byte(multiBodyAAD))
	d1, _ := m.Delivery(1)
	spliced := append(bytes.Clone(d1[:1+SlotLen]), body...)
	if _, err := OpenDelivery(privs[1], spliced); !errors.Is(err, ErrAuth) {
		t.Errorf("forged body under the real content key: %v", err)
	}
}

func TestDeliveryHoldsOnlyOwnSlot(t *testing.T) {
	_, pubs := newKeys(t, 10)
	m, err := SealMulti(pubs, testContent(Address{}, 10))
	if err != nil {
		t.Fatal(err)
	}
	full := m.Marshal()
	slots := full[len(full)-10*SlotLen:]
	for i := range 10 {
		d, _ := m.Delivery(i)
		for j := range 10 {
			has := bytes.Contains(d, slots[j*SlotLen:(j+1)*SlotLen])
			if has != (i == j) {
				t.Errorf("delivery %d contains slot %d: %v", i, j, has)
			}
		}
		// Nor any part of another slot's encapsulated key.
		for j := range 10 {
			if j != i && bytes.Contains(d, slots[j*SlotLen:j*SlotLen+32]) {
				t.Errorf("delivery %d holds a prefix of slot %d", i, j)
			}
		}
	}
}

func TestDeliveryCrossRecipientFails(t *testing.T) {
	privs, pubs := newKeys(t, 8)
	m, err := SealMulti(pubs, testContent(Address{}, 10))
	if err != nil {
		t.Fatal(err)
	}
	for j := range privs {
		d, _ := m.Delivery(j)
		for i, priv := range privs {
			_, err := OpenDelivery(priv, d)
			if i == j && err != nil {
				t.Errorf("recipient %d cannot open its own delivery: %v", i, err)
			}
			if i != j && !errors.Is(err, ErrAuth) {
				t.Errorf("recipient %d opened delivery %d: %v", i, j, err)
			}
		}
	}
}

func TestDeliveryDetectsTamperingEveryByte(t *testing.T) {
	privs, pubs := newKeys(t, 1)
	m, err := SealMulti(pubs, testContent(Address{}, 10))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := m.Delivery(0)
	for i := range d {
		bad := bytes.Clone(d)
		bad[i] ^= 0xff
		c, err := OpenDelivery(privs[0], bad)
		if c != nil || err == nil {
			t.Fatalf("byte %d flipped: delivery still opened", i)
		}
		want := ErrAuth
		if i == 0 {
			want = wire.ErrVersion
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: %v, want %v", i, err, want)
		}
	}
}

func TestSealMultiRefuses(t *testing.T) {
	_, pubs := newKeys(t, 1)
	if _, err := SealMulti(pubs, testContent(bob, 10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("content naming a recipient: %v", err)
	}
	if _, err := SealMulti(nil, testContent(Address{}, 10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("no recipients: %v", err)
	}
	many := make([]hpke.PublicKey, MaxSlots+1)
	for i := range many {
		many[i] = pubs[0]
	}
	if _, err := SealMulti(many, testContent(Address{}, 10)); !errors.Is(err, ErrInvalid) {
		t.Errorf("%d recipients: %v", len(many), err)
	}
	if _, err := SealMulti(pubs, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil content: %v", err)
	}
	c := testContent(Address{}, 10)
	c.Type = 0
	if _, err := SealMulti(pubs, c); !errors.Is(err, ErrInvalid) {
		t.Errorf("type 0: %v", err)
	}
}

// Security regression: a peer that received a sealed message must not be
// able to re-wrap its content as a delivery to someone else.
func TestOpenDeliveryRefusesNamedRecipient(t *testing.T) {
	privs, pubs := newKeys(t, 1)
	pt, err := testContent(bob, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := sealMultiPadded(pubs, pt, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := m.Delivery(0)
	if _, err := OpenDelivery(privs[0], d); !errors.Is(err, ErrWrongRecipient) {
		t.Errorf("delivery naming a recipient: %v", err)
	}
	pt[len(pt)-1] = 1
	m, _ = sealMultiPadded(pubs, pt, 1)
	d, _ = m.Delivery(0)
	_, err = OpenDelivery(privs[0], d)
	if field, sentinel := wireField(t, err); sentinel != wire.ErrMalformed || field != "padding" {
		t.Errorf("delivery with nonzero padding: %v", err)
	}
}

func TestParseMultiRefuses(t *testing.T) {
	_, pubs := newKeys(t, 2)
	m, err := SealMulti(pubs, testContent(Address{}, 300)) // the 512 bucket
	if err != nil {
		t.Fatal(err)
	}
	full := m.Marshal()
	bodyLen := len(full) - 1 - 4 - 4 - 2*SlotLen
	offCount := 1 + 4 + bodyLen
	withCount := func(n uint32) []byte {
		b := bytes.Clone(full)
		binary.BigEndian.PutUint32(b[offCount:], n)
		return b
	}
	withBodyLen := func(n uint32) []byte {
		b := bytes.Clone(full)
		binary.BigEndian.PutUint32(b[1:], n)
		return b
	}
	for _, tc := range []struct {
		name  string
		in    []byte
		want  error
		field string
	}{
		{"empty", nil, wire.ErrTruncated, "version"},
		{"delivery form", append([]byte{DeliveryVersion}, full[1:]...), wire.ErrVersion, "version"},
		{"no slots", withCount(0)[:offCount+4], wire.ErrMalformed, "slot_count"},
		{"too many slots", withCount(MaxSlots + 1), wire.ErrTooLarge, "slot_count"},
		{"count above the data", withCount(3), wire.ErrTruncated, "slots"},
		{"count below the data", withCount(1), wire.ErrTrailing, ""},
		{"trailing byte", append(bytes.Clone(full), 0), wire.ErrTrailing, ""},
		{"body length above the limit", withBodyLen(uint32(maxBodyLen + 1)), wire.ErrTooLarge, "body"},
		{"body length beyond the input", withBodyLen(1 << 20), wire.ErrTruncated, "body"},
		{"body not a bucket", withBodyLen(uint32(bodyLen - 1)), wire.ErrMalformed, "body"},
		{"body below the smallest bucket", withBodyLen(100), wire.ErrTruncated, "body"},
		{"oversized", make([]byte, maxMultiLen+1), wire.ErrTooLarge, ""},
	} {
		got, err := ParseMulti(tc.in)
		if got != nil {
			t.Errorf("%s: parsed", tc.name)
			continue
		}
		if field, sentinel := wireField(t, err); sentinel != tc.want || field != tc.field {
			t.Errorf("%s: %v, want %v in field %q", tc.name, err, tc.want, tc.field)
		}
	}
}

func TestOpenDeliveryRefusesFraming(t *testing.T) {
	privs, pubs := newKeys(t, 1)
	m, _ := SealMulti(pubs, testContent(Address{}, 10))
	d, _ := m.Delivery(0)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"sealed form", append([]byte{SealedVersion}, d[1:]...), wire.ErrVersion},
		{"slot cut", d[:100], wire.ErrTruncated},
		{"no body", d[:1+SlotLen], wire.ErrTruncated},
		{"body not a bucket", append(bytes.Clone(d), 0), wire.ErrMalformed},
		{"oversized", make([]byte, MaxEnvelope+1), wire.ErrTooLarge},
	} {
		_, err := OpenDelivery(privs[0], tc.in)
		if _, sentinel := wireField(t, err); sentinel != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// The parallel path produces slots every recipient can open, like the
// sequential one, and in recipient order.
func TestSealMultiParallelOrder(t *testing.T) {
	privs, pubs := newKeys(t, 9)
	for _, workers := range []int{1, 2, 4, 16} {
		m, err := sealMulti(pubs, testContent(Address{}, 10), workers)
		if err != nil {
			t.Fatal(err)
		}
		for i, priv := range privs {
			d, _ := m.Delivery(i)
			if _, err := OpenDelivery(priv, d); err != nil {
				t.Errorf("workers %d, recipient %d: %v", workers, i, err)
			}
		}
	}
}

func TestForEachStopsAtError(t *testing.T) {
	boom := errors.New("boom")
	for _, workers := range []int{1, 3} {
		err := forEach(100, workers, func(i int) error {
			if i == 42 {
				return boom
			}
			return nil
		})
		if err != boom {
			t.Errorf("workers %d: %v", workers, err)
		}
	}
}

func BenchmarkSealMulti1000(b *testing.B) {
	_, pubs := newKeys(b, 1000)
	c := testContent(Address{}, 100)
	for b.Loop() {
		if _, err := SealMulti(pubs, c); err != nil {
			b.Fatal(err)
		}
	}
}

// OpenAny finds the own slot among the others, and refuses a key that has
// none or an envelope whose body was altered.
func TestOpenAnyFindsOwnSlot(t *testing.T) {
	privs, pubs := newKeys(t, 3)
	c := &Content{Sender: carol, MessageID: [16]byte{7}, Timestamp: 1, Type: 4, Payload: []byte("stored")}
	m, err := SealMulti(pubs, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, priv := range privs {
		got, err := m.OpenAny(priv)
		if err != nil || string(got.Payload) != "stored" {
			t.Fatalf("recipient %d: %v", i, err)
		}
	}
	other, _ := newKeys(t, 1)
	if _, err := m.OpenAny(other[0]); !errors.Is(err, ErrAuth) {
		t.Fatalf("outsider: %v", err)
	}
	enc := m.Marshal()
	enc[10] ^= 1 // inside the body
	m2, err := ParseMulti(enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m2.OpenAny(privs[0]); !errors.Is(err, ErrAuth) {
		t.Fatalf("altered body: %v", err)
	}
}
