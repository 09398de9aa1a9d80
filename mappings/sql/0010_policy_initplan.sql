-- The tenant policies read the org once per statement instead of once per
-- row: `(SELECT …)` around the setting makes it an init plan, a parameter
-- the executor evaluates once (the setting cannot change within a
-- statement). Per row, reading and parsing the setting cost 3.5 s a
-- million inserted key-map rows on the benchmark machine, and a parameter
-- also lets an index on org_id serve the USING clause. Same meaning: unset
-- (or '') matches nothing.
DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT schemaname, tablename FROM pg_policies
              WHERE policyname = 'tenant_isolation' AND schemaname IN ('public', 'migrate') LOOP
        EXECUTE format(
            'ALTER POLICY tenant_isolation ON %I.%I '
            'USING (org_id = (SELECT NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)) '
            'WITH CHECK (org_id = (SELECT NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid))',
            p.schemaname, p.tablename);
    END LOOP;
END
$$;
