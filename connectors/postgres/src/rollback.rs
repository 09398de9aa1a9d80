//! `migrate rollback RUN_ID`: undo one published run, in one transaction
//! under the tenant role. Rows the run inserted are deleted (with their key
//! map entries, so a later run inserts them again); rows it updated get
//! their before-images back. Refused, with the reasons, when a later run
//! changed the same rows, or when someone edited a row in the platform since
//! the run (its digest differs from the run's after-image) unless forced.

use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::config::ConnectionConfig;
use crate::error::{Context, PgError};
use crate::fingerprint::{STABLE_TEXT, row_digest};
use crate::publish::nested_loops;
use crate::quote::{audited, quote_ident, quote_qualified};
use crate::sink::tenant_tx;

/// Every after-image, a row each (`run_id, entity, target_id, inserted,
/// deleted, row_hash`): those written a row each (links, deletions, runs
/// published before migration 0012) and those the write step packs
/// (`migrate.after_image_sets`). Conditions on `run_id` reach the index
/// of each.
const AFTER_IMAGES: &str = "(SELECT i.run_id, i.entity, i.target_id, i.inserted, i.deleted, i.row_hash
       FROM migrate.after_images i
     UNION ALL
     SELECT s.run_id, s.entity, u.target_id, s.inserted, false, u.row_hash::text
       FROM migrate.after_image_sets s CROSS JOIN LATERAL unnest(s.target_ids, s.row_hashes) AS u(target_id, row_hash))";

/// What a rollback did, per entity: rows removed and rows restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    pub entity: String,
    pub removed: u64,
    pub restored: u64,
    /// For an incremental source's mark (`entity` names it): the mark in
    /// force again, `None` when the run stored the first one.
    pub mark: Option<Option<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error(transparent)]
    Db(#[from] PgError),
    #[error("run {run_id} is not in this org's ledger")]
    Unknown { run_id: Uuid },
    #[error("run {run_id} is {status}: only a succeeded run can be rolled back")]
    NotPublished { run_id: Uuid, status: String },
    #[error(
        "later runs changed rows of run {run_id}: {}; roll those back first (newest first), or all of them with --chain",
        later.join(", ")
    )]
    LaterRuns { run_id: Uuid, later: Vec<String> },
    #[error(
        "{} row(s) were edited in the platform after run {run_id} (e.g. {}); rolling back would overwrite those edits: use --force to roll back anyway",
        edited.len(),
        edited.iter().take(5).map(|(e, id)| format!("{e} {id}")).collect::<Vec<_>>().join(", ")
    )]
    EditedSince { run_id: Uuid, edited: Vec<(String, Uuid)> },
}

