-- platform_tenant: the role every load runs as (SET LOCAL ROLE). RLS applies
-- to it; it owns nothing but the staging tables it creates. Roles belong to
-- the cluster: another database's apply may create it at the same moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'platform_tenant') THEN
        CREATE ROLE platform_tenant NOLOGIN NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO platform_tenant', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO platform_tenant;
GRANT USAGE, CREATE ON SCHEMA migrate TO platform_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON contacts, task_boards, task_columns, tasks, documents, document_revisions, entity_links
    TO platform_tenant;
GRANT SELECT, INSERT, UPDATE ON migrate.runs TO platform_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON migrate.keys, migrate.before_images TO platform_tenant;

-- One policy for every tenant-scoped table: the row's org is the org the
-- transaction set with set_config('app.current_org_id', org, true). Unset
-- (or reset to '' at the end of a transaction) matches nothing.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'public.contacts', 'public.task_boards', 'public.task_columns', 'public.tasks',
        'public.documents', 'public.document_revisions', 'public.entity_links',
        'migrate.runs', 'migrate.keys', 'migrate.before_images'
    ] LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %s USING (org_id = NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid) '
            'WITH CHECK (org_id = NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)', t);
    END LOOP;
END
$$;
