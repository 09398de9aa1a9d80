-- After-images of the rows a run's write statement inserts or changes,
-- packed: one row per 65,536 rows written, holding their ids and digests
-- as arrays, instead of a row and an index entry each. Writing a million
-- contacts with their after-images took 7.3-7.5 s instead of 8.6-9.6 s on
-- the benchmark machine (bench/RESULTS.md, 2026-12-06). Links and
-- deletions still write migrate.after_images a row each, as do the runs
-- published before this migration; rollback reads both.
CREATE TABLE IF NOT EXISTS migrate.after_image_sets (
    run_id      uuid NOT NULL,
    org_id      uuid NOT NULL,
    entity      text NOT NULL,
    inserted    boolean NOT NULL,
    target_ids  uuid[] NOT NULL,
    -- hash_record_extended(row, 0) of each row, as it was written.
    row_hashes  bigint[] NOT NULL,
    CHECK (cardinality(target_ids) = cardinality(row_hashes))
);
CREATE INDEX IF NOT EXISTS after_image_sets_run ON migrate.after_image_sets (run_id, entity);

ALTER TABLE migrate.after_image_sets ENABLE ROW LEVEL SECURITY;
ALTER TABLE migrate.after_image_sets FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON migrate.after_image_sets;
CREATE POLICY tenant_isolation ON migrate.after_image_sets
    USING (org_id = (SELECT NULLIF(current_setting('app.current_org_id', true), '')::uuid))
    WITH CHECK (org_id = (SELECT NULLIF(current_setting('app.current_org_id', true), '')::uuid));
GRANT SELECT, INSERT, DELETE ON migrate.after_image_sets TO platform_tenant;
