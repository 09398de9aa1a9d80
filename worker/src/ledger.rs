//! The job ledger (`migrate.jobs`): one row per uploaded object version.
//! A claim is one conditional UPDATE, so of two workers holding the same
//! message only one gets the job; a claim is a lease that the holder
//! renews, and that any worker may take over once it has expired (its
//! holder died).

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::event::Upload;

/// A job this worker holds.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub job_id: Uuid,
    pub attempts: i32,
    /// The worker whose lease on the running job expired: it died (or
    /// lost the database) during the attempt before this one.
    pub died: Option<String>,
}

/// Why a job could not be claimed.
#[derive(Debug, Clone, PartialEq)]
pub enum NotClaimed {
    /// Finished before (`succeeded` or `failed`): a duplicate event.
    Finished(String),
    /// Another worker holds it, for this long still.
    Held(Duration),
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Why a claim found nothing: the row's state and how long its lease runs.
fn not_claimed(row: Option<(String, Option<f64>)>) -> NotClaimed {
    match row {
        Some((state, left)) if state == "running" => {
            NotClaimed::Held(Duration::from_secs_f64(left.unwrap_or(0.0).max(0.0)))
        }
        Some((state, _)) => NotClaimed::Finished(state),
        None => NotClaimed::Finished("unknown".into()),
    }
}

/// Records the job (once per object version) and claims it.
pub async fn claim(
    pool: &PgPool,
    upload: &Upload,
    org: Uuid,
    prefix: &str,
    worker: &str,
    lease: Duration,
) -> Result<Result<Claimed, NotClaimed>, sqlx::Error> {
    sqlx::query(
        "INSERT INTO migrate.jobs (job_id, bucket, object_key, version, org_id, prefix)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (bucket, object_key, version) DO NOTHING",
    )
    .bind(Uuid::new_v4())
    .bind(&upload.bucket)
    .bind(&upload.key)
    .bind(&upload.version)
    .bind(org)
    .bind(prefix)
    .execute(pool)
    .await?;
    let claimed: Option<(Uuid, i32, Option<String>)> = sqlx::query_as(
        "WITH before AS (
             SELECT job_id, CASE WHEN state = 'running' THEN lease_owner END AS died
               FROM migrate.jobs
              WHERE bucket = $1 AND object_key = $2 AND version = $3
                AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
                FOR UPDATE)
         UPDATE migrate.jobs j
            SET state = 'running', attempts = attempts + 1, lease_owner = $4,
                lease_until = now() + make_interval(secs => $5), updated_at = now(),
                last_error = CASE WHEN before.died IS NULL THEN j.last_error
                                  ELSE 'the worker processing it (' || before.died || ') died (attempt ' || j.attempts || ')' END
           FROM before
          WHERE j.job_id = before.job_id
          RETURNING j.job_id, j.attempts, before.died",
    )
    .bind(&upload.bucket)
    .bind(&upload.key)
    .bind(&upload.version)
    .bind(worker)
    .bind(secs(lease))
    .fetch_optional(pool)
    .await?;
    if let Some((job_id, attempts, died)) = claimed {
        return Ok(Ok(Claimed { job_id, attempts, died }));
    }
    let row: Option<(String, Option<f64>)> = sqlx::query_as(
        "SELECT state, EXTRACT(EPOCH FROM (lease_until - now()))::float8
           FROM migrate.jobs WHERE bucket = $1 AND object_key = $2 AND version = $3",
    )
    .bind(&upload.bucket)
    .bind(&upload.key)
    .bind(&upload.version)
    .fetch_optional(pool)
    .await?;
    Ok(Err(not_claimed(row)))
}

/// Extends the lease; false when this worker no longer holds the job.
pub async fn renew(pool: &PgPool, job: Uuid, worker: &str, lease: Duration) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE migrate.jobs SET lease_until = now() + make_interval(secs => $3), updated_at = now()
          WHERE job_id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(job)
    .bind(worker)
    .bind(secs(lease))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The job ended: `succeeded` or `failed`, with the run and its summary.
pub async fn finish(
    pool: &PgPool,
    job: Uuid,
    worker: &str,
    state: &str,
    run_id: Option<Uuid>,
    error: Option<&str>,
    summary: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE migrate.jobs
            SET state = $3, run_id = COALESCE($4, run_id), last_error = $5, summary = $6,
                lease_owner = NULL, lease_until = NULL, updated_at = now()
          WHERE job_id = $1 AND lease_owner = $2",
    )
    .bind(job)
    .bind(worker)
    .bind(state)
    .bind(run_id)
    .bind(error)
    .bind(summary)
    .execute(pool)
    .await?;
    Ok(())
}

