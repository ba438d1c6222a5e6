-- hush server schema, version 1 (PostgreSQL).
-- Times are Unix milliseconds; an expiry of 9223372036854775807 means never.

CREATE TABLE accounts (
    username     TEXT    PRIMARY KEY,
    identity_key BYTEA   NOT NULL,
    key_version  BIGINT  NOT NULL,
    state        BIGINT  NOT NULL,
    email        TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX accounts_state_created ON accounts (state, created_at);

CREATE TABLE key_history (
    username     TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    version      BIGINT  NOT NULL,
    identity_key BYTEA   NOT NULL,
    valid_from   BIGINT  NOT NULL,
    valid_until  BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (username, version)
);

CREATE TABLE devices (
    username   TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    device_id  BIGINT  NOT NULL,
    cert       BYTEA   NOT NULL,
    mailbox    TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (username, device_id)
);

-- The signed and last-resort prekeys: one of each per device.
CREATE TABLE prekeys (
    username  TEXT    NOT NULL,
    device_id BIGINT  NOT NULL,
    kind      BIGINT  NOT NULL,
    key_id    BIGINT  NOT NULL,
    data      BYTEA   NOT NULL,
    PRIMARY KEY (username, device_id, kind),
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);

-- One-time prekeys, handed out oldest first (lowest id).
CREATE TABLE one_time_prekeys (
    id        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username  TEXT    NOT NULL,
    device_id BIGINT  NOT NULL,
    kind      BIGINT  NOT NULL,
    key_id    BIGINT  NOT NULL,
    data      BYTEA   NOT NULL,
    UNIQUE (username, device_id, kind, key_id),
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);
CREATE INDEX one_time_prekeys_take ON one_time_prekeys (username, device_id, kind, id);

CREATE TABLE tokens (
    hash       BYTEA   PRIMARY KEY,
    purpose    TEXT    NOT NULL,
    username   TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    device_id  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX tokens_username ON tokens (username);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE sessions (
    hash       BYTEA   PRIMARY KEY,
    username   TEXT    NOT NULL,
    device_id  BIGINT  NOT NULL,
    mailbox    TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL,
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);
CREATE INDEX sessions_device ON sessions (username, device_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- One row per device mailbox: the usage counters AppendEnvelopes checks
-- against the limits, kept in step with the envelopes table.
CREATE TABLE mailboxes (
    mailbox TEXT    PRIMARY KEY REFERENCES devices (mailbox) ON DELETE CASCADE,
    count   BIGINT  NOT NULL DEFAULT 0,
    bytes   BIGINT  NOT NULL DEFAULT 0
);

-- IDENTITY: a sequence number is never reused, even after the
-- highest envelope was acknowledged and deleted. AppendEnvelopes draws a
-- batch's numbers from the sequence itself (nextval) and inserts them with
-- OVERRIDING SYSTEM VALUE.
CREATE TABLE envelopes (
    seq        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox    TEXT    NOT NULL REFERENCES mailboxes (mailbox) ON DELETE CASCADE,
    data       BYTEA   NOT NULL,
    size       BIGINT  NOT NULL,
    stored_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX envelopes_mailbox_seq ON envelopes (mailbox, seq);
CREATE INDEX envelopes_expires ON envelopes (expires_at);

CREATE TABLE blobs (
    id            TEXT    PRIMARY KEY,
    owner         TEXT    NOT NULL,
    size          BIGINT  NOT NULL,
    chunk_size    BIGINT  NOT NULL,
    chunks        BIGINT  NOT NULL,
    chunks_stored BIGINT  NOT NULL DEFAULT 0,
    recipients    BIGINT  NOT NULL,
    fetched       BIGINT  NOT NULL DEFAULT 0,
    expires_at    BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL
);
CREATE INDEX blobs_expires ON blobs (expires_at);

CREATE TABLE blob_chunks (
    blob_id TEXT    NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    idx     BIGINT  NOT NULL,
    data    BYTEA   NOT NULL,
    PRIMARY KEY (blob_id, idx)
);
