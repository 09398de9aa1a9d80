//! Cutover's reconciliation: every source read whole and staged, compared
//! with what the target holds for the source system, key by key and column
//! by column, in one read-only transaction under the tenant role.

use futures_util::TryStreamExt;
use migrate_engine::cutover::{Difference, Reconciled};
use sqlx::{PgConnection, Row};

use crate::error::{Context, PgError};
use crate::fingerprint::{Kind, compare, measure};
use crate::publish::{RunIds, StagedTable, TargetColumn, nested_loops};
use crate::quote::{audited, quote_ident, quote_literal, quote_qualified};
use crate::sink::link_column;

/// How the staged value of `c` (alias `s`) compares with the target's
/// (alias `t`): (the condition under which they differ, the source value
/// shown).
fn differs(c: &TargetColumn) -> (String, String) {
    let name = quote_ident(&c.name);
    match &c.link {
        Some(link) => {
            let staged = format!("s.{}", quote_ident(&link_column(&c.name)));
            // The legacy key the source names, resolved as publishing does.
            let resolved = format!(
                "(SELECT lk.target_id FROM migrate.keys lk WHERE lk.org_id = $1 AND lk.source_system = $2
                     AND lk.entity = {} AND lk.source_key = {staged})",
                quote_literal(&link.entity)
            );
            (format!("{resolved} IS DISTINCT FROM t.{name}"), staged)
        }
        // The mapped keys of a JSON object: others may be the platform's.
        None if c.is_json => (
            format!("(s.{name} IS NOT NULL AND NOT (coalesce(t.{name}, '{{}}'::jsonb) @> s.{name}))"),
            format!("s.{name}"),
        ),
        // An empty value leaves a column with a default to the platform.
        None if c.default.is_some() => {
            (format!("(s.{name} IS NOT NULL AND s.{name} IS DISTINCT FROM t.{name})"), format!("s.{name}"))
        }
        None => (format!("s.{name} IS DISTINCT FROM t.{name}"), format!("s.{name}")),
    }
}

