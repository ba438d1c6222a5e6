-- Signed directory requests already accepted (the replay guard): the
-- SHA-256 of the signed payload, the account it names, and when its
-- timestamp goes stale. A record is deleted only after it expired.
CREATE TABLE signed_requests (
    hash       BLOB    PRIMARY KEY,
    account    TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX signed_requests_account ON signed_requests (account, expires_at);
CREATE INDEX signed_requests_expires ON signed_requests (expires_at);

-- Bundles that carried one-time prekeys: which account received them and
-- when, kept for the hand-out limits and the owner's report.
CREATE TABLE prekey_handouts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    username  TEXT    NOT NULL,
    device_id INTEGER NOT NULL,
    requester TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);
CREATE INDEX prekey_handouts_device ON prekey_handouts (username, device_id, at);
CREATE INDEX prekey_handouts_requester ON prekey_handouts (username, device_id, requester, at);
CREATE INDEX prekey_handouts_at ON prekey_handouts (at);

-- Bundles served without one-time prekeys, counted per device since it was
-- added: to a repeat requester, and at the device's hand-out limit.
CREATE TABLE prekey_withheld (
    username     TEXT    NOT NULL,
    device_id    INTEGER NOT NULL,
    repeats      INTEGER NOT NULL DEFAULT 0,
    limited      INTEGER NOT NULL DEFAULT 0,
    last_limited INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (username, device_id),
    FOREIGN KEY (username, device_id) REFERENCES devices (username, device_id) ON DELETE CASCADE
);
