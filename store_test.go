package hush

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/hush-chat/hush/internal/localstore"
)

// recordingStore is an application's Store as a test sees it: it wraps
// MemoryStore and logs every committed write.
type recordingStore struct {
	Store
	mu  sync.Mutex
	log []write // committed writes, in commit order
}

type write struct {
	table      string
	key, value []byte
	del        bool
}

func (r *recordingStore) Update(ctx context.Context, fn func(StoreTx) error) error {
	var pending []write
	err := r.Store.Update(ctx, func(tx StoreTx) error {
		pending = pending[:0]
		return fn(&recordingTx{StoreTx: tx, log: &pending})
	})
	if err == nil {
		r.mu.Lock()
		r.log = append(r.log, pending...)
		r.mu.Unlock()
	}
	return err
}

// writes returns the log from index from on, and the index after it.
func (r *recordingStore) writes(from int) ([]write, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log[from:]), len(r.log)
}

type recordingTx struct {
	StoreTx
	log *[]write
}

func (t *recordingTx) Put(table string, key, value []byte) error {
	*t.log = append(*t.log, write{table: table, key: bytes.Clone(key), value: bytes.Clone(value)})
	return t.StoreTx.Put(table, key, value)
}

func (t *recordingTx) Delete(table string, key []byte) error {
	*t.log = append(*t.log, write{table: table, key: bytes.Clone(key), del: true})
	return t.StoreTx.Delete(table, key)
}

