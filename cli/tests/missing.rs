//! Rows gone from the source since an earlier run of the same mapping:
//! `on_missing = "report"` (the default) lists them and changes nothing;
//! `"delete"` deletes them, except rows the source still has but this run
//! rejected and rows other rows still refer to; a rollback brings deleted
//! rows back exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

fn mapping(on_missing: &str) -> String {
    format!(
        r#"[migration]
name = "gone"
org_id = "${{ORG_ID}}"
source_system = "crm"

[sources.people]
kind = "csv"
path = "contacts.csv"

[sources.activities]
kind = "csv"
path = "tasks.csv"

[contacts]
from = "people"
key = ["id"]
on_missing = "{on_missing}"

[contacts.columns]
first_name = "name"
email = {{ from = "email", transform = ["email"] }}

[tasks]
from = "activities"
key = ["task_id"]
on_missing = "{on_missing}"

[tasks.columns]
title = "subject"
contact_id = "customer"
"#
    )
}

const ALL: &str = "id,name,email\nK1,Ada,ada@x.io\nK2,Grace,grace@x.io\nK3,Alan,alan@x.io\nK4,Edsger,edsger@x.io\nK5,Barbara,barbara@x.io\nK6,Donald,donald@x.io\n";
/// K4 is still there but its e-mail is broken now (rejected, not gone);
/// K5 and K6 are gone; K6 still has a task.
const FEWER: &str =
    "id,name,email\nK1,Ada,ada@x.io\nK2,Grace,grace@x.io\nK3,Alan,alan@x.io\nK4,Edsger,edsger(at)x.io\n";
const TASKS: &str = "task_id,subject,customer\nT1,Call Ada,K1\nT2,Ask Donald,K6\n";

async fn snapshot(t: &Target) -> String {
    let mut admin = t.admin().await;
    sqlx::query_scalar(
        "SELECT coalesce(string_agg(x, E'\\n' ORDER BY x), '') FROM (
             SELECT to_jsonb(c)::text AS x FROM contacts c UNION ALL SELECT to_jsonb(t)::text FROM tasks t) rows",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap()
}

