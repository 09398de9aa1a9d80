//! `migrate run` from a legacy MySQL CRM (a real MariaDB server) into the
//! platform: zero dates counted and nulled, partial dates rejected with
//! their row, latin1 names and mis-declared UTF-8 decoded, money exact,
//! tasks linked to their contacts, and a re-run that changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use migrate_testkit::MariaDb;
use support::*;

/// first_name, last_name, company, status, credit limit, created date.
type ContactRow = (String, String, Option<String>, String, Option<String>, Option<String>);
/// title, status, priority, due date, fee, linked to a contact.
type TaskRow = (String, String, String, Option<String>, Option<String>, bool);

#[tokio::test]
async fn a_legacy_mysql_crm_lands_in_contacts_and_tasks() {
    let db = MariaDb::start();
    db.load(&workspace().join("fixtures/mysql/legacy_crm.sql"));
    let t = Target::new().await;
    let mapping = workspace().join("fixtures/mysql/legacy_crm.toml");
    let run = |out: &str| {
        t.migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("LEGACY_MYSQL_URL", db.url("legacy_crm"))
            .arg("run")
            .arg(&mapping)
            .args(["--out", out])
            .output()
            .unwrap()
    };
    let out = run("first");
    assert_success(&out);
    let r = report(&t.out_dir("first"));
    migrate_testkit::check_report(&r);
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 2, 3, 3, 0, 0]);
    assert_eq!(counts(entity(&r, "tasks")), [5, 0, 0, 0, 5, 5, 0, 0]);
    let reasons: Vec<(String, String)> = entity(&r, "contacts")["rejects_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (x["reason"].as_str().unwrap().to_string(), x["examples"][0]["location"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("invalid_date".to_string(), "legacy_crm.customers[id=3]".to_string()),
            ("invalid_email".to_string(), "legacy_crm.customers[id=5]".to_string())
        ]
    );
    let source = &r["sources"][0];
    assert_eq!(source["kind"], "mysql");
    assert!(source["location"].as_str().unwrap().starts_with("mysql://migrate:***@127.0.0.1:"), "{source}");
    let warnings: Vec<(&str, &str, &str, u64)> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let column = w["column"].as_str().unwrap_or("");
            (w["entity"].as_str().unwrap(), column, w["code"].as_str().unwrap(), w["count"].as_u64().unwrap())
        })
        .collect();
    for expected in [
        ("contacts", "signup_date", "sentinel_date_defaulted", 1),
        ("contacts", "last_login", "sentinel_date_nulled", 1),
        ("tasks", "due", "sentinel_date_nulled", 1),
        // Customer 3 was rejected, customer 99 never existed.
        ("tasks", "contact_id", "orphan_unlinked", 2),
    ] {
        assert!(warnings.contains(&expected), "{expected:?} in {warnings:?}");
    }

    let mut admin = t.admin().await;
    let contacts: Vec<ContactRow> = sqlx::query_as(
        "SELECT first_name, last_name, company, status, custom_fields->'credit_limit'->>'amount',
                CASE WHEN created_at > now() - interval '1 day' THEN 'the default, now()'
                     ELSE to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END
           FROM contacts ORDER BY last_name",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(
        contacts,
        [
            (s("Ada"), s("Lovelace"), Some(s("Analytical Engines")), s("active"), None, Some(s("1843-09-05"))),
            (
                s("Jürgen"),
                s("Müller"),
                Some(s("Bäckerei Göller")),
                s("active"),
                Some(s("15000.00")),
                Some(s("2019-03-14"))
            ),
            (
                s("Zoë"),
                s("Ångström"),
                Some(s("Nordic AB")),
                s("inactive"),
                Some(s("0.10")),
                Some(s("the default, now()"))
            ),
        ]
    );
    let tasks: Vec<TaskRow> = sqlx::query_as(
        "SELECT t.title, t.status, t.priority, t.due_date::text, t.custom_fields->'fee'->>'amount',
                t.contact_id IS NOT NULL
           FROM tasks t ORDER BY t.title",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(tasks.len(), 5);
    let fee: Vec<(&str, Option<&str>, bool)> = tasks.iter().map(|t| (t.0.as_str(), t.4.as_deref(), t.5)).collect();
    assert_eq!(
        fee,
        [
            ("Call a customer we lost", Some("10.0000"), false),
            ("Print the notes", Some("99999.9999"), true),
            ("Rückruf wegen Angebot", Some("1234.5678"), true),
            ("Send contract", Some("0.0001"), true),
            ("Visite de courtoisie", None, false),
        ],
        "customer 3 was rejected, 99 never existed: both unlinked"
    );
    assert_eq!(tasks[2].1, "open");
    assert_eq!(tasks[2].2, "high");
    assert_eq!(tasks[3].3, None, "a zero date is no date");

    // The same source again: nothing changes.
    assert_success(&run("again"));
    let r = report(&t.out_dir("again"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 2, 3, 0, 0, 3]);
    assert_eq!(counts(entity(&r, "tasks")), [5, 0, 0, 0, 5, 0, 0, 5]);
}

