//! Incremental sync of a MariaDB table (a real server): a full load, then
//! deltas from the mark the last published run stored. Inserts, updates, a
//! row rejected before and valid now, a row changed inside the overlap
//! window, and deletes found by a key scan or a soft-delete column; the
//! target equals the source row for row after each delta; a rollback puts
//! the mark back and the next delta applies the same changes again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use migrate_testkit::MariaDb;
use support::*;

/// A mapping of the MySQL table crm.customers into contacts, read with
/// `incremental = {incremental}`.
fn mapping(dir: &std::path::Path, incremental: &str) -> std::path::PathBuf {
    let source = format!(
        "kind = \"mysql\"\nurl = \"${{LEGACY_MYSQL_URL}}\"\ntable = \"customers\"\nincremental = {incremental}"
    );
    contacts_mapping(dir.join("sync.toml"), "legacy-crm", &source, "id", "50%")
}

/// A mapping of the source block `source` into contacts (first name, last
/// name, email), keyed by `key`, deleting rows gone from the source.
fn contacts_mapping(
    path: std::path::PathBuf,
    system: &str,
    source: &str,
    key: &str,
    max_deleted: &str,
) -> std::path::PathBuf {
    std::fs::write(
        &path,
        format!(
            r#"[migration]
name = "crm-sync"
org_id = "${{ORG_ID}}"
source_system = "{system}"

[sources.customers]
{source}

[contacts]
from = "customers"
key = ["{key}"]
on_missing = "delete"
max_deleted = "{max_deleted}"

[contacts.columns]
first_name = "first_name"
last_name = "last_name"
email = {{ from = "email", transform = ["trim", "email"] }}
"#
        ),
    )
    .unwrap();
    path
}

fn source(db: &MariaDb, extra_columns: &str) {
    db.sql(&format!(
        "CREATE DATABASE crm; USE crm;
         CREATE TABLE customers (id int PRIMARY KEY, first_name varchar(40), last_name varchar(40),
                                 email varchar(80), updated_at datetime(6) NOT NULL{extra_columns});"
    ));
}

/// The source as the mapping loads it: (key, first, last, email) of every
/// row that is valid, against what the org holds through the key map.
async fn assert_target_equals_source(t: &Target, db: &MariaDb, loadable: &str) {
    let rows = db.query_one(&format!(
        "SELECT GROUP_CONCAT(CONCAT_WS('|', id, first_name, last_name, LOWER(email)) ORDER BY id SEPARATOR ';')
           FROM crm.customers WHERE {loadable}"
    ));
    let mut admin = t.admin().await;
    let target: String = sqlx::query_scalar(
        "SELECT string_agg(concat_ws('|', k.source_key, c.first_name, c.last_name, c.email), ';'
                           ORDER BY k.source_key::int)
           FROM contacts c JOIN migrate.keys k ON k.target_id = c.id AND k.entity = 'contacts'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(target, rows);
}

/// `migrate run --verbose MAPPING --out OUT` for org A from the MariaDB.
fn sync(t: &Target, db: &MariaDb, map: &std::path::Path, out: &str) -> std::process::Output {
    run_from(t, ("LEGACY_MYSQL_URL", &db.url("crm")), map, out)
}

/// `migrate run --verbose MAPPING --out OUT` for org A, the source's
/// address in the variable `var`.
fn run_from(t: &Target, var: (&str, &str), map: &std::path::Path, out: &str) -> std::process::Output {
    t.migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env(var.0, var.1)
        .args(["run", "--verbose"])
        .arg(map)
        .args(["--out", out])
        .output()
        .unwrap()
}

/// A mapping of the MongoDB collection crm.customers into contacts, the
/// source block ending with `source_lines`.
fn mongo_mapping(dir: &std::path::Path, source_lines: &str) -> std::path::PathBuf {
    let source =
        format!("kind = \"mongodb\"\nurl = \"${{LEGACY_MONGO_URL}}\"\ncollection = \"customers\"\n{source_lines}");
    contacts_mapping(dir.join("mongo.toml"), "legacy-mongo", &source, "_id", "100%")
}

fn window(r: &serde_json::Value) -> serde_json::Value {
    r["sources"][0]["window"].clone()
}

fn missing(r: &serde_json::Value) -> [u64; 2] {
    let m = &entity(r, "contacts")["missing"];
    [m["count"].as_u64().unwrap(), m["deleted"].as_u64().unwrap()]
}

