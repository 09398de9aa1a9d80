//! `migrate init` on every fixture: the mapping it writes passes
//! `validate` as written and loads with the exact expected counts; and the
//! columns it matched are the expected ones, not just any.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

struct Case {
    file: &'static str,
    /// (target column, source header) that init must propose.
    matches: &'static [(&'static str, &'static str)],
    key: &'static str,
    /// read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    counts: [u64; 8],
}

const CASES: &[Case] = &[
    Case {
        file: "demo/customers.csv",
        matches: &[
            ("type", "Type"),
            ("first_name", "FirstName"),
            ("last_name", "LastName"),
            ("email", "E-Mail"),
            ("phone", "Phone"),
            ("company", "Company"),
            ("created_at", "Created"),
        ],
        key: "key = [\"CustomerID\"]",
        // Four rows of type "Prospect" (a well-known synonym of lead) load.
        counts: [302, 0, 10, 8, 284, 284, 0, 0],
    },
    Case {
        file: "files/windows1252_semicolon_preamble.csv",
        matches: &[("company", "Name"), ("created_at", "Seit")],
        key: "key = [\"Kundennr\"]",
        counts: [3, 0, 0, 0, 3, 3, 0, 0],
    },
    Case {
        file: "files/customers.xlsx",
        matches: &[("first_name", "Name"), ("last_name", "Name"), ("created_at", "Joined")],
        key: "key = [\"ID\"]",
        counts: [3, 0, 0, 0, 3, 3, 0, 0],
    },
    Case {
        file: "files/customers_1904.xlsx",
        matches: &[("first_name", "Name"), ("last_name", "Name"), ("created_at", "Joined")],
        key: "key = [\"ID\"]",
        counts: [3, 0, 0, 0, 3, 3, 0, 0],
    },
    Case {
        file: "files/customers.xls",
        matches: &[("first_name", "Name"), ("last_name", "Name"), ("created_at", "Joined")],
        key: "key = [\"ID\"]",
        counts: [3, 0, 0, 0, 3, 3, 0, 0],
    },
    Case {
        file: "files/customers.ods",
        matches: &[("first_name", "Name"), ("last_name", "Name"), ("created_at", "Joined")],
        key: "key = [\"ID\"]",
        counts: [3, 0, 0, 0, 3, 3, 0, 0],
    },
];

