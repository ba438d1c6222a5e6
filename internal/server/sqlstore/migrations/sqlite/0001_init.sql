-- hush server schema, version 1 (SQLite).
-- Times are Unix milliseconds; an expiry of 9223372036854775807 means never.

CREATE TABLE accounts (
    username     TEXT    PRIMARY KEY,
    identity_key BLOB    NOT NULL,
    key_version  INTEGER NOT NULL,
    state        INTEGER NOT NULL,
    email        TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX accounts_state_created ON accounts (state, created_at);

CREATE TABLE key_history (
    username     TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    identity_key BLOB    NOT NULL,
    valid_from   INTEGER NOT NULL,
    valid_until  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (username, version)
);

CREATE TABLE devices (
    username   TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    device_id  INTEGER NOT NULL,
    cert       BLOB    NOT NULL,
    mailbox    TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (username, device_id)
);

-- The signed and last-resort prekeys: one of each per device.
CREATE TABLE prekeys (
    username  TEXT    NOT NULL,
    device_id INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    key_id    INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (username, device_id, kind),
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);

-- One-time prekeys, handed out oldest first (lowest id).
CREATE TABLE one_time_prekeys (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username  TEXT    NOT NULL,
    device_id INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    key_id    INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    UNIQUE (username, device_id, kind, key_id),
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);
CREATE INDEX one_time_prekeys_take ON one_time_prekeys (username, device_id, kind, id);

CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    username   TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    device_id  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_username ON tokens (username);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE sessions (
    hash       BLOB    PRIMARY KEY,
    username   TEXT    NOT NULL,
    device_id  INTEGER NOT NULL,
    mailbox    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);
CREATE INDEX sessions_device ON sessions (username, device_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One row per device mailbox: the usage counters AppendEnvelopes checks
-- against the limits, kept in step with the envelopes table.
CREATE TABLE mailboxes (
    mailbox TEXT    PRIMARY KEY REFERENCES devices (mailbox) ON DELETE CASCADE,
    count   INTEGER NOT NULL DEFAULT 0,
    bytes   INTEGER NOT NULL DEFAULT 0
);

-- AUTOINCREMENT: a sequence number is never reused, even after the
-- highest envelope was acknowledged and deleted.
CREATE TABLE envelopes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox    TEXT    NOT NULL REFERENCES mailboxes (mailbox) ON DELETE CASCADE,
    data       BLOB    NOT NULL,
    size       INTEGER NOT NULL,
    stored_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX envelopes_mailbox_seq ON envelopes (mailbox, seq);
CREATE INDEX envelopes_expires ON envelopes (expires_at);

CREATE TABLE blobs (
    id            TEXT    PRIMARY KEY,
    owner         TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    chunk_size    INTEGER NOT NULL,
    chunks        INTEGER NOT NULL,
    chunks_stored INTEGER NOT NULL DEFAULT 0,
    recipients    INTEGER NOT NULL,
    fetched       INTEGER NOT NULL DEFAULT 0,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX blobs_expires ON blobs (expires_at);

CREATE TABLE blob_chunks (
    blob_id TEXT    NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    idx     INTEGER NOT NULL,
    data    BLOB    NOT NULL,
    PRIMARY KEY (blob_id, idx)
);
