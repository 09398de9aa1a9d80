-- Partitioned runs: one run whose rows several worker processes stage (each
-- a byte range of the input), published once the last partition is staged.
-- Such a run is 'staging' meanwhile: no process holds it, so it is never
-- taken for an interrupted one.
ALTER TABLE migrate.runs DROP CONSTRAINT IF EXISTS runs_status_check;
ALTER TABLE migrate.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'staging', 'succeeded', 'failed', 'interrupted',
                      'cancelled', 'rolled_back', 'dry_run'));

-- A job is run whole, or split: its partitions are staged by any worker,
-- then one worker publishes ('publish' phase).
ALTER TABLE migrate.jobs ADD COLUMN IF NOT EXISTS phase text NOT NULL DEFAULT 'whole'
    CHECK (phase IN ('whole', 'partitioned', 'publish'));
-- What the partitions and the publish share: the run's settled decisions,
-- the file index and the whole input's description.
ALTER TABLE migrate.jobs ADD COLUMN IF NOT EXISTS plan jsonb;
-- 'waiting': split, its partitions being staged.
ALTER TABLE migrate.jobs DROP CONSTRAINT IF EXISTS jobs_state_check;
ALTER TABLE migrate.jobs ADD CONSTRAINT jobs_state_check
    CHECK (state IN ('queued', 'running', 'waiting', 'succeeded', 'failed'));

CREATE TABLE IF NOT EXISTS migrate.job_partitions (
    job_id      uuid NOT NULL REFERENCES migrate.jobs (job_id),
    part        integer NOT NULL,
    -- [byte_start, byte_end) of the input: whole records.
    byte_start  bigint NOT NULL,
    byte_end    bigint NOT NULL,
    first_line  bigint NOT NULL,
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'staged', 'failed')),
    attempts    integer NOT NULL DEFAULT 0,
    lease_owner text,
    lease_until timestamptz,
    last_error  text,
    report      jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, part)
);
REVOKE ALL ON migrate.job_partitions FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON migrate.job_partitions TO migrate_worker;
