-- Each account's newest signed device list (doc/SPEC.md §3.6). An account
-- without a row never published one.
CREATE TABLE device_lists (
    username TEXT    PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    version  INTEGER NOT NULL,
    list     BLOB    NOT NULL
) WITHOUT ROWID;
