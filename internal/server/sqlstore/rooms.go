package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/hush-chat/hush/internal/server/store"
)

// PutRoom stores or replaces a public room listing; see store.Rooms. The
// version check and the write are one statement, so of two concurrent
// listings of one room the older can never overwrite the newer.
func (db *DB) PutRoom(ctx context.Context, r store.Room) error {
	if r.ID == "" || r.Version == 0 || r.Version > math.MaxInt64 || r.Members < 1 || len(r.Listing) == 0 {
		return fmt.Errorf("%w: room", ErrInvalid)
	}
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = db.now()
	}
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "INSERT INTO rooms (id, name, members, version, listing, updated_at) VALUES (?, ?, ?, ?, ?, ?) "+
			"ON CONFLICT (id) DO UPDATE SET name = excluded.name, members = excluded.members, version = excluded.version, "+
			"listing = excluded.listing, updated_at = excluded.updated_at WHERE rooms.version < excluded.version",
			r.ID, r.Name, r.Members, int64(r.Version), r.Listing, ms(r.UpdatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, store.ErrStale)
		}
		return nil
	})
	return dbErr("put room", err)
}

// cmpErr returns err when it is set, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// GetRoom returns a room with its state, or ErrNotFound.
func (db *DB) GetRoom(ctx context.Context, id string) (*store.Room, error) {
	var r store.Room
	var version, updated int64
	err := db.queryRow(ctx, "SELECT id, name, members, version, listing, updated_at FROM rooms WHERE id = ?", id).Scan(
		&r.ID, &r.Name, &r.Members, &version, &r.Listing, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get room", err)
	}
	r.Version, r.UpdatedAt = uint64(version), fromMS(updated)
	return &r, nil
}

// ListRooms returns up to limit rooms by name then ID, without their state.
func (db *DB) ListRooms(ctx context.Context, limit int) ([]store.Room, error) {
	rows, err := db.query(ctx, "SELECT id, name, members, version, updated_at FROM rooms ORDER BY name, id LIMIT ?", limit)
	if err != nil {
		return nil, dbErr("list rooms", err)
	}
	defer rows.Close()
	var out []store.Room
	for rows.Next() {
		var r store.Room
		var version, updated int64
		if err := rows.Scan(&r.ID, &r.Name, &r.Members, &version, &updated); err != nil {
			return nil, dbErr("list rooms", err)
		}
		r.Version, r.UpdatedAt = uint64(version), fromMS(updated)
		out = append(out, r)
	}
	return out, dbErr("list rooms", rows.Err())
}
