package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFS embed.FS

// migration is one schema step: migrations/<dialect>/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// advisoryLockKey names the PostgreSQL advisory lock that serializes
// migrations of server instances starting together ("hush" in ASCII, then
// 1).
const advisoryLockKey = 0x6875736800000001

// migrations returns the dialect's migrations in version order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlstore: badly named migration %s", name)
		}
		b, err := fs.ReadFile(migrationFS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("sqlstore: migration %s out of sequence", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the schema version this build of the server migrates
// databases to.
func SchemaVersion() int {
	ms, err := migrations(DialectSQLite)
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema up to date in one transaction: either every
// pending migration is applied or none is.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations(db.dialect)
	if err != nil {
		return err
	}
	return db.write(ctx, func(t tx) error {
		if db.dialect == DialectPostgres {
			// Held until commit: a second instance opening at the same time
			// waits here, then finds the schema current.
			if _, err := t.exec(ctx, "SELECT pg_advisory_xact_lock(?)", int64(advisoryLockKey)); err != nil {
				return dbErr("migration lock", err)
			}
		}
		// SQLite holds the write lock already (BEGIN IMMEDIATE).
		if _, err := t.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version    BIGINT NOT NULL PRIMARY KEY,
			applied_at BIGINT NOT NULL)`); err != nil {
			return dbErr("create schema_version", err)
		}
		var cur int
		if err := t.queryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&cur); err != nil {
			return dbErr("read schema_version", err)
		}
		if cur > len(ms) {
			return fmt.Errorf("%w: database at version %d, this server knows up to %d", ErrSchemaTooNew, cur, len(ms))
		}
		for _, m := range ms[cur:] {
			// Not through t.exec: migration text is not placeholder SQL.
			if _, err := t.tx.ExecContext(ctx, m.sql); err != nil {
				return dbErr("migration "+m.name, err)
			}
			if _, err := t.exec(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
				m.version, db.now().UnixMilli()); err != nil {
				return dbErr("record migration "+m.name, err)
			}
		}
		return nil
	})
}
