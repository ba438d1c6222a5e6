-- The public signing key of the deployment (row 1): recorded by the
-- first server that starts on the database, and checked by every later
-- one, so that instances of one deployment sign with one key and a
-- server with another key (a fresh data directory, a wrong key file)
-- refuses to start instead of signing for the same users with it.
CREATE TABLE server_identity (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    public_key BLOB    NOT NULL,
    created_at INTEGER NOT NULL
);
