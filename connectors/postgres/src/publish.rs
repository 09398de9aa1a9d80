//! Publishing one entity inside the run's publishing transaction: drop
//! duplicate source keys (the last staged wins), resolve ids through the key
//! map, keep before-images of rows about to change, upsert, count.

use futures_util::TryStreamExt;
use migrate_engine::incremental::DeleteCheck;
use migrate_engine::{
    Dedupe, DuplicateRow, Fingerprint, Keep, Link, MissingCounts, MissingRow, OnExisting, OnMissing, Orphan, Orphans,
    PublishedEntity, RejectBudget, RunEvents, Similar, SimilarPair,
};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::{Context, PgError};
use crate::fingerprint::{Kind, measure, row_digest, row_hash};
use crate::quote::audited;
use crate::quote::{quote_ident, quote_literal, quote_qualified};

/// A target column as the database describes it.
#[derive(Debug, Clone)]
pub(crate) struct TargetColumn {
    pub name: String,
    pub is_json: bool,
    /// The column's DEFAULT expression, from the catalog.
    pub default: Option<String>,
    /// Which fingerprint aggregates apply.
    pub kind: Kind,
    /// A string type (text, varchar): its `::text` is the staged value.
    pub is_text: bool,
    /// Set for a link column: the entity it points at, and orphan handling.
    pub link: Option<Link>,
}

/// What publishing needs to know of one staged entity.
#[derive(Debug, Clone)]
pub(crate) struct StagedTable {
    pub entity: String,
    pub stage: String,
    /// Keys of source rows seen but not staged (see `seen_table_name`).
    pub seen: String,
    /// The mapped columns, in COPY order.
    pub columns: Vec<TargetColumn>,
    pub on_existing: OnExisting,
    pub dedupe: Option<Dedupe>,
    pub match_existing: Vec<String>,
    pub on_missing: OnMissing,
    pub max_deleted: RejectBudget,
    pub similar: Option<Similar>,
    /// An incremental source's read: (source name, window).
    pub window: Option<(String, migrate_engine::Window)>,
}

impl StagedTable {
    /// How this run looks for rows gone from the source: every key
    /// (a full read or a key scan), only keys the source marks deleted,
    /// or not at all (a delta without a key scan).
    pub fn deletes(&self) -> DeleteCheck {
        self.window.as_ref().map_or(DeleteCheck::FullRead, |(_, w)| w.deletes)
    }
}

/// What staging learnt of an entity's rows, so that publishing can skip
/// work.
pub(crate) struct Staged {
    /// Every staged key is known distinct (see `staged_keys`).
    pub keys_distinct: bool,
    /// Dedupe's pairs (dropped row, survivor) by sequence number, where
    /// staging decided them (see `staged_dedupe`).
    pub pairs: Option<Vec<(u64, u64)>>,
}

pub(crate) struct RunIds<'a> {
    pub run_id: Uuid,
    pub org_id: Uuid,
    pub source_system: &'a str,
}

/// Publishes one entity; returns its counts and the fingerprints of what it
/// published (the target side is measured after the commit).
///
/// The load path, one statement or one pass per step; README "How a run
/// loads" has the steps with their cost on the benchmark.
pub(crate) async fn publish_entity(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    staged: &StagedTable,
    from_staging: Staged,
    events: &mut dyn RunEvents,
) -> Result<(PublishedEntity, Vec<Fingerprint>), PgError> {
    let entity = staged.entity.as_str();
    let mut step = Step::new(entity);

    analyze_staging(tx, staged).await?;
    give_every_row_an_id(tx, staged).await?;
    step.done("staging analyzed");

    let dups = if from_staging.keys_distinct {
        step.done("no source key staged twice (known from staging)");
        0
    } else {
        let dups = drop_duplicate_keys(tx, staged, events).await?;
        step.done(format!("{dups} duplicate source keys dropped"));
        dups
    };

    let (orphans, unlinked) = resolve_links(tx, ids, staged).await?;
    if staged.columns.iter().any(|c| c.link.is_some()) {
        step.done(format!("links resolved: {} orphans set aside, {} left unlinked", orphans.len(), unlinked.len()));
    }

    let stage = quote_qualified("migrate", &staged.stage);
    // Staging's pairs hold while no staged row has gone since.
    let pairs = from_staging.pairs.filter(|_| dups == 0 && orphans.is_empty());
    let (deduped, grouped) = match &staged.dedupe {
        Some(rule) => dedupe(tx, &stage, staged, rule, pairs, events).await?,
        None => (0, Grouped::InSql),
    };
    let similar_pairs = match &staged.similar {
        Some(rule) => Some(flag_similar(tx, &stage, staged, rule, events).await?),
        None => None,
    };
    if staged.dedupe.is_some() || staged.similar.is_some() {
        step.done(format!(
            "dedupe ({}): {deduped} rows merged into a survivor, {} similar pairs flagged",
            grouped.as_str(),
            similar_pairs.unwrap_or(0)
        ));
    }

    let matched = match_existing(tx, ids, staged).await?;
    if !staged.match_existing.is_empty() {
        step.done(format!("match_existing: {} new keys matched to rows the org has", matched.len()));
    }

    // No key was pointed at an existing row by match_existing: with no key
    // known either, every key takes its row's staged id (step 0).
    let staged_ids = matched.is_empty();
    let stamped = write_key_map(tx, ids, staged, deduped > 0, staged_ids).await?;
    step.done(format!("key map written ({stamped} keys known from earlier runs)"));

    // No key of this run names a row the target had: every row is new.
    let all_new = staged_ids && stamped == 0 && rows_as_staged(staged);
    let survivors = if all_new {
        view_new_rows(tx, staged).await?;
        step.done("every key new: the rows are read from staging as they are");
        None
    } else {
        let survivors = resolve_rows(tx, ids, staged).await?;
        step.done("ids resolved");
        Some(survivors)
    };

    let changes = changed_rows(staged).filter(|_| !all_new);
    if let Some(changes) = &changes {
        let rows =
            format!("_migrate_publish n JOIN {} e ON e.id = n.id WHERE {changes}", quote_qualified("public", entity));
        keep_before_images(tx, ids, entity, &rows).await?;
    }
    let (inserted, _) = write_rows(tx, ids, staged, "NOT _migrate_existed", None).await?;
    // A first load has no existing row to upsert.
    let (reinserted, updated) = if all_new {
        (0, 0)
    } else {
        let conflict = match changes {
            None => "DO NOTHING".to_string(),
            Some(_) => {
                let cols = quoted_columns(staged);
                let set: Vec<String> = cols.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
                let (t, excluded) = (tuple(&cols, "t"), tuple(&cols, "EXCLUDED"));
                format!("DO UPDATE SET {} WHERE {t} IS DISTINCT FROM {excluded}", set.join(", "))
            }
        };
        write_rows(tx, ids, staged, "_migrate_existed", Some(&conflict)).await?
    };
    let inserted = inserted + reinserted;
    let survivors = survivors.unwrap_or(inserted);
    step.done(format!("{inserted} inserted, {updated} updated, {} unchanged", survivors - inserted - updated));

    let links_created = record_links(tx, ids, staged).await?;
    let published = measure(&mut *tx, "_migrate_publish r", &staged.fingerprinted(), None).await?;
    let drop = if all_new { "DROP VIEW _migrate_publish" } else { "DROP TABLE _migrate_publish" };
    sqlx::query(drop).execute(&mut *tx).await.context("dropping the publish table")?;
    step.done("fingerprints of the published rows taken");

    let (target_count, org_total) = count_target(tx, ids, entity).await?;
    step.done(format!("{target_count} in target through the key map, {org_total} in the org"));

    let to_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
    let unchanged = to_u64(survivors - inserted - updated);
    let entity = PublishedEntity {
        entity: entity.to_string(),
        duplicates: dups + deduped,
        inserted: to_u64(inserted),
        updated: to_u64(updated),
        unchanged,
        skipped: if staged.on_existing == OnExisting::Skip { unchanged } else { 0 },
        missing: None,
        similar_pairs,
        links_created,
        target_count: to_u64(target_count),
        org_total: to_u64(org_total),
        fingerprints: Vec::new(),
        orphans,
        unlinked,
        matched,
    };
    Ok((entity, published))
}

