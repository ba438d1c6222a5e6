-- Registration invite codes (doc/API.md §2.17). Only the SHA-256 of a code
-- is stored. created_by is the issuing username, '' for the operator; it
-- names no account row, so an invite outlives its issuer's deletion.
CREATE TABLE invites (
    hash       BLOB    PRIMARY KEY,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses   INTEGER NOT NULL,
    used       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX invites_created_by ON invites (created_by, expires_at);
