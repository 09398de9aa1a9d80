-- Packed after-images compressed with lz4 instead of pglz: the same size
-- (38 against 39 MB for two million ids and digests) at a third of the
-- time (0.41-0.46 s against 1.07-1.10 s a million rows written, on the
-- benchmark machine, bench/RESULTS.md 2026-12-07). A server built without
-- lz4 keeps pglz: the arrays are read the same either way.
DO $$
BEGIN
    ALTER TABLE migrate.after_image_sets
        ALTER COLUMN target_ids SET COMPRESSION lz4,
        ALTER COLUMN row_hashes SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: after-images stay compressed with pglz';
END
$$;