#[tokio::test]
async fn init_writes_a_mapping_that_validates_and_loads_every_fixture_exactly() {
    let t = Target::new().await;
    let mut wrong = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let dir = t.work.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        // Each file its own source system (init names it after the file).
        let name = format!("case{i}_{}", std::path::Path::new(case.file).file_name().unwrap().to_str().unwrap());
        let name = std::ffi::OsString::from(name);
        std::fs::copy(workspace().join("fixtures").join(case.file), dir.join(&name)).unwrap();
        let mapping = dir.join("mapping.toml");
        let out = t
            .migrate_as(LOADER)
            .arg("init")
            .arg(dir.join(&name))
            .args(["--entity", "contacts", "--out"])
            .arg(&mapping)
            .output()
            .unwrap();
        assert_success(&out);
        let text = std::fs::read_to_string(&mapping).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        for (column, header) in case.matches {
            let proposed = text.lines().any(|l| l.starts_with(&format!("{column} = {{ from = \"{header}\"")));
            assert!(proposed, "{}: {column} ← {header} missing\n{text}", case.file);
        }
        assert!(text.contains(case.key), "{}\n{text}", case.file);
        assert!(text.contains(&format!("path = {:?}", name.to_str().unwrap())), "relative to the mapping\n{text}");
        assert!(stderr.contains("next: migrate validate"), "{stderr}");

        let valid = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&mapping).output().unwrap();
        assert_success(&valid);
        let out_dir = format!("out{i}");
        assert_success(&t.run(&mapping, ORG_A, &out_dir));
        let r = report(&t.out_dir(&out_dir));
        let e = entity(&r, "contacts");
        assert_eq!(e["balanced"], true);
        if counts(e) != case.counts {
            wrong.push(format!("{}: {:?}\n{text}", case.file, counts(e)));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn preview_maps_the_first_rows_shows_rejects_and_writes_nothing() {
    let work = tempfile::tempdir().unwrap();
    for f in ["mapping.toml", "customers.csv"] {
        std::fs::copy(workspace().join("fixtures/demo").join(f), work.path().join(f)).unwrap();
    }
    let out = std::process::Command::new(migrate_bin())
        .current_dir(work.path())
        .env("ORG_ID", ORG_A)
        // No database is involved: an unreachable one changes nothing.
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .args(["preview", "mapping.toml", "--rows", "15", "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &doc["entities"][0];
    assert_eq!(e["entity"], "contacts");
    assert_eq!(e["read"], 15);
    let rows = e["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 14);
    assert_eq!(rows[0]["key"], "C0001");
    assert_eq!(rows[0]["values"]["email"], "anita.berners-lee1@example.com");
    assert_eq!(rows[0]["values"]["type"], "client");
    assert_eq!(rows[0]["values"]["created_at"], "2016-09-28 16:47:00.000000+00");
    let rejected = e["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reason"], "required_missing");
    assert_eq!(rejected[0]["location"], "customers.csv:15");
    let left: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 2, "nothing written: {left:?}");

    // The terminal form shows the same.
    let out = std::process::Command::new(migrate_bin())
        .current_dir(work.path())
        .env("ORG_ID", ORG_A)
        .args(["preview", "mapping.toml", "--rows", "15"])
        .output()
        .unwrap();
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("contacts from customers: the first 15 source rows → 14 mapped, 1 rejected (nothing written)"),
        "{text}"
    );
    assert!(text.contains("required_missing"), "{text}");
}

/// An enumerated column is mapped only where every sampled value is an
/// allowed one (up to case and separators) or a well-known synonym; a
/// vocabulary init cannot match is kept in custom_fields with a `map`
/// skeleton, so the proposal rejects none of the rows it sampled.
#[tokio::test]
async fn init_maps_enum_values_it_can_match_and_keeps_the_others_in_custom_fields() {
    let t = Target::new().await;
    let cases = [("crm_vocabulary.csv", "contacts"), ("tickets_vocabulary.csv", "tasks")];
    let mut loaded: Vec<Vec<(String, String, String)>> = Vec::new();
    for (file, entity) in cases {
        let dir = t.work.path().join(entity);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(workspace().join("fixtures/files").join(file), dir.join(file)).unwrap();
        let mapping = dir.join("mapping.toml");
        let out = t
            .migrate_as(LOADER)
            .arg("init")
            .arg(dir.join(file))
            .args(["--entity", entity, "--out"])
            .arg(&mapping)
            .output()
            .unwrap();
        assert_success(&out);
        let text = std::fs::read_to_string(&mapping).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let sampled: u64 = if entity == "contacts" { 6 } else { 5 };
        assert!(
            stderr.contains(&format!("preview on the {sampled} sampled rows: {sampled} mapped, 0 rejected")),
            "{stderr}\n{text}"
        );
        let (kept, header, values) = if entity == "contacts" {
            ("status", "Status", "\"cold\", \"hot\", \"warm\"")
        } else {
            ("priority", "Prio", "\"P1\", \"P2\", \"P3\"")
        };
        assert!(
            stderr.contains(&format!("{entity}.{kept}: {header:?} holds {values} (none of {kept}'s allowed values)")),
            "{stderr}"
        );
        let custom = format!("\"custom_fields.{}\" = \"{header}\"", header.to_lowercase());
        assert!(text.lines().any(|l| l == custom), "{custom} in\n{text}");
        assert!(!text.lines().any(|l| l.starts_with(&format!("{kept} = "))), "{kept} is not mapped\n{text}");
        assert!(text.contains(&format!("# {kept} = {{ from = \"{header}\"")), "a skeleton to fill in\n{text}");
        assert!(text.contains("= \"?\""), "the unmatched values wait for an allowed one\n{text}");
        assert_success(&t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&mapping).output().unwrap());
        assert_success(&t.run(&mapping, ORG_A, &format!("out-{entity}")));
        let r = report(&t.out_dir(&format!("out-{entity}")));
        let e = support::entity(&r, entity);
        assert_eq!(counts(e), [sampled, 0, 0, 0, sampled, sampled, 0, 0], "{text}");

        let (mapped, custom) = if entity == "contacts" { ("type", "status") } else { ("status", "prio") };
        let mut admin = t.admin().await;
        let rows: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT k.source_key, x.{mapped}, x.custom_fields->>'{custom}' FROM {entity} x
               JOIN migrate.keys k ON k.target_id = x.id ORDER BY k.source_key"
        )))
        .fetch_all(&mut admin)
        .await
        .unwrap();
        loaded.push(rows);
    }
    let expect = |rows: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        rows.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
    };
    assert_eq!(
        loaded[0],
        expect(&[
            ("K1", "client", "warm"),
            ("K2", "lead", "cold"),
            ("K3", "client", "hot"),
            ("K4", "vendor", "warm"),
            ("K5", "partner", "cold"),
            ("K6", "vendor", "hot"),
        ])
    );
    assert_eq!(
        loaded[1],
        expect(&[
            ("T-1", "open", "P1"),
            ("T-2", "done", "P2"),
            ("T-3", "in_progress", "P3"),
            ("T-4", "done", "P1"),
            ("T-5", "open", "P2"),
        ])
    );
}