/// Step 0: statistics of the staged rows, so that the planner sizes the
/// steps below by what was staged: without them it guessed from the
/// table's size, and ran dedupe's window serially (5.0 s against 3.3 s a
/// million rows, ANALYZE itself 0.5 s). The tenant role owns its staging
/// tables, so it may analyze them.
async fn analyze_staging(tx: &mut PgConnection, staged: &StagedTable) -> Result<(), PgError> {
    for table in [&staged.stage, &staged.seen] {
        sqlx::query(audited(format!("ANALYZE {}", quote_qualified("migrate", table))))
            .execute(&mut *tx)
            .await
            .context(format!("analyzing the staged rows of {}", staged.entity))?;
    }
    Ok(())
}

/// Step 0, after the statistics: a staged row without an id (one staged
/// by an earlier version's partition of a split run; none otherwise) gets
/// `migrate.ordered_uuid`'s, so that steps 3, 5 and 6 may take each row's
/// id from staging, in split runs too. One scan of the staged rows, about
/// 0.1 s a million.
async fn give_every_row_an_id(tx: &mut PgConnection, staged: &StagedTable) -> Result<(), PgError> {
    let stage = quote_qualified("migrate", &staged.stage);
    sqlx::query(audited(format!("UPDATE {stage} SET id = migrate.ordered_uuid($1, _seq) WHERE id IS NULL")))
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&mut *tx)
        .await
        .context(format!("giving staged {} rows their ids", staged.entity))?;
    Ok(())
}

/// Step 1: a source key staged more than once keeps its last row; each
/// dropped row is reported with its survivor. Only keys staged more than
/// once are sorted (a hash aggregate finds them), not every staged row.
/// Skipped when staging saw every key and no two alike (see
/// `staged_keys`): 1.6 s a million rows.
async fn drop_duplicate_keys(
    tx: &mut PgConnection,
    staged: &StagedTable,
    events: &mut dyn RunEvents,
) -> Result<u64, PgError> {
    let stage = quote_qualified("migrate", &staged.stage);
    let entity = staged.entity.as_str();
    let dups = report_duplicates(
        &mut *tx,
        sqlx::query(audited(format!(
            "SELECT _source_key, _location, survivor FROM (
             SELECT _source_key, _location,
                    first_value(_location) OVER w AS survivor,
                    row_number() OVER w AS rn
             FROM {stage}
             WHERE _source_key IN (SELECT _source_key FROM {stage} GROUP BY _source_key HAVING count(*) > 1)
             WINDOW w AS (PARTITION BY _source_key ORDER BY _seq DESC)) d
         WHERE rn > 1 ORDER BY _source_key, _location"
        ))),
        events,
        entity,
        format!("finding duplicate keys of {entity}"),
    )
    .await?;
    if dups > 0 {
        sqlx::query(audited(format!(
            "DELETE FROM {stage} s USING {stage} w WHERE w._source_key = s._source_key AND w._seq > s._seq"
        )))
        .execute(&mut *tx)
        .await
        .context(format!("dropping duplicate keys of {entity}"))?;
    }
    Ok(dups)
}

/// Step 2: links naming a key no run of this source system loaded (nor
/// this entity's own staging, for a link to the same entity). With
/// `orphans = "reject"` their rows are set aside (remembered as seen);
/// otherwise they are loaded with the link empty. Returns (set aside,
/// left unlinked).
async fn resolve_links(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    staged: &StagedTable,
) -> Result<(Vec<Orphan>, Vec<Orphan>), PgError> {
    let stage = quote_qualified("migrate", &staged.stage);
    let entity = staged.entity.as_str();
    let mut orphans = Vec::new();
    let mut unlinked = Vec::new();
    for column in &staged.columns {
        let Some(link) = &column.link else { continue };
        let staged_key = quote_ident(&crate::sink::link_column(&column.name));
        let same = if link.entity == entity {
            format!(" AND NOT EXISTS (SELECT 1 FROM {stage} s2 WHERE s2._source_key = s.{staged_key})")
        } else {
            String::new()
        };
        let unknown = format!(
            "s.{staged_key} IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM migrate.keys k WHERE k.org_id = $1 AND k.source_system = $2
                             AND k.entity = $3 AND k.source_key = s.{staged_key}){same}"
        );
        let rows = sqlx::query(audited(format!(
            "SELECT s._source_key, s._location, s.{staged_key} FROM {stage} s WHERE {unknown} ORDER BY s._seq"
        )))
        .bind(ids.org_id)
        .bind(ids.source_system)
        .bind(&link.entity)
        .fetch_all(&mut *tx)
        .await
        .context(format!("resolving {entity}.{} links", column.name))?;
        let found: Vec<Orphan> = rows
            .iter()
            .map(|r| Orphan {
                source_key: r.get(0),
                location: r.get(1),
                value: r.get(2),
                column: column.name.clone(),
                entity: link.entity.clone(),
            })
            .collect();
        if link.orphans == Orphans::Reject && !found.is_empty() {
            let seen = quote_qualified("migrate", &staged.seen);
            sqlx::query(audited(format!(
                "WITH gone AS (DELETE FROM {stage} s WHERE {unknown} RETURNING s._seq, s._source_key)
                 INSERT INTO {seen} (_seq, _source_key) SELECT _seq, _source_key FROM gone"
            )))
            .bind(ids.org_id)
            .bind(ids.source_system)
            .bind(&link.entity)
            .execute(&mut *tx)
            .await
            .context(format!("setting aside {entity} rows with unknown links"))?;
            orphans.extend(found);
        } else {
            unlinked.extend(found);
        }
    }
    Ok((orphans, unlinked))
}