/// Hands the job back for another attempt: after a failure (`error`), or
/// at shutdown (`error` None: the attempt does not count).
pub async fn release(pool: &PgPool, job: Uuid, worker: &str, error: Option<&str>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE migrate.jobs
            SET state = 'queued', lease_owner = NULL, lease_until = NULL, updated_at = now(),
                last_error = COALESCE($3, last_error),
                attempts = CASE WHEN $3 IS NULL THEN attempts - 1 ELSE attempts END
          WHERE job_id = $1 AND lease_owner = $2",
    )
    .bind(job)
    .bind(worker)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// Jobs by state, for /metrics.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT state, count(*) FROM migrate.jobs GROUP BY state ORDER BY state").fetch_all(pool).await
}

/// A job's row, as partitions and the publish read it.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub job_id: Uuid,
    pub bucket: String,
    pub object_key: String,
    pub org_id: Uuid,
    pub prefix: String,
    pub state: String,
    pub phase: String,
    pub attempts: i32,
    pub run_id: Option<Uuid>,
    pub plan: Option<serde_json::Value>,
}

type JobTuple = (Uuid, String, String, Uuid, String, String, String, i32, Option<Uuid>, Option<serde_json::Value>);

pub async fn job(pool: &PgPool, job_id: Uuid) -> Result<Option<JobRow>, sqlx::Error> {
    let row: Option<JobTuple> = sqlx::query_as(
        "SELECT job_id, bucket, object_key, org_id, prefix, state, phase, attempts, run_id, plan
           FROM migrate.jobs WHERE job_id = $1",
    )
    .bind(job_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(job_id, bucket, object_key, org_id, prefix, state, phase, attempts, run_id, plan)| JobRow {
        job_id,
        bucket,
        object_key,
        org_id,
        prefix,
        state,
        phase,
        attempts,
        run_id,
        plan,
    }))
}

