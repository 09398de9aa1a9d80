-- The worker's job ledger: one row per uploaded object version, so that a
-- redelivered or duplicated S3 event never runs a migration twice. Only the
-- worker's own connection touches it (platform_tenant gets no grant): it
-- holds no tenant data, only which upload ran, where, and how it ended.
CREATE TABLE IF NOT EXISTS migrate.jobs (
    job_id      uuid PRIMARY KEY,
    bucket      text NOT NULL,
    object_key  text NOT NULL,
    -- The object's version id, else its ETag: a re-upload is a new job.
    version     text NOT NULL,
    org_id      uuid NOT NULL,
    prefix      text NOT NULL,
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until timestamptz,
    last_error  text,
    run_id      uuid,
    summary     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (bucket, object_key, version)
);

CREATE INDEX IF NOT EXISTS jobs_org_created ON migrate.jobs (org_id, created_at);
REVOKE ALL ON migrate.jobs FROM PUBLIC;

-- migrate_worker: granted to the worker's login role (with platform_tenant,
-- for the loads), so the worker can keep its ledger and nothing more.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'migrate_worker') THEN
        CREATE ROLE migrate_worker NOLOGIN NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

GRANT USAGE ON SCHEMA migrate TO migrate_worker;
GRANT SELECT, INSERT, UPDATE ON migrate.jobs TO migrate_worker;