/// `init` on XML: the element that repeats most is the record, its
/// attributes and children the fields, matched like a table's columns; the
/// mapping validates and loads every record.
#[tokio::test]
async fn init_writes_an_xml_mapping_from_the_record_that_repeats_most() {
    let t = Target::new().await;
    let dir = t.work.path().join("xml");
    std::fs::create_dir_all(&dir).unwrap();
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<crm>\n  <customers>\n");
    for (id, first, last) in [("C1", "Ada", "Lovelace"), ("C2", "Grace", "Hopper"), ("C3", "Alan", "Turing")] {
        xml.push_str(&format!(
            "    <customer id=\"{id}\"><firstname>{first}</firstname><lastname>{last}</lastname>\
             <email>{}@example.com</email><tag>a</tag><tag>b</tag></customer>\n",
            first.to_lowercase()
        ));
    }
    xml.push_str("  </customers>\n</crm>\n");
    std::fs::write(dir.join("crm.xml"), xml).unwrap();
    let mapping = dir.join("mapping.toml");
    let out = t
        .migrate_as(LOADER)
        .arg("init")
        .arg(dir.join("crm.xml"))
        .args(["--entity", "contacts", "--out"])
        .arg(&mapping)
        .output()
        .unwrap();
    assert_success(&out);
    let text = std::fs::read_to_string(&mapping).unwrap();
    assert!(
        text.contains(
            "kind = \"xml\"\npath = \"crm.xml\"\nrecord = \"/crm/customers/customer\"  # the element with fields of its own that repeats most\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("fields = { id = \"@id\", email = \"email\", firstname = \"firstname\", lastname = \"lastname\", tag = \"tag[]\" }"),
        "{text}"
    );
    for (column, header) in [("first_name", "firstname"), ("last_name", "lastname"), ("email", "email")] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{column} = {{ from = \"{header}\""))), "{column}\n{text}");
    }
    assert!(text.contains("key = [\"id\"]"), "{text}");
    // A child that repeats inside a record is a JSON list, kept as one.
    assert!(text.contains("\"custom_fields.tag\" = { from = \"tag\", transform = [\"json\"] }"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("preview on the 3 sampled rows: 3 mapped, 0 rejected"), "{stderr}");
    assert_success(&t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&mapping).output().unwrap());
    assert_success(&t.run(&mapping, ORG_A, "out"));
    assert_eq!(counts(entity(&report(&t.out_dir("out")), "contacts")), [3, 0, 0, 0, 3, 3, 0, 0]);
}
