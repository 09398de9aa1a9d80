//! The runs ledger: what ran, how it ended, and clean-up after runs that
//! died (a `running` row whose run lock is free).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::config::ConnectionConfig;
use crate::error::{Context, PgError};
use crate::locks::{TRY_LOCK, UNLOCK, run_lock};
use crate::quote::audited;
use crate::quote::quote_qualified;
use crate::sink::tenant_tx;

#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: Uuid,
    pub source_system: String,
    pub mapping_name: String,
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub report: Option<serde_json::Value>,
}

/// Drops every staging table of a run.
pub(crate) async fn drop_staging(conn: &mut PgConnection, run_id: Uuid) -> Result<u64, PgError> {
    let prefix = format!("stage_{}_", run_id.simple());
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'migrate' AND starts_with(tablename, $1)",
    )
    .bind(&prefix)
    .fetch_all(&mut *conn)
    .await
    .context("listing staging tables")?;
    for t in &tables {
        sqlx::query(audited(format!("DROP TABLE IF EXISTS {}", quote_qualified("migrate", t))))
            .execute(&mut *conn)
            .await
            .context(format!("dropping staging table {t}"))?;
    }
    Ok(tables.len() as u64)
}

/// Marks the org's `running` runs whose lock is free as `interrupted` and
/// drops their staging. `lock` is a connection that can take and release
/// the run locks (not the one that will hold them for a live run).
pub(crate) async fn mark_interrupted_runs(
    conn: &mut PgConnection,
    lock: &mut PgConnection,
    org_id: Uuid,
    source_system: &str,
) -> Result<Vec<Uuid>, PgError> {
    let mut tx = tenant_tx(conn, org_id).await?;
    let running: Vec<Uuid> = sqlx::query_scalar(
        "SELECT run_id FROM migrate.runs WHERE status = 'running' AND source_system = $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(source_system)
    .fetch_all(&mut *tx)
    .await
    .context("finding running runs")?;
    let mut dead = Vec::new();
    for run_id in running {
        let free: bool = sqlx::query_scalar(TRY_LOCK)
            .bind(run_lock(run_id))
            .fetch_one(&mut *lock)
            .await
            .context("probing a run lock")?;
        if !free {
            continue;
        }
        sqlx::query(
            "UPDATE migrate.runs SET status = 'interrupted', finished_at = now(),
                    error = coalesce(error, 'the process stopped before publishing; nothing was published')
             WHERE run_id = $1",
        )
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .context("marking a run interrupted")?;
        drop_staging(&mut tx, run_id).await?;
        sqlx::query(UNLOCK).bind(run_lock(run_id)).execute(&mut *lock).await.context("releasing a run lock")?;
        dead.push(run_id);
    }
    tx.commit().await.context("committing interrupted runs")?;
    Ok(dead)
}

fn record(row: &sqlx::postgres::PgRow) -> RunRecord {
    RunRecord {
        run_id: row.get("run_id"),
        source_system: row.get("source_system"),
        mapping_name: row.get("mapping_name"),
        status: row.get("status"),
        started_at: row.get("started_at"),
        finished_at: row.get("finished_at"),
        error: row.get("error"),
        report: row.get("report"),
    }
}

const RUN_COLUMNS: &str = "run_id, source_system, mapping_name, status, started_at, finished_at, error, report";

/// The org's runs, newest first; runs that died are shown (and recorded) as
/// `interrupted`.
pub async fn list_runs(config: &ConnectionConfig, org_id: Uuid, limit: i64) -> Result<Vec<RunRecord>, PgError> {
    let mut conn = config.connect().await?;
    let mut lock = config.connect().await?;
    let systems: Vec<String> = {
        let mut tx = tenant_tx(&mut conn, org_id).await?;
        let s = sqlx::query_scalar("SELECT DISTINCT source_system FROM migrate.runs WHERE status = 'running'")
            .fetch_all(&mut *tx)
            .await
            .context("listing running runs")?;
        tx.commit().await.context("listing running runs")?;
        s
    };
    for system in systems {
        mark_interrupted_runs(&mut conn, &mut lock, org_id, &system).await?;
    }
    let mut tx = tenant_tx(&mut conn, org_id).await?;
    let rows =
        sqlx::query(audited(format!("SELECT {RUN_COLUMNS} FROM migrate.runs ORDER BY started_at DESC LIMIT $1")))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .context("listing runs")?;
    Ok(rows.iter().map(record).collect())
}

pub async fn show_run(config: &ConnectionConfig, org_id: Uuid, run_id: Uuid) -> Result<Option<RunRecord>, PgError> {
    let mut conn = config.connect().await?;
    let mut tx = tenant_tx(&mut conn, org_id).await?;
    let row = sqlx::query(audited(format!("SELECT {RUN_COLUMNS} FROM migrate.runs WHERE run_id = $1")))
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await
        .context("reading a run")?;
    Ok(row.as_ref().map(record))
}

/// Drops the staging tables of every run that is not alive, in every org
/// (staging tables carry the run id in their name; their lock tells if the
/// run lives). Returns the number of tables dropped.
pub async fn clean_stale_staging(config: &ConnectionConfig) -> Result<u64, PgError> {
    let mut conn = config.connect().await?;
    let mut lock = config.connect().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'migrate' AND starts_with(tablename, 'stage_')",
    )
    .fetch_all(&mut conn)
    .await
    .context("listing staging tables")?;
    let mut runs: Vec<Uuid> = tables
        .iter()
        .filter_map(|t| t.strip_prefix("stage_").and_then(|r| r.get(..32)).and_then(|r| Uuid::parse_str(r).ok()))
        .collect();
    runs.sort();
    runs.dedup();
    sqlx::query(audited(format!("SET ROLE {}", crate::quote::quote_ident(crate::config::TENANT_ROLE))))
        .execute(&mut conn)
        .await
        .context("switching to the tenant role")?;
    let mut dropped = 0;
    for run_id in runs {
        let free: bool = sqlx::query_scalar(TRY_LOCK)
            .bind(run_lock(run_id))
            .fetch_one(&mut lock)
            .await
            .context("probing a run lock")?;
        if free {
            dropped += drop_staging(&mut conn, run_id).await?;
            sqlx::query(UNLOCK).bind(run_lock(run_id)).execute(&mut lock).await.context("releasing a run lock")?;
        }
    }
    Ok(dropped)
}