/// Step 4: new keys whose values match a row the org already has map to
/// that row, not a copy. Each existing row matches one staged row at most,
/// and never a row this source system already maps. Returns each matched
/// key with the values it matched on.
async fn match_existing(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    staged: &StagedTable,
) -> Result<Vec<(String, String)>, PgError> {
    if staged.match_existing.is_empty() {
        return Ok(Vec::new());
    }
    let stage = quote_qualified("migrate", &staged.stage);
    let target = quote_qualified("public", &staged.entity);
    let on: Vec<String> =
        staged.match_existing.iter().map(|c| format!("{} = {}", folded("t", c), folded("s", c))).collect();
    let shown: Vec<String> = staged
        .match_existing
        .iter()
        .map(|c| format!("{} || coalesce({}::text, '')", quote_literal(&format!("{c}=")), value_of("s", c)))
        .collect();
    let rows = sqlx::query(audited(format!(
        "WITH candidates AS (
             SELECT DISTINCT ON (s._source_key) s._source_key, s._seq, t.id, {shown} AS matched_on
               FROM {stage} s JOIN {target} t ON {on}
              WHERE NOT EXISTS (SELECT 1 FROM migrate.keys k WHERE k.org_id = $1 AND k.source_system = $2
                                  AND k.entity = $3 AND k.source_key = s._source_key)
                AND NOT EXISTS (SELECT 1 FROM migrate.keys k WHERE k.org_id = $1 AND k.source_system = $2
                                  AND k.entity = $3 AND k.target_id = t.id)
              ORDER BY s._source_key, t.created_at, t.id),
         chosen AS (SELECT DISTINCT ON (id) _source_key, id, matched_on FROM candidates ORDER BY id, _seq)
         INSERT INTO migrate.keys (org_id, source_system, entity, source_key, target_id, first_run_id, last_run_id)
         SELECT $1, $2, $3, c._source_key, c.id, $4, $4 FROM chosen c
         ON CONFLICT DO NOTHING
         RETURNING source_key, (SELECT matched_on FROM chosen WHERE chosen._source_key = source_key)",
        shown = shown.join(" || ' ' || "),
        on = on.join(" AND "),
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(&staged.entity)
    .bind(ids.run_id)
    .fetch_all(&mut *tx)
    .await
    .context(format!("matching {} rows the org already has", staged.entity))?;
    Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1).unwrap_or_default())).collect())
}