/// The job held by `worker` is split: its partitions are recorded (to be
/// claimed by any worker) and the job waits for them.
pub async fn split(
    pool: &PgPool,
    job_id: Uuid,
    worker: &str,
    run_id: Uuid,
    plan: &serde_json::Value,
    parts: &[(i64, i64, i64)],
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let held = sqlx::query(
        "UPDATE migrate.jobs
            SET phase = 'partitioned', state = 'waiting', run_id = $3, plan = $4,
                lease_owner = NULL, lease_until = NULL, updated_at = now()
          WHERE job_id = $1 AND lease_owner = $2 AND state = 'running'",
    )
    .bind(job_id)
    .bind(worker)
    .bind(run_id)
    .bind(plan)
    .execute(&mut *tx)
    .await?;
    if held.rows_affected() != 1 {
        return Ok(false);
    }
    for (part, (start, end, line)) in parts.iter().enumerate() {
        sqlx::query(
            "INSERT INTO migrate.job_partitions (job_id, part, byte_start, byte_end, first_line)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(job_id)
        .bind(i32::try_from(part).unwrap_or(i32::MAX))
        .bind(start)
        .bind(end)
        .bind(line)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A partition this worker holds: its byte range and attempts so far.
#[derive(Debug, Clone)]
pub struct ClaimedPart {
    pub part: i32,
    pub byte_start: i64,
    pub byte_end: i64,
    pub first_line: i64,
    pub attempts: i32,
}

pub async fn claim_part(
    pool: &PgPool,
    job_id: Uuid,
    part: i32,
    worker: &str,
    lease: Duration,
) -> Result<Result<ClaimedPart, NotClaimed>, sqlx::Error> {
    let claimed: Option<(i32, i64, i64, i64, i32)> = sqlx::query_as(
        "UPDATE migrate.job_partitions
            SET state = 'running', attempts = attempts + 1, lease_owner = $3,
                lease_until = now() + make_interval(secs => $4), updated_at = now()
          WHERE job_id = $1 AND part = $2
            AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
          RETURNING part, byte_start, byte_end, first_line, attempts",
    )
    .bind(job_id)
    .bind(part)
    .bind(worker)
    .bind(secs(lease))
    .fetch_optional(pool)
    .await?;
    if let Some((part, byte_start, byte_end, first_line, attempts)) = claimed {
        return Ok(Ok(ClaimedPart { part, byte_start, byte_end, first_line, attempts }));
    }
    let row: Option<(String, Option<f64>)> = sqlx::query_as(
        "SELECT state, EXTRACT(EPOCH FROM (lease_until - now()))::float8
           FROM migrate.job_partitions WHERE job_id = $1 AND part = $2",
    )
    .bind(job_id)
    .bind(part)
    .fetch_optional(pool)
    .await?;
    Ok(Err(not_claimed(row)))
}

pub async fn renew_part(
    pool: &PgPool,
    job: Uuid,
    part: i32,
    worker: &str,
    lease: Duration,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE migrate.job_partitions SET lease_until = now() + make_interval(secs => $4), updated_at = now()
          WHERE job_id = $1 AND part = $2 AND lease_owner = $3 AND state = 'running'",
    )
    .bind(job)
    .bind(part)
    .bind(worker)
    .bind(secs(lease))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a staged partition. When it was the last, the job moves to its
/// publish phase (queued, attempts reset) and true is returned: the caller
/// enqueues the publish. The job row is locked first, so that of two
/// partitions ending at once exactly one sees itself last.
pub async fn part_staged(
    pool: &PgPool,
    job_id: Uuid,
    part: i32,
    worker: &str,
    report: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM migrate.jobs WHERE job_id = $1 FOR UPDATE").bind(job_id).execute(&mut *tx).await?;
    sqlx::query(
        "UPDATE migrate.job_partitions
            SET state = 'staged', report = $4, lease_owner = NULL, lease_until = NULL, updated_at = now()
          WHERE job_id = $1 AND part = $2 AND lease_owner = $3",
    )
    .bind(job_id)
    .bind(part)
    .bind(worker)
    .bind(report)
    .execute(&mut *tx)
    .await?;
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM migrate.job_partitions WHERE job_id = $1 AND state <> 'staged'")
            .bind(job_id)
            .fetch_one(&mut *tx)
            .await?;
    let last = left == 0
        && sqlx::query(
            "UPDATE migrate.jobs SET phase = 'publish', state = 'queued', attempts = 0, updated_at = now()
              WHERE job_id = $1 AND phase = 'partitioned' AND state = 'waiting'",
        )
        .bind(job_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
    tx.commit().await?;
    Ok(last)
}

/// Hands a partition back (`error` None: at shutdown, not an attempt), or
/// fails it for good (`fail`).
pub async fn release_part(
    pool: &PgPool,
    job_id: Uuid,
    part: i32,
    worker: &str,
    error: Option<&str>,
    fail: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE migrate.job_partitions
            SET state = CASE WHEN $5 THEN 'failed' ELSE 'queued' END,
                lease_owner = NULL, lease_until = NULL, updated_at = now(),
                last_error = COALESCE($4, last_error),
                attempts = CASE WHEN $4 IS NULL THEN attempts - 1 ELSE attempts END
          WHERE job_id = $1 AND part = $2 AND lease_owner = $3",
    )
    .bind(job_id)
    .bind(part)
    .bind(worker)
    .bind(error)
    .bind(fail)
    .execute(pool)
    .await?;
    Ok(())
}

/// Claims the publish of a job whose partitions are all staged.
pub async fn claim_publish(
    pool: &PgPool,
    job_id: Uuid,
    worker: &str,
    lease: Duration,
) -> Result<Result<Claimed, NotClaimed>, sqlx::Error> {
    let claimed: Option<(Uuid, i32)> = sqlx::query_as(
        "UPDATE migrate.jobs
            SET state = 'running', attempts = attempts + 1, lease_owner = $2,
                lease_until = now() + make_interval(secs => $3), updated_at = now()
          WHERE job_id = $1 AND phase = 'publish'
            AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
          RETURNING job_id, attempts",
    )
    .bind(job_id)
    .bind(worker)
    .bind(secs(lease))
    .fetch_optional(pool)
    .await?;
    if let Some((job_id, attempts)) = claimed {
        return Ok(Ok(Claimed { job_id, attempts, died: None }));
    }
    let row: Option<(String, Option<f64>)> = sqlx::query_as(
        "SELECT state, EXTRACT(EPOCH FROM (lease_until - now()))::float8 FROM migrate.jobs WHERE job_id = $1",
    )
    .bind(job_id)
    .fetch_optional(pool)
    .await?;
    Ok(Err(not_claimed(row)))
}

/// The staged partitions' reports, in order.
pub async fn staged_reports(pool: &PgPool, job_id: Uuid) -> Result<Vec<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT report FROM migrate.job_partitions WHERE job_id = $1 AND state = 'staged' ORDER BY part")
        .bind(job_id)
        .fetch_all(pool)
        .await
}

/// Fails a job whoever holds it (a partition failed for good).
pub async fn fail_job(
    pool: &PgPool,
    job_id: Uuid,
    error: &str,
    summary: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE migrate.jobs SET state = 'failed', last_error = $2, summary = $3,
                lease_owner = NULL, lease_until = NULL, updated_at = now()
          WHERE job_id = $1 AND state NOT IN ('succeeded', 'failed')",
    )
    .bind(job_id)
    .bind(error)
    .bind(summary)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}
