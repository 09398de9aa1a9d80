//! The PostgreSQL `Sink`: stage everything, publish once.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use migrate_engine::{
    EntityPlan, MappedBatch, OnMissing, PublishedEntity, RunEvents, RunPlan, RunReport, RunStatus, Sink, SinkError,
    StageRejection,
};
use sqlx::{Connection, PgConnection, Row};
use uuid::Uuid;

use crate::config::{ConnectionConfig, TENANT_ROLE};
use crate::copy::{RowIds, stage_batch, stage_seen, stage_seen_keys};
use crate::error::{Context, PgError};
use crate::fingerprint::{Kind, STABLE_TEXT, compare, measure, target_rows};
use crate::ledger::{drop_staging, mark_interrupted_runs};
use crate::locks::{LOCK, TRY_LOCK, entity_lock, publish_lock, run_lock};
use crate::publish::{RunIds, Staged, StagedTable, TargetColumn, missing_rows, nested_loops, publish_entity};
use crate::quote::audited;
use crate::quote::{quote_ident, quote_qualified};
use crate::staged_dedupe::StagedDedupe;
use crate::staged_keys::StagedKeys;

pub struct PgSink {
    config: ConnectionConfig,
    active: Option<Active>,
}

struct Active {
    run_id: Uuid,
    org_id: Uuid,
    source_system: String,
    /// Holds the run's session advisory locks for as long as it lives.
    lock: PgConnection,
    /// Stages and publishes; its session runs as the tenant role.
    conn: PgConnection,
    tables: Vec<StagedTable>,
    copy_statements: Vec<String>,
    /// Per table: the keys staged, while this process stages them all.
    keys: Vec<StagedKeys>,
    /// Per table: dedupe's groups, where staging can decide them.
    dedupes: Vec<Option<StagedDedupe>>,
    /// The ids staged rows take if their keys are new.
    ids: RowIds,
}

impl PgSink {
    pub fn new(config: ConnectionConfig) -> Self {
        Self { config, active: None }
    }

    /// Holds a begun or joined run. Staging COPYs run as the tenant role
    /// too: it owns the staging tables.
    async fn activate(
        &mut self,
        run_id: Uuid,
        plan: &RunPlan,
        lock: PgConnection,
        mut conn: PgConnection,
        tables: Vec<StagedTable>,
        copy_statements: Vec<String>,
    ) -> Result<(), SinkError> {
        sqlx::query(audited(format!("SET ROLE {}", quote_ident(TENANT_ROLE))))
            .execute(&mut conn)
            .await
            .context("switching to the tenant role")?;
        self.active = Some(Active {
            run_id,
            org_id: plan.org_id,
            source_system: plan.source_system.clone(),
            lock,
            conn,
            keys: tables.iter().map(|_| StagedKeys::new(false)).collect(),
            dedupes: tables.iter().map(|_| None).collect(),
            ids: RowIds::new(chrono::Utc::now().timestamp_millis()),
            tables,
            copy_statements,
        });
        Ok(())
    }

    fn active(&mut self) -> Result<&mut Active, SinkError> {
        self.active.as_mut().ok_or_else(|| SinkError::Database {
            context: "postgres sink".to_string(),
            message: "used before begin()".to_string(),
        })
    }
}

