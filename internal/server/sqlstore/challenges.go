package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

// PutTokenCapped stores a token for an existing device (ErrNotFound) and,
// in the same transaction, deletes the device's tokens of the same purpose
// that expired at now and, of the others, those beyond the max-1 newest
// (by expiry), so a device never has more than max outstanding and the new
// token is always among them. Concurrent calls for one device are
// serialized on the device row.
func (db *DB) PutTokenCapped(ctx context.Context, tk store.Token, max int, now time.Time) error {
	if len(tk.Hash) == 0 || tk.Purpose == "" || max < 1 {
		return fmt.Errorf("%w: capped token needs a hash, a purpose and a cap", ErrInvalid)
	}
	err := db.write(ctx, func(t tx) error {
		var one int
		err := t.queryRow(ctx, "SELECT 1 FROM devices WHERE username = ? AND device_id = ?"+db.forUpdate(),
			tk.Username, tk.DeviceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := insertToken(ctx, t, tk); err != nil {
			return err
		}
		stale, err := staleTokens(ctx, t, tk, max, now)
		if err != nil {
			return err
		}
		return inChunks(stale, func(hs [][]byte) error {
			_, err := t.exec(ctx, "DELETE FROM tokens WHERE hash IN ("+placeholders(len(hs))+")", anys(hs)...)
			return err
		})
	})
	return dbErr("put capped token", err)
}

// staleTokens lists the hashes of tk's device's tokens of tk's purpose,
// tk itself excepted, that have expired at now or are beyond the max-1
// newest. With the cap applied at every insert there are at most max+1
// rows to read.
func staleTokens(ctx context.Context, t tx, tk store.Token, max int, now time.Time) ([][]byte, error) {
	rows, err := t.query(ctx, "SELECT hash, expires_at FROM tokens WHERE username = ? AND device_id = ? AND purpose = ? ORDER BY expires_at DESC, hash DESC",
		tk.Username, tk.DeviceID, tk.Purpose)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var stale [][]byte
	kept := 0
	for rows.Next() {
		var h []byte
		var exp int64
		if err := rows.Scan(&h, &exp); err != nil {
			return nil, err
		}
		if bytes.Equal(h, tk.Hash) {
			continue
		}
		if now.UnixMilli() >= exp || kept == max-1 {
			stale = append(stale, h)
			continue
		}
		kept++
	}
	return stale, rows.Err()
}
