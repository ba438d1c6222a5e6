package pqxdh

import (
	"crypto/ecdh"
	"crypto/mlkem"
	"errors"
	"fmt"
	"slices"

	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/wire"
)

// Keyring limits (doc/SPEC.md §4.5).
const (
	// MaxSignedKept is how many signed prekeys a keyring keeps: the current
	// one and the ones it replaced, so that a first message sent just before
	// a rotation still finds its key.
	MaxSignedKept = 3
	// MaxOneTime bounds stored one-time prekeys of each kind.
	MaxOneTime = 10000
	// MaxSeenBaseKeys bounds the memory of accepted base keys used to refuse
	// replayed prekey messages.
	MaxSeenBaseKeys = 8192

	versionKeyring = 0x01
)

var (
	// ErrPreKeyUsed: the prekey message names a one-time prekey this device
	// no longer has: used by an earlier session (a replay) or never issued.
	ErrPreKeyUsed = errors.New("hush: one-time prekey already used or unknown")
	// ErrUnknownPreKey: the message names a signed or KEM prekey this device
	// does not have (rotated out long ago, or never issued).
	ErrUnknownPreKey = errors.New("hush: unknown prekey")
	// ErrReplayedPreKeyMessage: a prekey message with this base key was
	// already accepted.
	ErrReplayedPreKeyMessage = errors.New("hush: prekey message replayed")
)

// Keyring holds one device's private prekeys. A one-time prekey leaves the
// keyring the moment a session that used it is accepted (Consume), so it
// can never serve twice; the base keys of accepted messages are remembered
// (up to MaxSeenBaseKeys) so that a replay of a first message that used only
// the signed and last-resort prekeys is refused too.
//
// A Keyring is not safe for concurrent use. Marshal's output is secret.
type Keyring struct {
	device   uint32
	nextID   uint32
	signed   []*SignedPreKeyPrivate // oldest first; the last is current
	lastRes  *KEMPreKeyPrivate
	kemOne   []*KEMPreKeyPrivate
	oneTime  []*OneTimePreKeyPrivate
	seenBase [][32]byte // FIFO, for eviction and encoding
	seenSet  map[[32]byte]struct{}
}

// NewKeyring creates a keyring for device with a signed prekey (dated now,
// Unix seconds) and a last-resort KEM prekey.
func NewKeyring(id *identity.IdentityPrivateKey, device uint32, now int64) (*Keyring, error) {
	k := &Keyring{device: device, nextID: 1}
	if _, err := k.RotateSignedPreKey(id, now); err != nil {
		return nil, err
	}
	if _, err := k.RotateLastResort(id); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyring) allocID() (uint32, error) {
	if k.nextID == 0 || k.nextID == ^uint32(0) {
		return 0, errors.New("hush: prekey ids exhausted")
	}
	id := k.nextID
	k.nextID++
	return id, nil
}

// SignedPreKey returns the current signed prekey.
func (k *Keyring) SignedPreKey() SignedPreKey { return k.signed[len(k.signed)-1].Public }

// SignedPreKeyCreated returns when the current signed prekey was made.
func (k *Keyring) SignedPreKeyCreated() int64 { return k.signed[len(k.signed)-1].Created }

// LastResort returns the last-resort KEM prekey.
func (k *Keyring) LastResort() KEMPreKey { return k.lastRes.Public }

// CountOneTime returns how many X25519 and KEM one-time prekeys remain.
func (k *Keyring) CountOneTime() (x25519, kem int) { return len(k.oneTime), len(k.kemOne) }

// RotateSignedPreKey makes a new current signed prekey and drops the
// oldest beyond MaxSignedKept.
func (k *Keyring) RotateSignedPreKey(id *identity.IdentityPrivateKey, now int64) (SignedPreKey, error) {
	kid, err := k.allocID()
	if err != nil {
		return SignedPreKey{}, err
	}
	p, err := NewSignedPreKey(id, k.device, kid, now)
	if err != nil {
		return SignedPreKey{}, err
	}
	k.signed = append(k.signed, p)
	if len(k.signed) > MaxSignedKept {
		k.signed = slices.Delete(k.signed, 0, len(k.signed)-MaxSignedKept)
	}
	return p.Public, nil
}

// RotateLastResort replaces the last-resort KEM prekey.
func (k *Keyring) RotateLastResort(id *identity.IdentityPrivateKey) (KEMPreKey, error) {
	kid, err := k.allocID()
	if err != nil {
		return KEMPreKey{}, err
	}
	p, err := NewKEMPreKey(id, k.device, kid, KEMLastResort)
	if err != nil {
		return KEMPreKey{}, err
	}
	k.lastRes = p
	return p.Public, nil
}