/// A source whose column types drifted from what the mapping was written
/// for: every value still arrives as text, and each one the mapping cannot
/// take rejects its row with the column and value; the run completes and
/// the report adds up.
#[tokio::test]
async fn columns_of_unexpected_types_reject_their_rows_and_the_run_completes() {
    let db = MariaDb::start();
    db.sql(
        "CREATE DATABASE drifted CHARACTER SET utf8mb4;
         CREATE TABLE drifted.customers (
           id INT PRIMARY KEY, first_name VARBINARY(40), last_name TEXT, email INT,
           is_active BIT(1), signup_date DOUBLE, credit_limit POINT, last_login TIME, tier JSON,
           tags SET('a','b'));
         INSERT INTO drifted.customers VALUES
           (1, 'Ada', 'Lovelace', NULL, b'1', NULL, NULL, NULL, '{\"level\": 1}', 'a,b'),
           (2, 0xC328, 'Bytes', NULL, b'0', NULL, NULL, NULL, NULL, NULL),
           (3, 'Carl', 'Int', 42, b'1', NULL, NULL, NULL, NULL, NULL),
           (4, 'Dora', 'Double', NULL, b'1', 43831.5, NULL, NULL, NULL, NULL),
           (5, 'Emil', 'Point', NULL, b'1', NULL, POINT(1, 2), NULL, NULL, NULL),
           (6, 'Fay', 'Time', NULL, b'1', NULL, NULL, '838:59:59', NULL, NULL);",
    );
    let t = Target::new().await;
    let dir = t.out_dir("drifted");
    std::fs::create_dir_all(&dir).unwrap();
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        r#"[migration]
name = "drifted"
source_system = "legacy-mysql"
org_id = "${ORG_ID}"

[sources.customers]
kind = "mysql"
url = "${LEGACY_MYSQL_URL}"
table = "drifted.customers"
# Names were kept in a binary column: without this they load as \x hex.
decode = { first_name = "utf-8" }

[contacts]
from = "customers"
key = ["id"]

[contacts.columns]
first_name = "first_name"
last_name = "last_name"
email = { from = "email", transform = ["email"] }
status = { from = "is_active", transform = [{ map = { values = { "1" = "active", "0" = "inactive" } } }] }
created_at = { from = "signup_date", transform = [{ date = { formats = ["iso"] } }] }
"custom_fields.last_login" = { from = "last_login", transform = [{ date = { formats = ["iso"], timezone = "UTC" } }] }
"custom_fields.credit_limit" = { from = "credit_limit", transform = [{ money = { currency = "USD" } }] }
"custom_fields.tier" = "tier"
"custom_fields.tags" = "tags"
"#,
    )
    .unwrap();
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env("LEGACY_MYSQL_URL", db.url("drifted"))
        .arg("run")
        .arg(&mapping)
        .args(["--out", "drifted-out"])
        .output()
        .unwrap();
    assert_success(&out);
    let r = report(&t.out_dir("drifted-out"));
    migrate_testkit::check_report(&r);
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [6, 0, 0, 4, 2, 2, 0, 0]);
    let mut rejects: Vec<(String, String, String, String)> = Vec::new();
    for reason in entity(&r, "contacts")["rejects_by_reason"].as_array().unwrap() {
        for x in reason["examples"].as_array().unwrap() {
            let field = |k: &str| x[k].as_str().unwrap().to_string();
            rejects.push((
                reason["reason"].as_str().unwrap().to_string(),
                field("location"),
                field("column"),
                field("value"),
            ));
        }
    }
    rejects.sort();
    let s = |x: &str| x.to_string();
    assert_eq!(
        rejects,
        [
            (
                s("invalid_amount"),
                s("drifted.customers[id=5]"),
                s("credit_limit"),
                s("\\x000000000101000000000000000000f03f0000000000000040")
            ),
            (s("invalid_date"), s("drifted.customers[id=4]"), s("signup_date"), s("43831.5")),
            (s("invalid_date"), s("drifted.customers[id=6]"), s("last_login"), s("838:59:59")),
            (s("invalid_email"), s("drifted.customers[id=3]"), s("email"), s("42")),
        ]
    );
    let mut admin = t.admin().await;
    let loaded: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT first_name, status, custom_fields->>'tier', custom_fields->>'tags' FROM contacts ORDER BY last_name",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let some = |x: &str| Some(x.to_string());
    assert_eq!(
        loaded,
        [
            (s("\u{fffd}("), s("inactive"), None, None),
            (s("Ada"), s("active"), some("{\"level\": 1}"), some("[\"a\",\"b\"]")),
        ]
    );
    let warning = &r["warnings"][0];
    assert_eq!(
        (warning["code"].as_str(), warning["column"].as_str(), warning["count"].as_u64()),
        (Some("invalid_bytes_replaced"), Some("first_name"), Some(1))
    );
}
