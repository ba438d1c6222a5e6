// Package bench measures hush's building blocks on the machine it runs on,
// for `hush bench`. It reports figures; it never judges them.
package bench

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/hush-chat/hush/internal/envelope"
	"github.com/hush-chat/hush/internal/identity"
	"github.com/hush-chat/hush/internal/pqxdh"
	"github.com/hush-chat/hush/internal/ratchet"
	"github.com/hush-chat/hush/internal/session"
	"github.com/hush-chat/hush/internal/stream"
)

// CryptoOptions tunes `hush bench crypto`.
type CryptoOptions struct {
	// Duration is roughly how long each per-operation measurement runs.
	Duration time.Duration
	// StreamBytes is the size of the file pushed through the stream
	// cipher (1 GiB by default).
	StreamBytes int64
	// Progress, if set, is told the name of each measurement as it starts.
	Progress func(name string)
}

// CryptoResult is the JSON object `hush bench crypto --json` prints.
type CryptoResult struct {
	RatchetEncryptNs    float64 `json:"ratchet_encrypt_ns"`
	RatchetDecryptNs    float64 `json:"ratchet_decrypt_ns"`
	RatchetPingPongNs   float64 `json:"ratchet_pingpong_ns"`
	SessionSetupNs      float64 `json:"session_setup_ns"`
	SealedEnvelopeNs    float64 `json:"sealed_envelope_ns"`
	MultiEnvelope1000Ns float64 `json:"multi_envelope_1000_ns"`
	// MessageE2ENs is one 100-byte text on an established session, both
	// clients' CPU along the client's path (message.go); MessageWireBytes
	// its envelope as the relay stores it; MessageWireBytesAvg1000 the
	// mean per text over a 1,000-message conversation taking turns
	// (post-quantum ratchet on, offers of envelope keys counted).
	MessageE2ENs            float64 `json:"message_e2e_ns"`
	MessageWireBytes        int     `json:"message_wire_bytes"`
	MessageWireBytesAvg1000 float64 `json:"message_wire_bytes_avg_1000"`
	StreamEncryptMBps       float64 `json:"stream_encrypt_mbps"`
	StreamDecryptMBps       float64 `json:"stream_decrypt_mbps"`
	StreamBytes             int64   `json:"stream_bytes"`
	Cores                   int     `json:"cores"`
	GoVersion               string  `json:"go_version"`
}

// Crypto runs every crypto measurement.
func Crypto(o CryptoOptions) (*CryptoResult, error) {
	if o.Duration <= 0 {
		o.Duration = time.Second
	}
	if o.StreamBytes <= 0 {
		o.StreamBytes = 1 << 30
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	r := &CryptoResult{Cores: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(), StreamBytes: o.StreamBytes}
	steps := []struct {
		name string
		run  func() error
	}{
		{"ratchet", func() (err error) {
			r.RatchetEncryptNs, r.RatchetDecryptNs, r.RatchetPingPongNs, err = benchRatchet(o.Duration)
			return err
		}},
		{"session setup", func() (err error) { r.SessionSetupNs, err = benchSessionSetup(o.Duration); return err }},
		{"sealed envelope", func() (err error) { r.SealedEnvelopeNs, err = benchSealed(o.Duration); return err }},
		{"multi-recipient envelope", func() (err error) { r.MultiEnvelope1000Ns, err = benchMulti(o.Duration, 1000); return err }},
		{"message", func() (err error) {
			if r.MessageE2ENs, r.MessageWireBytes, err = MessageE2E(o.Duration); err != nil {
				return err
			}
			r.MessageWireBytesAvg1000, err = ConversationWireBytes(1000)
			return err
		}},
		{"file stream", func() (err error) {
			r.StreamEncryptMBps, r.StreamDecryptMBps, err = benchStream(o.StreamBytes)
			return err
		}},
	}
	for _, s := range steps {
		o.Progress(s.name)
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("bench %s: %w", s.name, err)
		}
	}
	return r, nil
}

// measure calls op in growing batches until d has passed and returns the
// mean time per call.
func measure(d time.Duration, op func() error) (float64, error) {
	if err := op(); err != nil { // warm-up
		return 0, err
	}
	var n int
	var spent time.Duration
	batch := 1
	for spent < d {
		start := time.Now()
		for range batch {
			if err := op(); err != nil {
				return 0, err
			}
		}
		spent += time.Since(start)
		n += batch
		batch = min(batch*2, 1<<16)
	}
	return float64(spent.Nanoseconds()) / float64(n), nil
}

// pair is two devices that have a session with each other.
type pair struct {
	a, b *ratchet.State
}

func newPair() (*pair, error) {
	alice, err := newDevice(1)
	if err != nil {
		return nil, err
	}
	bob, err := newDevice(2)
	if err != nil {
		return nil, err
	}
	sa, pm, err := session.Start(alice.dev, alice.cert, bob.bundle(), []byte("hello"))
	if err != nil {
		return nil, err
	}
	acc, err := session.Accept(bob.dev, bob.cert, bob.ring, pm)
	if err != nil {
		return nil, err
	}
	return &pair{a: sa, b: acc.State}, nil
}

