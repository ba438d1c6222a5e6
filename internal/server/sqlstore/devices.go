package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hush-chat/hush/internal/server/store"
)

const deviceCols = "username, device_id, cert, mailbox, created_at, broker"

func scanDevice(sc interface{ Scan(...any) error }) (*store.Device, error) {
	var d store.Device
	var created int64
	if err := sc.Scan(&d.Username, &d.DeviceID, &d.Cert, &d.Mailbox, &created, &d.Broker); err != nil {
		return nil, err
	}
	d.CreatedAt = fromMS(created)
	return &d, nil
}

// insertDevice adds a device, its empty mailbox and, when signed is not
// nil, its signed and last-resort prekeys. A device id or mailbox already in use is
// ErrExists.
func (db *DB) insertDevice(ctx context.Context, t tx, d store.Device, signed, lastResort *store.PreKey) error {
	if d.Mailbox == "" || len(d.Cert) == 0 {
		return fmt.Errorf("%w: device needs a certificate and a mailbox", ErrInvalid)
	}
	// Checked first because a failed INSERT aborts a PostgreSQL
	// transaction; the unique constraints still catch concurrent inserts.
	var one int
	err := t.queryRow(ctx, "SELECT 1 FROM devices WHERE (username = ? AND device_id = ?) OR mailbox = ?",
		d.Username, d.DeviceID, d.Mailbox).Scan(&one)
	if err == nil {
		return store.ErrExists
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := t.exec(ctx, "INSERT INTO devices ("+deviceCols+") VALUES (?, ?, ?, ?, ?, ?)",
		d.Username, d.DeviceID, d.Cert, d.Mailbox, ms(d.CreatedAt), d.Broker); err != nil {
		if isUnique(err) {
			return store.ErrExists
		}
		return err
	}
	if _, err := t.exec(ctx, "INSERT INTO mailboxes (mailbox, count, bytes) VALUES (?, 0, 0)", d.Mailbox); err != nil {
		return err
	}
	if signed == nil {
		return nil
	}
	for _, p := range []struct {
		kind store.PreKeyKind
		k    *store.PreKey
	}{{store.KindSigned, signed}, {store.KindLastResort, lastResort}} {
		if _, err := t.exec(ctx, "INSERT INTO prekeys (username, device_id, kind, key_id, data) VALUES (?, ?, ?, ?, ?)",
			d.Username, d.DeviceID, p.kind, p.k.KeyID, nonNil(p.k.Data)); err != nil {
			return err
		}
	}
	return nil
}

// lockAccount checks, inside t, that the account exists and is not a
// tombstone, and for PostgreSQL locks its row until t ends so a
// concurrent DeleteAccount or RotateIdentity waits.
func (db *DB) lockAccount(ctx context.Context, t tx, username string) error {
	var state store.AccountState
	err := t.queryRow(ctx, "SELECT state FROM accounts WHERE username = ?"+db.forUpdate(), username).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && state == store.StateDeleted) {
		return store.ErrNotFound
	}
	return err
}

// AddDevice adds a device with its signed and last-resort prekeys to an
// existing account (ErrNotFound for a missing account or a tombstone).
func (db *DB) AddDevice(ctx context.Context, d store.Device, signed, lastResort store.PreKey) error {
	if d.CreatedAt.IsZero() {
		d.CreatedAt = db.now()
	}
	err := db.write(ctx, func(t tx) error {
		if err := db.lockAccount(ctx, t, d.Username); err != nil {
			return err
		}
		if err := requireNoList(ctx, t, d.Username); err != nil {
			return err
		}
		return db.insertDevice(ctx, t, d, &signed, &lastResort)
	})
	return dbErr("add device", err)
}

// GetDevice returns one device or ErrNotFound.
func (db *DB) GetDevice(ctx context.Context, username string, deviceID uint32) (*store.Device, error) {
	d, err := scanDevice(db.queryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE username = ? AND device_id = ?", username, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return d, dbErr("get device", err)
}

// DeviceByMailbox returns the device owning mailbox or ErrNotFound.
func (db *DB) DeviceByMailbox(ctx context.Context, mailbox string) (*store.Device, error) {
	d, err := scanDevice(db.queryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE mailbox = ?", mailbox))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return d, dbErr("device by mailbox", err)
}

// ListDevices returns the account's devices by id; none (not an error)
// for an unknown account.
func (db *DB) ListDevices(ctx context.Context, username string) ([]store.Device, error) {
	rows, err := db.query(ctx, "SELECT "+deviceCols+" FROM devices WHERE username = ? ORDER BY device_id", username)
	if err != nil {
		return nil, dbErr("list devices", err)
	}
	defer rows.Close()
	var out []store.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, dbErr("list devices", err)
		}
		out = append(out, *d)
	}
	return out, dbErr("list devices", rows.Err())
}

// SetDeviceBroker records how a device receives: broker is its direct-mode
// MQTT broker URL, or "" for the relay. ErrNotFound for an unknown device.
func (db *DB) SetDeviceBroker(ctx context.Context, username string, deviceID uint32, broker string) error {
	err := db.write(ctx, func(t tx) error {
		res, err := t.exec(ctx, "UPDATE devices SET broker = ? WHERE username = ? AND device_id = ?", broker, username, deviceID)
		return affected(res, err)
	})
	return dbErr("set device broker", err)
}

// DeleteDevice removes a device with its prekeys, sessions, mailbox and
// envelopes (all by cascade).
func (db *DB) DeleteDevice(ctx context.Context, username string, deviceID uint32) error {
	err := db.write(ctx, func(t tx) error {
		if err := requireNoList(ctx, t, username); err != nil {
			return err
		}
		res, err := t.exec(ctx, "DELETE FROM devices WHERE username = ? AND device_id = ?", username, deviceID)
		return affected(res, err)
	})
	return dbErr("delete device", err)
}
