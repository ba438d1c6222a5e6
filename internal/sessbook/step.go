package sessbook

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/ratchet"
	"github.com/hush-chat/hush/internal/tagged"
)

// Content types of a 1:1 envelope (doc/SPEC.md §6).
const (
	TypeRatchet = 1
	TypePreKey  = 2
)

// Certs caches parsed and verified device certificates by their bytes, so
// a send does not check a signature and expand keys per message. It is
// cleared whenever the generation the caller passes changes (the client's
// count of contact writes). It is safe for concurrent use.
type Certs struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*identity.DeviceCert
}

// maxCerts bounds the cache; beyond it, it starts over.
const maxCerts = 4096

// Get returns the verified certificate encoded as raw.
func (c *Certs) Get(gen uint64, raw []byte) (*identity.DeviceCert, error) {
	c.mu.Lock()
	if c.m == nil || c.gen != gen || len(c.m) >= maxCerts {
		c.m, c.gen = map[string]*identity.DeviceCert{}, gen
	}
	cert, ok := c.m[string(raw)]
	c.mu.Unlock()
	if ok {
		return cert, nil
	}
	cert, err := identity.ParseDeviceCert(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.m[string(raw)] = cert
	}
	c.mu.Unlock()
	return cert, nil
}

// SealMessage runs the send step on the established session r with the
// device whose certificate is to: the ratchet encrypts pt (a session made
// by an earlier release moves to ratchet version 2 first), the result is
// wrapped as a prekey message while the peer has not answered, and the
// envelope is tagged when the sender state holds an unused position, else
// sealed (§6.4). c gives the addresses, id and time; its Type and Payload
// are set here. On success r holds the new ratchet and sender states, to
// be stored before the envelope leaves the device; on failure r is
// unchanged.
func SealMessage(r *Record, to *identity.DeviceCert, c envelope.Content, pt []byte) ([]byte, error) {
	var st ratchet.State
	if err := st.UnmarshalShared(r.State); err != nil {
		return nil, err
	}
	// A session made by an earlier release moves to version 2 (the
	// post-quantum ratchet, SPEC §5.12) from its next sending step.
	st.Upgrade()
	ct, err := st.Encrypt(pt)
	if err != nil {
		return nil, err
	}
	state, err := st.MarshalBinary()
	if err != nil {
		return nil, err
	}
	c.Type, c.Payload = TypeRatchet, ct
	if r.PreKey != nil {
		// Until the peer answers, keep sending the setup header.
		pm, err := pqxdh.ParsePreKeyMessage(r.PreKey)
		if err != nil {
			return nil, err
		}
		pm.Message = ct
		c.Type, c.Payload = TypePreKey, pm.Marshal()
	}
	env, send, err := SealEnvelope(r.TagSend, to, &c)
	if err != nil {
		return nil, err
	}
	r.State, r.TagSend = state, send
	return env, nil
}

// SealEnvelope seals c for the device of cert: tagged (§14.5) when the
// ratchet message is not a prekey message and the sender state send
// holds an unused position, else sealed (§6.4). It returns the envelope
// and the sender state to store (send itself when unused).
func SealEnvelope(send []byte, cert *identity.DeviceCert, c *envelope.Content) ([]byte, []byte, error) {
	if c.Type != TypePreKey && len(send) > 0 {
		var s tagged.Sender
		if err := s.UnmarshalBinary(send); err != nil {
			return nil, nil, err
		}
		if s.CanSeal() {
			next, env, err := s.Seal(c)
			if err != nil {
				return nil, nil, err
			}
			nb, err := next.MarshalBinary()
			if err != nil {
				return nil, nil, err
			}
			return env, nb, nil
		}
	}
	env, err := envelope.Seal(cert.Envelope, c)
	return env, send, err
}

// ErrNotFromPeer: a tagged envelope opened under a session's key names
// another sender than that session's peer.
var ErrNotFromPeer = errors.New("tagged envelope names another sender than its session's peer")

// OpenTagged opens a tagged envelope with the receiver state recv of the
// session with peer (the session its tag belongs to). It returns the
// content and the receiver state to store with what the message does;
// recv itself is never changed. A forged, replayed, too old, too far ahead
// or unknown envelope, or one naming another sender, is refused (tagged's
// errors, ErrNotFromPeer).
func OpenTagged(recv []byte, self, peer envelope.Address, env []byte) (*envelope.Content, []byte, error) {
	c, nb, _, _, err := openTagged(recv, self, peer, env)
	return c, nb, err
}

// openTagged is OpenTagged, also saying whether the new receiver state
// needs to offer the peer an epoch, and how the tag table changes.
func openTagged(recv []byte, self, peer envelope.Address, env []byte) (*envelope.Content, []byte, bool, tagged.Delta, error) {
	nb, op, due, err := tagged.OpenEncoded(recv, self, env)
	if err != nil {
		return nil, nil, false, tagged.Delta{}, err
	}
	if op.Content.Sender != peer {
		return nil, nil, false, tagged.Delta{}, ErrNotFromPeer
	}
	return op.Content, nb, due, op.Delta, nil
}