#[tokio::test]
async fn a_mariadb_table_follows_its_source_by_deltas_and_a_rollback_rewinds_the_mark() {
    let db = MariaDb::start();
    source(&db, "");
    db.sql(
        "INSERT INTO crm.customers VALUES
           (1, 'Ada', 'Lovelace', 'ada@example.com', '2026-11-01 01:00:00'),
           (2, 'Alan', 'Turing', 'alan@example.com', '2026-11-01 02:00:00'),
           (3, 'Grace', 'Hopper', 'grace@example.com', '2026-11-01 03:00:00'),
           (4, 'Edsger', 'Dijkstra', 'edsger@example.com', '2026-11-01 04:00:00'),
           (5, 'Barbara', 'Liskov', 'not an address', '2026-11-01 05:00:00'),
           (6, 'Donald', 'Knuth', 'don@example.com', '2026-11-01 10:00:00');",
    );
    let t = Target::new().await;
    let map = mapping(t.work.path(), r#"{ cursor = "updated_at", overlap = "10m", deletes = "key_scan" }"#);
    let run = |out: &str| sync(&t, &db, &map, out);

    // 1. The first run is a full load; its mark is the greatest cursor.
    let out = run("full");
    assert_success(&out);
    let r = report(&t.out_dir("full"));
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [6, 0, 0, 1, 5, 5, 0, 0]);
    assert_eq!(
        window(&r),
        serde_json::json!({"cursor": "updated_at", "mark": "2026-11-01 10:00:00.000000",
                           "deletes": "full_read", "deltas_since_scan": 0})
    );
    assert_target_equals_source(&t, &db, "id <> 5").await;
    let full_run = r["run_id"].as_str().unwrap().to_string();

    // 2. Changes: an insert, an update, a hard delete, the rejected row
    // made valid, and a change committed late, inside the overlap window
    // (its cursor is before the mark).
    db.sql(
        "INSERT INTO crm.customers VALUES (7, 'Frances', 'Allen', 'fran@example.com', '2026-11-02 09:00:00');
         UPDATE crm.customers SET last_name = 'Turing-Smith', updated_at = '2026-11-02 09:00:00' WHERE id = 2;
         DELETE FROM crm.customers WHERE id = 3;
         UPDATE crm.customers SET email = 'barbara@example.com', updated_at = '2026-11-02 08:00:00' WHERE id = 5;
         UPDATE crm.customers SET first_name = 'E. W.', updated_at = '2026-11-01 09:55:00' WHERE id = 4;",
    );
    let out = run("delta");
    assert_success(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("a delta from 2026-11-01 09:50:00.000000 to 2026-11-02 09:00:00.000000"), "{log}");
    let r = report(&t.out_dir("delta"));
    // Read: 4 (late), 6 (at the mark: read again, unchanged), 2, 5, 7;
    // not 1 (before the window).
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 0, 5, 2, 2, 1]);
    assert_eq!(missing(&r), [1, 1]);
    let delta_window = serde_json::json!({
        "cursor": "updated_at", "previous_mark": "2026-11-01 10:00:00.000000",
        "read_from": "2026-11-01 09:50:00.000000", "mark": "2026-11-02 09:00:00.000000",
        "deletes": "key_scan", "keys_scanned": 6, "deltas_since_scan": 0});
    assert_eq!(window(&r), delta_window);
    assert_target_equals_source(&t, &db, "true").await;
    let html = std::fs::read_to_string(t.out_dir("delta").join("report.html")).unwrap();
    assert!(
        html.contains(
            "a delta: rows with updated_at from 2026-11-01 09:50:00.000000 to 2026-11-02 09:00:00.000000 \
             (deletes found by a key scan of 6 keys)"
        ),
        "{html}"
    );
    let missing_csv = std::fs::read_to_string(t.out_dir("delta").join("missing/contacts.csv")).unwrap();
    assert!(missing_csv.lines().nth(1).unwrap().starts_with("3,"), "{missing_csv}");
    let delta_run = r["run_id"].as_str().unwrap().to_string();

    // 3. Rolling the delta back puts its mark back: the next delta reads
    // the same window and applies the same changes.
    let out = t.migrate_as(LOADER).args(["rollback", &delta_run, "--org", ORG_A]).output().unwrap();
    assert_success(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("mark of source customers: back at 2026-11-01 10:00:00.000000"), "{said}");
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 5);
    let out = run("again");
    assert_success(&out);
    let r = report(&t.out_dir("again"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 0, 5, 2, 2, 1]);
    assert_eq!(missing(&r), [1, 1]);
    assert_eq!(window(&r), delta_window);
    assert_target_equals_source(&t, &db, "true").await;

    // 4. Nothing changed: the window starts at the new mark less the
    // overlap, and the rows there (2 and 7) are read again, unchanged.
    let out = run("quiet");
    assert_success(&out);
    let r = report(&t.out_dir("quiet"));
    assert_eq!(counts(entity(&r, "contacts")), [2, 0, 0, 0, 2, 0, 0, 2]);
    assert_eq!(missing(&r), [0, 0]);
    assert_eq!(window(&r)["read_from"], "2026-11-02 08:50:00.000000");
    let out = t.migrate_as(LOADER).args(["runs", "list", "--org", ORG_A]).output().unwrap();
    assert_success(&out);
    let listed = String::from_utf8_lossy(&out.stdout);
    let line = format!("legacy-crm/customers  updated_at at 2026-11-02 09:00:00.000000  stored by {}", r["run_id"]);
    assert!(listed.contains(&line.replace('"', "")), "{listed}");
    assert!(listed.contains("ago  newest change applied ") && listed.contains("  last run succeeded"), "{listed}");

    // 5. The full load cannot be rolled back alone while deltas that read
    // from its mark stand.
    let out = t.migrate_as(LOADER).args(["rollback", &full_run, "--org", ORG_A]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--chain"));
    let out = t.migrate_as(LOADER).args(["rollback", &full_run, "--org", ORG_A, "--chain"]).output().unwrap();
    assert_success(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("mark of source customers: removed (the next run is a full load)"), "{said}");
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 0);

    // 6. Cutover: a last run (a full load again: the mark is gone), then
    // every row read again and compared with the platform.
    let cutover = |out: &str| {
        t.migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("LEGACY_MYSQL_URL", db.url("crm"))
            .arg("cutover")
            .arg(&map)
            .args(["--out", out])
            .output()
            .unwrap()
    };
    let out = cutover("cutover");
    assert_success(&out);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Source and platform agree: source changes not yet applied: 0; differences found: 0"),
        "{said}"
    );
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.out_dir("cutover").join("cutover.json")).unwrap()).unwrap();
    migrate_testkit::check_cutover(&c);
    assert_eq!(
        (c["schema_version"].as_u64(), c["kind"].as_str(), c["reconciled"].as_bool()),
        (Some(1), Some("cutover"), Some(true))
    );
    let e = &c["entities"][0];
    assert_eq!([&e["source_rows"], &e["source_keys"], &e["target_keys"], &e["matched"]], [6, 6, 6, 6]);
    assert!(e["checksums"].as_array().unwrap().iter().all(|x| x["matches"] == true), "{e}");
    assert_eq!(c["sources"][0]["applied_mark"], c["sources"][0]["source_mark"]);
    assert!(t.out_dir("cutover").join("final-delta/report.json").is_file());

    // A difference planted by hand in the platform, and a row removed
    // there: both listed, by key, with the values.
    let mut admin = t.admin().await;
    sqlx::raw_sql(
        "UPDATE contacts SET last_name = 'Planted' WHERE id =
             (SELECT target_id FROM migrate.keys WHERE entity = 'contacts' AND source_key = '6');
         DELETE FROM contacts WHERE id = (SELECT target_id FROM migrate.keys WHERE entity = 'contacts' AND source_key = '1');",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let out = cutover("planted");
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("Source and platform do NOT agree: source changes not yet applied: 0; differences found: 2"),
        "{said}"
    );
    assert!(said.contains("contacts: 6 source keys, 5 in the platform; 4 the same, 1 different, 1 in the source only, 0 in the platform only"), "{said}");
    let c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.out_dir("planted").join("cutover.json")).unwrap()).unwrap();
    migrate_testkit::check_cutover(&c);
    assert_eq!(
        c["entities"][0]["differences"],
        serde_json::json!([
            {"key": "1", "kind": "source_only"},
            {"key": "6", "kind": "values", "columns": ["last_name"], "values": {"last_name": ["Knuth", "Planted"]}}
        ])
    );
    let last_name =
        c["entities"][0]["checksums"].as_array().unwrap().iter().find(|x| x["column"] == "last_name").unwrap().clone();
    assert_eq!(last_name["matches"], false);
    let csv = std::fs::read_to_string(t.out_dir("planted").join("differences/contacts.csv")).unwrap();
    assert!(csv.contains("6,values,last_name,"), "{csv}");
    let html = std::fs::read_to_string(t.out_dir("planted").join("cutover.html")).unwrap();
    assert!(html.contains("differences found: 2") && html.contains("Planted"), "{html}");
}

