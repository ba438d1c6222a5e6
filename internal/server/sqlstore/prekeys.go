package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hush-chat/hush/internal/server/store"
)

func currentKind(kind store.PreKeyKind) error {
	if kind != store.KindSigned && kind != store.KindLastResort {
		return fmt.Errorf("%w: prekey kind %d is not signed or last-resort", ErrInvalid, kind)
	}
	return nil
}

func oneTimeKind(kind store.PreKeyKind) error {
	if kind != store.KindOneTime && kind != store.KindKEMOneTime {
		return fmt.Errorf("%w: prekey kind %d is not one-time", ErrInvalid, kind)
	}
	return nil
}

// deviceExists checks inside t that the device exists (ErrNotFound).
func deviceExists(ctx context.Context, t tx, username string, deviceID uint32) error {
	var one int
	err := t.queryRow(ctx, "SELECT 1 FROM devices WHERE username = ? AND device_id = ?", username, deviceID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// SetPreKey replaces the device's signed or last-resort prekey.
func (db *DB) SetPreKey(ctx context.Context, username string, deviceID uint32, kind store.PreKeyKind, k store.PreKey) error {
	if err := currentKind(kind); err != nil {
		return err
	}
	err := db.write(ctx, func(t tx) error {
		if err := deviceExists(ctx, t, username, deviceID); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO prekeys (username, device_id, kind, key_id, data) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (username, device_id, kind) DO UPDATE SET key_id = excluded.key_id, data = excluded.data`,
			username, deviceID, kind, k.KeyID, nonNil(k.Data))
		if isForeignKey(err) {
			return store.ErrNotFound // the device was deleted meanwhile
		}
		return err
	})
	return dbErr("set prekey", err)
}

// GetPreKey returns the device's signed or last-resort prekey.
func (db *DB) GetPreKey(ctx context.Context, username string, deviceID uint32, kind store.PreKeyKind) (*store.PreKey, error) {
	if err := currentKind(kind); err != nil {
		return nil, err
	}
	var k store.PreKey
	err := db.queryRow(ctx, "SELECT key_id, data FROM prekeys WHERE username = ? AND device_id = ? AND kind = ?",
		username, deviceID, kind).Scan(&k.KeyID, &k.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("get prekey", err)
	}
	return &k, nil
}

// AddOneTimePreKeys appends one-time prekeys; a key id already stored for
// the device and kind, or repeated in ks, is ErrExists and nothing is
// added.
func (db *DB) AddOneTimePreKeys(ctx context.Context, username string, deviceID uint32, kind store.PreKeyKind, ks []store.PreKey) error {
	if err := oneTimeKind(kind); err != nil {
		return err
	}
	ids := make([]uint32, 0, len(ks))
	for _, k := range ks {
		ids = append(ids, k.KeyID)
	}
	if len(dedupe(ids)) != len(ids) {
		return store.ErrExists
	}
	err := db.write(ctx, func(t tx) error {
		if err := deviceExists(ctx, t, username, deviceID); err != nil {
			return err
		}
		// Checked first because a failed INSERT aborts a PostgreSQL
		// transaction; the unique constraint still catches races.
		err := inChunks(ids, func(batch []uint32) error {
			var one int
			err := t.queryRow(ctx, "SELECT 1 FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ? AND key_id IN ("+
				placeholders(len(batch))+") LIMIT 1", anys(batch, username, deviceID, kind)...).Scan(&one)
			if err == nil {
				return store.ErrExists
			}
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		})
		if err != nil {
			return err
		}
		stmt, err := t.tx.PrepareContext(ctx, db.q("INSERT INTO one_time_prekeys (username, device_id, kind, key_id, data) VALUES (?, ?, ?, ?, ?)"))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, k := range ks {
			if _, err := stmt.ExecContext(ctx, username, deviceID, kind, k.KeyID, nonNil(k.Data)); err != nil {
				if isUnique(err) {
					return store.ErrExists
				}
				if isForeignKey(err) {
					return store.ErrNotFound
				}
				return err
			}
		}
		return nil
	})
	return dbErr("add one-time prekeys", err)
}

// TakeOneTimePreKey removes and returns the oldest one-time prekey of
// kind, or ErrNotFound when none is left. One statement deletes the row
// it selects, so two callers can never both get it: SQLite runs writers
// one at a time, and PostgreSQL's SKIP LOCKED makes a concurrent caller
// pass over a row another transaction is taking rather than wait for it
// and return it again.
func (db *DB) TakeOneTimePreKey(ctx context.Context, username string, deviceID uint32, kind store.PreKeyKind) (*store.PreKey, error) {
	if err := oneTimeKind(kind); err != nil {
		return nil, err
	}
	lock := ""
	if db.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var k store.PreKey
	err := db.write(ctx, func(t tx) error {
		return t.queryRow(ctx, `DELETE FROM one_time_prekeys WHERE id = (
			SELECT id FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ? ORDER BY id LIMIT 1`+lock+`)
			RETURNING key_id, data`, username, deviceID, kind).Scan(&k.KeyID, &k.Data)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, dbErr("take one-time prekey", err)
	}
	return &k, nil
}

// CountOneTimePreKeys returns how many one-time prekeys of kind the
// device has left (0 for an unknown device).
func (db *DB) CountOneTimePreKeys(ctx context.Context, username string, deviceID uint32, kind store.PreKeyKind) (int, error) {
	if err := oneTimeKind(kind); err != nil {
		return 0, err
	}
	var n int
	err := db.queryRow(ctx, "SELECT COUNT(*) FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ?",
		username, deviceID, kind).Scan(&n)
	return n, dbErr("count one-time prekeys", err)
}

// TakeBundleKeys hands out the device's one-time prekeys to requester
// under lim and records the outcome, in one transaction. The device row
// is locked first (PostgreSQL; SQLite runs writers one at a time), so
// concurrent fetches of one device are counted one after another and
// never exceed lim together.
func (db *DB) TakeBundleKeys(ctx context.Context, username string, deviceID uint32, requester string, now time.Time,
	lim store.HandOutLimits) (*store.BundleKeys, error) {
	var out *store.BundleKeys
	err := db.write(ctx, func(t tx) error {
		out = &store.BundleKeys{}
		var one int
		err := t.queryRow(ctx, "SELECT 1 FROM devices WHERE username = ? AND device_id = ?"+db.forUpdate(),
			username, deviceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if out.Withheld, err = withhold(ctx, t, username, deviceID, requester, now, lim); err != nil {
			return err
		}
		if out.Withheld != store.NotWithheld {
			return countWithheld(ctx, t, username, deviceID, out.Withheld, now)
		}
		if out.OneTime, err = takeOldest(ctx, t, username, deviceID, store.KindOneTime); err != nil {
			return err
		}
		if out.KEMOneTime, err = takeOldest(ctx, t, username, deviceID, store.KindKEMOneTime); err != nil {
			return err
		}
		if out.OneTime == nil && out.KEMOneTime == nil {
			return nil // none left: nothing went out, nothing to count
		}
		_, err = t.exec(ctx, "INSERT INTO prekey_handouts (username, device_id, requester, at) VALUES (?, ?, ?, ?)",
			username, deviceID, requester, ms(now))
		return err
	})
	if err != nil {
		return nil, dbErr("take bundle keys", err)
	}
	return out, nil
}

// withhold decides whether the one-time prekeys stay in the store: the
// requester had some of this device within the period, or the device
// reached its limit for the window. A zero limit does not apply.
func withhold(ctx context.Context, t tx, username string, deviceID uint32, requester string, now time.Time,
	lim store.HandOutLimits) (store.Withheld, error) {
	if lim.RequesterPeriod > 0 {
		var one int
		err := t.queryRow(ctx, `SELECT 1 FROM prekey_handouts
			WHERE username = ? AND device_id = ? AND requester = ? AND at > ? LIMIT 1`,
			username, deviceID, requester, ms(now.Add(-lim.RequesterPeriod))).Scan(&one)
		if err == nil {
			return store.WithheldRepeat, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	if lim.DeviceMax > 0 && lim.DeviceWindow > 0 {
		var n int
		err := t.queryRow(ctx, "SELECT COUNT(*) FROM prekey_handouts WHERE username = ? AND device_id = ? AND at > ?",
			username, deviceID, ms(now.Add(-lim.DeviceWindow))).Scan(&n)
		if err != nil {
			return 0, err
		}
		if n >= lim.DeviceMax {
			return store.WithheldLimit, nil
		}
	}
	return store.NotWithheld, nil
}

// countWithheld adds one withheld bundle to the device's counters.
func countWithheld(ctx context.Context, t tx, username string, deviceID uint32, w store.Withheld, now time.Time) error {
	repeats, limited, last := int64(0), int64(0), int64(0)
	if w == store.WithheldLimit {
		limited, last = 1, ms(now)
	} else {
		repeats = 1
	}
	_, err := t.exec(ctx, `INSERT INTO prekey_withheld (username, device_id, repeats, limited, last_limited)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (username, device_id) DO UPDATE SET
			repeats = prekey_withheld.repeats + excluded.repeats,
			limited = prekey_withheld.limited + excluded.limited,
			last_limited = CASE WHEN excluded.limited > 0 THEN excluded.last_limited ELSE prekey_withheld.last_limited END`,
		username, deviceID, repeats, limited, last)
	return err
}

// takeOldest removes and returns the device's oldest one-time prekey of
// kind inside t, or nil when none is left.
func takeOldest(ctx context.Context, t tx, username string, deviceID uint32, kind store.PreKeyKind) (*store.PreKey, error) {
	var k store.PreKey
	err := t.queryRow(ctx, `DELETE FROM one_time_prekeys WHERE id = (
		SELECT id FROM one_time_prekeys WHERE username = ? AND device_id = ? AND kind = ? ORDER BY id LIMIT 1)
		RETURNING key_id, data`, username, deviceID, kind).Scan(&k.KeyID, &k.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// HandOutReport tells the device's owner how its one-time prekeys went
// out.
func (db *DB) HandOutReport(ctx context.Context, username string, deviceID uint32, since time.Time) (*store.HandOutReport, error) {
	var r store.HandOutReport
	err := db.queryRow(ctx, `SELECT COUNT(*), COUNT(DISTINCT requester) FROM prekey_handouts
		WHERE username = ? AND device_id = ? AND at > ?`, username, deviceID, ms(since)).Scan(&r.HandedOut, &r.Requesters)
	if err != nil {
		return nil, dbErr("hand-out report", err)
	}
	var last int64
	err = db.queryRow(ctx, "SELECT repeats, limited, last_limited FROM prekey_withheld WHERE username = ? AND device_id = ?",
		username, deviceID).Scan(&r.Repeats, &r.Limited, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, dbErr("hand-out report", err)
	}
	r.LastLimited = fromMS(last)
	return &r, nil
}

// ExpireHandOuts forgets hand-outs made before cutoff.
func (db *DB) ExpireHandOuts(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "DELETE FROM prekey_handouts WHERE at < ?", ms(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, dbErr("expire hand-outs", err)
}
