//! Links between entities: tasks and documents name their contact by its
//! legacy key; the key map turns it into the contact's id, in dependency
//! order whatever the mapping's order, within a run and across runs; a key
//! that names no contact is an orphan, rejected or loaded unlinked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

const MAPPING: &str = r#"
[migration]
name = "crm-with-tasks"
org_id = "${ORG_ID}"
source_system = "crm"

[sources.activities]
kind = "csv"
path = "tasks.csv"

[sources.people]
kind = "csv"
path = "contacts.csv"

[sources.files]
kind = "csv"
path = "documents.csv"

# Listed first, published after the contacts it links to.
[tasks]
from = "activities"
key = ["task_id"]

[tasks.columns]
title = "subject"
contact_id = { from = "customer", transform = ["trim"] }

[contacts]
from = "people"
key = ["id"]

[contacts.columns]
email = { from = "email", transform = ["email"] }
first_name = "name"

[documents]
from = "files"
key = ["doc_id"]

[documents.columns]
title = "title"
contact_id = { from = "customer", orphans = "unlinked" }
"#;

#[tokio::test]
async fn links_resolve_through_the_key_map_and_orphans_are_reported() {
    let t = Target::new().await;
    let dir = t.work.path().join("crm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("contacts.csv"),
        "id,name,email\nC1,Ada,ada@x.io\nC2,Grace,grace@x.io\nC3,Alan,alan@x.io\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("tasks.csv"),
        "task_id,subject,customer\nT1,Call Ada,C1\nT2,Mail Grace, C2 \nT3,Visit nobody,C9\nT4,Lunch Alan,C3\nT5,Tidy up,\n",
    )
    .unwrap();
    std::fs::write(dir.join("documents.csv"), "doc_id,title,customer\nD1,Contract,C1\nD2,Old scan,C404\n").unwrap();
    let mapping = dir.join("mapping.toml");
    std::fs::write(&mapping, MAPPING).unwrap();

    let valid = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&mapping).output().unwrap();
    assert_success(&valid);
    assert_success(&t.run(&mapping, ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 0, 3, 3, 0, 0]);
    assert_eq!(counts(entity(&r, "tasks")), [5, 0, 0, 1, 4, 4, 0, 0]);
    assert_eq!(counts(entity(&r, "documents")), [2, 0, 0, 0, 2, 2, 0, 0]);
    let orphan = &entity(&r, "tasks")["rejects_by_reason"][0];
    assert_eq!((orphan["reason"].as_str(), orphan["count"].as_u64()), (Some("orphan_reference"), Some(1)));
    assert_eq!(orphan["examples"][0]["value"], "C9");
    let warning = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "orphan_unlinked").unwrap();
    assert_eq!((warning["entity"].as_str(), warning["count"].as_u64()), (Some("documents"), Some(1)));
    assert_eq!(warning["examples"][0], "C404");

    // The rejected orphan is in rejects/tasks.csv with its line.
    let (_, rows) = read_csv(&t.out_dir("out").join("rejects/tasks.csv"));
    assert_eq!(rows.len(), 1);
    assert!(rows[0][0].ends_with("tasks.csv:4"), "{:?}", rows[0]);
    assert_eq!(
        (rows[0][1].as_str(), rows[0][2].as_str(), rows[0][3].as_str()),
        ("contact_id", "C9", "orphan_reference")
    );

    // Every task points at the right contact (or at none).
    let mut admin = t.admin().await;
    let linked: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT t.title, c.email FROM tasks t LEFT JOIN contacts c ON c.id = t.contact_id ORDER BY t.title",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let expected: Vec<(String, Option<String>)> = [
        ("Call Ada", Some("ada@x.io")),
        ("Lunch Alan", Some("alan@x.io")),
        ("Mail Grace", Some("grace@x.io")),
        ("Tidy up", None),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.map(str::to_string)))
    .collect();
    assert_eq!(linked, expected);
    let docs: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT d.title, c.email FROM documents d LEFT JOIN contacts c ON c.id = d.contact_id ORDER BY d.title",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(docs, [("Contract".to_string(), Some("ada@x.io".to_string())), ("Old scan".to_string(), None)]);

    // A later run of the same source system links to contacts loaded before.
    std::fs::write(dir.join("tasks.csv"), "task_id,subject,customer\nT9,Follow up,C2\n").unwrap();
    let tasks_only = MAPPING
        .split("[contacts]")
        .next()
        .unwrap()
        .replace("[sources.people]\nkind = \"csv\"\npath = \"contacts.csv\"\n", "")
        .replace("[sources.files]\nkind = \"csv\"\npath = \"documents.csv\"\n", "");
    let later = dir.join("later.toml");
    std::fs::write(&later, tasks_only).unwrap();
    assert_success(&t.run(&later, ORG_A, "later"));
    let email: String = sqlx::query_scalar(
        "SELECT c.email FROM tasks t JOIN contacts c ON c.id = t.contact_id WHERE t.title = 'Follow up'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(email, "grace@x.io");
}
