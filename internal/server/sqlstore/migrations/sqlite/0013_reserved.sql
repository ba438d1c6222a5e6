-- Placeholder for migration 0013, which another change of the schema
-- defines; replaced by it when both are merged.
SELECT 1;
