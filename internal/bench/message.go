package bench

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/sessbook"
	"github.com/hush-chat/hush/internal/session"
	"github.com/hush-chat/hush/internal/tagged"
)

// A message's CPU cost along the client's path (message_e2e_ns): the
// steps package hush runs per 1:1 message, from internal/sessbook, on
// session records loaded from and stored to their encoding, with the
// recipient's certificate from the client's cache, the tag table lookup,
// the envelope and the ratchet, on both sides. What the client adds
// around them is I/O: the profile's database and the network.

// side is one client's view of a conversation: its session record with
// the peer (encoded, as stored), the peer's certificate (encoded, as the
// contact record holds it) and its tag table.
type side struct {
	self, peer envelope.Address
	dev        *identity.DevicePrivateKey
	rec        []byte
	last       sessbook.Record // the record as receive last stored it
	peerCert   []byte
	certs      sessbook.Certs
	tags       *tagged.Table[envelope.Address]
	// sealed: a sealed envelope arrived from the peer since this side's
	// last offer (the client's offerIfDue then offers again).
	sealed bool
}

// Conversation is two clients with an established session whose offers
// of envelope keys have crossed, as after their first exchange.
type Conversation struct {
	a, b *side
	// WireBytes counts the envelope bytes each Send put on the wire,
	// offers of envelope keys included; Texts counts the texts.
	WireBytes, Texts int
	// LastWire is the size of the last text's envelope.
	LastWire int
}

// NewConversation sets up alice and bob: a session (PQXDH), a first
// message each way, and each side's offer of envelope keys accepted.
func NewConversation() (*Conversation, error) {
	alice, err := newDevice(1)
	if err != nil {
		return nil, err
	}
	bob, err := newDevice(2)
	if err != nil {
		return nil, err
	}
	sa, pm, err := session.Start(alice.dev, alice.cert, bob.bundle(), appText("hello"))
	if err != nil {
		return nil, err
	}
	acc, err := session.Accept(bob.dev, bob.cert, bob.ring, pm)
	if err != nil {
		return nil, err
	}
	as, err := sa.MarshalBinary()
	if err != nil {
		return nil, err
	}
	bs, err := acc.State.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ra := sessbook.Record{State: as, PreKey: pm, OfferDue: true}
	rb := sessbook.Record{State: bs, OfferDue: true}
	aa, ba := envelope.Address{User: "alice", Device: 1}, envelope.Address{User: "bob", Device: 2}
	c := &Conversation{
		a: &side{self: aa, peer: ba, dev: alice.dev, rec: ra.Encode(), last: ra, peerCert: bob.cert.Marshal(), tags: tagged.NewTable[envelope.Address]()},
		b: &side{self: ba, peer: aa, dev: bob.dev, rec: rb.Encode(), last: rb, peerCert: alice.cert.Marshal(), tags: tagged.NewTable[envelope.Address]()},
	}
	// Bob answers (his offer), alice reads it (and offers hers), bob reads
	// that: the offers have crossed.
	if err := c.deliverOffers(c.b, c.a); err != nil {
		return nil, err
	}
	if err := c.deliverOffers(c.a, c.b); err != nil {
		return nil, err
	}
	c.WireBytes, c.Texts = 0, 0
	return c, nil
}

func appText(s string) []byte { return append([]byte{0x01, 0x01}, s...) }

// Send sends text from alice (fromAlice) or bob to the other and has the
// other receive it, as the two clients would, offers of envelope keys
// included when one is due.
func (c *Conversation) Send(fromAlice bool, text string) error {
	from, to := c.a, c.b
	if !fromAlice {
		from, to = c.b, c.a
	}
	env, err := from.seal(appText(text))
	if err != nil {
		return err
	}
	c.WireBytes += len(env)
	c.Texts++
	c.LastWire = len(env)
	if _, err := to.receive(env); err != nil {
		return err
	}
	return c.deliverOffers(to, from)
}

// deliverOffers sends from's offer of envelope keys, if one is due, to
// to, which accepts it; then to, having received a message, makes its
// own offer if one is due, as the client's offerIfDue does after every
// message it receives.
func (c *Conversation) deliverOffers(from, to *side) error {
	for range 4 { // an offer answers an offer at most every RefillMark messages
		sent, err := c.deliverOffer(from, to)
		if err != nil || !sent {
			return err
		}
		from, to = to, from
	}
	return nil
}

