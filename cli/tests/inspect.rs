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

/// Each candidate record path lists its attributes and child elements as
/// a mapping's `fields` names them, with counts and an example: nothing to
/// find by hand.
#[test]
fn an_xml_record_path_lists_its_fields_with_counts_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("posts.xml");
    std::fs::write(
        &file,
        "<?xml version=\"1.0\"?>\n<posts>\n  <row Id=\"1\" Score=\"10\" Title=\"First &amp; best\"/>\n  \
         <row Id=\"2\" Score=\"-1\"><Tag>rust</Tag><Tag>sql</Tag></row>\n  <row Id=\"3\"><Body><![CDATA[<p>hi</p>]]></Body></row>\n</posts>\n",
    )
    .unwrap();
    let out = Command::new(migrate_bin()).arg("inspect").arg(&file).arg("--json").output().unwrap();
    assert_success(&out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["record_fields"][0]["record"], "/posts/row");
    assert_eq!(
        found["record_fields"][0]["fields"],
        serde_json::json!([
            { "field": "@Id", "count": 3, "example": "1" },
            { "field": "@Score", "count": 2, "example": "10" },
            { "field": "@Title", "count": 1, "example": "First & best" },
            { "field": "Body", "count": 1, "example": "<p>hi</p>" },
            { "field": "Tag", "count": 2, "example": "rust" },
        ])
    );
    let text = Command::new(migrate_bin()).arg("inspect").arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("fields of /posts/row (as `fields` names them):"), "{text}");
    assert!(text.contains("       3  @Id  e.g. 1"), "{text}");
}

#[test]
fn files_it_cannot_read_are_bad_usage() {
    // A database backup: binary data that is no workbook.
    let work = tempfile::tempdir().unwrap();
    let backup = work.path().join("dump.bak");
    let mut bytes = b"TAPE".to_vec();
    bytes.extend(std::iter::repeat_n(0u8, 2000));
    std::fs::write(&backup, bytes).unwrap();
    let out = Command::new(migrate_bin()).args(["inspect", backup.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("binary data that is no workbook: inspect reads CSV and other delimited text, Excel workbooks"),
        "{stderr}"
    );
    // A file that is not there is an error naming it.
    let out = Command::new(migrate_bin()).args(["inspect", "nothing.bak"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing.bak: No such file"));
    // A mongoexport file that is not there is an error naming it.
    let out = Command::new(migrate_bin()).args(["inspect", "dump.json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("opening (dump.json): No such file"));
}

/// A file whose name says nothing (an `.rss` feed, a `.dat` dump) is read
/// as its content looks; `--kind` says it outright.
#[test]
fn inspect_sniffs_what_a_file_holds_and_kind_overrides_it() {
    let work = tempfile::tempdir().unwrap();
    let feed = work.path().join("news.rss");
    std::fs::write(
        &feed,
        "<?xml version=\"1.0\"?>\n<rss><channel><item><title>a</title></item><item><title>b</title></item></channel></rss>\n",
    )
    .unwrap();
    let dump = work.path().join("customers.dat");
    std::fs::write(&dump, "[id];[name]\n1;Ada\n2;Grace\n").unwrap();
    let export = work.path().join("people.export");
    std::fs::write(&export, "{\"_id\":1,\"name\":\"Ada\"}\n{\"_id\":2,\"name\":\"Grace\"}\n").unwrap();
    let inspect = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(migrate_bin()).arg("inspect").args(args).arg("--json").output().unwrap();
        assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let rss = inspect(&[feed.as_os_str()]);
    assert_eq!(rss["kind"], "xml");
    assert!(rss["repeated_paths"].to_string().contains("/rss/channel/item"), "{rss}");
    let csv = inspect(&[dump.as_os_str()]);
    assert_eq!((csv["kind"].as_str(), csv["delimiter"].as_str()), (Some("csv"), Some(";")));
    assert_eq!(csv["rows_sampled"], 2);
    let json = inspect(&[export.as_os_str()]);
    assert_eq!((json["kind"].as_str(), json["rows_sampled"].as_u64()), (Some("mongodb"), Some(2)));
    // --kind reads a file as it says, whatever it looks like.
    let as_csv = inspect(&[feed.as_os_str(), "--kind".as_ref(), "csv".as_ref()]);
    assert_eq!(as_csv["kind"], "csv");
    let out = std::process::Command::new(migrate_bin())
        .args(["inspect", feed.to_str().unwrap(), "--kind", "pdf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kind \"pdf\" is not a file kind inspect reads"));
}

/// A header that ends with an empty field: the column there is shown under
/// its generated name with how many rows fill it.
#[test]
fn a_trailing_empty_header_field_is_a_column_inspect_counts() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("export.csv");
    std::fs::write(&file, "id;name;\n1;Ada;VIP\n2;Grace;\n3;Alan;VIP\n4;Kurt\n").unwrap();
    let out = Command::new(migrate_bin()).args(["inspect", file.to_str().unwrap(), "--json"]).output().unwrap();
    assert_success(&out);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let columns: Vec<(String, u64)> = found["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c["present"].as_u64().unwrap()))
        .collect();
    let expect = [("id", 4), ("name", 4), ("column_3", 2)];
    assert_eq!(columns, expect.map(|(n, p)| (n.to_string(), p)));
}
