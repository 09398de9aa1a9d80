//! A `mariadb-dump` file a customer sends, loaded through a mapping with
//! `kind = "sql_dump"`: every value exact, the other tables' rows skipped
//! and counted in the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use migrate_testkit::MariaDb;
use support::*;

#[tokio::test]
async fn a_mariadb_dump_loads_exactly_and_counts_the_rows_of_other_tables() {
    let db = MariaDb::start();
    db.sql(
        "CREATE DATABASE crm CHARACTER SET utf8mb4;
         CREATE TABLE crm.customers (id INT PRIMARY KEY, name VARCHAR(100), note TEXT, credit DECIMAL(12,2), since DATE);
         INSERT INTO crm.customers VALUES
           (1, 'O''Brien', 'two\\nlines, a tab\\t and a \\\\ backslash; done', 12.50, '2019-03-04'),
           (2, 'Zoë Müller', NULL, -0.01, NULL),
           (3, '(parens), commas; semicolons', '\\'quoted\\' \"double\"', 0, '2020-02-29');
         CREATE TABLE crm.orders (id INT PRIMARY KEY, customer INT);
         INSERT INTO crm.orders VALUES (10, 1), (11, 1), (12, 3);",
    );
    let t = Target::new().await;
    let dir = t.work.path().join("dump");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crm.sql"), db.dump("crm")).unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        r#"[migration]
name = "dump"
org_id = "${ORG_ID}"
source_system = "crm-dump"

[sources.crm]
kind = "sql_dump"
path = "crm.sql"
table = "customers"

[contacts]
from = "crm"
key = "id"

[contacts.columns]
last_name = "name"
"custom_fields.note" = "note"
"custom_fields.credit" = "credit"
created_at = { from = "since", transform = [{ date = { formats = ["iso"] } }] }
"#,
    )
    .unwrap();
    assert_success(
        &t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(dir.join("mapping.toml")).output().unwrap(),
    );
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 0, 3, 3, 0, 0]);
    assert_eq!(r["sources"][0]["kind"], "sql_dump");
    assert_eq!(r["sources"][0]["skipped"], serde_json::json!([{ "what": "rows of table orders", "rows": 3 }]));
    let mut admin = t.admin().await;
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT last_name, custom_fields->>'note', custom_fields->>'credit' FROM contacts c
           JOIN migrate.keys k ON k.target_id = c.id ORDER BY k.source_key",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        [
            ("O'Brien".to_string(), s("two\nlines, a tab\t and a \\ backslash; done"), s("12.50")),
            ("Zoë Müller".to_string(), None, s("-0.01")),
            ("(parens), commas; semicolons".to_string(), s("'quoted' \"double\""), s("0.00")),
        ]
    );
}
