//! Column fingerprints: order-independent aggregates of a column over a
//! set of rows (count of values, an exact sum of a 64-bit hash of each
//! value's text, and for numbers and dates their sum or range). Measured
//! over what a run publishes (the rows as they will be, in the publishing
//! transaction) and over what the target holds for those rows afterwards,
//! so that a value changed on the way, or after the load, shows up in its
//! own column.

use migrate_engine::{ColumnCheck, Fingerprint};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::{Context, PgError};
use crate::quote::{audited, quote_ident, quote_qualified};

/// Which aggregates a column gets, from its type's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Numeric,
    Temporal,
    Json,
    Text,
}

impl Kind {
    pub(crate) fn of(category: &str, is_json: bool) -> Self {
        match (category, is_json) {
            (_, true) => Kind::Json,
            ("N", _) => Kind::Numeric,
            ("D", _) => Kind::Temporal,
            _ => Kind::Text,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Numeric => "numeric",
            Kind::Temporal => "temporal",
            Kind::Json => "json",
            Kind::Text => "text",
        }
    }

    pub(crate) fn parse(name: &str) -> Self {
        match name {
            "numeric" => Kind::Numeric,
            "temporal" => Kind::Temporal,
            "json" => Kind::Json,
            _ => Kind::Text,
        }
    }
}

/// Text forms that do not depend on the session.
pub(crate) const STABLE_TEXT: &str =
    "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1";

/// The after-image digest of the row `alias` (a table alias): the 64-bit
/// hash PostgreSQL computes from each column's own hash function, so it
/// does not depend on the session's text settings. It costs a tenth of
/// the MD5 of the row's JSON form (0.5 s against 6.4 s a million contacts
/// on the benchmark machine). Every column type of a platform table must
/// have a hash function; `schema_apply.rs` checks that they do.
pub(crate) fn row_digest(alias: &str) -> String {
    format!("{}::text", row_hash(alias))
}

/// The digest as the bigint it is, as packed after-images keep it.
pub(crate) fn row_hash(alias: &str) -> String {
    format!("hash_record_extended({alias}, 0)")
}

/// The hash sum adds the 64-bit hashes as `bigint`: PostgreSQL sums them
/// exactly in a 128-bit accumulator and returns `numeric`, the same value
/// as summing them cast to `numeric` (what stored fingerprints were taken
/// with), without casting each hash to `numeric` (7.4 s against 9.6 s for
/// the two measurements of a million contacts, bench/RESULTS.md
/// 2026-12-02).
fn aggregates(alias: &str, column: &str, kind: Kind) -> Vec<String> {
    let c = format!("{alias}.{}", quote_ident(column));
    let mut out = vec![format!("count({c})"), format!("coalesce(sum(hashtextextended({c}::text, 0)), 0)::text")];
    match kind {
        Kind::Numeric => {
            out.push(format!("sum({c})::text"));
            out.push(format!("min({c})::text"));
            out.push(format!("max({c})::text"));
        }
        Kind::Temporal => {
            out.push("NULL::text".to_string());
            out.push(format!("min({c})::text"));
            out.push(format!("max({c})::text"));
        }
        Kind::Json | Kind::Text => out.extend(["NULL::text"; 3].map(String::from)),
    }
    out
}

/// Fingerprints of `columns` over `FROM {from}` (rows aliased `r`).
pub(crate) async fn measure(
    conn: &mut PgConnection,
    from: &str,
    columns: &[(String, Kind)],
    binds: Option<(Uuid, &str, &str, Uuid)>,
) -> Result<Vec<Fingerprint>, PgError> {
    let mut select = vec!["count(*)".to_string()];
    for (name, kind) in columns {
        select.extend(aggregates("r", name, *kind));
    }
    let mut query = sqlx::query(audited(format!("SELECT {} FROM {from}", select.join(", "))));
    if let Some((org, system, entity, run)) = binds {
        query = query.bind(org).bind(system).bind(entity).bind(run);
    }
    let row = query.fetch_one(&mut *conn).await.context("measuring column fingerprints")?;
    let rows: i64 = row.get(0);
    let mut out = Vec::new();
    for i in 0..columns.len() {
        let at = 1 + i * 5;
        let non_null: i64 = row.get(at);
        out.push(Fingerprint {
            rows: u64::try_from(rows).unwrap_or(0),
            non_null: u64::try_from(non_null).unwrap_or(0),
            hash: row.get(at + 1),
            sum: row.get(at + 2),
            min: row.get(at + 3),
            max: row.get(at + 4),
        });
    }
    Ok(out)
}

/// The target rows a run published for an entity: the org's rows reached
/// through the key map entries the run last wrote.
pub(crate) fn target_rows(entity: &str) -> String {
    // A row several keys name (a survivor of dedupe) counts once.
    format!(
        "{} r WHERE r.id IN (SELECT k.target_id FROM migrate.keys k
                              WHERE k.org_id = $1 AND k.source_system = $2 AND k.entity = $3 AND k.last_run_id = $4)",
        quote_qualified("public", entity)
    )
}

