-- Public rooms listed by their admins (doc/API.md §6).
CREATE TABLE rooms (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    members    INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    listing    BLOB   NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX rooms_name ON rooms (name, id);