/// Starts a transaction as the tenant role with the org set: RLS sees it.
pub(crate) async fn tenant_tx(
    conn: &mut PgConnection,
    org_id: Uuid,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, PgError> {
    let mut tx = conn.begin().await.context("starting a transaction")?;
    sqlx::query(audited(format!("SET LOCAL ROLE {}", quote_ident(TENANT_ROLE))))
        .execute(&mut *tx)
        .await
        .context(format!("switching to role {TENANT_ROLE} (is the connecting user a member?)"))?;
    sqlx::query("SELECT set_config('app.current_org_id', $1, true)")
        .bind(org_id.to_string())
        .execute(&mut *tx)
        .await
        .context("setting the org")?;
    Ok(tx)
}

/// The run's ledger row, with the status it starts in.
async fn record_run(tx: &mut PgConnection, run_id: Uuid, plan: &RunPlan, status: &str) -> Result<(), PgError> {
    let entities: Vec<String> = plan.entities.iter().map(|e| e.entity.clone()).collect();
    sqlx::query(
        "INSERT INTO migrate.runs (run_id, org_id, source_system, mapping_name, mapping_sha256, status, entities)
         VALUES ($1, $2, $3, $4, '', $5, $6)",
    )
    .bind(run_id)
    .bind(plan.org_id)
    .bind(&plan.source_system)
    .bind(&plan.name)
    .bind(status)
    .bind(&entities)
    .execute(&mut *tx)
    .await
    .context("recording the run")?;
    Ok(())
}

/// Releases the run's session locks, then closes their connection. They
/// are released first, and waited for: a closed connection's backend lets
/// them go only when it has exited, and a run started right after (`migrate
/// sync`'s next batch) would find them still held. A failure changes
/// nothing: the server drops them with the connection.
async fn release_locks(mut lock: PgConnection) {
    let _ = sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut lock).await;
    let _ = lock.close().await;
}

fn not_in_run(entity: &EntityPlan) -> SinkError {
    SinkError::Database {
        context: "staging".to_string(),
        message: format!("{} is not part of this run", entity.entity),
    }
}

/// The staging column holding the legacy key a link column names.
pub(crate) fn link_column(target: &str) -> String {
    format!("_link_{target}")
}

pub(crate) fn stage_table_name(run_id: Uuid, entity: &str) -> String {
    format!("stage_{}_{entity}", run_id.simple())
}

/// Beside each staging table: the keys of source rows the run saw but did
/// not stage (rejected, dropped as duplicates, orphans), for `on_missing`.
pub(crate) fn seen_table_name(run_id: Uuid, entity: &str) -> String {
    format!("{}_seen", stage_table_name(run_id, entity))
}

/// (name, is jsonb, DEFAULT expression, type category) of each column.
type CatalogColumn = (String, bool, Option<String>, String);

