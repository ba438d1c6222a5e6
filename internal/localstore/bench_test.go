package localstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/storage"
)

// BenchmarkOpen measures Open of a profile with DefaultParams: the
// Argon2id derivation, opening the database and checking the verifier.
// Every hush command pays it once.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	dir := filepath.Join(b.TempDir(), "p")
	s, err := createDir(ctx, dir, testPass, DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.ReportAllocs()
	for b.Loop() {
		s, err := openDir(ctx, dir, testPass)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkDerive is the Argon2id share of Open.
func BenchmarkDerive(b *testing.B) {
	m := &storage.Meta{KDF: storage.KDFArgon2id, Salt: make([]byte, saltSize),
		Time: DefaultParams.Time, Memory: DefaultParams.Memory, Threads: DefaultParams.Threads}
	for b.Loop() {
		k, err := deriveKeys(Passphrase(testPass), m)
		if err != nil {
			b.Fatal(err)
		}
		k.wipe()
	}
}

// BenchmarkSendCommit is what hush send writes for one message: a session
// state and a new message, in one durable (fsynced) commit.
func BenchmarkSendCommit(b *testing.B) {
	for _, kind := range backends {
		b.Run(kind, func(b *testing.B) { benchSendCommit(b, kind) })
	}
}

func benchSendCommit(b *testing.B, kind string) {
	s, _ := newStoreOn(b, kind)
	state := make([]byte, 2048)
	rec := make([]byte, 256)
	i := 0
	for b.Loop() {
		i++
		err := s.Update(context.Background(), func(tx *Tx) error {
			if err := tx.PutSession("bob", 1, state); err != nil {
				return err
			}
			_, err := tx.AddMessage("bob", []byte{byte(i), byte(i >> 8), byte(i >> 16)}, time.Now(), rec)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
