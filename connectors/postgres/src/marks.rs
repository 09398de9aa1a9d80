//! Marks of incremental sources (`migrate.marks`): read when a run begins,
//! stored in the publishing transaction, put back by a rollback.

use migrate_engine::{Mark, Window};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::{Context, PgError};
use crate::publish::RunIds;

/// The mark of `source`, in a transaction of the tenant's org.
pub(crate) async fn load(tx: &mut PgConnection, source_system: &str, source: &str) -> Result<Option<Mark>, PgError> {
    let row = sqlx::query(
        "SELECT cursor_column, mark, deltas_since_scan FROM migrate.marks
          WHERE org_id = NULLIF(current_setting('app.current_org_id', true), '')::uuid
            AND source_system = $1 AND source = $2",
    )
    .bind(source_system)
    .bind(source)
    .fetch_optional(&mut *tx)
    .await
    .context(format!("reading the mark of source {source} (has `migrate schema apply` run?)"))?;
    Ok(row.map(|r| Mark {
        cursor: r.get(0),
        value: r.get(1),
        deltas_since_scan: u32::try_from(r.get::<i32, _>(2)).unwrap_or(0),
    }))
}

/// Stores the mark a published read leaves (the previous one when the
/// source had no rows), keeping the one it replaces for rollback.
pub(crate) async fn store(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    source: &str,
    window: &Window,
) -> Result<(), PgError> {
    let Some(mark) = window.mark.as_ref().or(window.previous_mark.as_ref()) else { return Ok(()) };
    let since = i32::try_from(window.deltas_since_scan).unwrap_or(i32::MAX);
    sqlx::query(
        "INSERT INTO migrate.mark_history (run_id, org_id, source_system, source, cursor_column, mark,
                                           previous_cursor, previous_mark, previous_deltas, previous_run_id)
         SELECT $1, $2, $3, $4, $5, $6, p.cursor_column, p.mark, p.deltas_since_scan, p.run_id
           FROM (SELECT 1) one
           LEFT JOIN migrate.marks p ON p.org_id = $2 AND p.source_system = $3 AND p.source = $4",
    )
    .bind(ids.run_id)
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(source)
    .bind(&window.cursor)
    .bind(mark)
    .execute(&mut *tx)
    .await
    .context(format!("keeping the previous mark of source {source}"))?;
    sqlx::query(
        "INSERT INTO migrate.marks (org_id, source_system, source, cursor_column, mark, deltas_since_scan, run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (org_id, source_system, source) DO UPDATE
            SET cursor_column = excluded.cursor_column, mark = excluded.mark,
                deltas_since_scan = excluded.deltas_since_scan, run_id = excluded.run_id, updated_at = now()",
    )
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(source)
    .bind(&window.cursor)
    .bind(mark)
    .bind(since)
    .bind(ids.run_id)
    .execute(&mut *tx)
    .await
    .context(format!("storing the mark of source {source}"))?;
    Ok(())
}

/// Later runs that still stand and moved a mark `run_id` stored: they read
/// from it, so they are rolled back first.
pub(crate) async fn moved_since(
    tx: &mut PgConnection,
    run_id: Uuid,
) -> Result<Vec<(Uuid, chrono::DateTime<chrono::Utc>)>, PgError> {
    sqlx::query_as(
        "SELECT DISTINCT r.run_id, r.started_at FROM migrate.mark_history h
           JOIN migrate.marks m ON m.org_id = h.org_id AND m.source_system = h.source_system AND m.source = h.source
           JOIN migrate.runs r ON r.run_id = m.run_id
          WHERE h.run_id = $1 AND m.run_id <> $1 AND r.status = 'succeeded'
          ORDER BY r.started_at DESC",
    )
    .bind(run_id)
    .fetch_all(&mut *tx)
    .await
    .context("looking for later runs that moved this run's marks")
}

/// Puts back the marks `run_id` replaced (removes those it stored first).
/// Returns (source, the mark now in force, if any).
pub(crate) async fn restore(tx: &mut PgConnection, run_id: Uuid) -> Result<Vec<(String, Option<String>)>, PgError> {
    let restored: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT source, previous_mark FROM migrate.mark_history WHERE run_id = $1 ORDER BY source")
            .bind(run_id)
            .fetch_all(&mut *tx)
            .await
            .context("reading the marks the run stored")?;
    sqlx::query(
        "DELETE FROM migrate.marks m USING migrate.mark_history h
          WHERE h.run_id = $1 AND h.previous_mark IS NULL AND m.run_id = $1
            AND m.org_id = h.org_id AND m.source_system = h.source_system AND m.source = h.source",
    )
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .context("removing the marks the run stored")?;
    sqlx::query(
        "UPDATE migrate.marks m
            SET cursor_column = h.previous_cursor, mark = h.previous_mark, deltas_since_scan = h.previous_deltas,
                run_id = h.previous_run_id, updated_at = now()
           FROM migrate.mark_history h
          WHERE h.run_id = $1 AND h.previous_mark IS NOT NULL AND m.run_id = $1
            AND m.org_id = h.org_id AND m.source_system = h.source_system AND m.source = h.source",
    )
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .context("putting back the marks the run replaced")?;
    Ok(restored)
}

/// Every mark of the org: (source system, source, cursor, mark, run, when).
pub type MarkRow = (String, String, String, String, Uuid, chrono::DateTime<chrono::Utc>);

/// The org's marks, for `migrate runs marks`.
pub async fn list_marks(config: &crate::ConnectionConfig, org_id: Uuid) -> Result<Vec<MarkRow>, PgError> {
    let mut conn = config.connect().await?;
    let mut tx = crate::sink::tenant_tx(&mut conn, org_id).await?;
    let rows = sqlx::query_as(
        "SELECT source_system, source, cursor_column, mark, run_id, updated_at FROM migrate.marks
          ORDER BY source_system, source",
    )
    .fetch_all(&mut *tx)
    .await
    .context("reading the marks (has `migrate schema apply` run?)")?;
    tx.rollback().await.context("ending the read")?;
    Ok(rows)
}
