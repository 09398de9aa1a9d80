-- After-images: a digest of every row a run inserted or changed, as the run
-- left it. A rollback compares them with the rows as they are now, so that
-- it never overwrites what someone edited in the platform since.
CREATE TABLE IF NOT EXISTS migrate.after_images (
    run_id      uuid NOT NULL,
    org_id      uuid NOT NULL,
    entity      text NOT NULL,
    target_id   uuid NOT NULL,
    inserted    boolean NOT NULL,
    row_hash    text NOT NULL,
    PRIMARY KEY (run_id, entity, target_id)
);

ALTER TABLE migrate.after_images ENABLE ROW LEVEL SECURITY;
ALTER TABLE migrate.after_images FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON migrate.after_images;
CREATE POLICY tenant_isolation ON migrate.after_images
    USING (org_id = NULLIF(current_setting('app.current_org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('app.current_org_id', true), '')::uuid);
GRANT SELECT, INSERT, DELETE ON migrate.after_images TO platform_tenant;
