//! `migrate schema apply`: idempotent, safe concurrently, append-only, and
//! the mapping checker's schema model matches what it creates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use migrate_engine::TargetType;
use migrate_mappings::schema::PLATFORM;
use support::*;

#[tokio::test]
async fn applying_twice_changes_nothing_the_second_time() {
    let t = Target::new().await;
    let out = t.migrate_as("postgres").args(["schema", "apply"]).output().unwrap();
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").split(" on ").next(),
        Some("schema is up to date (14 migrations)")
    );
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.schema_migrations").await, 14);
}

/// The packed after-images are compressed with lz4 on a server built with
/// it (this one is): pglz took three times as long to compress them.
#[tokio::test]
async fn packed_after_images_are_compressed_with_lz4() {
    let t = Target::new().await;
    let mut conn = t.admin().await;
    let methods: Vec<(String, String)> = sqlx::query_as(
        "SELECT attname::text, attcompression::text FROM pg_attribute
          WHERE attrelid = 'migrate.after_image_sets'::regclass AND attname IN ('target_ids', 'row_hashes')
          ORDER BY attname",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(methods, [("row_hashes".into(), "l".into()), ("target_ids".into(), "l".into())]);
}

/// Dedupe and `match_existing` fold every compared value: the planner
/// inlines `migrate.fold` into the query (its body's own functions appear
/// in the plan), instead of calling it once per value.
#[tokio::test]
async fn the_fold_is_inlined_into_the_queries_that_use_it() {
    let t = Target::new().await;
    let mut conn = t.admin().await;
    let plan: Vec<String> =
        sqlx::query_scalar("EXPLAIN (VERBOSE, COSTS OFF) SELECT migrate.fold(v) FROM (VALUES (' José  Müller ')) x(v)")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("unaccent(") && !plan.contains("fold("), "{plan}");
    let folded: String =
        sqlx::query_scalar("SELECT migrate.fold(' José  Müller ')").fetch_one(&mut conn).await.unwrap();
    assert_eq!(folded, "jose muller");
}