// GenerateOneTime adds n X25519 one-time prekeys and returns their public
// parts, for upload to the directory.
func (k *Keyring) GenerateOneTime(n int) ([]OneTimePreKey, error) {
	if n < 0 || len(k.oneTime)+n > MaxOneTime {
		return nil, fmt.Errorf("hush: at most %d one-time prekeys", MaxOneTime)
	}
	out := make([]OneTimePreKey, 0, n)
	for range n {
		kid, err := k.allocID()
		if err != nil {
			return nil, err
		}
		p, err := NewOneTimePreKey(kid)
		if err != nil {
			return nil, err
		}
		k.oneTime = append(k.oneTime, p)
		out = append(out, p.Public)
	}
	return out, nil
}

// GenerateKEMOneTime adds n one-time KEM prekeys signed by id.
func (k *Keyring) GenerateKEMOneTime(id *identity.IdentityPrivateKey, n int) ([]KEMPreKey, error) {
	if n < 0 || len(k.kemOne)+n > MaxOneTime {
		return nil, fmt.Errorf("hush: at most %d one-time KEM prekeys", MaxOneTime)
	}
	out := make([]KEMPreKey, 0, n)
	for range n {
		kid, err := k.allocID()
		if err != nil {
			return nil, err
		}
		p, err := NewKEMPreKey(id, k.device, kid, KEMOneTime)
		if err != nil {
			return nil, err
		}
		k.kemOne = append(k.kemOne, p)
		out = append(out, p.Public)
	}
	return out, nil
}

// Found is the set of private prekeys a prekey header names.
type Found struct {
	Signed  *SignedPreKeyPrivate
	KEM     *KEMPreKeyPrivate
	OneTime *OneTimePreKeyPrivate // nil when the header names none
}

// Find looks up the private prekeys h names, without consuming them.
func (k *Keyring) Find(h *PreKeyHeader) (*Found, error) {
	base := [32]byte(h.BaseKey.Bytes())
	if _, ok := k.seenSet[base]; ok {
		return nil, ErrReplayedPreKeyMessage
	}
	f := &Found{}
	for _, s := range k.signed {
		if s.Public.ID == h.SignedPreKeyID {
			f.Signed = s
		}
	}
	if f.Signed == nil {
		return nil, fmt.Errorf("%w: signed prekey %d", ErrUnknownPreKey, h.SignedPreKeyID)
	}
	if k.lastRes.Public.ID == h.KEMPreKeyID {
		f.KEM = k.lastRes
	} else if i := slices.IndexFunc(k.kemOne, func(p *KEMPreKeyPrivate) bool { return p.Public.ID == h.KEMPreKeyID }); i >= 0 {
		f.KEM = k.kemOne[i]
	} else {
		return nil, fmt.Errorf("%w: KEM prekey %d", ErrPreKeyUsed, h.KEMPreKeyID)
	}
	if h.OneTimePreKeyID != 0 {
		i := slices.IndexFunc(k.oneTime, func(p *OneTimePreKeyPrivate) bool { return p.Public.ID == h.OneTimePreKeyID })
		if i < 0 {
			return nil, fmt.Errorf("%w: one-time prekey %d", ErrPreKeyUsed, h.OneTimePreKeyID)
		}
		f.OneTime = k.oneTime[i]
	}
	return f, nil
}

// Consume removes the one-time prekeys h used and remembers its base key.
// Call it once the first message of the new session has authenticated,
// and persist the keyring before acknowledging that message.
func (k *Keyring) Consume(h *PreKeyHeader) {
	k.oneTime = slices.DeleteFunc(k.oneTime, func(p *OneTimePreKeyPrivate) bool {
		return h.OneTimePreKeyID != 0 && p.Public.ID == h.OneTimePreKeyID
	})
	k.kemOne = slices.DeleteFunc(k.kemOne, func(p *KEMPreKeyPrivate) bool { return p.Public.ID == h.KEMPreKeyID })
	k.remember([32]byte(h.BaseKey.Bytes()))
}

func (k *Keyring) remember(base [32]byte) {
	if k.seenSet == nil {
		k.seenSet = make(map[[32]byte]struct{})
	}
	if _, ok := k.seenSet[base]; ok {
		return
	}
	k.seenBase = append(k.seenBase, base)
	k.seenSet[base] = struct{}{}
	if len(k.seenBase) > MaxSeenBaseKeys {
		delete(k.seenSet, k.seenBase[0])
		k.seenBase = slices.Delete(k.seenBase, 0, 1)
	}
}

