-- The migration ledger: runs, the key map (legacy key -> platform id) and
-- the before-images of rows a run updated (for rollback). Tenant-scoped like
-- the platform tables. Staging tables are created here per run, unlogged.

CREATE TABLE migrate.runs (
    run_id          uuid PRIMARY KEY,
    org_id          uuid NOT NULL,
    source_system   text NOT NULL,
    mapping_name    text NOT NULL,
    mapping_sha256  text NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted',
                                      'cancelled', 'rolled_back', 'dry_run')),
    entities        text[] NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    error           text,
    report          jsonb
);
CREATE INDEX runs_org_started ON migrate.runs (org_id, started_at DESC);

CREATE TABLE migrate.keys (
    org_id          uuid NOT NULL,
    source_system   text NOT NULL,
    entity          text NOT NULL,
    source_key      text NOT NULL,
    target_id       uuid NOT NULL,
    first_run_id    uuid NOT NULL,
    last_run_id     uuid NOT NULL,
    PRIMARY KEY (org_id, source_system, entity, source_key)
);
CREATE INDEX keys_target ON migrate.keys (org_id, entity, target_id);

CREATE TABLE migrate.before_images (
    run_id      uuid NOT NULL,
    org_id      uuid NOT NULL,
    entity      text NOT NULL,
    target_id   uuid NOT NULL,
    row_data    jsonb NOT NULL,
    PRIMARY KEY (run_id, entity, target_id)
);
