-- The SHA-256 of each chunk, recorded when it is stored: a resent chunk is
-- compared by its hash, and a chunk read back from a file is checked
-- against it. A SQLite store keeps the bytes of chunks stored from this
-- version on in files next to the database (data is empty); rows stored
-- before keep their bytes in data and a NULL sha256.
ALTER TABLE blob_chunks ADD COLUMN sha256 BLOB;
