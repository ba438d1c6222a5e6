-- The rotation statement (doc/SPEC.md §3.7) that introduced a key: signed
-- by the key before it. NULL for a first key and for a rotation made
-- without one.
ALTER TABLE key_history ADD COLUMN rotation BLOB;