async fn target_columns(conn: &mut PgConnection, entity: &str) -> Result<Vec<CatalogColumn>, PgError> {
    let rows = sqlx::query(
        "SELECT a.attname::text, a.atttypid = 'jsonb'::regtype, pg_get_expr(d.adbin, d.adrelid), t.typcategory::text
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         JOIN pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(quote_qualified("public", entity))
    .fetch_all(&mut *conn)
    .await
    .context(format!("reading the columns of {entity} (has `migrate schema apply` run?)"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}

/// The staging table of each entity of a run (created when `create`), and
/// the COPY statement that fills it.
async fn staging(
    tx: &mut PgConnection,
    run_id: Uuid,
    plan: &RunPlan,
    create: bool,
) -> Result<(Vec<StagedTable>, Vec<String>), PgError> {
    let mut tables = Vec::new();
    let mut copy_statements = Vec::new();
    for entity in &plan.entities {
        let catalog = target_columns(&mut *tx, &entity.entity).await?;
        let stage = stage_table_name(run_id, &entity.entity);
        let qstage = quote_qualified("migrate", &stage);
        let mut ddl = format!(
            "CREATE UNLOGGED TABLE {qstage} (LIKE {} INCLUDING CONSTRAINTS);
                 ALTER TABLE {qstage} ALTER COLUMN id DROP NOT NULL",
            quote_qualified("public", &entity.entity)
        );
        for (name, _, default, _) in &catalog {
            if default.is_some() {
                ddl.push_str(&format!(", ALTER COLUMN {} DROP NOT NULL", quote_ident(name)));
            }
        }
        ddl.push_str(
            ", ADD COLUMN _seq bigint NOT NULL, ADD COLUMN _source_key text NOT NULL, ADD COLUMN _location text NOT NULL",
        );
        // A link column stages the legacy key it names; publishing resolves it.
        for c in entity.columns.iter().filter(|c| c.link.is_some()) {
            ddl.push_str(&format!(
                ", ALTER COLUMN {} DROP NOT NULL, ADD COLUMN {} text",
                quote_ident(&c.target),
                quote_ident(&link_column(&c.target))
            ));
        }
        let seen = seen_table_name(run_id, &entity.entity);
        ddl.push_str(&format!(
            ";\nCREATE UNLOGGED TABLE {} (_seq bigint NOT NULL, _source_key text NOT NULL, _deleted boolean NOT NULL DEFAULT false)",
            quote_qualified("migrate", &seen)
        ));
        if create {
            sqlx::raw_sql(audited(ddl))
                .execute(&mut *tx)
                .await
                .context(format!("creating staging for {}", entity.entity))?;
        }
        let columns: Vec<TargetColumn> = entity
            .target_columns()
            .iter()
            .map(|name| {
                let (is_json, default, category) = catalog
                    .iter()
                    .find(|(n, _, _, _)| n == name)
                    .map(|(_, j, d, c)| (*j, d.clone(), c.clone()))
                    .unwrap_or((false, None, String::new()));
                let link = entity.columns.iter().find(|c| c.target == *name).and_then(|c| c.link.clone());
                let is_text = category == "S" && !is_json;
                TargetColumn {
                    name: name.to_string(),
                    is_json,
                    default,
                    kind: Kind::of(&category, is_json),
                    is_text,
                    link,
                }
            })
            .collect();
        let mut list = vec![quote_ident("org_id"), quote_ident("id")];
        list.extend(columns.iter().map(|c| match c.link {
            Some(_) => quote_ident(&link_column(&c.name)),
            None => quote_ident(&c.name),
        }));
        list.extend(["_seq", "_source_key", "_location"].map(quote_ident));
        copy_statements.push(format!("COPY {qstage} ({}) FROM STDIN", list.join(", ")));
        tables.push(StagedTable {
            entity: entity.entity.clone(),
            stage,
            seen,
            columns,
            on_existing: entity.on_existing,
            on_missing: entity.on_missing,
            max_deleted: entity.max_deleted,
            similar: entity.similar.clone(),
            dedupe: entity.dedupe.clone(),
            match_existing: entity.match_existing.clone(),
            window: None,
        });
    }
    Ok((tables, copy_statements))
}

#[async_trait]
impl Sink for PgSink {
    async fn begin(&mut self, run_id: Uuid, plan: &RunPlan) -> Result<(), SinkError> {
        let mut lock = self.config.connect().await?;
        for entity in &plan.entities {
            let key = entity_lock(plan.org_id, &plan.source_system, &entity.entity);
            let free: bool =
                sqlx::query_scalar(TRY_LOCK).bind(&key).fetch_one(&mut lock).await.context("taking the entity lock")?;
            if !free {
                return Err(SinkError::Busy {
                    what: format!("{} of org {} from {}", entity.entity, plan.org_id, plan.source_system),
                });
            }
        }
        sqlx::query(TRY_LOCK).bind(run_lock(run_id)).execute(&mut lock).await.context("taking the run lock")?;

        let mut conn = self.config.connect().await?;
        mark_interrupted_runs(&mut conn, &mut lock, plan.org_id, &plan.source_system).await?;

        let mut tx = tenant_tx(&mut conn, plan.org_id).await?;
        record_run(&mut tx, run_id, plan, "running").await?;

        let (tables, copy_statements) = staging(&mut tx, run_id, plan, true).await?;
        tx.commit().await.context("committing the run's start")?;
        self.activate(run_id, plan, lock, conn, tables, copy_statements).await?;
        // This process stages every row of the run, so it sees every key.
        let active = self.active()?;
        active.keys = active.tables.iter().map(|_| StagedKeys::new(true)).collect();
        active.dedupes = active.tables.iter().map(|t| StagedDedupe::new(true, t.dedupe.as_ref(), &t.columns)).collect();
        Ok(())
    }

    async fn stage(&mut self, entity: &EntityPlan, batch: &MappedBatch) -> Result<Vec<StageRejection>, SinkError> {
        let active = self.active()?;
        let index =
            active.tables.iter().position(|t| t.entity == entity.entity).ok_or_else(|| SinkError::Database {
                context: "staging".to_string(),
                message: format!("{} is not part of this run", entity.entity),
            })?;
        let (Some(table), Some(statement)) = (active.tables.get(index), active.copy_statements.get(index)) else {
            return Ok(Vec::new());
        };
        let columns: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        let org = active.org_id.to_string();
        let seen = quote_qualified("migrate", &table.seen);
        let rejections = stage_batch(&mut active.conn, statement, &org, &active.ids, &columns, batch).await?;
        // Rejections are in row order.
        let staged: Vec<usize> = {
            let mut refused = rejections.iter().map(|r| r.row).peekable();
            (0..batch.height()).filter(|row| refused.next_if_eq(row).is_none()).collect()
        };
        if let Some(keys) = active.keys.get_mut(index) {
            keys.add(staged.iter().filter_map(|row| batch.keys.get(*row).map(String::as_str)));
        }
        if let Some(Some(dedupe)) = active.dedupes.get_mut(index) {
            dedupe.add(&mut active.conn, batch, &staged).await?;
        }
        // The source still has the rows it refused: remember their keys.
        let refused = rejections.iter().filter_map(|r| Some((*batch.seqs.get(r.row)?, batch.keys.get(r.row)?.clone())));
        let keys: Vec<(u64, String)> = batch.rejected_keys.iter().cloned().chain(refused).collect();
        stage_seen(&mut active.conn, &seen, &keys).await?;
        Ok(rejections)
    }

    async fn publish(
        &mut self,
        commit: bool,
        cancel: &AtomicBool,
        events: &mut dyn RunEvents,
    ) -> Result<Vec<PublishedEntity>, SinkError> {
        let active = self.active()?;
        let ids = RunIds { run_id: active.run_id, org_id: active.org_id, source_system: &active.source_system };
        // Held until the lock connection closes (finish or abandon).
        sqlx::query(LOCK)
            .bind(publish_lock(active.org_id))
            .execute(&mut active.lock)
            .await
            .context("waiting for the org's publish lock")?;
        let mut tx = tenant_tx(&mut active.conn, active.org_id).await?;
        // After-image digests and fingerprints are taken in these forms.
        sqlx::raw_sql(STABLE_TEXT).execute(&mut *tx).await.context("fixing text forms")?;
        let mut published = Vec::new();
        let mut fingerprints = Vec::new();
        for ((table, keys), dedupe) in active.tables.iter().zip(&mut active.keys).zip(&mut active.dedupes) {
            let staged = Staged { keys_distinct: keys.all_distinct(), pairs: dedupe.as_mut().and_then(|d| d.pairs()) };
            let (entity, measured) = publish_entity(&mut tx, &ids, table, staged, events).await?;
            published.push(entity);
            fingerprints.push(measured);
        }
        // Rows gone from the source, children before parents.
        for (table, entity) in active.tables.iter().zip(&mut published).rev() {
            // A delta read only what changed: a row it did not read is not
            // gone, unless a key scan or a soft-delete column says so.
            if table.on_missing != OnMissing::Keep
                && table.deletes() != migrate_engine::incremental::DeleteCheck::NotChecked
            {
                let missing = missing_rows(&mut tx, &ids, table, entity.target_count, events).await?;
                entity.target_count = entity.target_count.saturating_sub(missing.deleted);
                entity.org_total = entity.org_total.saturating_sub(missing.deleted);
                entity.missing = Some(missing);
            }
        }
        if cancel.load(Ordering::Relaxed) {
            tx.rollback().await.context("rolling back a cancelled publish")?;
            return Err(SinkError::Cancelled);
        }
        if commit {
            // Marks move with the rows they cover, or not at all.
            let mut marked: Vec<&str> = Vec::new();
            for (source, window) in active.tables.iter().filter_map(|t| t.window.as_ref()) {
                if !marked.contains(&source.as_str()) {
                    marked.push(source);
                    crate::marks::store(&mut tx, &ids, source, window).await?;
                }
            }
            sqlx::query("UPDATE migrate.runs SET status = 'succeeded', finished_at = now() WHERE run_id = $1")
                .bind(active.run_id)
                .execute(&mut *tx)
                .await
                .context("marking the run succeeded")?;
            drop_staging(&mut tx, active.run_id).await?;
            tx.commit().await.context("committing the publish")?;
            // Measured, not assumed: what the target holds now, in a
            // transaction of its own, against what was published.
            let mut tx = tenant_tx(&mut active.conn, active.org_id).await?;
            sqlx::raw_sql(STABLE_TEXT).execute(&mut *tx).await.context("fixing text forms")?;
            // Whole key maps are read: hash joins, whatever the (not yet
            // updated) statistics say, with room for the run's keys.
            nested_loops(&mut tx, false).await?;
            crate::publish::hash_work_mem(&mut tx).await?;
            for ((table, entity), measured) in active.tables.iter().zip(&mut published).zip(fingerprints) {
                let columns = table.fingerprinted();
                let binds = (active.org_id, active.source_system.as_str(), table.entity.as_str(), active.run_id);
                let now = measure(&mut tx, &target_rows(&table.entity), &columns, Some(binds)).await?;
                entity.fingerprints = compare(&columns, measured, now);
            }
            tx.rollback().await.context("ending the measurement")?;
        } else {
            tx.rollback().await.context("rolling back a dry run")?;
        }
        Ok(published)
    }

    async fn abandon(&mut self, status: RunStatus, reason: &str) -> Result<(), SinkError> {
        let Some(mut active) = self.active.take() else { return Ok(()) };
        let mut tx = tenant_tx(&mut active.conn, active.org_id).await?;
        sqlx::query("UPDATE migrate.runs SET status = $2, error = $3, finished_at = now() WHERE run_id = $1")
            .bind(active.run_id)
            .bind(status.as_str())
            .bind(reason)
            .execute(&mut *tx)
            .await
            .context("recording the run's end")?;
        drop_staging(&mut tx, active.run_id).await?;
        tx.commit().await.context("committing the run's end")?;
        release_locks(active.lock).await;
        Ok(())
    }

    async fn prepare(&mut self, run_id: Uuid, plan: &RunPlan) -> Result<(), SinkError> {
        let mut conn = self.config.connect().await?;
        let mut tx = tenant_tx(&mut conn, plan.org_id).await?;
        // 'staging': no process holds the run; its partitions' jobs do.
        record_run(&mut tx, run_id, plan, "staging").await?;
        staging(&mut tx, run_id, plan, true).await?;
        tx.commit().await.context("committing the partitioned run's start")?;
        let _ = conn.close().await;
        Ok(())
    }

    async fn attach(&mut self, run_id: Uuid, plan: &RunPlan, seqs: std::ops::Range<u64>) -> Result<(), SinkError> {
        let lock = self.config.connect().await?;
        let mut conn = self.config.connect().await?;
        let mut tx = tenant_tx(&mut conn, plan.org_id).await?;
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM migrate.runs WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading the partitioned run")?;
        if status.as_deref() != Some("staging") {
            return Err(SinkError::Database {
                context: format!("joining run {run_id}"),
                message: format!(
                    "not a partitioned run being staged (status {})",
                    status.as_deref().unwrap_or("unknown: no such run for this org")
                ),
            });
        }
        let (tables, copy_statements) = staging(&mut tx, run_id, plan, false).await?;
        if !seqs.is_empty() {
            for table in &tables {
                for name in [&table.stage, &table.seen] {
                    sqlx::query(audited(format!(
                        "DELETE FROM {} WHERE _seq >= $1 AND _seq < $2",
                        quote_qualified("migrate", name)
                    )))
                    .bind(i64::try_from(seqs.start).unwrap_or(i64::MAX))
                    .bind(i64::try_from(seqs.end).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .context("removing a retried partition's rows")?;
                }
            }
        }
        tx.commit().await.context("joining the partitioned run")?;
        self.activate(run_id, plan, lock, conn, tables, copy_statements).await
    }

    async fn detach(&mut self) -> Result<(), SinkError> {
        if let Some(active) = self.active.take() {
            let _ = active.conn.close().await;
            release_locks(active.lock).await;
        }
        Ok(())
    }

    async fn mark(&mut self, source: &str) -> Result<Option<migrate_engine::Mark>, SinkError> {
        let active = self.active()?;
        let (org_id, source_system) = (active.org_id, active.source_system.clone());
        let mut tx = tenant_tx(&mut active.conn, org_id).await?;
        let mark = crate::marks::load(&mut tx, &source_system, source).await?;
        tx.commit().await.context("reading the mark")?;
        Ok(mark)
    }

    async fn window(
        &mut self,
        entity: &EntityPlan,
        source: &str,
        window: &migrate_engine::Window,
    ) -> Result<(), SinkError> {
        let active = self.active()?;
        let table = active.tables.iter_mut().find(|t| t.entity == entity.entity).ok_or_else(|| not_in_run(entity))?;
        table.window = Some((source.to_string(), window.clone()));
        Ok(())
    }

    async fn reconcile(&mut self) -> Result<Vec<migrate_engine::cutover::Reconciled>, SinkError> {
        let active = self.active()?;
        let ids = RunIds { run_id: active.run_id, org_id: active.org_id, source_system: &active.source_system };
        let mut tx = tenant_tx(&mut active.conn, active.org_id).await?;
        sqlx::raw_sql(STABLE_TEXT).execute(&mut *tx).await.context("fixing text forms")?;
        let mut found = Vec::new();
        for table in &active.tables {
            found.push(crate::reconcile::reconcile_entity(&mut tx, &ids, table).await?);
        }
        tx.rollback().await.context("ending the comparison")?;
        Ok(found)
    }

    async fn seen_keys(&mut self, entity: &EntityPlan, keys: &[String], deleted: bool) -> Result<(), SinkError> {
        let active = self.active()?;
        let table = active.tables.iter().find(|t| t.entity == entity.entity).ok_or_else(|| not_in_run(entity))?;
        let seen = quote_qualified("migrate", &table.seen);
        stage_seen_keys(&mut active.conn, &seen, keys, deleted).await?;
        Ok(())
    }

    async fn finish(&mut self, report: &RunReport) -> Result<(), SinkError> {
        let Some(mut active) = self.active.take() else { return Ok(()) };
        let json = serde_json::to_value(report)
            .map_err(|e| SinkError::Database { context: "storing the report".to_string(), message: e.to_string() })?;
        let mut tx = tenant_tx(&mut active.conn, active.org_id).await?;
        sqlx::query(
            "UPDATE migrate.runs SET status = $2, report = $3, mapping_sha256 = $4, finished_at = coalesce(finished_at, now())
             WHERE run_id = $1",
        )
        .bind(active.run_id)
        .bind(report.status.as_str())
        .bind(json)
        .bind(&report.mapping.sha256)
        .execute(&mut *tx)
        .await
        .context("storing the report")?;
        // A dry run rolled back its publish: its staging is still there.
        drop_staging(&mut tx, active.run_id).await?;
        tx.commit().await.context("committing the report")?;
        release_locks(active.lock).await;
        Ok(())
    }
}
