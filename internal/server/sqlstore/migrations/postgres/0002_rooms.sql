-- Public rooms listed by their admins (doc/API.md §6).
CREATE TABLE rooms (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    members    BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    listing    BYTEA   NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX rooms_name ON rooms (name, id);