/// Step 5: the key map. Keys seen before are stamped with this run, and
/// every other key gets the id staged with its row, ordered as the rows
/// were read (see `copy::RowIds`, and step 0 for a row staged without
/// one); a dropped duplicate's key (dedupe) names its survivor's row, so a
/// later run updates that row and links to either key land on it.
///
/// Two statements instead of one upsert: the org's publish lock keeps other
/// runs out, staging holds each key once, and a plain insert skips the
/// upsert's per-row conflict probe (19 s against 11 s a million new keys on
/// the benchmark machine). Both join the key map while writing it, so
/// without nested loops (see `nested_loops`): for a key map analyzed while
/// empty (a fresh org, or one whose first run was interrupted and rolled
/// back) the planner picks a nested loop that rescans every key the
/// statement has written so far, for each staged row: quadratic, still
/// running after 12 minutes at 1M rows.
///
/// `staged_ids`: match_existing pointed no key at an existing row, so
/// when no key was known either, every key takes its row's staged id (step
/// 0 gave each row one) and a survivor's id is the one dedupe recorded
/// beside it.
/// Returns how many staged keys were known from earlier runs.
async fn write_key_map(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    staged: &StagedTable,
    deduped: bool,
    staged_ids: bool,
) -> Result<u64, PgError> {
    let stage = quote_qualified("migrate", &staged.stage);
    let entity = staged.entity.as_str();
    nested_loops(tx, false).await?;
    let stamped = sqlx::query(audited(format!(
        "UPDATE migrate.keys k SET last_run_id = $4 FROM {stage} s
          WHERE k.org_id = $1 AND k.source_system = $2 AND k.entity = $3 AND k.source_key = s._source_key"
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(entity)
    .bind(ids.run_id)
    .execute(&mut *tx)
    .await
    .context(format!("stamping the known keys of {entity}"))?
    .rows_affected();
    sqlx::query(audited(format!(
        "INSERT INTO migrate.keys (org_id, source_system, entity, source_key, target_id, first_run_id, last_run_id)
         SELECT $1, $2, $3, s._source_key, s.id, $4, $4 FROM {stage} s
          WHERE NOT EXISTS (SELECT 1 FROM migrate.keys k WHERE k.org_id = $1 AND k.source_system = $2
                              AND k.entity = $3 AND k.source_key = s._source_key)"
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(entity)
    .bind(ids.run_id)
    .execute(&mut *tx)
    .await
    .context(format!("adding the new keys of {entity}"))?;
    if deduped {
        // When every survivor's key is new with its staged id, a dropped
        // row's key takes its survivor's id as dedupe recorded it, without
        // reading the key map back (1.0 s for 50,000 duplicates among a
        // million keys: a hash of every key of the org).
        let (survivor_id, from) = if stamped == 0 && staged_ids {
            ("x.survivor_id", "_migrate_dedupe x")
        } else {
            (
                "k.target_id",
                "_migrate_dedupe x
               JOIN migrate.keys k ON k.org_id = $1 AND k.source_system = $2 AND k.entity = $3
                                  AND k.source_key = x.survivor_key",
            )
        };
        sqlx::query(audited(format!(
            "INSERT INTO migrate.keys (org_id, source_system, entity, source_key, target_id, first_run_id, last_run_id)
             SELECT $1, $2, $3, x._source_key, {survivor_id}, $4, $4 FROM {from}
              WHERE x.rank > 1
             ON CONFLICT (org_id, source_system, entity, source_key) DO NOTHING"
        )))
        .bind(ids.org_id)
        .bind(ids.source_system)
        .bind(entity)
        .bind(ids.run_id)
        .execute(&mut *tx)
        .await
        .context(format!("mapping {entity}'s dropped duplicates to their survivors"))?;
        sqlx::query("DROP TABLE _migrate_dedupe").execute(&mut *tx).await.context("dropping the dedupe table")?;
    }
    nested_loops(tx, true).await?;
    Ok(stamped)
}

/// Whether step 6 may read the staged rows as they are when every key is
/// new: no column is a link (resolved through other key maps, with bound
/// values) and every default a mapped column falls back on gives the same
/// value each time it is evaluated in the transaction (a constant or the
/// transaction's time), since the rows are then computed once to write
/// them and once to fingerprint them.
fn rows_as_staged(staged: &StagedTable) -> bool {
    staged.columns.iter().all(|c| c.link.is_none() && c.default.as_deref().is_none_or(stable_default))
}

/// A default that is a constant or the transaction's time.
fn stable_default(expr: &str) -> bool {
    let expr = expr.trim();
    let constant = |e: &str| {
        let e = e.strip_prefix('(').and_then(|e| e.strip_suffix(')')).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    };
    let literal = |e: &str| {
        // 'text'::type, where the text has no quote of its own.
        e.strip_prefix('\'').and_then(|rest| rest.split_once("'::")).is_some_and(|(text, ty)| {
            !text.contains('\'') && ty.chars().all(|c| c.is_ascii_alphanumeric() || " _[]".contains(c))
        })
    };
    matches!(expr, "now()" | "CURRENT_TIMESTAMP" | "CURRENT_DATE" | "true" | "false") || constant(expr) || literal(expr)
}

/// Step 6, when no key of this run was known before it (a first load, or
/// one whose earlier rows are all gone from the key map): `_migrate_publish`
/// is a view of the staged rows with their staged ids, as `resolve_rows`
/// would compute them against no existing row, instead of a table joined
/// through the key map (2.3–3.2 s a million contacts). Before-images and
/// the upsert of existing rows are skipped: none exist.
async fn view_new_rows(tx: &mut PgConnection, staged: &StagedTable) -> Result<(), PgError> {
    let stage = quote_qualified("migrate", &staged.stage);
    let target = quote_qualified("public", &staged.entity);
    let on_existing = if staged.on_existing == OnExisting::Skip { OnExisting::Update } else { staged.on_existing };
    let select: Vec<String> =
        staged.columns.iter().map(|c| format!("{} AS {}", new_value(c, on_existing), quote_ident(&c.name))).collect();
    // `e` is the existing row new_value refers to: none, so a join on false.
    sqlx::query(audited(format!(
        "CREATE TEMPORARY VIEW _migrate_publish AS
         SELECT s.id, false AS _migrate_existed{sep}{select}
           FROM {stage} s LEFT JOIN {target} e ON false",
        sep = if select.is_empty() { "" } else { ", " },
        select = select.join(", "),
    )))
    .execute(&mut *tx)
    .await
    .context(format!("reading {} as staged", staged.entity))?;
    Ok(())
}

/// Step 6: `_migrate_publish`, the rows as they will be (ids resolved
/// through the key map, links through the key maps of the entities they
/// name, `on_existing` applied to the row as it is), each flagged
/// `_migrate_existed` when the target has its id now. Returns how many.
async fn resolve_rows(tx: &mut PgConnection, ids: &RunIds<'_>, staged: &StagedTable) -> Result<i64, PgError> {
    let stage = quote_qualified("migrate", &staged.stage);
    let target = quote_qualified("public", &staged.entity);
    let cols = quoted_columns(staged);
    // Skipped existing rows keep their values: the rows as they will be.
    // A link is the key map's id for the legacy key it names ($4, $5, …
    // bind the entities linked to).
    let link_entities: Vec<&str> =
        staged.columns.iter().filter_map(|c| c.link.as_ref().map(|l: &Link| l.entity.as_str())).collect();
    let mut link_index = 3;
    let new_values: Vec<String> = staged
        .columns
        .iter()
        .map(|c| {
            let value = match &c.link {
                Some(_) => {
                    link_index += 1;
                    let resolved = format!(
                        "(SELECT k2.target_id FROM migrate.keys k2 WHERE k2.org_id = $1 AND k2.source_system = $2
                          AND k2.entity = ${link_index} AND k2.source_key = s.{})",
                        quote_ident(&crate::sink::link_column(&c.name))
                    );
                    match staged.on_existing {
                        OnExisting::FillMissing => format!("COALESCE(e.{}, {resolved})", quote_ident(&c.name)),
                        _ => resolved,
                    }
                }
                None => new_value(
                    c,
                    if staged.on_existing == OnExisting::Skip { OnExisting::Update } else { staged.on_existing },
                ),
            };
            match staged.on_existing {
                OnExisting::Skip => format!("CASE WHEN e.id IS NULL THEN {value} ELSE e.{} END", quote_ident(&c.name)),
                _ => value,
            }
        })
        .collect();
    let select_new: Vec<String> = new_values.iter().zip(&cols).map(|(v, c)| format!("{v} AS {c}")).collect();
    let query = sqlx::query(audited(format!(
        "CREATE TEMPORARY TABLE _migrate_publish ON COMMIT DROP AS
         SELECT k.target_id AS id, e.id IS NOT NULL AS _migrate_existed{sep}{select}
         FROM {stage} s
         JOIN migrate.keys k ON k.org_id = $1 AND k.source_system = $2 AND k.entity = $3 AND k.source_key = s._source_key
         LEFT JOIN {target} e ON e.id = k.target_id",
        sep = if cols.is_empty() { "" } else { ", " },
        select = select_new.join(", "),
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(&staged.entity);
    let query = link_entities.iter().fold(query, |q, e| q.bind(*e));
    let rows = query.execute(&mut *tx).await.context(format!("resolving ids of {}", staged.entity))?.rows_affected();
    Ok(i64::try_from(rows).unwrap_or(i64::MAX))
}

/// The mapped target columns, quoted, in staging order.
fn quoted_columns(staged: &StagedTable) -> Vec<String> {
    staged.columns.iter().map(|c| quote_ident(&c.name)).collect()
}

/// `(alias.c1, alias.c2, …)` over `cols`.
fn tuple(cols: &[String], alias: &str) -> String {
    format!("({})", cols.iter().map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", "))
}

/// Which existing rows (`e`, beside their new form `n`) this run changes:
/// none when it maps no column or skips existing rows.
fn changed_rows(staged: &StagedTable) -> Option<String> {
    let cols = quoted_columns(staged);
    if cols.is_empty() || staged.on_existing == OnExisting::Skip {
        return None;
    }
    Some(format!("{} IS DISTINCT FROM {}", tuple(&cols, "e"), tuple(&cols, "n")))
}

/// Step 9: what the tenant now sees, (rows of the source system's key map
/// in the target, rows of the org). Every row of the source system is
/// counted, so hash joins (see `nested_loops`).
async fn count_target(tx: &mut PgConnection, ids: &RunIds<'_>, entity: &str) -> Result<(i64, i64), PgError> {
    let target = quote_qualified("public", entity);
    nested_loops(tx, false).await?;
    let work_mem = hash_work_mem(tx).await?;
    let target_count: i64 = sqlx::query_scalar(audited(format!(
        "SELECT count(*) FROM {target} t
          WHERE t.id IN (SELECT k.target_id FROM migrate.keys k
                          WHERE k.org_id = $1 AND k.source_system = $2 AND k.entity = $3)"
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(entity)
    .fetch_one(&mut *tx)
    .await
    .context(format!("counting {entity} through the key map"))?;
    restore_work_mem(tx, &work_mem).await?;
    nested_loops(tx, true).await?;
    let org_total: i64 = sqlx::query_scalar(audited(format!("SELECT count(*) FROM {target}")))
        .fetch_one(&mut *tx)
        .await
        .context(format!("counting {entity}"))?;
    Ok((target_count, org_total))
}

/// The publish of one entity, step by step, for `--verbose` and `RUST_LOG`:
/// each line says what the step did and how long it took.
struct Step<'a> {
    entity: &'a str,
    since: std::time::Instant,
}

impl<'a> Step<'a> {
    fn new(entity: &'a str) -> Self {
        Self { entity, since: std::time::Instant::now() }
    }

    fn done(&mut self, what: impl std::fmt::Display) {
        tracing::info!("publish {}: {what} ({:.2} s)", self.entity, self.since.elapsed().as_secs_f64());
        self.since = std::time::Instant::now();
    }
}

/// Rows written per packed after-image row: 1 MiB of ids, half as much of
/// digests.
const PACKED: i64 = 65_536;

/// Step 7: writes the rows of `_migrate_publish` that `filter` selects into
/// the target, with an after-image digest of each row written (what lets
/// `rollback` refuse rows edited since): a plain insert without `conflict`,
/// an upsert with it (`ON CONFLICT (id) {conflict}`). Returns (inserted,
/// updated).
///
/// The after-images are packed, [`PACKED`] rows to a row of
/// `migrate.after_image_sets` (migration 0012): a row and an index entry
/// each cost 1.2-2.3 s more a million contacts.
///
/// Rows new to the target at step 6 are inserted plainly: an upsert's
/// speculative insertion and conflict probe per row cost a fifth of the
/// insert itself (32.4 s against 25.7 s a million contacts, machine
/// loaded). Rows that existed go through the upsert, so a row deleted in
/// the platform since step 6 is inserted again, not lost. Under the org's
/// publish lock no other run writes these ids.
async fn write_rows(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    staged: &StagedTable,
    filter: &str,
    conflict: Option<&str>,
) -> Result<(i64, i64), PgError> {
    let target = quote_qualified("public", &staged.entity);
    let cols = quoted_columns(staged);
    let sep = if cols.is_empty() { "" } else { ", " };
    let cols = cols.join(", ");
    let (on_conflict, inserted) = match conflict {
        Some(conflict) => (format!("ON CONFLICT (id) {conflict}"), "(xmax = 0)"),
        None => (String::new(), "true"),
    };
    let counts = sqlx::query(audited(format!(
        "WITH up AS (
             INSERT INTO {target} AS t (id, org_id{sep}{cols})
             SELECT id, $1{sep}{cols} FROM _migrate_publish WHERE {filter}
             {on_conflict}
             RETURNING t.id, {inserted} AS inserted, {digest} AS row_hash),
         images AS (
             INSERT INTO migrate.after_image_sets (run_id, org_id, entity, inserted, target_ids, row_hashes)
             SELECT $2, $1, $3, inserted, array_agg(id), array_agg(row_hash)
               FROM (SELECT id, inserted, row_hash, row_number() OVER () / {PACKED} AS pack FROM up) written
              GROUP BY inserted, pack)
         SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
        digest = row_hash("t"),
    )))
    .bind(ids.org_id)
    .bind(ids.run_id)
    .bind(&staged.entity)
    .fetch_one(&mut *tx)
    .await
    .context(format!("publishing {}", staged.entity))?;
    Ok((counts.get(0), counts.get(1)))
}

/// Step 8: link columns with a `relation` are also recorded in
/// `entity_links` (from this entity's row to the row it links to), each
/// link once: a link already there (from an earlier run) is left as it is.
/// The links this run adds get after-images, so a rollback removes them.
/// `None` when no column asks for it.
async fn record_links(tx: &mut PgConnection, ids: &RunIds<'_>, staged: &StagedTable) -> Result<Option<u64>, PgError> {
    let mut created: Option<u64> = None;
    for column in &staged.columns {
        let Some(link) = column.link.as_ref() else { continue };
        let Some(relation) = link.relation.as_deref() else { continue };
        let n: i64 = sqlx::query_scalar(audited(format!(
            "WITH added AS (
                 INSERT INTO public.entity_links AS l (org_id, from_entity, from_id, to_entity, to_id, relation)
                 SELECT $1, $3, n.id, $4, n.{col}, $5 FROM _migrate_publish n WHERE n.{col} IS NOT NULL
                 ON CONFLICT (org_id, from_entity, from_id, to_entity, to_id, relation) DO NOTHING
                 RETURNING l.id, {digest} AS row_hash),
             images AS (
                 INSERT INTO migrate.after_images (run_id, org_id, entity, target_id, inserted, row_hash)
                 SELECT $2, $1, 'entity_links', id, true, row_hash FROM added)
             SELECT count(*) FROM added",
            col = quote_ident(&column.name),
            digest = row_digest("l"),
        )))
        .bind(ids.org_id)
        .bind(ids.run_id)
        .bind(&staged.entity)
        .bind(&link.entity)
        .bind(relation)
        .fetch_one(&mut *tx)
        .await
        .context(format!("recording {}.{} in entity_links", staged.entity, column.name))?;
        *created.get_or_insert(0) += u64::try_from(n).unwrap_or(0);
    }
    Ok(created)
}

impl StagedTable {
    /// The columns a run's fingerprints cover: every mapped column.
    pub(crate) fn fingerprinted(&self) -> Vec<(String, Kind)> {
        self.columns.iter().map(|c| (c.name.clone(), c.kind)).collect()
    }
}

/// The value a column takes: `s` is the staged row, `e` the existing one
/// (all NULL for a new row).
fn new_value(column: &TargetColumn, on_existing: OnExisting) -> String {
    let c = quote_ident(&column.name);
    let fill = on_existing == OnExisting::FillMissing;
    match (&column.default, column.is_json, fill) {
        // JSON objects merge; on fill_missing the existing keys win.
        (_, true, false) => format!("COALESCE(e.{c}, '{{}}'::jsonb) || COALESCE(s.{c}, '{{}}'::jsonb)"),
        (_, true, true) => format!("COALESCE(s.{c}, '{{}}'::jsonb) || COALESCE(e.{c}, '{{}}'::jsonb)"),
        // An empty value never blanks a column that has a default.
        (Some(default), false, false) => format!("COALESCE(s.{c}, e.{c}, {default})"),
        (Some(default), false, true) => format!("COALESCE(e.{c}, s.{c}, {default})"),
        (None, false, false) => format!("s.{c}"),
        (None, false, true) => format!("COALESCE(e.{c}, s.{c})"),
    }
}

/// The staging column holding a target column's value.
fn staged_name(column: &TargetColumn) -> String {
    match column.link {
        Some(_) => crate::sink::link_column(&column.name),
        None => column.name.clone(),
    }
}

/// Step 3: finds the groups of rows that `rule` says are one record, keeps
/// one of each (filling its empty columns from the others when asked),
/// reports the rest as duplicates with their survivor, and leaves the pairs
/// in `_migrate_dedupe` for the key map: only the dropped rows, each with
/// its survivor (everything after uses only those). Returns how many rows
/// it dropped.
///
/// With `pairs` from staging the groups are already known: the pairs are
/// checked with `migrate.fold` and used when every one holds (1.2 s for
/// 50,000 pairs among a million staged rows); otherwise every staged row
/// is sorted by its folded values in a window (3.6-3.8 s).
async fn dedupe(
    tx: &mut PgConnection,
    stage: &str,
    staged: &StagedTable,
    rule: &Dedupe,
    pairs: Option<Vec<(u64, u64)>>,
    events: &mut dyn RunEvents,
) -> Result<(u64, Grouped), PgError> {
    let entity = staged.entity.as_str();
    let grouped = match pairs {
        Some(pairs) if groups_from_pairs(tx, stage, staged, rule, &pairs).await? => Grouped::WhileStaging,
        _ => {
            groups_in_window(tx, stage, staged, rule).await?;
            Grouped::InSql
        }
    };
    // Statistics of the dropped rows, so that the statements below hash
    // them, not every staged row (deleting 50,000 of a million staged
    // rows: 0.25 s against 0.50 s).
    sqlx::query("ANALYZE _migrate_dedupe").execute(&mut *tx).await.context("analyzing the duplicates")?;
    let dropped = report_duplicates(
        &mut *tx,
        sqlx::query(
            "SELECT _source_key, _location, survivor_location FROM _migrate_dedupe WHERE rank > 1 ORDER BY _seq",
        ),
        events,
        entity,
        format!("listing {entity} duplicates"),
    )
    .await?;
    if dropped == 0 {
        sqlx::query("DROP TABLE _migrate_dedupe").execute(&mut *tx).await.context("dropping the dedupe table")?;
        return Ok((0, grouped));
    }
    if rule.fill_missing {
        for c in &staged.columns {
            let col = quote_ident(&staged_name(c));
            sqlx::query(audited(format!(
                "UPDATE {stage} t SET {col} = (
                     SELECT d.{col} FROM {stage} d JOIN _migrate_dedupe x ON x._seq = d._seq
                      WHERE x.survivor_seq = t._seq AND d.{col} IS NOT NULL ORDER BY x.rank LIMIT 1)
                  WHERE t.{col} IS NULL
                    AND t._seq IN (SELECT survivor_seq FROM _migrate_dedupe WHERE rank > 1)"
            )))
            .execute(&mut *tx)
            .await
            .context(format!("filling {entity} survivors from their duplicates"))?;
        }
    }
    let seen = quote_qualified("migrate", &staged.seen);
    sqlx::query(audited(format!(
        "INSERT INTO {seen} (_seq, _source_key) SELECT _seq, _source_key FROM _migrate_dedupe WHERE rank > 1"
    )))
    .execute(&mut *tx)
    .await
    .context(format!("remembering {entity} duplicates' keys"))?;
    sqlx::query(audited(format!("DELETE FROM {stage} s USING _migrate_dedupe x WHERE x._seq = s._seq AND x.rank > 1")))
        .execute(&mut *tx)
        .await
        .context(format!("dropping {entity} duplicates"))?;
    Ok((dropped, grouped))
}

/// Where dedupe's groups were found, for `--verbose`.
#[derive(Debug, Clone, Copy)]
enum Grouped {
    WhileStaging,
    InSql,
}

impl Grouped {
    fn as_str(self) -> &'static str {
        match self {
            Grouped::WhileStaging => "grouped while staging",
            Grouped::InSql => "grouped in SQL",
        }
    }
}

/// `_migrate_dedupe` from every staged row: a window over the rows sorted
/// by their folded values, one group a record, ranked by `rule.keep`.
async fn groups_in_window(
    tx: &mut PgConnection,
    stage: &str,
    staged: &StagedTable,
    rule: &Dedupe,
) -> Result<(), PgError> {
    let keys: Vec<String> = rule.on.iter().map(|c| folded("s", c)).collect();
    let present = keys.iter().map(|k| format!("{k} IS NOT NULL")).collect::<Vec<_>>().join(" AND ");
    let base = rule.order_by.as_deref().map_or("s._seq".to_string(), |c| format!("s.{}", quote_ident(c)));
    let values: Vec<String> = staged.columns.iter().map(|c| format!("s.{}", quote_ident(&staged_name(c)))).collect();
    let order = match rule.keep {
        Keep::First => format!("{base} ASC NULLS LAST, s._seq ASC"),
        Keep::Last => format!("{base} DESC NULLS LAST, s._seq DESC"),
        Keep::MostComplete => {
            format!("num_nonnulls({}) DESC, {base} ASC NULLS LAST, s._seq ASC", values.join(", "))
        }
    };
    sqlx::query(audited(format!(
        "CREATE TEMPORARY TABLE _migrate_dedupe ON COMMIT DROP AS
         SELECT * FROM (
             SELECT s._seq, s._source_key, s._location,
                    first_value(s._seq) OVER w AS survivor_seq,
                    first_value(s._source_key) OVER w AS survivor_key,
                    first_value(s._location) OVER w AS survivor_location,
                    first_value(s.id) OVER w AS survivor_id,
                    row_number() OVER w AS rank
               FROM {stage} s WHERE {present}
             WINDOW w AS (PARTITION BY {} ORDER BY {order})) grouped
          WHERE rank > 1",
        keys.join(", ")
    )))
    .execute(&mut *tx)
    .await
    .context(format!("grouping {} duplicates", staged.entity))?;
    Ok(())
}

/// `_migrate_dedupe` from staging's pairs (dropped row, survivor), after
/// PostgreSQL has checked that each pair folds alike (`migrate.fold`) and
/// that every row is still staged. False, with nothing left behind, when
/// one pair does not hold: the window decides then.
async fn groups_from_pairs(
    tx: &mut PgConnection,
    stage: &str,
    staged: &StagedTable,
    rule: &Dedupe,
    pairs: &[(u64, u64)],
) -> Result<bool, PgError> {
    let entity = staged.entity.as_str();
    sqlx::query("CREATE TEMPORARY TABLE _migrate_dedupe_pairs (_seq bigint, survivor_seq bigint) ON COMMIT DROP")
        .execute(&mut *tx)
        .await
        .context("preparing dedupe's pairs")?;
    crate::copy::copy_pairs(&mut *tx, "_migrate_dedupe_pairs", pairs)
        .await
        .context(format!("sending {entity}'s duplicates found while staging"))?;
    // So the joins below hash the pairs, not the staged rows (2.5 s
    // against 1.9 s for 100,000 pairs in 1M staged rows).
    sqlx::query("ANALYZE _migrate_dedupe_pairs").execute(&mut *tx).await.context("analyzing dedupe's pairs")?;
    let same =
        rule.on.iter().map(|c| format!("{} = {}", folded("d", c), folded("v", c))).collect::<Vec<_>>().join(" AND ");
    sqlx::query(audited(format!(
        "CREATE TEMPORARY TABLE _migrate_dedupe ON COMMIT DROP AS
         SELECT d._seq, d._source_key, d._location, v._seq AS survivor_seq, v._source_key AS survivor_key,
                v._location AS survivor_location, v.id AS survivor_id, 2::bigint AS rank,
                coalesce({same}, false) AS same
           FROM _migrate_dedupe_pairs p
           JOIN {stage} d ON d._seq = p._seq
           JOIN {stage} v ON v._seq = p.survivor_seq"
    )))
    .execute(&mut *tx)
    .await
    .context(format!("grouping {entity} duplicates"))?;
    let (found, hold): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE same) FROM _migrate_dedupe")
            .fetch_one(&mut *tx)
            .await
            .context(format!("checking {entity}'s duplicates found while staging"))?;
    let expected = i64::try_from(pairs.len()).unwrap_or(i64::MAX);
    sqlx::query("DROP TABLE _migrate_dedupe_pairs").execute(&mut *tx).await.context("dropping dedupe's pairs")?;
    if found == expected && hold == expected {
        return Ok(true);
    }
    tracing::info!(
        "publish {entity}: {} of {expected} pairs from staging do not hold; grouping in SQL",
        expected - hold
    );
    sqlx::query("DROP TABLE _migrate_dedupe").execute(&mut *tx).await.context("dropping the dedupe table")?;
    Ok(false)
}

/// Rows of (source key, location, survivor's location), as dropped duplicates.
/// Streams the rows of `query` (source key, location, survivor's location)
/// to the duplicates file one at a time: a run with millions of duplicates
/// holds none of them in memory. Returns how many there were.
async fn report_duplicates(
    tx: &mut PgConnection,
    query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    events: &mut dyn RunEvents,
    entity: &str,
    context: String,
) -> Result<u64, PgError> {
    let mut rows = query.fetch(&mut *tx);
    let mut count = 0;
    while let Some(row) = rows.try_next().await.context(context.clone())? {
        events
            .duplicate(&DuplicateRow {
                entity: entity.to_string(),
                source_key: row.get(0),
                location: row.get(1),
                survivor_location: row.get(2),
            })
            .map_err(|e| PgError::Config(format!("writing duplicates: {e}")))?;
        count += 1;
    }
    Ok(count)
}

/// Rows an earlier run of this source system loaded into the entity whose
/// keys this run neither staged nor saw: listed, and with
/// `on_missing = "delete"` deleted unless other rows still refer to them.
/// A target reached by several keys (a dropped duplicate's key names its
/// survivor's row) is missing only when none of its keys was seen.
pub(crate) async fn missing_rows(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    staged: &StagedTable,
    mapped: u64,
    events: &mut dyn RunEvents,
) -> Result<MissingCounts, PgError> {
    let entity = staged.entity.as_str();
    let seen = quote_qualified("migrate", &staged.seen);
    let target = quote_qualified("public", entity);
    // Publishing has stamped this run on every key it staged (new keys,
    // keys seen again, dropped duplicates' keys naming their survivors,
    // matched rows); the keys it saw without staging are in the seen
    // table. So a row is missing when none of its keys carries this run
    // and none was seen: only keys stamped by earlier runs are candidates,
    // which for a first load is none. Every key of the source system is
    // looked at: hash joins.
    // A delta with a soft-delete column: only the keys it marked deleted.
    let only_deleted = if staged.deletes() == DeleteCheck::SoftDelete {
        format!("AND k.source_key IN (SELECT _source_key FROM {seen} WHERE _deleted)")
    } else {
        String::new()
    };
    nested_loops(tx, false).await?;
    sqlx::query(audited(format!(
        "CREATE TEMPORARY TABLE _migrate_missing ON COMMIT DROP AS
         WITH candidates AS (
                  SELECT k.target_id, k.source_key FROM migrate.keys k
                   WHERE k.org_id = $1 AND k.source_system = $2 AND k.entity = $3 AND k.last_run_id <> $4
                     {only_deleted}),
              kept AS (
                  SELECT k.target_id FROM migrate.keys k
                   WHERE k.org_id = $1 AND k.source_system = $2 AND k.entity = $3
                     AND k.target_id IN (SELECT target_id FROM candidates)
                     AND (k.last_run_id = $4 OR k.source_key IN (SELECT _source_key FROM {seen} WHERE NOT _deleted)))
         SELECT c.target_id, min(c.source_key) AS source_key, false AS referenced
           FROM candidates c JOIN {target} t ON t.id = c.target_id
          WHERE NOT EXISTS (SELECT 1 FROM kept WHERE kept.target_id = c.target_id)
          GROUP BY c.target_id"
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(entity)
    .bind(ids.run_id)
    .execute(&mut *tx)
    .await
    .context(format!("finding {entity} rows gone from the source"))?;
    nested_loops(tx, true).await?;

    let mut counts = MissingCounts::default();
    if staged.on_missing == OnMissing::Delete {
        // A row another row refers to stays (deleting it would fail, or
        // cascade into rows this run knows nothing of).
        for (schema, table, child_cols, parent_cols) in referencing(tx, entity).await? {
            let on: Vec<String> = child_cols
                .iter()
                .zip(&parent_cols)
                .map(|(c, p)| format!("c.{} = t.{}", quote_ident(c), quote_ident(p)))
                .collect();
            sqlx::query(audited(format!(
                "UPDATE _migrate_missing m SET referenced = true FROM {target} t
                  WHERE t.id = m.target_id AND NOT m.referenced
                    AND EXISTS (SELECT 1 FROM {} c WHERE {})",
                quote_qualified(&schema, &table),
                on.join(" AND ")
            )))
            .execute(&mut *tx)
            .await
            .context(format!("checking which missing {entity} rows {table} still refers to"))?;
        }
        // A partial export must not empty the table: past `max_deleted`
        // the run fails and nothing is published.
        let deletable: i64 = sqlx::query_scalar("SELECT count(*) FROM _migrate_missing WHERE NOT referenced")
            .fetch_one(&mut *tx)
            .await
            .context(format!("counting {entity} rows to delete"))?;
        let deletable = u64::try_from(deletable).unwrap_or(0);
        if staged.max_deleted.exceeded(deletable, mapped, true) {
            return Err(PgError::Refused(format!(
                "on_missing = \"delete\" would delete {deletable} of the {mapped} {entity} rows this source system \
                 loaded, more than max_deleted = {}: nothing was published. Check that the source is a full export, \
                 or raise max_deleted on [{entity}]",
                staged.max_deleted
            )));
        }
        let rows = format!("{target} e JOIN _migrate_missing m ON m.target_id = e.id WHERE NOT m.referenced");
        keep_before_images(tx, ids, entity, &rows).await?;
        let deleted: i64 = sqlx::query_scalar(audited(format!(
            "WITH gone AS (
                 DELETE FROM {target} t USING _migrate_missing m WHERE t.id = m.target_id AND NOT m.referenced
                 RETURNING t.id),
             images AS (
                 INSERT INTO migrate.after_images (run_id, org_id, entity, target_id, inserted, deleted, row_hash)
                 SELECT $1, $2, $3, id, false, true, NULL FROM gone)
             SELECT count(*) FROM gone"
        )))
        .bind(ids.run_id)
        .bind(ids.org_id)
        .bind(entity)
        .fetch_one(&mut *tx)
        .await
        .context(format!("deleting {entity} rows gone from the source"))?;
        counts.deleted = u64::try_from(deleted).unwrap_or(0);
    }

    let mut rows = sqlx::query("SELECT source_key, target_id, referenced FROM _migrate_missing ORDER BY source_key")
        .fetch(&mut *tx);
    while let Some(row) = rows.try_next().await.context(format!("listing {entity} rows gone from the source"))? {
        let referenced: bool = row.get(2);
        let action = match (staged.on_missing, referenced) {
            (OnMissing::Delete, false) => "deleted",
            (OnMissing::Delete, true) => {
                counts.kept_referenced += 1;
                "kept_referenced"
            }
            _ => "reported",
        };
        counts.missing += 1;
        let missing = MissingRow { entity: entity.to_string(), source_key: row.get(0), target_id: row.get(1), action };
        events.missing(&missing).map_err(|e| PgError::Config(format!("writing missing rows: {e}")))?;
    }
    drop(rows);
    sqlx::query("DROP TABLE _migrate_missing").execute(&mut *tx).await.context("dropping the missing table")?;
    Ok(counts)
}

/// A column of `alias` as dedupe and `match_existing` compare it: trimmed,
/// case- and accent-folded, spaces collapsed (`migrate.fold`).
fn folded(alias: &str, column: &str) -> String {
    format!("migrate.fold({}::text)", value_of(alias, column))
}

/// A compared column's value: the column, or a key inside a JSONB column
/// (`custom_fields.vat_id`: target column names have no dot).
fn value_of(alias: &str, column: &str) -> String {
    match column.split_once('.') {
        Some((json, key)) => format!("({alias}.{} ->> {})", quote_ident(json), quote_literal(key)),
        None => format!("{alias}.{}", quote_ident(column)),
    }
}

/// Allows or forbids nested-loop joins for the rest of the transaction.
/// Statements that read a source system's whole key map turn them off: the
/// statistics do not know yet of the rows the transaction wrote, and a
/// nested loop over what the planner believes is one row runs for hours.
pub(crate) async fn nested_loops(tx: &mut PgConnection, allowed: bool) -> Result<(), PgError> {
    let setting = if allowed { "SET LOCAL enable_nestloop = on" } else { "SET LOCAL enable_nestloop = off" };
    sqlx::query(setting).execute(&mut *tx).await.context("choosing join plans")?;
    Ok(())
}

/// The memory a hash of a million keys needs in one batch (54 MiB for
/// the key map's ids) fits in: `work_mem` times `hash_mem_multiplier`.
const HASH_WORK_MEM: &str = "64MB";

/// Raises `work_mem` to at least [`HASH_WORK_MEM`] for the rest of the
/// transaction, for a statement that hashes a source system's keys;
/// returns the setting it had, for [`restore_work_mem`]. With the default
/// 4 MB the hash of a million keys spilled to eight batches: the count
/// through the key map took 1.37 s against 0.98 s, the target's
/// fingerprints 2.05 s against 1.69 s (bench/RESULTS.md, 2026-12-07). A
/// larger setting of the role or the server is kept.
pub(crate) async fn hash_work_mem(tx: &mut PgConnection) -> Result<String, PgError> {
    let before: String = sqlx::query_scalar("SELECT current_setting('work_mem')")
        .fetch_one(&mut *tx)
        .await
        .context("sizing the hash of the key map")?;
    sqlx::query(
        "SELECT set_config('work_mem', $1, true) WHERE pg_size_bytes(current_setting('work_mem')) < pg_size_bytes($1)",
    )
    .bind(HASH_WORK_MEM)
    .execute(&mut *tx)
    .await
    .context("sizing the hash of the key map")?;
    Ok(before)
}

/// Puts back the `work_mem` [`hash_work_mem`] found.
pub(crate) async fn restore_work_mem(tx: &mut PgConnection, before: &str) -> Result<(), PgError> {
    sqlx::query("SELECT set_config('work_mem', $1, true)")
        .bind(before)
        .execute(&mut *tx)
        .await
        .context("sizing the hash of the key map")?;
    Ok(())
}

/// Step 7, first: keeps, for rollback, the before-images of the target
/// rows `rows` selects (a FROM clause and its WHERE, the target aliased
/// `e`).
async fn keep_before_images(tx: &mut PgConnection, ids: &RunIds<'_>, entity: &str, rows: &str) -> Result<(), PgError> {
    sqlx::query(audited(format!(
        "INSERT INTO migrate.before_images (run_id, org_id, entity, target_id, row_data)
         SELECT $1, $2, $3, e.id, to_jsonb(e) FROM {rows}
         ON CONFLICT DO NOTHING"
    )))
    .bind(ids.run_id)
    .bind(ids.org_id)
    .bind(entity)
    .execute(&mut *tx)
    .await
    .context(format!("keeping before-images of {entity}"))?;
    Ok(())
}

/// Foreign keys that refer to `entity`: (schema, table, its columns, the
/// columns of `entity` they name).
async fn referencing(
    tx: &mut PgConnection,
    entity: &str,
) -> Result<Vec<(String, String, Vec<String>, Vec<String>)>, PgError> {
    let rows = sqlx::query(
        "SELECT n.nspname::text, r.relname::text,
                array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
                array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                        JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
           FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
          WHERE c.contype = 'f' AND c.confrelid = $1::regclass
          ORDER BY 1, 2, c.conname",
    )
    .bind(quote_qualified("public", entity))
    .fetch_all(&mut *tx)
    .await
    .context(format!("reading the foreign keys that refer to {entity}"))?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
}

/// How many neighbours in sort order each row is compared with.
const SIMILAR_WINDOW: usize = 8;

/// Flags pairs of staged rows whose `similar` columns, folded and joined,
/// are at least `threshold` alike (Jaro-Winkler). Sorted-neighbourhood: the
/// rows are streamed in the order of their text and, again, of their text
/// reversed (a typo in the first letter), and each is compared with the
/// few before it, so the work grows with the rows, not their square.
async fn flag_similar(
    tx: &mut PgConnection,
    stage: &str,
    staged: &StagedTable,
    rule: &Similar,
    events: &mut dyn RunEvents,
) -> Result<u64, PgError> {
    let entity = staged.entity.as_str();
    let text = format!(
        "migrate.fold(concat_ws(' ', {}))",
        rule.on.iter().map(|c| format!("s.{}::text", quote_ident(c))).collect::<Vec<_>>().join(", ")
    );
    let mut flagged: std::collections::HashSet<(i64, i64)> = std::collections::HashSet::new();
    for order in ["t", "reverse(t)"] {
        let mut window: std::collections::VecDeque<(i64, String, String)> = std::collections::VecDeque::new();
        let mut rows = sqlx::query(audited(format!(
            "SELECT _seq, _location, t FROM (SELECT s._seq, s._location, {text} AS t FROM {stage} s) x
              WHERE t IS NOT NULL ORDER BY {order}, _seq"
        )))
        .fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.context(format!("comparing {entity} rows for `similar`"))? {
            let (seq, location, text): (i64, String, String) = (row.get(0), row.get(1), row.get(2));
            for (other_seq, other_location, other_text) in &window {
                let score = strsim::jaro_winkler(other_text, &text);
                let pair = ((*other_seq).min(seq), (*other_seq).max(seq));
                if score >= rule.threshold && flagged.insert(pair) {
                    events
                        .similar(&SimilarPair {
                            entity: entity.to_string(),
                            location: other_location.clone(),
                            other_location: location.clone(),
                            score,
                            text: other_text.clone(),
                            other_text: text.clone(),
                        })
                        .map_err(|e| PgError::Config(format!("writing similar rows: {e}")))?;
                }
            }
            if window.len() == SIMILAR_WINDOW {
                window.pop_front();
            }
            window.push_back((seq, location, text));
        }
    }
    Ok(flagged.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::stable_default;

    #[test]
    fn only_constant_defaults_and_the_transactions_time_are_stable() {
        for stable in [
            "now()",
            "CURRENT_TIMESTAMP",
            "'{}'::jsonb",
            "'active'::text",
            "0",
            "(-1)",
            "1.5",
            "'a b'::character varying",
        ] {
            assert!(stable_default(stable), "{stable}");
        }
        for volatile in [
            "gen_random_uuid()",
            "clock_timestamp()",
            "nextval('contacts_seq'::regclass)",
            "random()",
            "'x'::text || random()::text",
            "('a'::text)",
            "",
        ] {
            assert!(!stable_default(volatile), "{volatile}");
        }
    }
}
