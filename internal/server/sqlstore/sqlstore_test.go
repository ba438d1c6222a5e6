package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
	"github.com/hush-chat/hush/internal/testkit"
)

// TestSQLite runs the conformance suite against SQLite files in temporary
// directories.
func TestSQLite(t *testing.T) {
	runSuite(t, func(t *testing.T) *DB { return openSQLite(t) })
}

// TestPostgres runs the conformance suite against the PostgreSQL server
// named by HUSH_TEST_POSTGRES, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each store gets
// a schema of its own, dropped at cleanup, so parallel runs do not
// collide.
func TestPostgres(t *testing.T) {
	if os.Getenv("HUSH_TEST_POSTGRES") == "" {
		t.Skip("HUSH_TEST_POSTGRES not set")
	}
	runSuite(t, func(t *testing.T) *DB { return openPostgres(t) })
}

func openSQLite(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "data", "hush.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), postgresSchemaURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// postgresSchemaURL creates an empty schema, dropped at cleanup, and
// returns a HUSH_TEST_POSTGRES URL whose connections use it.
func postgresSchemaURL(t testing.TB) string {
	t.Helper()
	return testkit.PostgresURL(t)
}

// reopen opens a second handle on db's database, as a restarted server or
// a second server instance would.
func reopen(t testing.TB, db *DB) *DB {
	t.Helper()
	db2, err := Open(context.Background(), db.src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_800_000_000_000).UTC()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture builds accounts and devices with random keys.
type fixture struct {
	t   *testing.T
	db  *DB
	ctx context.Context
	now *clock
}

func newFixture(t *testing.T, open func(t *testing.T) *DB) *fixture {
	db := open(t)
	c := newClock()
	db.now = c.Now
	return &fixture{t: t, db: db, ctx: context.Background(), now: c}
}

func device(username string, id uint32) store.Device {
	return store.Device{
		Username: username,
		DeviceID: id,
		Cert:     randBytes(100),
		Mailbox:  hex.EncodeToString(randBytes(16)),
	}
}

func preKey(id uint32) store.PreKey { return store.PreKey{KeyID: id, Data: randBytes(33)} }

// register creates an active account with device 1 and returns the
// account and device.
func (f *fixture) register(username string) (store.Account, store.Device) {
	f.t.Helper()
	a := store.Account{Username: username, IdentityKey: randBytes(32), State: store.StateActive, CreatedAt: f.now.Now()}
	d := device(username, 1)
	if err := f.db.CreateAccount(f.ctx, a, d, preKey(1), preKey(2), false); err != nil {
		f.t.Fatalf("register %s: %v", username, err)
	}
	return a, d
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}
