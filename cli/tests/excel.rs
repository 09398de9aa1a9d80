//! An Excel workbook through a mapping into PostgreSQL: cell locations in
//! rejects, error cells counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[tokio::test]
async fn a_workbook_loads_with_cell_locations_and_counted_error_cells() {
    let t = Target::new().await;
    let dir = t.work.path().join("xl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(workspace().join("fixtures/files/customers.xlsx"), dir.join("customers.xlsx")).unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        r#"[migration]
name = "xl"
org_id = "${ORG_ID}"
source_system = "xl"

[sources.book]
kind = "excel"
path = "customers.xlsx"
sheet = "Kunden"
skip_rows = 2

[contacts]
from = "book"
key = "ID"

[contacts.columns]
first_name = "Name"
created_at = { from = "Joined", transform = [{ date = { formats = ["iso"] } }] }
"custom_fields.zip" = "Zip"
"custom_fields.check" = { from = "Check", required = true }
"#,
    )
    .unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "xl-out"));
    let r = report(&t.out_dir("xl-out"));
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 2, 1, 1, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("xl-out").join("rejects/contacts.csv"));
    let located: Vec<(&str, &str)> = rejects.iter().map(|r| (r[0].as_str(), r[3].as_str())).collect();
    let file = dir.join("customers.xlsx").display().to_string();
    assert_eq!(
        located,
        vec![
            (format!("{file}:Kunden!A4").as_str(), "required_missing"),
            (format!("{file}:Kunden!A5").as_str(), "required_missing")
        ]
    );
    let warnings = r["warnings"].as_array().unwrap();
    let errors = warnings.iter().find(|w| w["code"] == "excel_error_nulled").unwrap();
    assert_eq!(errors["count"], 2);
    assert_eq!(errors["examples"], serde_json::json!(["#DIV/0!", "#N/A"]));
    assert_eq!(r["sources"][0]["kind"], "excel");
    let mut conn = t.admin().await;
    let zip: String =
        sqlx::query_scalar("SELECT custom_fields->>'zip' FROM contacts").fetch_one(&mut conn).await.unwrap();
    assert_eq!(zip, "90210", "text cells keep their leading zeros; row 3 is the one loaded");
}

#[tokio::test]
async fn duration_cells_load_as_seconds_and_a_date_transform_on_them_says_to_use_duration() {
    let t = Target::new().await;
    let dir = t.work.path().join("xl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(workspace().join("fixtures/files/serials.xlsx"), dir.join("serials.xlsx")).unwrap();
    let mapping = |elapsed: &str| {
        format!(
            r#"[migration]
name = "xl"
org_id = "${{ORG_ID}}"
source_system = "xl"

[sources.book]
kind = "excel"
path = "serials.xlsx"

[tasks]
from = "book"
key = "Label"

[tasks.columns]
title = "Label"
"custom_fields.elapsed" = {{ from = "Elapsed", transform = [{elapsed}] }}
"#
        )
    };
    let as_date = dir.join("date.toml");
    std::fs::write(&as_date, mapping("{ date = { formats = [\"iso\"] } }")).unwrap();
    assert_success(&t.run(&as_date, ORG_A, "date"));
    let r = report(&t.out_dir("date"));
    // 36:30:00, 0:01:00 and 48:00:00 are no dates; the day-60 row is refused by the workbook.
    assert_eq!(counts(entity(&r, "tasks")), [5, 0, 0, 4, 1, 1, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("date").join("rejects/tasks.csv"));
    let first = rejects.iter().find(|r| r[2] == "36:30:00").unwrap();
    assert!(first[4].ends_with("(it reads as a duration: use the duration transform)"), "{first:?}");

    let as_duration = dir.join("duration.toml");
    std::fs::write(&as_duration, mapping("\"duration\"")).unwrap();
    assert_success(&t.run(&as_duration, ORG_A, "duration"));
    let r = report(&t.out_dir("duration"));
    assert_eq!(counts(entity(&r, "tasks")), [5, 0, 0, 1, 4, 3, 0, 1]);
    let mut conn = t.admin().await;
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT title, custom_fields FROM tasks ORDER BY title").fetch_all(&mut conn).await.unwrap();
    let expected = [
        ("day 59", serde_json::json!({ "elapsed": 60 })),
        ("day 61", serde_json::json!({ "elapsed": 172800 })),
        ("first day", serde_json::json!({ "elapsed": 131400 })),
        ("noon", serde_json::json!({})),
    ];
    assert_eq!(rows, expected.map(|(t, c)| (t.to_string(), c)));
}
