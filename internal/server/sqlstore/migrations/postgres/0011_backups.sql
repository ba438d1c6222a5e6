-- Key backups (doc/DEVICES.md §5, doc/API.md §2.19). server_secrets holds
-- the server's backup OPRF secret, shared by every instance on this
-- database; backups each account's backup; backup_evaluations the OPRF
-- evaluations of an account in its current window.
CREATE TABLE server_secrets (
    name  TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE backups (
    username   TEXT   PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    data       BYTEA  NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE backup_evaluations (
    username     TEXT    PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    window_start BIGINT  NOT NULL,
    used         INTEGER NOT NULL
);
