//! A file without a header row: read with `header = false`, every record
//! loads; read with the default, the first record becomes the column names,
//! and every surface (inspect, init, validate, the run's verdict, the
//! report's warnings and sources) says that the header looks like data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

/// A `bcp`-style dump: ID, joined, surname, balance, and no header.
const DUMP: &str = "1001,2019-03-12,Smith,45.00\n1002,2019-03-13,Jones,12.50\n1003,2019-04-01,Brown,7.25\n1004,2019-05-20,Lopez,0.00\n";

fn mapping(header: Option<bool>, key: &str, name: &str) -> String {
    let header = header.map(|h| format!("header = {h}\n")).unwrap_or_default();
    format!(
        r#"[migration]
name = "dump"
org_id = "${{ORG_ID}}"
source_system = "dump"

[sources.dump]
kind = "csv"
path = "dump.csv"
{header}
[contacts]
from = "dump"
key = "{key}"

[contacts.columns]
last_name = "{name}"
"#
    )
}

#[tokio::test]
async fn a_headerless_file_loads_every_record_with_header_false_and_is_flagged_without_it() {
    let t = Target::new().await;
    let dir = t.work.path().join("dump");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dump.csv"), DUMP).unwrap();

    // inspect and init say it before any mapping exists.
    let out = t.migrate_as(LOADER).arg("inspect").arg(dir.join("dump.csv")).output().unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("warning:   the header looks like data (header_looks_like_data)"), "{stdout}");
    let out = t.migrate_as(LOADER).arg("init").arg(dir.join("dump.csv")).output().unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# warning (header_looks_like_data): 3 of the header's 4 named cells"), "{stdout}");
    assert!(stdout.contains("# header = false  # if line/row 1 is a record"), "{stdout}");

    // With header = false: four records, four contacts, and the verdict
    // that every record is accounted for.
    let with = dir.join("with.toml");
    std::fs::write(&with, mapping(Some(false), "column_1", "column_3")).unwrap();
    let out = t.run(&with, ORG_A, "with");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("All 4 source rows are accounted for."), "{stdout}");
    let r = report(&t.out_dir("with"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 0, 4, 4, 0, 0]);
    assert_eq!(entity(&r, "contacts")["rejects_by_reason"], serde_json::json!([]), "present when nothing was rejected");
    assert_eq!(r["sources"][0]["header"], serde_json::json!({"consumed": false, "skipped_above": 0, "fields": []}));
    assert!(r["warnings"].as_array().unwrap().iter().all(|w| w["code"] != "header_looks_like_data"));
    let mut conn = t.admin().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT last_name FROM contacts ORDER BY last_name").fetch_all(&mut conn).await.unwrap();
    assert_eq!(names, ["Brown", "Jones", "Lopez", "Smith"], "Smith, the first record, is loaded");

    // Without it: the first record is consumed as names. validate warns
    // (exit 0), the run balances on 3 data rows, but no surface claims
    // that every record is accounted for.
    let without = dir.join("without.toml");
    std::fs::write(&without, mapping(None, "1001", "Smith")).unwrap();
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_B).arg("validate").arg(&without).output().unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the header of source `dump` looks like data"), "{stderr}");
    assert!(stderr.contains("[header_looks_like_data]"), "{stderr}");
    let out = t.run(&without, ORG_B, "without");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("source rows are accounted for"), "{stdout}");
    assert!(
        stdout.contains(
            "All 3 data rows read are accounted for, but the header of source dump (line or row 1) looks like data: it may be a record that was not loaded."
        ),
        "{stdout}"
    );
    let r = report(&t.out_dir("without"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [3, 0, 0, 0, 3, 3, 0, 0]);
    assert_eq!(e["balanced"], true, "read keeps meaning data records");
    let header = &r["sources"][0]["header"];
    assert_eq!(header["consumed"], true);
    assert_eq!(header["line"], 1);
    assert_eq!(header["fields"], serde_json::json!(["1001", "2019-03-12", "Smith", "45.00"]));
    let warning = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "header_looks_like_data").unwrap();
    assert_eq!(warning["count"], 1);
    let html = std::fs::read_to_string(t.out_dir("without").join("report.html")).unwrap();
    assert!(html.contains("The header of source dump looks like a data record"), "the page says it");
    assert!(html.contains("1001 | 2019-03-12 | Smith | 45.00"), "and shows what was consumed");
    assert!(html.contains("<td>line 1</td>"));
    let html = std::fs::read_to_string(t.out_dir("with").join("report.html")).unwrap();
    assert!(html.contains("<td>none (header = false)</td>"));
}

/// Every setting left to the data is in the report's decisions with its
/// evidence: the encoding, the delimiter, the quoting and the preamble
/// skipped above the header (`skip_rows = "auto"`).
#[tokio::test]
async fn every_auto_setting_of_a_file_is_a_decision_in_the_report() {
    let t = Target::new().await;
    let dir = t.work.path().join("auto");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("export.csv"),
        "Kundenliste\nStand 2024-01-31\n\nNr;Name;Ort\n1;Ada;Köln\n2;Grace;\"Bad Ems\"\n3;Alan;Bonn\n",
    )
    .unwrap();
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        r#"[migration]
name = "auto"
org_id = "${ORG_ID}"
source_system = "auto"

[sources.export]
kind = "csv"
path = "export.csv"
skip_rows = "auto"

[contacts]
from = "export"
key = "Nr"

[contacts.columns]
last_name = "Name"
"custom_fields.city" = "Ort"
"#,
    )
    .unwrap();
    assert_success(&t.run(&mapping, ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 0, 3, 3, 0, 0]);
    let decided: Vec<(String, String, String, String, String)> = r["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let s = |k: &str| d[k].as_str().unwrap().to_string();
            (s("entity"), s("source"), s("setting"), s("decision"), s("evidence"))
        })
        .collect();
    // Two records above the header (the blank line is none).
    let expected = [
        ("encoding", "utf-8", "valid_utf8 (judged on the whole file)"),
        ("delimiter", ";", "the candidate that splits the first 64 KiB into the most consistent records"),
        ("quoting", "rfc4180", "how the quotes of the first 64 KiB are escaped"),
        ("skip_rows", "2", "the header on line 4: the first record as wide as the records below it"),
    ]
    .map(|(s, d, e)| ("contacts".to_string(), "export".to_string(), s.to_string(), d.to_string(), e.to_string()));
    assert_eq!(decided, expected);
}
