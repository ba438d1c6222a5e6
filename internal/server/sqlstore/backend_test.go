package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hush-chat/hush/internal/server/store"
)

// Tests of one backend's setup, beyond the shared suite.

func TestSQLitePragmas(t *testing.T) {
	db := openSQLite(t)
	ctx := context.Background()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL: each WAL commit is fsynced
		"foreign_keys": "1",
		"busy_timeout": "10000",
	} {
		var got string
		// A write transaction runs on the writer connection.
		err := db.write(ctx, func(t tx) error { return t.queryRow(ctx, "PRAGMA "+pragma).Scan(&got) })
		if err != nil || got != want {
			t.Errorf("writer PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	var qo string
	if err := db.queryRow(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != "1" {
		t.Errorf("reader PRAGMA query_only = %q, %v", qo, err)
	}
	if _, err := db.r.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (99, 0)"); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestSQLiteFilePermissions is a security regression test: the database
// holds account metadata and must not be readable by other local users,
// whatever the umask.
func TestSQLiteFilePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "hush")
	path := filepath.Join(dir, "hush.db")
	db, err := Open(context.Background(), path) // a plain path
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := &fixture{t: t, db: db, ctx: context.Background(), now: newClock()}
	f.register("alice") // so the WAL file exists
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %o, want %o", filepath.Base(p), got, want)
		}
	}
}

func TestOpenURLs(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	db, err := Open(ctx, "sqlite://rel/hush.db")
	if err != nil {
		t.Fatal(err)
	}
	if db.Dialect() != DialectSQLite {
		t.Errorf("Dialect = %q", db.Dialect())
	}
	db.Close()
	if _, err := os.Stat("rel/hush.db"); err != nil {
		t.Errorf("sqlite://rel/hush.db not created relative to the working directory: %v", err)
	}
	for _, bad := range []string{"mysql://u@h/db", "sqlite://", "file:x.db", "x.db?_pragma=synchronous(OFF)", ":memory:"} {
		if db, err := Open(ctx, bad); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestOpenErrorHidesPassword is a security regression test: errors end
// up in logs, and a database URL may carry a password.
func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := Open(context.Background(), "postgres://hush:s3cr3t-pw@127.0.0.1:1/hush?connect_timeout=2")
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cr3t-pw") {
		t.Fatalf("error reveals the password: %v", err)
	}
}

func TestSQLiteConcurrentOpen(t *testing.T) {
	testConcurrentOpen(t, filepath.Join(t.TempDir(), "hush.db"))
}

func TestPostgresConcurrentOpen(t *testing.T) {
	if os.Getenv("HUSH_TEST_POSTGRES") == "" {
		t.Skip("HUSH_TEST_POSTGRES not set")
	}
	testConcurrentOpen(t, postgresSchemaURL(t))
}

// testConcurrentOpen opens a new database from several goroutines at
// once, as server instances starting together do: each must succeed and
// the migrations must run once.
func testConcurrentOpen(t *testing.T, url string) {
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(context.Background(), url)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open #%d: %v", i, errs[i])
		}
		defer dbs[i].Close()
	}
	wantDialect := DialectSQLite
	if strings.HasPrefix(url, "postgres") {
		wantDialect = DialectPostgres
	}
	if d := dbs[0].Dialect(); d != wantDialect {
		t.Errorf("Dialect = %q, want %q", d, wantDialect)
	}
	var rows int
	if err := dbs[0].queryRow(context.Background(), "SELECT COUNT(*) FROM schema_version").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != SchemaVersion() {
		t.Fatalf("schema_version has %d rows, want %d", rows, SchemaVersion())
	}
}

// TestMigrationsMatch checks that both dialects have the same migration
// steps, so a version number means the same schema in either.
func TestMigrationsMatch(t *testing.T) {
	lite, err := migrations(DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(DialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) || len(lite) != SchemaVersion() {
		t.Fatalf("%d SQLite and %d PostgreSQL migrations, SchemaVersion %d", len(lite), len(pg), SchemaVersion())
	}
	for i := range lite {
		if lite[i].name != pg[i].name {
			t.Errorf("migration %d: %s vs %s", i+1, lite[i].name, pg[i].name)
		}
	}
}

// TestSQLiteSurvivesKill appends from a child process, kills it with
// SIGKILL while it is appending, and checks that every envelope the child
// saw acknowledged is in the database and the counters match. (Surviving
// power loss rests on synchronous=FULL, checked by TestSQLitePragmas.)
func TestSQLiteSurvivesKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hush.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, ctx: context.Background(), now: newClock()}
	_, d := f.register("alice")
	db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HUSH_SQLSTORE_CHILD_DB="+path, "HUSH_SQLSTORE_CHILD_MAILBOX="+d.Mailbox)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]bool{}
	sc := bufio.NewScanner(out)
	for len(acked) < 300 && sc.Scan() {
		seq, err := strconv.ParseInt(strings.TrimPrefix(sc.Text(), "seq "), 10, 64)
		if err != nil {
			continue // the test framework's own output
		}
		acked[seq] = true
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d envelopes", len(acked))
	}

	db, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[int64]bool{}
	for after := int64(0); ; {
		page, err := db.PendingEnvelopes(f.ctx, d.Mailbox, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			stored[e.Seq] = true
		}
		after = page[len(page)-1].Seq
	}
	for seq := range acked {
		if !stored[seq] {
			t.Fatalf("acknowledged envelope %d lost by kill -9", seq)
		}
	}
	count, _, err := db.MailboxUsage(f.ctx, d.Mailbox)
	if err != nil || count != int64(len(stored)) {
		t.Fatalf("usage count %d, %v; %d envelopes stored", count, err, len(stored))
	}
}

// TestMain turns the test binary into the child process of
// TestSQLiteSurvivesKill when HUSH_SQLSTORE_CHILD_DB is set.
func TestMain(m *testing.M) {
	if path := os.Getenv("HUSH_SQLSTORE_CHILD_DB"); path != "" {
		killChild(path, os.Getenv("HUSH_SQLSTORE_CHILD_MAILBOX"))
		return
	}
	os.Exit(m.Run())
}

// killChild appends until killed, printing each acknowledged seq.
func killChild(path, mailbox string) {
	db, err := Open(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	batch := make([]store.NewEnvelope, 10)
	for i := range batch {
		batch[i] = store.NewEnvelope{Mailbox: mailbox, Data: randBytes(300)}
	}
	for {
		res, err := db.AppendEnvelopes(context.Background(), batch, store.MailboxLimits{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, r := range res {
			if r.Err != nil {
				fmt.Fprintln(os.Stderr, r.Err)
				os.Exit(1)
			}
			fmt.Fprintf(os.Stdout, "seq %d\n", r.Seq)
		}
	}
}
