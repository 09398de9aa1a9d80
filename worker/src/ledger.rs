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
    let claimed: Option<(Uuid, i32)> = sqlx::query_as(
        "UPDATE migrate.jobs
            SET state = 'running', attempts = attempts + 1, lease_owner = $4,
                lease_until = now() + make_interval(secs => $5), updated_at = now()
          WHERE bucket = $1 AND object_key = $2 AND version = $3
            AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
          RETURNING job_id, attempts",
    )
    .bind(&upload.bucket)
    .bind(&upload.key)
    .bind(&upload.version)
    .bind(worker)
    .bind(secs(lease))
    .fetch_optional(pool)
    .await?;
    if let Some((job_id, attempts)) = claimed {
        return Ok(Ok(Claimed { job_id, attempts }));
    }
    let (state, left): (String, Option<f64>) = sqlx::query_as(
        "SELECT state, EXTRACT(EPOCH FROM (lease_until - now()))::float8
           FROM migrate.jobs WHERE bucket = $1 AND object_key = $2 AND version = $3",
    )
    .bind(&upload.bucket)
    .bind(&upload.key)
    .bind(&upload.version)
    .fetch_one(pool)
    .await?;
    Ok(Err(match state.as_str() {
        "running" => NotClaimed::Held(Duration::from_secs_f64(left.unwrap_or(0.0).max(0.0))),
        _ => NotClaimed::Finished(state),
    }))
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