#[tokio::test]
async fn concurrent_applies_on_a_fresh_database_race_safely() {
    let t = Target::new().await;
    t.cluster.create_database("race").await;
    let url = t.cluster.admin_url("race");
    let spawned: Vec<_> = (0..6)
        .map(|_| {
            std::process::Command::new(migrate_bin())
                .env("DATABASE_URL", &url)
                .args(["schema", "apply"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut applied_by = 0;
    for child in spawned {
        let out = child.wait_with_output().unwrap();
        assert_success(&out);
        if String::from_utf8_lossy(&out.stdout).starts_with("applied") {
            applied_by += 1;
        }
    }
    assert_eq!(applied_by, 1, "exactly one process applies the migrations");
    let mut conn = t.admin().await;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM migrate.schema_migrations").fetch_one(&mut conn).await.unwrap();
    let all = migrate_mappings::MIGRATIONS.len() as i64;
    assert_eq!(n, all, "the shared test database");
    let mut race = <sqlx::PgConnection as sqlx::Connection>::connect(&url).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM migrate.schema_migrations").fetch_one(&mut race).await.unwrap();
    assert_eq!(n, all);
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            .fetch_one(&mut race)
            .await
            .unwrap();
    assert_eq!(tables, 7);
}

#[tokio::test]
async fn a_changed_migration_is_an_error() {
    let t = Target::new().await;
    let mut admin = t.admin().await;
    sqlx::query("UPDATE migrate.schema_migrations SET checksum = 'abc' WHERE version = 2")
        .execute(&mut admin)
        .await
        .unwrap();
    let out = t.migrate_as("postgres").args(["schema", "apply"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("migration 2 (migrate_ledger) was applied with checksum abc"), "{stderr}");
}

/// name, data_type, character_maximum_length, is_nullable, column_default
type InfoColumn = (String, String, Option<i32>, String, Option<String>);

fn sql_type(ty: TargetType, max_chars: Option<usize>) -> &'static str {
    match (ty, max_chars) {
        (TargetType::Text, Some(_)) => "character varying",
        (TargetType::Text, None) => "text",
        (TargetType::Uuid, _) => "uuid",
        (TargetType::Integer, _) => "integer",
        (TargetType::BigInt, _) => "bigint",
        (TargetType::Numeric, _) => "numeric",
        (TargetType::Boolean, _) => "boolean",
        (TargetType::Date, _) => "date",
        (TargetType::Timestamp, _) => "timestamp with time zone",
        (TargetType::Json, _) => "jsonb",
    }
}

#[tokio::test]
async fn the_schema_model_matches_the_applied_schema() {
    let t = Target::new().await;
    let mut conn = t.admin().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut modelled: Vec<String> = PLATFORM.iter().map(|t| t.name.to_string()).collect();
    modelled.sort();
    assert_eq!(tables, modelled);

    for table in PLATFORM {
        let columns: Vec<InfoColumn> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, character_maximum_length, is_nullable::text, column_default::text
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table.name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let names: Vec<&str> = columns.iter().map(|c| c.0.as_str()).collect();
        let model_names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, model_names, "columns of {}", table.name);
        for ((name, data_type, max, nullable, default), def) in columns.iter().zip(table.columns) {
            let at = format!("{}.{name}", table.name);
            assert_eq!(data_type, sql_type(def.ty, def.max_chars), "{at}");
            assert_eq!(max.map(|m| m as usize), def.max_chars, "{at}");
            assert_eq!(nullable == "NO", def.not_null, "{at} NOT NULL");
            if !def.managed {
                assert_eq!(default.is_some(), def.default.is_some(), "{at} default {default:?}");
            }
            if let Some(allowed) = def.allowed {
                let checks: Vec<String> = sqlx::query_scalar(
                    "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                     WHERE c.contype = 'c' AND c.conrelid = $1::regclass AND a.attname = $2",
                )
                .bind(format!("public.{}", table.name))
                .bind(name)
                .fetch_all(&mut conn)
                .await
                .unwrap();
                assert_eq!(checks.len(), 1, "{at} has one CHECK");
                let listed = checks[0].matches("::text").count();
                assert_eq!(listed, allowed.len(), "{at}: {}", checks[0]);
                for v in allowed {
                    assert!(checks[0].contains(&format!("'{v}'::text")), "{at} allows {v}: {}", checks[0]);
                }
            }
            let fk: Option<String> = sqlx::query_scalar(
                "SELECT c.confrelid::regclass::text FROM pg_constraint c
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
                 WHERE c.contype = 'f' AND c.conrelid = $1::regclass AND a.attname = $2",
            )
            .bind(format!("public.{}", table.name))
            .bind(name)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
            if name != "org_id" {
                assert_eq!(fk.as_deref(), def.references, "{at} foreign key");
            }
        }
        // Every table is tenant-scoped: RLS enabled and forced.
        let (enabled, forced): (bool, bool) =
            sqlx::query_as("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = $1::regclass")
                .bind(format!("public.{}", table.name))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert!(enabled && forced, "{} has RLS enabled and forced", table.name);
        // After-images digest rows with hash_record_extended: every column
        // type needs a hash function (a tsvector, say, has none).
        let hashed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT hash_record_extended(t, 0) FROM (SELECT (NULL::public.{}).*) t",
            table.name
        )))
        .fetch_one(&mut conn)
        .await;
        assert!(hashed.is_ok(), "every column of {} can be hashed: {hashed:?}", table.name);
    }
    let unhashable = sqlx::query("SELECT hash_record_extended(t, 0) FROM (SELECT NULL::tsvector AS v) t")
        .fetch_one(&mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(unhashable.contains("could not identify an extended hash function"), "{unhashable}");
}

/// New rows get ids in the order a run creates them (UUID version 7
/// layout), unique even for the same clock and position.
#[tokio::test]
async fn ordered_ids_follow_the_run_and_stay_unique() {
    let t = Target::new().await;
    let mut conn = t.admin().await;
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT migrate.ordered_uuid(1764403200000, s)::text FROM generate_series(0, 20000) s ORDER BY s",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ids increase with the row's position");
    assert!(ids.iter().all(|id| id.as_bytes()[14] == b'7' && matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b')));
    assert!(ids[0].starts_with("019acea0-4000-7000-"), "48 bits of milliseconds, then the counter: {}", ids[0]);
    let same: Vec<String> =
        sqlx::query_scalar("SELECT migrate.ordered_uuid(1764403200000, 5)::text FROM generate_series(1, 1000)")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let distinct: std::collections::BTreeSet<&String> = same.iter().collect();
    assert_eq!(distinct.len(), 1000, "random bits keep equal positions apart");
}

/// A run's new rows take ids in the order it read them, across batches and
/// past a clock step (4096 rows), in the same layout.
#[tokio::test]
async fn a_runs_new_rows_take_ids_in_the_order_it_read_them() {
    let t = Target::new().await;
    let dir = t.work.path().join("ids");
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("id,email\n");
    // Keys whose text order is not the file's.
    let keys: Vec<String> = (0..5000u32).map(|i| format!("K{}", (i * 7919) % 5000)).collect();
    for (i, key) in keys.iter().enumerate() {
        csv.push_str(&format!("{key},p{i}@example.com\n"));
    }
    std::fs::write(dir.join("rows.csv"), csv).unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        r#"
[migration]
name = "ids"
org_id = "${ORG_ID}"
source_system = "ids"

[sources.rows]
kind = "csv"
path = "rows.csv"
batch_size = 700

[contacts]
from = "rows"
key = "id"

[contacts.columns]
email = "email"
"#,
    )
    .unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "out"));
    let mut conn = t.admin().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.source_key, c.id::text FROM migrate.keys k JOIN contacts c ON c.id = k.target_id ORDER BY c.id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let by_id: Vec<&String> = rows.iter().map(|(k, _)| k).collect();
    assert_eq!(by_id, keys.iter().collect::<Vec<_>>(), "ids follow the file's order");
    for (_, id) in &rows {
        assert_eq!(id.as_bytes()[14], b'7', "version 7: {id}");
        assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "the variant: {id}");
    }
    // One clock for the run, a millisecond on every 4096 rows: the last of
    // 5000 rows is one millisecond past the first.
    let prefix = |id: &str| u64::from_str_radix(&id.replace('-', "")[..12], 16).unwrap();
    let (first, last) = (prefix(&rows[0].1), prefix(&rows[4999].1));
    assert_eq!(last - first, 1, "{} .. {}", rows[0].1, rows[4999].1);
}