/// Compares one entity's staged rows (the last of each key) with the rows
/// its keys reach in the target.
pub(crate) async fn reconcile_entity(
    tx: &mut PgConnection,
    ids: &RunIds<'_>,
    table: &StagedTable,
) -> Result<Reconciled, PgError> {
    let entity = table.entity.as_str();
    let stage = quote_qualified("migrate", &table.stage);
    let seen = quote_qualified("migrate", &table.seen);
    let target = quote_qualified("public", entity);
    nested_loops(tx, false).await?;
    sqlx::raw_sql(audited(format!(
        "DROP TABLE IF EXISTS _migrate_rec_src, _migrate_rec_tgt;
         CREATE TEMPORARY TABLE _migrate_rec_src ON COMMIT DROP AS
             SELECT DISTINCT ON (_source_key) *, _source_key AS _key FROM {stage} ORDER BY _source_key, _seq DESC;"
    )))
    .execute(&mut *tx)
    .await
    .context(format!("reading the staged {entity}"))?;
    // A row several keys reach (a dedupe survivor) is not compared by value.
    sqlx::query(audited(format!(
        "CREATE TEMPORARY TABLE _migrate_rec_tgt ON COMMIT DROP AS
             SELECT k.source_key AS _key, count(*) OVER (PARTITION BY k.target_id) > 1 AS _shared, t.*
               FROM migrate.keys k JOIN {target} t ON t.id = k.target_id
              WHERE k.org_id = $1 AND k.source_system = $2 AND k.entity = $3"
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .bind(entity)
    .execute(&mut *tx)
    .await
    .context(format!("reading the target's {entity}"))?;

    let compared: Vec<(&TargetColumn, (String, String))> = table.columns.iter().map(|c| (c, differs(c))).collect();
    let any = if compared.is_empty() {
        "false".to_string()
    } else {
        compared.iter().map(|(_, (cond, _))| cond.clone()).collect::<Vec<_>>().join(" OR ")
    };
    let names = compared
        .iter()
        .map(|(c, (cond, _))| format!("CASE WHEN {cond} THEN {} END", quote_literal(&c.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let values = compared
        .iter()
        .map(|(c, (cond, shown))| {
            format!(
                "{}, CASE WHEN {cond} THEN jsonb_build_array(to_jsonb({shown}), to_jsonb(t.{})) END",
                quote_literal(&c.name),
                quote_ident(&c.name)
            )
        })
        .collect::<Vec<_>>();
    // jsonb_build_object takes at most 100 arguments.
    let values = values
        .chunks(50)
        .map(|chunk| format!("jsonb_build_object({})", chunk.join(", ")))
        .collect::<Vec<_>>()
        .join(" || ");
    let values = if values.is_empty() { "'{}'::jsonb".to_string() } else { values };
    let mut rows = sqlx::query(audited(format!(
        "SELECT coalesce(s._key, t._key),
                CASE WHEN s._key IS NULL THEN 'target_only' WHEN t._key IS NULL THEN 'source_only' ELSE 'values' END,
                CASE WHEN s._key IS NOT NULL AND t._key IS NOT NULL
                     THEN array_remove(ARRAY[{names}]::text[], NULL) ELSE '{{}}'::text[] END,
                CASE WHEN s._key IS NOT NULL AND t._key IS NOT NULL THEN jsonb_strip_nulls({values}) END
           FROM _migrate_rec_src s FULL JOIN _migrate_rec_tgt t ON t._key = s._key
          WHERE (s._key IS NULL
                 AND NOT EXISTS (SELECT 1 FROM {seen} x WHERE x._source_key = t._key AND NOT x._deleted))
             OR t._key IS NULL
             OR (s._key IS NOT NULL AND t._key IS NOT NULL AND NOT t._shared AND ({any}))
          ORDER BY 1",
        names = if names.is_empty() { "NULL".to_string() } else { names },
    )))
    .bind(ids.org_id)
    .bind(ids.source_system)
    .fetch(&mut *tx);
    let mut differences = Vec::new();
    while let Some(row) = rows.try_next().await.context(format!("comparing {entity} with the source"))? {
        let key: String = row.get(0);
        differences.push(Difference {
            key: key.replace('\u{1f}', "|"),
            kind: row.get(1),
            columns: row.get(2),
            values: row.get::<Option<serde_json::Value>, _>(3).unwrap_or(serde_json::Value::Null),
        });
    }
    drop(rows);
    let mut sizes = [0u64; 2];
    for (size, name) in sizes.iter_mut().zip(["_migrate_rec_src", "_migrate_rec_tgt"]) {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {name}")))
            .fetch_one(&mut *tx)
            .await
            .context("counting the compared rows")?;
        *size = u64::try_from(n).unwrap_or(0);
    }
    let [source_keys, target_keys] = sizes;
    // Checksums of the keys and of the columns both sides hold as they are.
    let mut checked = vec![("_key".to_string(), Kind::Text)];
    checked.extend(
        table
            .columns
            .iter()
            .filter(|c| c.link.is_none() && !c.is_json && c.default.is_none())
            .map(|c| (c.name.clone(), c.kind)),
    );
    let source = measure(&mut *tx, "_migrate_rec_src r", &checked, None).await?;
    let target = measure(&mut *tx, "_migrate_rec_tgt r", &checked, None).await?;
    let mut checksums = compare(&checked, source, target);
    if let Some(key) = checksums.first_mut() {
        key.column = "source key".to_string();
    }
    sqlx::raw_sql("DROP TABLE _migrate_rec_src, _migrate_rec_tgt")
        .execute(&mut *tx)
        .await
        .context("dropping the compared rows")?;
    nested_loops(tx, true).await?;
    Ok(Reconciled { entity: entity.to_string(), source_keys, target_keys, checksums, differences })
}