/// The published side (rows `r` of the publish table) beside the target.
pub(crate) fn compare(
    columns: &[(String, Kind)],
    published: Vec<Fingerprint>,
    target: Vec<Fingerprint>,
) -> Vec<ColumnCheck> {
    columns
        .iter()
        .zip(published.into_iter().zip(target))
        .map(|((name, kind), (published, target))| ColumnCheck {
            column: name.clone(),
            kind: kind.name().to_string(),
            matches: published == target,
            published,
            target,
        })
        .collect()
}

/// One entity of `verify_run`: the checks, and which run they are of.
#[derive(Debug, Clone)]
pub struct Verified {
    pub entity: String,
    /// The run whose rows were measured: the asked one, or the later run
    /// that now holds its rows.
    pub run_id: Uuid,
    /// When the asked run's rows were re-loaded by a later run: that run's
    /// id and when it finished; the checks are then that run's.
    pub superseded_by: Option<(Uuid, Option<chrono::DateTime<chrono::Utc>>)>,
    /// Rows of the asked run that no later run re-loaded.
    pub still_its_own: u64,
    pub checks: Vec<ColumnCheck>,
}

/// Measures again, now, what the target holds for the rows a finished run
/// published, against the fingerprints its report recorded.
///
/// A later run of the same source system that read the same keys (an
/// unchanged re-run, a fresh export) takes those rows over in the key map:
/// the asked run then no longer names them, and comparing its fingerprints
/// with nothing would claim every column differs. So when fewer of its
/// rows are still its own than it published, the check is of the latest
/// succeeded run of that source system that loaded the entity, against the
/// fingerprints that run's own report (kept in the ledger) recorded.
pub async fn verify_run(
    config: &crate::ConnectionConfig,
    org_id: Uuid,
    run_id: Uuid,
    entities: &[(String, Vec<ColumnCheck>)],
) -> Result<Vec<Verified>, PgError> {
    let mut conn = config.connect().await?;
    let mut tx = crate::sink::tenant_tx(&mut conn, org_id).await?;
    sqlx::raw_sql(STABLE_TEXT).execute(&mut *tx).await.context("fixing text forms")?;
    let run: Option<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT source_system, started_at FROM migrate.runs WHERE run_id = $1 AND status = 'succeeded'")
            .bind(run_id)
            .fetch_optional(&mut *tx)
            .await
            .context("reading the run")?;
    let (source_system, started_at) = run.ok_or_else(|| {
        PgError::Config(format!("run {run_id} of org {org_id} is not a succeeded run in this database"))
    })?;
    let mut out = Vec::new();
    for (entity, checks) in entities {
        let published_rows = checks.first().map_or(0, |c| c.published.rows);
        let still: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT target_id) FROM migrate.keys
              WHERE org_id = $1 AND source_system = $2 AND entity = $3 AND last_run_id = $4",
        )
        .bind(org_id)
        .bind(&source_system)
        .bind(entity)
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .context("counting the run's rows")?;
        let still = u64::try_from(still).unwrap_or(0);
        let later = if still < published_rows {
            later_run(&mut tx, org_id, &source_system, entity, started_at, run_id).await?
        } else {
            None
        };
        let (measured_run, recorded, superseded_by) = match later {
            Some((later_id, finished, later_checks)) => (later_id, later_checks, Some((later_id, finished))),
            None => (run_id, checks.clone(), None),
        };
        let columns: Vec<(String, Kind)> = recorded.iter().map(|c| (c.column.clone(), Kind::parse(&c.kind))).collect();
        let now =
            measure(&mut tx, &target_rows(entity), &columns, Some((org_id, &source_system, entity, measured_run)))
                .await?;
        let published = recorded.iter().map(|c| c.published.clone()).collect();
        out.push(Verified {
            entity: entity.clone(),
            run_id: measured_run,
            superseded_by,
            still_its_own: still,
            checks: compare(&columns, published, now),
        });
    }
    tx.rollback().await.context("ending the check")?;
    Ok(out)
}

/// The latest succeeded run of the source system after `started_at` that
/// published `entity` with fingerprints: its id, when it finished, and the
/// fingerprints its report recorded.
async fn later_run(
    tx: &mut PgConnection,
    org_id: Uuid,
    source_system: &str,
    entity: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    run_id: Uuid,
) -> Result<Option<(Uuid, Option<chrono::DateTime<chrono::Utc>>, Vec<ColumnCheck>)>, PgError> {
    let rows: Vec<(Uuid, Option<chrono::DateTime<chrono::Utc>>, Option<serde_json::Value>)> = sqlx::query_as(
        "SELECT run_id, finished_at, report FROM migrate.runs
          WHERE org_id = $1 AND source_system = $2 AND status = 'succeeded' AND $3 = ANY (entities)
            AND started_at >= $4 AND run_id <> $5
          ORDER BY started_at DESC",
    )
    .bind(org_id)
    .bind(source_system)
    .bind(entity)
    .bind(started_at)
    .bind(run_id)
    .fetch_all(&mut *tx)
    .await
    .context("finding the run that re-loaded its rows")?;
    for (id, finished, report) in rows {
        let Some(report) = report.and_then(|r| serde_json::from_value::<migrate_engine::RunReport>(r).ok()) else {
            continue;
        };
        if let Some(e) = report.entities.into_iter().find(|e| e.entity == entity && !e.fingerprints.is_empty()) {
            return Ok(Some((id, finished, e.fingerprints)));
        }
    }
    Ok(None)
}