#[tokio::test]
async fn gone_rows_are_reported_then_deleted_unless_referenced_and_a_rollback_restores_them() {
    let t = Target::new().await;
    let dir = t.work.path().join("gone");
    std::fs::create_dir_all(&dir).unwrap();
    let m = dir.join("mapping.toml");
    std::fs::write(&m, mapping("report")).unwrap();
    std::fs::write(dir.join("contacts.csv"), ALL).unwrap();
    std::fs::write(dir.join("tasks.csv"), TASKS).unwrap();
    assert_success(&t.run(&m, ORG_A, "first"));
    let r = report(&t.out_dir("first"));
    assert_eq!(
        entity(&r, "contacts")["missing"],
        serde_json::json!({
            "on_missing": "report", "count": 0, "deleted": 0, "kept_referenced": 0
        })
    );
    assert!(!t.out_dir("first").join("missing").exists(), "no file when nothing is gone");

    // Report: listed and counted, nothing changed.
    std::fs::write(dir.join("contacts.csv"), FEWER).unwrap();
    let before = snapshot(&t).await;
    assert_success(&t.run(&m, ORG_A, "report"));
    let r = report(&t.out_dir("report"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [4, 0, 0, 1, 3, 0, 0, 3]);
    assert_eq!(e["balanced"], true);
    assert_eq!(
        e["missing"],
        serde_json::json!({
            "on_missing": "report", "count": 2, "deleted": 0, "kept_referenced": 0
        })
    );
    assert_eq!(e["target_count"], 6);
    let (header, rows) = read_csv(&t.out_dir("report").join("missing/contacts.csv"));
    assert_eq!(header, ["_source_key", "_target_id", "_action"]);
    let listed: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(listed, [("K5", "reported"), ("K6", "reported")]);
    assert_eq!(snapshot(&t).await, before, "report changes nothing");
    assert_eq!(entity(&r, "tasks")["missing"]["count"], 0);

    // Delete: K5 goes; K6 stays, a task refers to it; K4 was only rejected.
    std::fs::write(&m, mapping("delete")).unwrap();
    assert_success(&t.run(&m, ORG_A, "delete"));
    let r = report(&t.out_dir("delete"));
    let e = entity(&r, "contacts");
    assert_eq!(
        e["missing"],
        serde_json::json!({
            "on_missing": "delete", "count": 2, "deleted": 1, "kept_referenced": 1
        })
    );
    assert_eq!((e["target_count"].as_u64(), e["org_total"].as_u64()), (Some(5), Some(5)));
    let (_, rows) = read_csv(&t.out_dir("delete").join("missing/contacts.csv"));
    let listed: Vec<(&str, &str)> = rows.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(listed, [("K5", "deleted"), ("K6", "kept_referenced")]);
    let names: Vec<String> = sqlx::query_scalar("SELECT first_name FROM contacts ORDER BY first_name")
        .fetch_all(&mut t.admin().await)
        .await
        .unwrap();
    assert_eq!(names, ["Ada", "Alan", "Donald", "Edsger", "Grace"]);

    // The rollback puts Barbara back exactly as she was.
    let run = r["run_id"].as_str().unwrap().to_string();
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).args(["rollback", &run]).output().unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("contacts: 0 removed, 1 restored"), "{out:?}");
    assert_eq!(snapshot(&t).await, before, "rolled back to the state before the deleting run");

    // Once the task goes from the source too, both go in one run.
    std::fs::write(dir.join("tasks.csv"), "task_id,subject,customer\nT1,Call Ada,K1\n").unwrap();
    assert_success(&t.run(&m, ORG_A, "both"));
    let r = report(&t.out_dir("both"));
    assert_eq!(entity(&r, "tasks")["missing"]["deleted"], 1);
    assert_eq!(entity(&r, "contacts")["missing"]["deleted"], 2);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 4);

    // on_missing = "keep": not even looked for.
    std::fs::write(&m, mapping("keep")).unwrap();
    assert_success(&t.run(&m, ORG_A, "keep"));
    assert!(entity(&report(&t.out_dir("keep")), "contacts").get("missing").is_none());
}

#[tokio::test]
async fn a_partial_export_cannot_delete_more_than_max_deleted() {
    let t = Target::new().await;
    let dir = t.work.path().join("partial");
    std::fs::create_dir_all(&dir).unwrap();
    let m = dir.join("mapping.toml");
    std::fs::write(&m, mapping("delete")).unwrap();
    std::fs::write(dir.join("contacts.csv"), ALL).unwrap();
    std::fs::write(dir.join("tasks.csv"), "task_id,subject,customer\n").unwrap();
    assert_success(&t.run(&m, ORG_A, "full"));
    let before = snapshot(&t).await;

    // One customer of six: five would go, more than the default 50%.
    std::fs::write(dir.join("contacts.csv"), "id,name,email\nK1,Ada,ada@x.io\n").unwrap();
    let out = t.run(&m, ORG_A, "partial");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("would delete 5 of the 6 contacts rows this source system loaded, more than max_deleted = 50%"),
        "{stderr}"
    );
    assert_eq!(snapshot(&t).await, before, "nothing published");

    // The engineer says it is a full export after all.
    std::fs::write(
        &m,
        mapping("delete").replace(
            "on_missing = \"delete\"\n\n[contacts.columns]",
            "on_missing = \"delete\"\nmax_deleted = \"90%\"\n\n[contacts.columns]",
        ),
    )
    .unwrap();
    assert_success(&t.run(&m, ORG_A, "allowed"));
    assert_eq!(entity(&report(&t.out_dir("allowed")), "contacts")["missing"]["deleted"], 5);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 1);
}