// replay builds a new MemoryStore from the writes alone.
func replay(t *testing.T, log []write) Store {
	t.Helper()
	s := MemoryStore()
	err := s.Update(context.Background(), func(tx StoreTx) error {
		for _, w := range log {
			var err error
			if w.del {
				err = tx.Delete(w.table, w.key)
			} else {
				err = tx.Put(w.table, w.key, w.value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tables names the tables a slice of writes touched.
func tables(ws []write) map[string]bool {
	m := map[string]bool{}
	for _, w := range ws {
		m[w.table] = true
	}
	return m
}

// Every write of a send, a receive and a group change goes through the
// application's Store: a store rebuilt from nothing but the writes it saw
// opens to the same profile (identity, sessions, history, group), so the
// client kept nothing anywhere else. With no Home, no file is written
// either.
func TestEveryWriteGoesThroughTheStore(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	cwd, _ := os.Getwd()
	before, _ := os.ReadDir(cwd)
	rec := &recordingStore{Store: MemoryStore()}
	key := make([]byte, 32)
	rand.Read(key)
	alice := create(t, Options{Storage: rec, Key: key, ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Storage: MemoryStore(), Passphrase: []byte("pb"), ServerURL: srv.HTTPURL()}, "bob")
	create(t, Options{Storage: MemoryStore(), Passphrase: []byte("pc"), ServerURL: srv.HTTPURL()}, "carol")
	_, mark := rec.writes(0)

	// A send: the new session and the message are written.
	if _, err := alice.Send(ctx, "bob", "hello bob"); err != nil {
		t.Fatal(err)
	}
	ws, mark := rec.writes(mark)
	if got := tables(ws); !got["sessions"] || !got["messages"] {
		t.Fatalf("a send wrote only %v", got)
	}
	// A receive: session and message, before the ack.
	if _, err := bob.Send(ctx, "alice", "hello alice"); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Sync(ctx); err != nil || len(got) != 1 || got[0].Text != "hello alice" {
		t.Fatalf("alice sync: %+v %v", got, err)
	}
	ws, mark = rec.writes(mark)
	if got := tables(ws); !got["sessions"] || !got["messages"] {
		t.Fatalf("a receive wrote only %v", got)
	}
	// A group change.
	if _, err := alice.CreateGroup(ctx, "team", GroupPrivate, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.AddMember(ctx, "team", "carol"); err != nil {
		t.Fatal(err)
	}
	ws, _ = rec.writes(mark)
	if got := tables(ws); !got["secrets"] {
		t.Fatalf("a group change wrote only %v", got)
	}
	if err := alice.Close(); err != nil {
		t.Fatal(err)
	}

	all, _ := rec.writes(0)
	copied := replay(t, all)
	again, err := Open(ctx, Options{Storage: copied, Key: key})
	if err != nil {
		t.Fatalf("open the store rebuilt from the writes: %v", err)
	}
	defer again.Close()
	h, err := again.History(ctx, "bob", 0)
	if err != nil || len(h) != 2 || h[0].Text != "hello bob" || h[1].Text != "hello alice" {
		t.Fatalf("history from the writes: %+v %v", h, err)
	}
	gs, err := again.Groups(ctx)
	if err != nil || len(gs) != 1 || !slices.ContainsFunc(gs[0].Members, func(m GroupMember) bool { return m.Name == "carol" }) {
		t.Fatalf("groups from the writes: %+v %v", gs, err)
	}
	// The rebuilt profile goes on where the original stopped: its
	// session with bob is the one bob has.
	if _, err := again.Send(ctx, "bob", "still me"); err != nil {
		t.Fatal(err)
	}
	if got, err := bob.Sync(ctx); err != nil || len(got) == 0 || got[len(got)-1].Text != "still me" {
		t.Fatalf("bob sync: %+v %v", got, err)
	}
	after, _ := os.ReadDir(cwd)
	if len(after) != len(before) {
		t.Fatalf("a client without Home wrote files: %d entries before, %d after", len(before), len(after))
	}
}

// Two clients on in-memory stores talk through a real server, and a
// client reopened on the same store finds its profile; a wrong key or
// the wrong kind of secret is refused.
func TestMemoryStoresExchangeMessages(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	as, bs := MemoryStore(), MemoryStore()
	key := make([]byte, 32)
	rand.Read(key)
	alice := create(t, Options{Storage: as, Passphrase: []byte("pa"), ServerURL: srv.HTTPURL()}, "alice")
	bob := create(t, Options{Storage: bs, Key: key, ServerURL: srv.HTTPURL()}, "bob")
	for _, text := range []string{"one", "two"} {
		if _, err := alice.Send(ctx, "bob", text); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bob.Sync(ctx)
	if err != nil || len(got) != 2 || got[0].Text != "one" || got[1].Text != "two" || got[0].From != "alice" {
		t.Fatalf("bob got %+v %v", got, err)
	}
	if _, err := bob.Send(ctx, "alice", "three"); err != nil {
		t.Fatal(err)
	}
	if got, err := alice.Sync(ctx); err != nil || len(got) != 1 || got[0].Text != "three" {
		t.Fatalf("alice got %+v %v", got, err)
	}
	bob.Close()

	wrong := bytes.Clone(key)
	wrong[0] ^= 1
	if _, err := Open(ctx, Options{Storage: bs, Key: wrong}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong key: %v, want ErrWrongPassphrase", err)
	}
	if _, err := Open(ctx, Options{Storage: bs, Passphrase: []byte("pb")}); err == nil {
		t.Fatal("a key profile opened with a passphrase")
	}
	if _, err := Open(ctx, Options{Storage: bs, Key: key[:16]}); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
	if _, err := Open(ctx, Options{Storage: MemoryStore(), Key: key}); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("empty store: %v, want ErrNoProfile", err)
	}
	if _, err := Create(ctx, Options{Storage: bs, Key: key, ServerURL: srv.HTTPURL()}, "bob2", ""); !errors.Is(err, ErrProfileExists) {
		t.Fatalf("Create on a store with a profile: %v, want ErrProfileExists", err)
	}
	bob2, err := Open(ctx, Options{Storage: bs, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer bob2.Close()
	h, err := bob2.History(ctx, "alice", 0)
	if err != nil || len(h) != 3 || h[2].Text != "three" || !h[2].Outgoing {
		t.Fatalf("history after reopening the store: %+v %v", h, err)
	}
}

// A profile database written by the format 1 code (before the Store
// contract) still opens from Home: converted in place, its rows intact.
func TestFormat1ProfileStillOpens(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("internal", "sqlitestore", "testdata", "v1", "profile.db"))
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, "profile.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := openSQLite(ctx, home, localstore.Passphrase([]byte("wrong"))); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	st, err := openSQLite(ctx, home, localstore.Passphrase([]byte("v1 fixture passphrase")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.View(ctx, func(tx *localstore.Tx) error {
		v, err := tx.GetSecret("seed")
		if err == nil && string(v) != "s33d" {
			err = fmt.Errorf("seed %q", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
