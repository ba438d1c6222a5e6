package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/hush-chat/hush/internal/server/store"
)

// GetDeviceList returns the account's newest device list, or ErrNotFound.
func (db *DB) GetDeviceList(ctx context.Context, username string) (*store.DeviceList, error) {
	var l store.DeviceList
	err := db.queryRow(ctx, "SELECT version, list FROM device_lists WHERE username = ?", username).Scan(&l.Version, &l.Raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return &l, dbErr("get device list", err)
}

// SetDeviceList publishes a list for the account's current devices.
func (db *DB) SetDeviceList(ctx context.Context, username string, l store.DeviceList) error {
	err := db.write(ctx, func(t tx) error {
		if err := db.lockAccount(ctx, t, username); err != nil {
			return err
		}
		return db.putList(ctx, t, username, l)
	})
	return dbErr("set device list", err)
}

// AddListedDevice adds a device and stores the list that names it, in one
// transaction.
func (db *DB) AddListedDevice(ctx context.Context, d store.Device, signed, lastResort store.PreKey, l store.DeviceList) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = db.now()
	}
	err := db.write(ctx, func(t tx) error {
		if err := db.lockAccount(ctx, t, d.Username); err != nil {
			return err
		}
		if err := db.insertDevice(ctx, t, d, &signed, &lastResort); err != nil {
			return err
		}
		return db.putList(ctx, t, d.Username, l)
	})
	return dbErr("add device", err)
}

// DeleteListedDevice removes a device and stores the list without it, in
// one transaction.
func (db *DB) DeleteListedDevice(ctx context.Context, username string, deviceID uint32, l store.DeviceList) error {
	err := db.write(ctx, func(t tx) error {
		if err := db.lockAccount(ctx, t, username); err != nil {
			return err
		}
		res, err := t.exec(ctx, "DELETE FROM devices WHERE username = ? AND device_id = ?", username, deviceID)
		if err := affected(res, err); err != nil {
			return err
		}
		return db.putList(ctx, t, username, l)
	})
	return dbErr("delete device", err)
}

// putList checks l against the stored version and the devices as they
// now are (inside t), then stores it.
func (db *DB) putList(ctx context.Context, t tx, username string, l store.DeviceList) error {
	if l.Version == 0 || len(l.Raw) == 0 {
		return errors.Join(ErrInvalid, errors.New("empty device list"))
	}
	var cur uint64
	err := t.queryRow(ctx, "SELECT version FROM device_lists WHERE username = ?", username).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		cur = 0
	case err != nil:
		return err
	}
	if l.Version <= cur {
		return store.ErrStale
	}
	if l.Match != nil {
		devs, err := db.devicesIn(ctx, t, username)
		if err != nil {
			return err
		}
		if err := l.Match(devs); err != nil {
			return err
		}
	}
	if cur == 0 {
		_, err = t.exec(ctx, "INSERT INTO device_lists (username, version, list) VALUES (?, ?, ?)", username, l.Version, l.Raw)
	} else {
		_, err = t.exec(ctx, "UPDATE device_lists SET version = ?, list = ? WHERE username = ?", l.Version, l.Raw, username)
	}
	return err
}

// requireNoList refuses, inside t, a device change without a list for an
// account that publishes lists.
func requireNoList(ctx context.Context, t tx, username string) error {
	var one int
	err := t.queryRow(ctx, "SELECT 1 FROM device_lists WHERE username = ?", username).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err == nil {
		return store.ErrListRequired
	}
	return err
}

func (db *DB) devicesIn(ctx context.Context, t tx, username string) ([]store.Device, error) {
	rows, err := t.query(ctx, "SELECT "+deviceCols+" FROM devices WHERE username = ? ORDER BY device_id", username)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	return out, rows.Err()
}