// Marshal encodes the keyring (secret): u8 version || u32 device ||
// u32 next id || u8 n_signed || n × (u32 id || u64 created || priv 32 ||
// sig 64) || last resort (u32 id || seed 64 || sig 64) || u32 n_kem ||
// n × (u32 id || seed 64 || sig 64) || u32 n_one_time || n × (u32 id ||
// priv 32) || u32 n_seen || n × base key 32.
func (k *Keyring) Marshal() []byte {
	w := wire.NewWriter(nil)
	w.U8(versionKeyring)
	w.U32(k.device)
	w.U32(k.nextID)
	w.U8(uint8(len(k.signed)))
	for _, s := range k.signed {
		w.U32(s.Public.ID)
		w.U64(uint64(s.Created))
		w.Fixed(s.Key.Bytes())
		w.Fixed(s.Public.Signature)
	}
	encodeKEMPrivate(w, k.lastRes)
	w.U32(uint32(len(k.kemOne)))
	for _, p := range k.kemOne {
		encodeKEMPrivate(w, p)
	}
	w.U32(uint32(len(k.oneTime)))
	for _, p := range k.oneTime {
		w.U32(p.Public.ID)
		w.Fixed(p.Key.Bytes())
	}
	w.U32(uint32(len(k.seenBase)))
	for _, b := range k.seenBase {
		w.Fixed(b[:])
	}
	return w.Bytes()
}

func encodeKEMPrivate(w *wire.Writer, p *KEMPreKeyPrivate) {
	w.U32(p.Public.ID)
	w.Fixed(p.Key.Bytes())
	w.Fixed(p.Public.Signature)
}

// ParseKeyring decodes the output of Marshal.
func ParseKeyring(b []byte) (*Keyring, error) {
	r := wire.NewReader("keyring", b)
	r.Version(versionKeyring)
	k := &Keyring{device: r.U32("device"), nextID: r.U32("next_id")}
	ns := int(r.U8("signed.count"))
	if r.Err() == nil && (ns == 0 || ns > MaxSignedKept) {
		r.Fail("signed.count", wire.ErrMalformed, "must be 1..3")
	}
	for i := 0; i < ns && r.Err() == nil; i++ {
		id, created := r.U32("signed.id"), int64(r.U64("signed.created"))
		key := parseX25519Private(r, "signed.private")
		sig := r.Fixed("signed.signature", identity.SignatureSize)
		if r.Err() == nil {
			k.signed = append(k.signed, &SignedPreKeyPrivate{Key: key, Created: created,
				Public: SignedPreKey{ID: id, Public: key.PublicKey(), Signature: slices.Clone(sig)}})
		}
	}
	k.lastRes = parseKEMPrivate(r, KEMLastResort)
	n := countAtMost(r, "kem_one_time.count", MaxOneTime, 4+64+64)
	for i := 0; i < n && r.Err() == nil; i++ {
		k.kemOne = append(k.kemOne, parseKEMPrivate(r, KEMOneTime))
	}
	n = countAtMost(r, "one_time.count", MaxOneTime, 4+32)
	for i := 0; i < n && r.Err() == nil; i++ {
		id := r.U32("one_time.id")
		key := parseX25519Private(r, "one_time.private")
		if r.Err() == nil {
			k.oneTime = append(k.oneTime, &OneTimePreKeyPrivate{Key: key, Public: OneTimePreKey{ID: id, Public: key.PublicKey()}})
		}
	}
	n = countAtMost(r, "seen.count", MaxSeenBaseKeys, 32)
	for i := 0; i < n && r.Err() == nil; i++ {
		b := r.Fixed("seen.base", 32)
		if r.Err() != nil {
			break
		}
		if _, dup := k.seenSet[[32]byte(b)]; dup {
			// Each base key is stored once; a duplicate means a corrupt
			// keyring, and refusing it keeps the encoding canonical.
			r.Fail("seen.base", wire.ErrMalformed, "duplicate base key")
			break
		}
		k.remember([32]byte(b))
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return k, nil
}

// countAtMost reads a u32 count and refuses one above max or one that the
// remaining input cannot hold (each item at least size bytes), before any
// allocation sized by it.
func countAtMost(r *wire.Reader, field string, max, size int) int {
	n := r.U32(field)
	if r.Err() == nil && (uint64(n) > uint64(max) || uint64(n)*uint64(size) > uint64(r.Len())) {
		r.Fail(field, wire.ErrTooLarge, fmt.Sprintf("count %d", n))
		return 0
	}
	return int(n)
}

func parseX25519Private(r *wire.Reader, field string) *ecdh.PrivateKey {
	b := r.Fixed(field, 32)
	if r.Err() != nil {
		return nil
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		r.Fail(field, wire.ErrMalformed, "invalid X25519 key")
	}
	return k
}

func parseKEMPrivate(r *wire.Reader, kind KEMKind) *KEMPreKeyPrivate {
	id := r.U32("kem.id")
	seed := r.Fixed("kem.seed", mlkem.SeedSize)
	sig := r.Fixed("kem.signature", identity.SignatureSize)
	if r.Err() != nil {
		return nil
	}
	key, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		r.Fail("kem.seed", wire.ErrMalformed, "invalid ML-KEM seed")
		return nil
	}
	return &KEMPreKeyPrivate{Key: key, Public: KEMPreKey{ID: id, Kind: kind, Public: key.EncapsulationKey(), Signature: slices.Clone(sig)}}
}
