-- What /healthz writes to prove the store can still commit: row 1 is
-- rewritten by every probe; other rows exist only inside a probe's
-- rolled-back savepoint, which needs free pages as a real write would.
CREATE TABLE health (
    id         INTEGER PRIMARY KEY,
    checked_at BIGINT NOT NULL,
    pad        BYTEA
);