/// The columns of a table other than `id` and `org_id`.
async fn columns(conn: &mut sqlx::PgConnection, entity: &str) -> Result<Vec<String>, PgError> {
    let rows = sqlx::query(
        "SELECT a.attname::text FROM pg_attribute a
          WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attname NOT IN ('id', 'org_id') ORDER BY a.attnum",
    )
    .bind(quote_qualified("public", entity))
    .fetch_all(&mut *conn)
    .await
    .context(format!("reading the columns of {entity}"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Rolls back `run_id` or, with `chain`, every later run that built on it
/// and then `run_id`, newest first, all in one transaction. Returns what
/// was undone, per run, in the order it was undone.
pub async fn rollback_run(
    config: &ConnectionConfig,
    org_id: Uuid,
    run_id: Uuid,
    force: bool,
    chain: bool,
) -> Result<Vec<(Uuid, Vec<RolledBack>)>, RollbackError> {
    let mut conn = config.connect().await?;
    let mut tx = tenant_tx(&mut conn, org_id).await?;
    // Digests compare in the forms the publishing run used.
    sqlx::raw_sql(STABLE_TEXT).execute(&mut *tx).await.context("fixing text forms")?;
    // A run's after-images are read whole, often before autovacuum has
    // analyzed them: with statistics of an empty table the planner chose
    // nested loops, and rolling back a million-row run was still comparing
    // digests after five minutes (bench/RESULTS.md, 2026-12-06).
    nested_loops(&mut tx, false).await?;
    let runs = if chain { chain_of(&mut tx, run_id).await? } else { vec![run_id] };
    let mut done = Vec::new();
    for run in runs {
        done.push((run, rollback_one(&mut tx, run, force).await?));
    }
    tx.commit().await.context("committing the rollback")?;
    Ok(done)
}

/// `run_id` and the later succeeded runs that built on it: runs of the same
/// source system (their links and keys rest on it) and runs that changed
/// rows it wrote, and so on from those; newest first, `run_id` last.
async fn chain_of(tx: &mut PgConnection, run_id: Uuid) -> Result<Vec<Uuid>, RollbackError> {
    let run = sqlx::query("SELECT source_system, started_at FROM migrate.runs WHERE run_id = $1")
        .bind(run_id)
        .fetch_optional(&mut *tx)
        .await
        .context("reading the run")?
        .ok_or(RollbackError::Unknown { run_id })?;
    let source_system: String = run.get(0);
    let started: chrono::DateTime<chrono::Utc> = run.get(1);
    let runs: Vec<Uuid> = sqlx::query_scalar(audited(format!(
        "WITH RECURSIVE chain(run_id) AS (
             SELECT $1::uuid
             UNION
             SELECT r.run_id FROM migrate.runs r, chain c
              WHERE r.status = 'succeeded' AND r.started_at > $2
                AND (r.source_system = $3
                     OR EXISTS (SELECT 1 FROM {AFTER_IMAGES} l JOIN {AFTER_IMAGES} m
                                    ON m.entity = l.entity AND m.target_id = l.target_id
                                 WHERE l.run_id = r.run_id AND m.run_id = c.run_id)))
         SELECT c.run_id FROM chain c JOIN migrate.runs r ON r.run_id = c.run_id
          ORDER BY (c.run_id = $1), r.started_at DESC",
    )))
    .bind(run_id)
    .bind(started)
    .bind(source_system)
    .fetch_all(&mut *tx)
    .await
    .context("finding the runs that built on this one")?;
    Ok(runs)
}

async fn rollback_one(tx: &mut PgConnection, run_id: Uuid, force: bool) -> Result<Vec<RolledBack>, RollbackError> {
    let run = sqlx::query(
        "SELECT status, source_system, entities, started_at FROM migrate.runs WHERE run_id = $1 FOR UPDATE",
    )
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await
    .context("reading the run")?
    .ok_or(RollbackError::Unknown { run_id })?;
    let status: String = run.get(0);
    if status != "succeeded" {
        return Err(RollbackError::NotPublished { run_id, status });
    }
    let entities: Vec<String> = run.get(2);
    let started: chrono::DateTime<chrono::Utc> = run.get(3);

    // Later runs that still stand and changed rows this run wrote.
    let later: Vec<(Uuid, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(audited(format!(
        "SELECT DISTINCT r.run_id, r.started_at FROM migrate.runs r
           JOIN {AFTER_IMAGES} later ON later.run_id = r.run_id
           JOIN {AFTER_IMAGES} mine ON mine.run_id = $1
                AND mine.entity = later.entity AND mine.target_id = later.target_id
          WHERE r.run_id <> $1 AND r.status = 'succeeded' AND r.started_at > $2
          ORDER BY r.started_at DESC",
    )))
    .bind(run_id)
    .bind(started)
    .fetch_all(&mut *tx)
    .await
    .context("looking for later runs")?;
    // A later run that moved a mark this run stored read from it.
    let mut later = later;
    for run in crate::marks::moved_since(&mut *tx, run_id).await? {
        if !later.contains(&run) {
            later.push(run);
        }
    }
    if !later.is_empty() {
        let later =
            later.iter().map(|(id, at)| format!("{id} (started {})", at.format("%Y-%m-%d %H:%M:%S UTC"))).collect();
        return Err(RollbackError::LaterRuns { run_id, later });
    }

    let mut done = Vec::new();
    let mut edited: Vec<(String, Uuid)> = Vec::new();
    // Children before parents: the reverse of the plan's order.
    for entity in entities.iter().rev() {
        let target = quote_qualified("public", entity);
        // Rows whose current digest is not the one the run left.
        let changed: Vec<Uuid> = sqlx::query_scalar(audited(format!(
            "SELECT a.target_id FROM {AFTER_IMAGES} a
               LEFT JOIN {target} t ON t.id = a.target_id
              WHERE a.run_id = $1 AND a.entity = $2
                AND CASE WHEN a.deleted THEN t.id IS NOT NULL
                         ELSE t.id IS NULL OR {digest} <> a.row_hash END
              ORDER BY a.target_id",
            digest = row_digest("t"),
        )))
        .bind(run_id)
        .bind(entity)
        .fetch_all(&mut *tx)
        .await
        .context(format!("comparing {entity} with the run's after-images"))?;
        edited.extend(changed.into_iter().map(|id| (entity.clone(), id)));
    }
    if !edited.is_empty() && !force {
        return Err(RollbackError::EditedSince { run_id, edited });
    }
    for entity in entities.iter().rev() {
        let target = quote_qualified("public", entity);
        let removed = sqlx::query(audited(format!(
            "DELETE FROM {target} t USING {AFTER_IMAGES} a
              WHERE a.run_id = $1 AND a.entity = $2 AND a.inserted AND t.id = a.target_id"
        )))
        .bind(run_id)
        .bind(entity)
        .execute(&mut *tx)
        .await
        .context(format!("removing the rows the run inserted into {entity}"))?
        .rows_affected();
        sqlx::query(audited(format!(
            "DELETE FROM migrate.keys k USING {AFTER_IMAGES} a
              WHERE a.run_id = $1 AND a.entity = $2 AND a.inserted
                AND k.entity = $2 AND k.target_id = a.target_id AND k.first_run_id = $1",
        )))
        .bind(run_id)
        .bind(entity)
        .execute(&mut *tx)
        .await
        .context(format!("removing the key map entries of {entity}"))?;
        let cols = columns(&mut *tx, entity).await?;
        let restored = if cols.is_empty() {
            0
        } else {
            let set: Vec<String> = cols.iter().map(|c| format!("{0} = r.{0}", quote_ident(c))).collect();
            sqlx::query(audited(format!(
                "UPDATE {target} t SET {}
                   FROM migrate.before_images b, jsonb_populate_record(NULL::{target}, b.row_data) r
                  WHERE b.run_id = $1 AND b.entity = $2 AND t.id = b.target_id",
                set.join(", ")
            )))
            .bind(run_id)
            .bind(entity)
            .execute(&mut *tx)
            .await
            .context(format!("restoring the rows the run updated in {entity}"))?
            .rows_affected()
        };
        done.push(RolledBack { entity: entity.clone(), removed, restored, mark: None });
    }
    // Rows the run deleted (on_missing = "delete") come back whole, parents
    // before children.
    done.reverse();
    for (entity, rolled) in entities.iter().zip(done.iter_mut()) {
        let target = quote_qualified("public", entity);
        let undeleted = sqlx::query(audited(format!(
            "INSERT INTO {target}
             SELECT (jsonb_populate_record(NULL::{target}, b.row_data)).*
               FROM migrate.before_images b
               JOIN {AFTER_IMAGES} a ON a.run_id = b.run_id AND a.entity = b.entity
                                          AND a.target_id = b.target_id AND a.deleted
              WHERE b.run_id = $1 AND b.entity = $2
             ON CONFLICT (id) DO NOTHING"
        )))
        .bind(run_id)
        .bind(entity)
        .execute(&mut *tx)
        .await
        .context(format!("restoring the rows the run deleted from {entity}"))?
        .rows_affected();
        rolled.restored += undeleted;
    }
    // Links the run recorded in entity_links (link columns with a relation).
    let links = sqlx::query(audited(format!(
        "DELETE FROM public.entity_links t USING {AFTER_IMAGES} a
          WHERE a.run_id = $1 AND a.entity = 'entity_links' AND a.inserted AND t.id = a.target_id",
    )))
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .context("removing the links the run recorded")?
    .rows_affected();
    if links > 0 {
        done.push(RolledBack { entity: "entity_links".into(), removed: links, restored: 0, mark: None });
    }
    // The marks it moved go back: the next delta reads its changes again.
    for (source, mark) in crate::marks::restore(&mut *tx, run_id).await? {
        done.push(RolledBack { entity: format!("mark of source {source}"), removed: 0, restored: 0, mark: Some(mark) });
    }
    sqlx::query("UPDATE migrate.runs SET status = 'rolled_back' WHERE run_id = $1")
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .context("marking the run rolled back")?;
    Ok(done)
}
