-- Per-account blob quotas (doc/API.md §5.1): creating a blob sums the
-- declared sizes of its owner's live blobs and counts the incomplete ones;
-- this index covers that query.
CREATE INDEX blobs_owner ON blobs (owner, expires_at, size, chunks_stored, chunks);

-- The accounts that fetch a blob from more than one device, with how many
-- completions each may count; any other account counts one at most.
CREATE TABLE blob_accounts (
    blob_id  TEXT    NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    username TEXT    NOT NULL,
    devices  BIGINT  NOT NULL,
    PRIMARY KEY (blob_id, username)
);

-- The devices whose completion was counted: a repeated report, after a
-- restart or on another server instance too, is not counted again.
CREATE TABLE blob_done (
    blob_id   TEXT    NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    username  TEXT    NOT NULL,
    device_id BIGINT  NOT NULL,
    PRIMARY KEY (blob_id, username, device_id)
);