// deliverOffer sends from's offer, if one is due, and reports whether it
// did.
func (c *Conversation) deliverOffer(from, to *side) (bool, error) {
	rec := from.last // as the client's offerIfDue, on the record it just stored
	if rec.State == nil || rec.PreKey != nil || !sessbook.OfferDue(&rec, from.sealed) {
		return false, nil
	}
	o, err := sessbook.MakeOffer(rec.TagRecv, rec.OfferDue || from.sealed)
	if err != nil || o == nil {
		return false, err
	}
	rec.TagRecv, rec.OfferDue, from.sealed = o.Recv, false, false
	from.rec, from.last = rec.Encode(), rec
	from.tags.Apply(from.peer, o.Delta)
	env, err := from.seal(append([]byte{0x01, 0x08}, o.Offer...))
	if err != nil {
		return false, err
	}
	c.WireBytes += len(env)
	_, err = to.receive(env)
	return true, err
}

// seal is the send step of package hush's sealFor on an established
// session: the record decoded, the certificate from the cache, the
// ratchet, the envelope (tagged when a position is left), the record
// encoded.
func (s *side) seal(pt []byte) ([]byte, error) {
	rec, err := sessbook.Decode(s.rec)
	if err != nil {
		return nil, err
	}
	cert, err := s.certs.Get(0, s.peerCert)
	if err != nil {
		return nil, err
	}
	var id [16]byte
	rand.Read(id[:])
	env, err := sessbook.SealMessage(&rec, cert, envelope.Content{Sender: s.self, Recipient: s.peer,
		MessageID: id, Timestamp: time.Now().UnixMilli()}, pt)
	if err != nil {
		return nil, err
	}
	s.rec = rec.Encode()
	return env, nil
}

// receive is the receive step of package hush on a tagged envelope: the
// tag looked up, the record decoded, the envelope opened, the ratchet
// message decrypted (an offer accepted), the record encoded.
func (s *side) receive(env []byte) ([]byte, error) {
	if env[0] != tagged.Type {
		return s.receiveSealed(env)
	}
	g, err := tagged.ParseTag(env)
	if err != nil {
		return nil, err
	}
	peer, ok := s.tags.Lookup(g)
	if !ok || peer != s.peer {
		return nil, tagged.ErrUnknownTag
	}
	rec, err := sessbook.Decode(s.rec)
	if err != nil {
		return nil, err
	}
	content, rec, delta, err := sessbook.OpenRecord(rec, s.self, peer, env)
	if err != nil {
		return nil, err
	}
	pt, err := s.finish(rec, content)
	if err == nil {
		s.tags.Apply(peer, delta) // the record is stored
	}
	return pt, err
}

// receiveSealed is receive on a sealed envelope, which the bench's
// conversation meets only before the offers crossed.
func (s *side) receiveSealed(env []byte) ([]byte, error) {
	content, err := envelope.Open(s.dev.EnvelopeKey(), s.self, env)
	if err != nil {
		return nil, err
	}
	if content.Sender != s.peer {
		return nil, errors.New("bench: envelope from another sender")
	}
	rec, err := sessbook.Decode(s.rec)
	if err != nil {
		return nil, err
	}
	s.sealed = true
	return s.finish(rec, content)
}

func (s *side) finish(rec sessbook.Record, content *envelope.Content) ([]byte, error) {
	if content.Type != sessbook.TypeRatchet {
		return nil, fmt.Errorf("bench: content type %d", content.Type)
	}
	dec, err := sessbook.Decrypt(rec.State, content.Payload)
	if err != nil {
		return nil, err
	}
	rec.State, rec.PreKey = dec.State, nil
	pt := dec.Plaintext
	if len(pt) < 2 || pt[0] != 0x01 {
		return nil, errors.New("bench: not an application message")
	}
	if pt[1] == 0x08 {
		if rec.TagSend, err = sessbook.AcceptOffer(rec.TagSend, pt[2:]); err != nil {
			return nil, err
		}
	}
	s.rec, s.last = rec.Encode(), rec
	return pt, nil
}

// text100 is the 100-byte text of message_e2e_ns.
var text100 = string(make([]byte, 100))

// MessageE2E measures one 100-byte text from alice to bob on an
// established conversation (ns per message, both sides) and returns the
// size of its envelope.
func MessageE2E(d time.Duration) (ns float64, wire int, err error) {
	c, err := NewConversation()
	if err != nil {
		return 0, 0, err
	}
	ns, err = measure(d, func() error { return c.Send(true, text100) })
	return ns, c.LastWire, err
}

// ConversationWireBytes is the mean envelope bytes per text over n texts
// of 100 bytes, the two sides taking turns every few messages so the
// ratchet (and its post-quantum part) steps, offers of envelope keys
// counted.
func ConversationWireBytes(n int) (float64, error) {
	c, err := NewConversation()
	if err != nil {
		return 0, err
	}
	for i := range n {
		if err := c.Send(i/3%2 == 0, text100); err != nil {
			return 0, err
		}
	}
	return float64(c.WireBytes) / float64(c.Texts), nil
}