// OpenRecord opens a tagged envelope with the receivers of r, the
// session with peer that the envelope's tag belongs to: the current one,
// else the retired one. It returns the content, r with the receiver that
// opened it advanced, and the change to the caller's tag table, to apply
// once that record is stored; r itself is not changed.
func OpenRecord(r Record, self, peer envelope.Address, env []byte) (*envelope.Content, Record, tagged.Delta, error) {
	c, recv, due, d, err := openTagged(r.TagRecv, self, peer, env)
	if err == nil {
		r.TagRecv = recv
		// Known here, where the receiver is decoded anyway: the caller
		// then need not decode it again to learn that no offer is due.
		r.OfferDue = r.OfferDue || due
		return c, r, d, nil
	}
	if len(r.TagOld) == 0 || !errors.Is(err, tagged.ErrUnknownTag) {
		return nil, r, tagged.Delta{}, err
	}
	c, old, _, d, err := openTagged(r.TagOld, self, peer, env)
	if err != nil {
		return nil, r, tagged.Delta{}, err
	}
	r.TagOld = old
	return c, r, d, nil
}

// Decrypted is what the ratchet tells about one message besides its
// plaintext.
type Decrypted struct {
	Plaintext []byte
	State     []byte // the advanced state
	Before    int    // skipped keys held before
	After     int    // and after
}

// Decrypt decrypts a ratchet message with a stored state. On failure it
// returns the ratchet's error and state is unchanged.
func Decrypt(state, msg []byte) (*Decrypted, error) {
	var st ratchet.State
	if err := st.UnmarshalShared(state); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	before := st.SkippedKeys()
	pt, err := st.Decrypt(msg)
	if err != nil {
		return nil, err
	}
	next, err := st.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Decrypted{Plaintext: pt, State: next, Before: before, After: st.SkippedKeys()}, nil
}

// AcceptOffer returns the sender state after the peer's offer (an app
// message of kind 0x08): send itself for a repeat, an error for a stale,
// conflicting or malformed offer.
func AcceptOffer(send, body []byte) ([]byte, error) {
	o, err := tagged.ParseOffer(body)
	if err != nil {
		return nil, err
	}
	var s tagged.Sender
	if len(send) > 0 {
		if err := s.UnmarshalBinary(send); err != nil {
			return nil, err
		}
	}
	next, err := s.Accept(o)
	if err != nil {
		return nil, err
	}
	return next.MarshalBinary()
}

// Offer is an epoch to offer the peer: the receiver state to store, the
// offer's encoding, and the change for the caller's Table.
type Offer struct {
	Recv  []byte
	Offer []byte
	Delta tagged.Delta
}

// OfferDue reports whether r's receiver may have an offer to make, and
// MakeOffer must look: without it, no offer is due.
func OfferDue(r *Record, sealed bool) bool {
	return sealed || r.OfferDue || len(r.TagRecv) == 0
}

// MakeOffer returns the offer the receiver recv should send now, or nil
// when none is due: an epoch when it holds none or its newest opened
// RefillMark positions (tagged.Receiver.NeedsOffer); the pending epoch
// again, or a fresh one, when again is set (a sealed message arrived from
// the peer, or a new session started).
func MakeOffer(recv []byte, again bool) (*Offer, error) {
	var r tagged.Receiver
	if len(recv) > 0 {
		if err := r.UnmarshalBinary(recv); err != nil {
			return nil, err
		}
	}
	if !again && !r.NeedsOffer() {
		return nil, nil
	}
	next, o, d, err := r.Offer()
	if err != nil {
		return nil, err
	}
	nb, err := next.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return &Offer{Recv: nb, Offer: o.Marshal(), Delta: d}, nil
}

// InUse reports whether the newest epoch of the receiver recv has opened
// an envelope (no offer of it is pending), so that MakeOffer with again
// makes a fresh epoch rather than repeating one.
func InUse(recv []byte) (bool, error) {
	if len(recv) == 0 {
		return false, nil
	}
	var r tagged.Receiver
	if err := r.UnmarshalBinary(recv); err != nil {
		return false, err
	}
	return r.PendingOffer() == nil, nil
}

// Holds reports whether g is a tag of one of r's receivers (tagged.Receiver.Holds).
func Holds(r *Record, g tagged.Tag) bool {
	for _, recv := range [][]byte{r.TagRecv, r.TagOld} {
		var rc tagged.Receiver
		if len(recv) > 0 && rc.UnmarshalBinary(recv) == nil && rc.Holds(g) {
			return true
		}
	}
	return false
}

// RecordTags returns every tag r's receivers hold.
func RecordTags(r *Record) ([]tagged.Tag, error) {
	a, err := Tags(r.TagRecv)
	if err != nil {
		return nil, err
	}
	b, err := Tags(r.TagOld)
	return append(a, b...), err
}

// RecordHeld returns what a tag table must hold for r's receivers: the
// change that takes it from nothing to r.
func RecordHeld(r *Record) (tagged.Delta, error) {
	var d tagged.Delta
	for _, recv := range [][]byte{r.TagRecv, r.TagOld} {
		if len(recv) == 0 {
			continue
		}
		var rc tagged.Receiver
		if err := rc.UnmarshalBinary(recv); err != nil {
			return tagged.Delta{}, err
		}
		h := rc.Held()
		d.Added, d.Marks = append(d.Added, h.Added...), append(d.Marks, h.Marks...)
	}
	return d, nil
}

// Tags returns the tags the receiver state recv holds.
func Tags(recv []byte) ([]tagged.Tag, error) {
	if len(recv) == 0 {
		return nil, nil
	}
	var r tagged.Receiver
	if err := r.UnmarshalBinary(recv); err != nil {
		return nil, err
	}
	return r.Tags(), nil
}