#[tokio::test]
async fn a_soft_delete_column_deletes_and_a_delta_without_a_delete_source_deletes_nothing() {
    let db = MariaDb::start();
    source(&db, ", deleted_at datetime NULL");
    db.sql(
        "INSERT INTO crm.customers VALUES
           (1, 'Ada', 'Lovelace', 'ada@example.com', '2026-11-01 01:00:00', NULL),
           (2, 'Alan', 'Turing', 'alan@example.com', '2026-11-01 02:00:00', NULL),
           (3, 'Grace', 'Hopper', 'grace@example.com', '2026-11-01 03:00:00', NULL),
           (4, 'Edsger', 'Dijkstra', 'edsger@example.com', '2026-11-01 00:30:00', '2026-10-01 00:00:00');",
    );
    let t = Target::new().await;
    let soft = r#"{ cursor = "updated_at", deletes = "soft_delete", deleted_flag = "deleted_at" }"#;
    let map = mapping(t.work.path(), soft);
    let run = |out: &str| sync(&t, &db, &map, out);
    // A row deleted before the full load is not loaded (filtered).
    assert_success(&run("full"));
    let r = report(&t.out_dir("full"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 1, 0, 0, 3, 3, 0, 0]);
    assert_target_equals_source(&t, &db, "deleted_at IS NULL").await;

    // Row 2 is soft-deleted; row 3 is deleted for good, which a
    // soft-delete column cannot tell.
    db.sql(
        "UPDATE crm.customers SET deleted_at = '2026-11-03 00:00:00', updated_at = '2026-11-03 00:00:00' WHERE id = 2;
         DELETE FROM crm.customers WHERE id = 3;
         UPDATE crm.customers SET last_name = 'Byron', updated_at = '2026-11-03 00:00:01' WHERE id = 1;",
    );
    assert_success(&run("delta"));
    let r = report(&t.out_dir("delta"));
    // Read 1 and 2 (row 4's cursor is before the window).
    assert_eq!(counts(entity(&r, "contacts")), [2, 1, 0, 0, 1, 0, 1, 0]);
    assert_eq!(missing(&r), [1, 1]);
    assert_eq!(window(&r)["deletes"], "soft_delete");
    assert_eq!(window(&r)["deltas_since_scan"], 1);
    // Row 3 stays: a soft-delete column cannot see a row deleted for good.
    let mut admin = t.admin().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT last_name FROM contacts ORDER BY last_name").fetch_all(&mut admin).await.unwrap();
    assert_eq!(names, ["Byron", "Hopper"]);

    // The same source without a delete source: on_missing does not act on
    // rows a delta did not read, and the report says deletes were not
    // looked for.
    let map = mapping(t.work.path(), r#"{ cursor = "updated_at", deletes = "none" }"#);
    db.sql("UPDATE crm.customers SET first_name = 'Augusta', updated_at = '2026-11-04 00:00:00' WHERE id = 1;");
    let out = sync(&t, &db, &map, "none");
    assert_success(&out);
    let r = report(&t.out_dir("none"));
    assert_eq!(counts(entity(&r, "contacts")), [1, 0, 0, 0, 1, 0, 1, 0]);
    assert!(entity(&r, "contacts").get("missing").is_none(), "{r}");
    assert_eq!(window(&r)["deletes"], "not_checked");
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 2);
}

