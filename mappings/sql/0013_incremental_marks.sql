-- Incremental sources: the mark (the cursor's value a delta reads from) of
-- each (org, source system, source), written in the publishing transaction
-- so that only a published run moves it, and per run the mark it replaced,
-- so that `migrate rollback` puts that one back.
CREATE TABLE IF NOT EXISTS migrate.marks (
    org_id              uuid NOT NULL,
    source_system       text NOT NULL,
    source              text NOT NULL,
    cursor_column       text NOT NULL,
    mark                text NOT NULL,
    -- Deltas published since the last full load or key scan.
    deltas_since_scan   integer NOT NULL DEFAULT 0,
    run_id              uuid NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, source_system, source)
);

CREATE TABLE IF NOT EXISTS migrate.mark_history (
    run_id              uuid NOT NULL,
    org_id              uuid NOT NULL,
    source_system       text NOT NULL,
    source              text NOT NULL,
    cursor_column       text NOT NULL,
    mark                text NOT NULL,
    -- What the run replaced; all NULL when it stored the source's first mark.
    previous_cursor     text,
    previous_mark       text,
    previous_deltas     integer,
    previous_run_id     uuid,
    PRIMARY KEY (run_id, source)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['migrate.marks', 'migrate.mark_history'] LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %s USING (org_id = (SELECT NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)) '
            'WITH CHECK (org_id = (SELECT NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid))', t);
    END LOOP;
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON migrate.marks, migrate.mark_history TO platform_tenant;
