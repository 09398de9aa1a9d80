//! `migrate inspect FILE`: encoding, dialect, header and column types.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::*;

fn inspect(file: &str, json: bool) -> std::process::Output {
    let mut c = Command::new(migrate_bin());
    c.arg("inspect").arg(workspace().join(file));
    if json {
        c.arg("--json");
    }
    c.output().unwrap()
}

#[test]
fn a_windows_1252_export_with_a_preamble_is_described_exactly() {
    let out = inspect("fixtures/files/windows1252_semicolon_preamble.csv", true);
    assert_success(&out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["encoding"], "windows-1252");
    assert_eq!(found["delimiter"], ";");
    assert_eq!(found["header_line"], 4);
    assert_eq!(found["rows_sampled"], 3);
    let columns: Vec<(String, String)> = found["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["guessed_type"].as_str().unwrap().to_string()))
        .collect();
    let expected = [
        ("Kundennr", "text (leading zeros)"),
        ("Name", "text"),
        ("Ort", "text"),
        ("Umsatz", "money (de)"),
        ("Seit", "date (dmy)"),
        ("Aktiv", "boolean"),
    ];
    assert_eq!(columns, expected.map(|(a, b)| (a.to_string(), b.to_string())).to_vec());
    let kundennr = &found["columns"][0];
    assert_eq!(kundennr["unique"], true);
    assert_eq!(found["columns"][1]["examples"][0], "Müller GmbH");
    assert_eq!(found["columns"][3]["null_ratio"].as_f64().unwrap(), 1.0 / 3.0);

    let human = inspect("fixtures/files/windows1252_semicolon_preamble.csv", false);
    assert_success(&human);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("encoding:  windows-1252 (detected"), "{text}");
    assert!(text.contains("header:    line 4"), "{text}");
    assert!(text.contains("yes (candidate key)"), "{text}");
}

#[test]
fn a_workbook_is_described_with_its_sheets_and_header_row() {
    let out = inspect("fixtures/files/customers.xlsx", true);
    assert_success(&out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["kind"], "excel");
    assert_eq!(found["sheets"], serde_json::json!(["Kunden", "Notes", "Merged"]));
    assert_eq!(found["sheet"], "Kunden");
    assert_eq!(found["header_line"], 3, "below the title row and a blank row");
    let types: Vec<&str> =
        found["columns"].as_array().unwrap().iter().map(|c| c["guessed_type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "integer",
            "text",
            "date (iso)",
            "timestamp (iso)",
            "text",
            "decimal",
            "boolean",
            "text",
            "text (leading zeros)"
        ]
    );
}

#[test]
fn an_xml_export_shows_its_repeating_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.xml");
    std::fs::write(
        &file,
        "<Export><Customers><Customer><Phone/><Phone/></Customer><Customer><Phone/></Customer><Customer/></Customers></Export>",
    )
    .unwrap();
    let out = Command::new(migrate_bin()).arg("inspect").arg(&file).arg("--json").output().unwrap();
    assert_success(&out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["kind"], "xml");
    assert_eq!(
        found["repeated_paths"],
        serde_json::json!([["/Export/Customers/Customer", 3], ["/Export/Customers/Customer/Phone", 3]])
    );
}

#[test]
fn files_it_cannot_read_are_bad_usage() {
    let out = Command::new(migrate_bin()).args(["inspect", "dump.bak"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("inspect reads .csv, .tsv, .txt, .xlsx"));
    // A mongoexport file that is not there is an error naming it.
    let out = Command::new(migrate_bin()).args(["inspect", "dump.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("opening (dump.json): No such file"));
}