func benchRatchet(d time.Duration) (enc, dec, pingpong float64, err error) {
	p, err := newPair()
	if err != nil {
		return 0, 0, 0, err
	}
	msg := make([]byte, 100)
	if enc, err = measure(d, func() error { _, err := p.a.Encrypt(msg); return err }); err != nil {
		return
	}
	// Decrypt is measured in batches of messages encrypted beforehand, the
	// encryption excluded from the time.
	p, err = newPair()
	if err != nil {
		return
	}
	const batch = 1000
	var spent time.Duration
	var n int
	cts := make([][]byte, batch)
	for spent < d {
		for i := range cts {
			if cts[i], err = p.a.Encrypt(msg); err != nil {
				return
			}
		}
		start := time.Now()
		for _, ct := range cts {
			if _, err = p.b.Decrypt(ct); err != nil {
				return
			}
		}
		spent += time.Since(start)
		n += batch
	}
	dec = float64(spent.Nanoseconds()) / float64(n)
	pingpong, err = measure(d, func() error {
		ct, err := p.a.Encrypt(msg)
		if err != nil {
			return err
		}
		if _, err := p.b.Decrypt(ct); err != nil {
			return err
		}
		if ct, err = p.b.Encrypt(msg); err != nil {
			return err
		}
		_, err = p.a.Decrypt(ct)
		return err
	})
	return
}

func benchSessionSetup(d time.Duration) (float64, error) {
	alice, err := newDevice(1)
	if err != nil {
		return 0, err
	}
	bob, err := newDevice(2)
	if err != nil {
		return 0, err
	}
	b := bob.bundle()
	msg := make([]byte, 100)
	return measure(d, func() error {
		_, pm, err := session.Start(alice.dev, alice.cert, b, msg)
		if err != nil {
			return err
		}
		_, err = session.Accept(bob.dev, bob.cert, bob.ring, pm)
		return err
	})
}

func benchSealed(d time.Duration) (float64, error) {
	dev, err := identity.GenerateDevice(1)
	if err != nil {
		return 0, err
	}
	priv, pub := dev.EnvelopeKey(), dev.EnvelopePublicKey()
	self := envelope.Address{User: "bob", Device: 1}
	c := &envelope.Content{Sender: envelope.Address{User: "alice", Device: 1}, Recipient: self,
		Timestamp: 1, Type: 1, Payload: make([]byte, 100)}
	return measure(d, func() error {
		env, err := envelope.Seal(pub, c)
		if err != nil {
			return err
		}
		_, err = envelope.Open(priv, self, env)
		return err
	})
}

func benchMulti(d time.Duration, n int) (float64, error) {
	keys := make([]hpke.PublicKey, n)
	for i := range keys {
		k, err := hpke.MLKEM768X25519().GenerateKey()
		if err != nil {
			return 0, err
		}
		keys[i] = k.PublicKey()
	}
	c := &envelope.Content{Sender: envelope.Address{User: "alice", Device: 1}, Timestamp: 1, Type: 1, Payload: make([]byte, 100)}
	return measure(d, func() error { _, err := envelope.SealMulti(keys, c); return err })
}

// benchStream pushes size bytes through the streaming encryptor and
// decryptor (the io.Writer and io.Reader hush uses for files: bounded memory,
// all cores), from memory to io.Discard, twice each, and keeps the better
// run. MB is 10^6 bytes.
func benchStream(size int64) (encMBps, decMBps float64, err error) {
	key, err := stream.NewKey()
	if err != nil {
		return 0, 0, err
	}
	plain := make([]byte, size)
	block := plain[:min(size, 1<<20)]
	if _, err := rand.Read(block); err != nil {
		return 0, 0, err
	}
	for off := int64(len(block)); off < size; off += int64(len(block)) {
		copy(plain[off:], block)
	}
	var ct bytes.Buffer
	ct.Grow(int(stream.EncryptedSize(size)))
	best := func(f func() error) (float64, error) {
		var b time.Duration
		for range 2 {
			start := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			if el := time.Since(start); b == 0 || el < b {
				b = el
			}
		}
		return float64(size) / 1e6 / b.Seconds(), nil
	}
	encMBps, err = best(func() error {
		ct.Reset()
		w, err := stream.NewWriter(&ct, key)
		if err != nil {
			return err
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
		return w.Close()
	})
	if err != nil {
		return
	}
	plain = nil
	decMBps, err = best(func() error {
		r, err := stream.NewReader(bytes.NewReader(ct.Bytes()), key)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, r)
		if err == nil && n != size {
			err = fmt.Errorf("decrypted %d bytes, want %d", n, size)
		}
		return err
	})
	return
}

type device struct {
	dev  *identity.DevicePrivateKey
	cert *identity.DeviceCert
	id   *identity.IdentityPrivateKey
	ring *pqxdh.Keyring
}

func newDevice(n uint32) (*device, error) {
	id, err := identity.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	dev, err := identity.GenerateDevice(n)
	if err != nil {
		return nil, err
	}
	ring, err := pqxdh.NewKeyring(id, n, 0)
	if err != nil {
		return nil, err
	}
	return &device{dev: dev, cert: identity.Certify(id, dev, 0), id: id, ring: ring}, nil
}

func (d *device) bundle() *pqxdh.Bundle {
	return &pqxdh.Bundle{Device: d.cert, SignedPreKey: d.ring.SignedPreKey(), KEMPreKey: d.ring.LastResort()}
}
