-- The SHA-256 of each chunk, recorded when it is stored: a resent chunk is
-- compared by its hash. PostgreSQL keeps the bytes in data (every server
-- instance sharing the database reads them there); rows stored before
-- this version have a NULL sha256 and are compared by their bytes.
ALTER TABLE blob_chunks ADD COLUMN sha256 BYTEA;
