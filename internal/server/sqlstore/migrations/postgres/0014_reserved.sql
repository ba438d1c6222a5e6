-- Placeholder for migration 0014, which another change of the schema
-- defines; replaced by it when both are merged.
SELECT 1;