#[tokio::test]
async fn a_mongodb_collection_follows_its_source_by_a_date_cursor() {
    let server = migrate_testkit::MongoServer::start();
    let doc = |id: u32, first: &str, last: &str, email: &str, at: &str| {
        format!(
            r#"{{"_id": {id}, "first_name": "{first}", "last_name": "{last}", "email": "{email}", "updated_at": {{"$date": "{at}"}}}}"#
        )
    };
    for d in [
        doc(1, "Ada", "Lovelace", "ada@example.com", "2026-11-01T01:00:00Z"),
        doc(2, "Alan", "Turing", "alan@example.com", "2026-11-01T02:00:00Z"),
        doc(3, "Grace", "Hopper", "grace@example.com", "2026-11-01T03:00:00Z"),
        doc(4, "Edsger", "Dijkstra", "edsger@example.com", "2026-11-01T04:00:00Z"),
        doc(5, "Barbara", "Liskov", "not an address", "2026-11-01T05:00:00Z"),
        doc(6, "Donald", "Knuth", "don@example.com", "2026-11-01T10:00:00Z"),
    ] {
        server.write("crm", "customers", "insert", &d, "").await;
    }
    let t = Target::new().await;
    let path = mongo_mapping(
        t.work.path(),
        "incremental = { cursor = \"updated_at\", overlap = \"10m\", deletes = \"key_scan\" }",
    );
    let run = |out: &str| run_from(&t, ("LEGACY_MONGO_URL", &server.url("crm")), &path, out);
    assert_success(&run("full"));
    let r = report(&t.out_dir("full"));
    assert_eq!(counts(entity(&r, "contacts")), [6, 0, 0, 1, 5, 5, 0, 0]);
    assert_eq!(window(&r)["mark"], r#"{"$date":"2026-11-01T10:00:00Z"}"#);

    let update = |id: u32, set: &str| (format!(r#"{{"_id": {id}}}"#), format!(r#"{{"$set": {{{set}}}}}"#));
    server
        .write(
            "crm",
            "customers",
            "insert",
            &doc(7, "Frances", "Allen", "fran@example.com", "2026-11-02T09:00:00Z"),
            "",
        )
        .await;
    for (filter, change) in [
        update(2, r#""last_name": "Turing-Smith", "updated_at": {"$date": "2026-11-02T09:00:00Z"}"#),
        update(5, r#""email": "barbara@example.com", "updated_at": {"$date": "2026-11-02T08:00:00Z"}"#),
        // Inside the overlap: its cursor is before the mark.
        update(4, r#""first_name": "E. W.", "updated_at": {"$date": "2026-11-01T09:55:00Z"}"#),
    ] {
        server.write("crm", "customers", "update", &filter, &change).await;
    }
    server.write("crm", "customers", "delete", r#"{"_id": 3}"#, "").await;
    assert_success(&run("delta"));
    let r = report(&t.out_dir("delta"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 0, 5, 2, 2, 1]);
    assert_eq!(missing(&r), [1, 1]);
    assert_eq!(
        window(&r),
        serde_json::json!({
            "cursor": "updated_at", "previous_mark": r#"{"$date":"2026-11-01T10:00:00Z"}"#,
            "read_from": r#"{"$date":"2026-11-01T09:50:00Z"}"#, "mark": r#"{"$date":"2026-11-02T09:00:00Z"}"#,
            "deletes": "key_scan", "keys_scanned": 6, "deltas_since_scan": 0})
    );
    let mut admin = t.admin().await;
    let target: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT k.source_key, c.first_name, c.last_name, c.email
           FROM contacts c JOIN migrate.keys k ON k.target_id = c.id ORDER BY k.source_key",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |a: &str, b: &str, c: &str, d: &str| (a.to_string(), b.to_string(), c.to_string(), d.to_string());
    assert_eq!(
        target,
        [
            s("1", "Ada", "Lovelace", "ada@example.com"),
            s("2", "Alan", "Turing-Smith", "alan@example.com"),
            s("4", "E. W.", "Dijkstra", "edsger@example.com"),
            s("5", "Barbara", "Liskov", "barbara@example.com"),
            s("6", "Donald", "Knuth", "don@example.com"),
            s("7", "Frances", "Allen", "fran@example.com"),
        ]
    );
}

/// A small xorshift: the trial's kill points, the same on every run.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The mark the ledger holds for the source, as the database owner sees it.
async fn stored_mark(admin: &mut sqlx::PgConnection) -> Option<String> {
    sqlx::query_scalar("SELECT mark FROM migrate.marks WHERE source = 'customers'")
        .fetch_optional(&mut *admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_delta_killed_anywhere_moves_no_mark_and_the_next_delta_is_exact() {
    let db = MariaDb::start();
    source(&db, "");
    let rows = 4000;
    for chunk in (1..=rows).collect::<Vec<u32>>().chunks(800) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("({i}, 'First{i}', 'Last{i}', 'p{i}@example.com', '2026-11-01 00:00:00')"))
            .collect();
        db.sql(&format!("INSERT INTO crm.customers VALUES {};", values.join(", ")));
    }
    let t = Target::new().await;
    let map = mapping(t.work.path(), r#"{ cursor = "updated_at", overlap = "1m", deletes = "key_scan" }"#);
    assert_success(&sync(&t, &db, &map, "full"));
    let mut admin = t.admin().await;
    let mut rng = Seeded(0x5eed_2026_1207);
    let mut next_id = rows + 1;
    for trial in 1..=6u32 {
        // Changes of this round: updates, inserts and deletes, each with a
        // cursor later than the last round's.
        let at = format!("2026-11-{:02} 00:00:00", trial + 1);
        let first = 1 + rng.below(u64::from(rows) - 400);
        db.sql(&format!(
            "UPDATE crm.customers SET last_name = CONCAT('Trial{trial}-', id), updated_at = '{at}'
              WHERE id BETWEEN {first} AND {};
             INSERT INTO crm.customers VALUES ({next_id}, 'New', 'Row{trial}', 'n{next_id}@example.com', '{at}'),
                                              ({}, 'New', 'Row{trial}', 'n{}@example.com', '{at}');
             DELETE FROM crm.customers WHERE id IN ({}, {});",
            first + 299,
            next_id + 1,
            next_id + 1,
            first + 300 + rng.below(50),
            1 + rng.below(first.max(2) - 1),
        ));
        next_id += 2;
        let before = stored_mark(&mut admin).await;
        let mut child = t
            .migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("LEGACY_MYSQL_URL", db.url("crm"))
            .arg("run")
            .arg(&map)
            .args(["--out", &format!("killed-{trial}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.below(1200);
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let finished = child.try_wait().unwrap().is_some();
        kill_and_wait(child, &mut admin).await;
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM migrate.runs WHERE status <> 'dry_run' ORDER BY started_at DESC LIMIT 1",
        )
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        let after = stored_mark(&mut admin).await;
        eprintln!("trial {trial}: killed after {delay} ms, the run's status: {status:?}");
        if status.as_deref() == Some("succeeded") {
            assert_eq!(after.as_deref(), Some(format!("{at}.000000").as_str()), "trial {trial}, {delay} ms");
        } else {
            assert!(!finished, "trial {trial}: the run finished but did not succeed ({status:?})");
            assert_eq!(after, before, "trial {trial}: killed after {delay} ms, the mark moved");
        }
        // The next delta is exact whatever the kill interrupted.
        let out = sync(&t, &db, &map, &format!("after-{trial}"));
        assert_success(&out);
        assert_target_equals_source(&t, &db, "true").await;
        assert_eq!(stored_mark(&mut admin).await.as_deref(), Some(format!("{at}.000000").as_str()));
    }
}

#[tokio::test]
async fn a_sql_server_table_follows_its_source_by_rowversion() {
    use migrate_testkit::tds::{FakeTds, Received, Scripted, TdsTable, TdsType as T, TdsValue as V};
    let rv = |n: u64| V::Bytes(n.to_be_bytes().to_vec());
    let row = |id: i64, first: &str, last: &str, email: &str, version: u64| {
        vec![V::Int(id), V::Text(first.into()), V::Text(last.into()), V::Text(email.into()), rv(version)]
    };
    let table = |rows: Vec<Vec<V>>| TdsTable {
        name: "dbo.Customers".into(),
        primary_key: vec!["CustomerID".into()],
        columns: vec![
            ("CustomerID".into(), T::Int),
            ("FirstName".into(), T::NVarChar(Some(40))),
            ("LastName".into(), T::NVarChar(Some(40))),
            ("Email".into(), T::NVarChar(Some(80))),
            ("RowVer".into(), T::Binary(8)),
        ],
        rows,
    };
    let max = |version: u64| Scripted {
        sql: "SELECT MAX([RowVer]) FROM [dbo].[Customers]".into(),
        columns: vec![(String::new(), T::Binary(8))],
        rows: vec![vec![rv(version)]],
    };
    let before = vec![
        row(1, "Ada", "Lovelace", "ada@example.com", 0x7D1),
        row(2, "Alan", "Turing", "alan@example.com", 0x7D2),
        row(3, "Barbara", "Liskov", "not an address", 0x7D3),
        row(4, "Grace", "Hopper", "grace@example.com", 0x7D4),
        row(5, "Donald", "Knuth", "don@example.com", 0x7D5),
    ];
    let t = Target::new().await;
    let path = t.work.path().join("erp.toml");
    std::fs::write(
        &path,
        r#"[migration]
name = "erp-sync"
org_id = "${ORG_ID}"
source_system = "legacy-erp"

[sources.customers]
kind = "mssql"
connection = "${ERP_MSSQL}"
table = "dbo.Customers"
incremental = { cursor = "RowVer", overlap = 1, deletes = "key_scan" }

[contacts]
from = "customers"
key = ["CustomerID"]
on_missing = "delete"

[contacts.columns]
first_name = "FirstName"
last_name = "LastName"
email = { from = "Email", transform = ["trim", "email"] }
"#,
    )
    .unwrap();
    let run = |server: &FakeTds, out: &str| run_from(&t, ("ERP_MSSQL", &server.connection_string()), &path, out);
    let full = FakeTds::start_scripted(vec![table(before)], vec![max(0x7D5)]);
    assert_success(&run(&full, "full"));
    let r = report(&t.out_dir("full"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 4, 0, 0]);
    assert_eq!(window(&r)["mark"], "\\x00000000000007d5");
    let read = "SELECT [CustomerID], [FirstName], [LastName], [Email], [RowVer] FROM [dbo].[Customers]";
    assert!(full.received().iter().any(|s| s.sql == format!("{read} ORDER BY [CustomerID]") && s.params.is_empty()));

    // In the source since: 2 updated, 3 corrected, 1 deleted, 6 inserted,
    // each with a new rowversion; and 4 changed by a transaction that took
    // its rowversion (0x7D4, below the mark) before the full load read and
    // committed after it.
    let after = vec![
        row(2, "Alan", "Turing-Smith", "alan@example.com", 0x7D6),
        row(3, "Barbara", "Liskov", "barbara@example.com", 0x7D7),
        row(4, "Grace", "Hopper-Late", "grace@example.com", 0x7D4),
        row(5, "Donald", "Knuth", "don@example.com", 0x7D5),
        row(6, "Frances", "Allen", "fran@example.com", 0x7D8),
    ];
    // The delta's statement, answered with the rows the source has in the
    // window: from the stored mark less the overlap of one step (4, and 5
    // read again) to the new one.
    let delta_sql = format!("{read} WHERE [RowVer] >= @P1 AND [RowVer] <= @P2 ORDER BY [CustomerID]");
    let window_rows: Vec<Vec<V>> = after
        .iter()
        .filter(|r| matches!(&r[4], V::Bytes(b) if b.as_slice() >= 0x7D4u64.to_be_bytes().as_slice()))
        .cloned()
        .collect();
    let columns = table(Vec::new()).columns;
    let delta = FakeTds::start_scripted(
        vec![table(after)],
        vec![max(0x7D8), Scripted { sql: delta_sql.clone(), columns, rows: window_rows }],
    );
    assert_success(&run(&delta, "delta"));
    assert!(
        delta.received().contains(&Received {
            sql: delta_sql,
            params: vec!["0x00000000000007D4".into(), "0x00000000000007D8".into()]
        }),
        "{:#?}",
        delta.received()
    );
    let r = report(&t.out_dir("delta"));
    // Read 2, 3, 4, 5, 6: 3 (rejected before) and 6 inserted, 2 and 4
    // (the late one) updated, 5 unchanged; 1 gone, found by the key scan.
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 0, 5, 2, 2, 1]);
    assert_eq!(missing(&r), [1, 1]);
    assert_eq!(window(&r)["previous_mark"], "\\x00000000000007d5");
    assert_eq!(window(&r)["read_from"], "\\x00000000000007d4");
    assert_eq!(window(&r)["mark"], "\\x00000000000007d8");
    assert_eq!(window(&r)["keys_scanned"], 5);
    let mut admin = t.admin().await;
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.source_key, c.last_name FROM contacts c JOIN migrate.keys k ON k.target_id = c.id ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |k: &str, n: &str| (k.to_string(), n.to_string());
    assert_eq!(
        names,
        [s("2", "Turing-Smith"), s("3", "Liskov"), s("4", "Hopper-Late"), s("5", "Knuth"), s("6", "Allen")]
    );
}

/// The source as a test changes it: id → (first name, last name, email).
type Model = std::collections::BTreeMap<u32, (String, String, String)>;

/// `count` changes to `model` and the SQL that makes them, in
/// transactions of one to four statements: updates (60%), inserts (25%,
/// some of them keys deleted before), deletes (15%).
fn mixed_changes(model: &mut Model, rng: &mut Seeded, count: u32, round: u32) -> Vec<String> {
    let mut statements = Vec::new();
    let mut next = model.keys().last().copied().unwrap_or(0) + 1;
    for i in 0..count {
        let pick = |model: &Model, rng: &mut Seeded| {
            let n = model.len() as u64;
            model.keys().nth(rng.below(n.max(1)) as usize).copied()
        };
        let roll = rng.below(100);
        let sql = match (roll, pick(model, rng)) {
            (0..60, Some(id)) => {
                let last = format!("R{round}C{i}");
                model.entry(id).and_modify(|r| r.1 = last.clone());
                format!("UPDATE crm.customers SET last_name = '{last}', updated_at = NOW(6) WHERE id = {id};")
            }
            (60..75, Some(id)) => {
                model.remove(&id);
                format!("DELETE FROM crm.customers WHERE id = {id};")
            }
            _ => {
                // Every tenth insert brings back a key deleted before, if any.
                let id = if i % 10 == 0 { (1..next).find(|k| !model.contains_key(k)).unwrap_or(next) } else { next };
                next = next.max(id + 1);
                let row = (format!("F{id}"), format!("R{round}C{i}"), format!("c{id}.{i}@example.com"));
                let sql =
                    format!("INSERT INTO crm.customers VALUES ({id}, '{}', '{}', '{}', NOW(6));", row.0, row.1, row.2);
                model.insert(id, row);
                sql
            }
        };
        statements.push(sql);
    }
    // Into transactions of one to four statements.
    let mut out = Vec::new();
    let mut rest = statements.as_slice();
    while !rest.is_empty() {
        let n = (1 + rng.below(4) as usize).min(rest.len());
        out.push(format!("START TRANSACTION; {} COMMIT;", rest[..n].join(" ")));
        rest = &rest[n..];
    }
    out
}

fn apply(db: &MariaDb, transactions: &[String]) {
    for chunk in transactions.chunks(300) {
        db.sql(&chunk.join("\n"));
    }
}

async fn binlog_source(db: &MariaDb, rows: u32) -> Model {
    source(db, "");
    let mut model = Model::new();
    for chunk in (1..=rows).collect::<Vec<u32>>().chunks(800) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| {
                model.insert(*i, (format!("F{i}"), format!("L{i}"), format!("p{i}@example.com")));
                format!("({i}, 'F{i}', 'L{i}', 'p{i}@example.com', '2026-11-01 00:00:00')")
            })
            .collect();
        db.sql(&format!("INSERT INTO crm.customers VALUES {};", values.join(", ")));
    }
    model
}

#[tokio::test]
async fn a_binlog_follow_applies_ten_thousand_mixed_changes_in_order() {
    let db = MariaDb::start_with_binlog();
    let mut model = binlog_source(&db, 2000).await;
    let t = Target::new().await;
    let map = mapping(t.work.path(), "{ cursor = \"$binlog\" }\nbinlog_batch = 3000");
    let out = sync(&t, &db, &map, "full");
    assert_success(&out);
    let r = report(&t.out_dir("full"));
    assert_eq!(counts(entity(&r, "contacts")), [2000, 0, 0, 0, 2000, 2000, 0, 0]);
    let full_mark = window(&r)["mark"].as_str().unwrap().to_string();
    assert!(full_mark.starts_with("binlog.000001:"), "{full_mark}");
    // The same place as a GTID position (domain 0, server 1).
    let gtid = |r: &serde_json::Value| window(r)["mark_gtid"].as_str().unwrap_or_default().to_string();
    assert!(gtid(&r).starts_with("0-1-"), "{r}");
    assert_eq!(window(&r)["deletes"], "full_read");

    let mut rng = Seeded(0xb1_0610);
    apply(&db, &mixed_changes(&mut model, &mut rng, 10_000, 1));
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env("LEGACY_MYSQL_URL", db.url("crm"))
        .args(["sync", "--until-caught-up", "--quiet"])
        .arg(&map)
        .args(["--out", "sync"])
        .output()
        .unwrap();
    assert_success(&out);
    // 10,000 row events, 3,000 a run at most: four runs, the last caught up.
    let runs: Vec<serde_json::Value> = (1..=4).map(|n| report(&t.out_dir("sync").join(format!("{n:05}")))).collect();
    assert!(!t.out_dir("sync").join("00005").exists());
    let caught: Vec<bool> = runs.iter().map(|r| window(r)["caught_up"].as_bool().unwrap()).collect();
    assert_eq!(caught, [false, false, false, true]);
    assert_eq!(window(&runs[0])["previous_mark"], full_mark.as_str());
    for pair in runs.windows(2) {
        assert_eq!(window(&pair[1])["previous_mark"], window(&pair[0])["mark"]);
    }
    assert!(runs.iter().all(|r| window(r)["deletes"] == "soft_delete"));
    // Each run's mark is later in GTID terms too.
    let sequence = |r: &serde_json::Value| gtid(r).rsplit('-').next().unwrap_or("0").parse::<u64>().unwrap();
    assert!(
        runs.windows(2).all(|p| sequence(&p[0]) < sequence(&p[1])),
        "{:?}",
        runs.iter().map(gtid).collect::<Vec<_>>()
    );
    assert_target_equals_source(&t, &db, "true").await;
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, model.len() as i64);
}

#[tokio::test]
async fn a_binlog_follow_stops_on_sigterm_after_publishing_and_a_killed_one_loses_nothing() {
    let db = MariaDb::start_with_binlog();
    let mut model = binlog_source(&db, 1000).await;
    let t = Target::new().await;
    let map = mapping(t.work.path(), "{ cursor = \"$binlog\" }\nbinlog_batch = 500");
    assert_success(&sync(&t, &db, &map, "full"));
    let mut admin = t.admin().await;
    let mut rng = Seeded(0x5167_7e53);
    let follow = |out: &str| {
        t.migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("LEGACY_MYSQL_URL", db.url("crm"))
            .args(["sync", "--follow", "--interval", "1", "--quiet"])
            .arg(&map)
            .args(["--out", out])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Killed (SIGKILL) at seeded points while changes arrive: whatever was
    // published stays, nothing is applied twice, the next sync is exact.
    for round in 1..=3 {
        let child = follow(&format!("killed-{round}"));
        apply(&db, &mixed_changes(&mut model, &mut rng, 1500, round));
        tokio::time::sleep(std::time::Duration::from_millis(rng.below(1500))).await;
        kill_and_wait(child, &mut admin).await;
        let out = t
            .migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("LEGACY_MYSQL_URL", db.url("crm"))
            .args(["sync", "--quiet"])
            .arg(&map)
            .args(["--out", &format!("after-{round}")])
            .output()
            .unwrap();
        assert_success(&out);
        assert_target_equals_source(&t, &db, "true").await;
    }

    // SIGTERM: the batch in hand is published, the position saved, exit 0.
    let child = follow("term");
    apply(&db, &mixed_changes(&mut model, &mut rng, 300, 9));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !t.out_dir("term").join("00001/report.json").exists() {
        assert!(std::time::Instant::now() < deadline, "the follow published nothing");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("its position is saved"));
    // Whatever the last batch held, a sync now finds the rest.
    let out = sync(&t, &db, &map, "rest");
    assert_success(&out);
    assert_target_equals_source(&t, &db, "true").await;
}

#[tokio::test]
async fn a_mongodb_collection_follows_its_change_stream() {
    let server = migrate_testkit::MongoServer::start_replica_set();
    let person = |id: u32, last: &str, email: &str| {
        format!(r#"{{"_id": {id}, "first_name": "P{id}", "last_name": "{last}", "email": "{email}"}}"#)
    };
    for id in 1..=5 {
        let email = if id == 3 { "not an address".to_string() } else { format!("p{id}@example.com") };
        server.write("crm", "customers", "insert", &person(id, &format!("L{id}"), &email), "").await;
    }
    let t = Target::new().await;
    let path = mongo_mapping(t.work.path(), "incremental = { cursor = \"$change_stream\" }\nchange_batch = 4");
    let url = server.url("crm");
    let full = run_from(&t, ("LEGACY_MONGO_URL", &url), &path, "full");
    assert_success(&full);
    let r = report(&t.out_dir("full"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 4, 0, 0]);
    assert!(window(&r)["mark"].as_str().unwrap().contains("_data"), "{r}");

    // Changes: an insert, two updates of one document, the rejected one
    // corrected, a delete, and a deleted document inserted again.
    let set = |id: u32, field: &str, value: &str| {
        (format!(r#"{{"_id": {id}}}"#), format!(r#"{{"$set": {{"{field}": "{value}"}}}}"#))
    };
    server.write("crm", "customers", "insert", &person(6, "L6", "p6@example.com"), "").await;
    for (filter, change) in
        [set(2, "last_name", "First change"), set(2, "last_name", "Second change"), set(3, "email", "p3@example.com")]
    {
        server.write("crm", "customers", "update", &filter, &change).await;
    }
    server.write("crm", "customers", "delete", r#"{"_id": 4}"#, "").await;
    server.write("crm", "customers", "delete", r#"{"_id": 5}"#, "").await;
    server.write("crm", "customers", "insert", &person(5, "Back again", "p5@example.com"), "").await;
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env("LEGACY_MONGO_URL", &url)
        .args(["sync", "--quiet"])
        .arg(&path)
        .args(["--out", "sync"])
        .output()
        .unwrap();
    assert_success(&out);
    // 7 events, 4 a run: two runs, the second from the first's token.
    let first = report(&t.out_dir("sync").join("00001"));
    let second = report(&t.out_dir("sync").join("00002"));
    assert!(!t.out_dir("sync").join("00003").exists());
    assert_eq!(
        (window(&first)["caught_up"].as_bool(), window(&second)["caught_up"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(window(&second)["previous_mark"], window(&first)["mark"]);
    assert_eq!(window(&first)["previous_mark"], window(&r)["mark"]);
    let mut admin = t.admin().await;
    let target: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT k.source_key, c.last_name, c.email FROM contacts c JOIN migrate.keys k ON k.target_id = c.id ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        target,
        [
            s("1", "L1", "p1@example.com"),
            s("2", "Second change", "p2@example.com"),
            s("3", "L3", "p3@example.com"),
            s("5", "Back again", "p5@example.com"),
            s("6", "L6", "p6@example.com"),
        ]
    );
}

#[tokio::test]
async fn a_new_csv_export_applies_exactly_what_changed_since_the_last() {
    let t = Target::new().await;
    let dir = t.work.path().join("csv");
    std::fs::create_dir_all(&dir).unwrap();
    let export = |rows: &[&str]| {
        std::fs::write(dir.join("customers.csv"), format!("id,first_name,last_name,email\n{}\n", rows.join("\n")))
            .unwrap()
    };
    let source = "kind = \"csv\"\npath = \"customers.csv\"";
    let map = contacts_mapping(dir.join("mapping.toml"), "legacy-csv", source, "id", "50%");
    export(&[
        "1,Ada,Lovelace,ada@example.com",
        "2,Alan,Turing,alan@example.com",
        "3,Barbara,Liskov,not an address",
        "4,Grace,Hopper,grace@example.com",
        "5,Donald,Knuth,don@example.com",
    ]);
    assert_success(&t.run(&map, ORG_A, "first"));
    let r = report(&t.out_dir("first"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 4, 0, 0]);

    // The next export: 2 changed, 3 corrected, 4 gone, 6 new; 1 and 5 as
    // they were. A file has no cursor: it is read whole, and the key map
    // and the rows' values tell what changed.
    export(&[
        "1,Ada,Lovelace,ada@example.com",
        "2,Alan,Turing-Smith,alan@example.com",
        "3,Barbara,Liskov,barbara@example.com",
        "5,Donald,Knuth,don@example.com",
        "6,Frances,Allen,fran@example.com",
    ]);
    assert_success(&t.run(&map, ORG_A, "second"));
    let r = report(&t.out_dir("second"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 0, 5, 2, 1, 2]);
    assert_eq!(missing(&r), [1, 1]);
    let mut admin = t.admin().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.source_key, c.last_name FROM contacts c JOIN migrate.keys k ON k.target_id = c.id ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |k: &str, n: &str| (k.to_string(), n.to_string());
    assert_eq!(rows, [s("1", "Lovelace"), s("2", "Turing-Smith"), s("3", "Liskov"), s("5", "Knuth"), s("6", "Allen")]);
}
