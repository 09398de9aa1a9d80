//! Sync requests: a message on the job queue runs the tenant's stored
//! mapping as a delta of its database sources (a real MariaDB), once per
//! request; a sync that stops at its batch's cap queues the next one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use migrate_testkit::MariaDb;
use support::*;

const MINUTE: Duration = Duration::from_secs(60);

async fn send(stack: &Stack, body: &str) {
    stack.sqs.send_message().queue_url(&stack.queue).message_body(body).send().await.unwrap();
}

/// A MariaDB with a binlog and three customers, and the tenant's stored
/// mapping reading them from the binlog, two row events a run.
async fn source_and_mapping(stack: &Stack) -> MariaDb {
    let db = MariaDb::start_with_binlog();
    db.sql(
        "CREATE DATABASE crm; USE crm;
         CREATE TABLE customers (id int PRIMARY KEY, first_name varchar(40), last_name varchar(40),
                                 updated_at datetime(6) NOT NULL);
         INSERT INTO customers VALUES (1, 'Ada', 'Lovelace', '2026-11-01'), (2, 'Alan', 'Turing', '2026-11-01'),
                                      (3, 'Grace', 'Hopper', '2026-11-01');",
    );
    let mapping = format!(
        r#"[migration]
name = "crm-sync"
org_id = "{ORG_A}"
source_system = "legacy-crm"

[sources.customers]
kind = "mysql"
url = "${{LEGACY_MYSQL_URL}}"
table = "customers"
incremental = {{ cursor = "$binlog" }}
binlog_batch = 2

[contacts]
from = "customers"
key = ["id"]
on_missing = "delete"
max_deleted = "100%"

[contacts.columns]
first_name = "first_name"
last_name = "last_name"
"#
    );
    stack.put(&format!("mappings/{ORG_A}.toml"), mapping).await;
    db
}

fn request(id: &str, follow: bool) -> String {
    format!(
        r#"{{"migrate": "sync", "bucket": "{BUCKET}", "org_id": "{ORG_A}", "request": "{id}", "follow": {follow}}}"#
    )
}

/// The org's contacts' last names, in order.
async fn last_names(stack: &Stack) -> Vec<String> {
    let mut admin = stack.admin().await;
    sqlx::query_scalar("SELECT last_name FROM contacts WHERE org_id = $1::uuid ORDER BY last_name")
        .bind(ORG_A)
        .fetch_all(&mut admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sync_request_runs_the_stored_mapping_as_a_delta_once() {
    let stack = Stack::new().await;
    let db = source_and_mapping(&stack).await;
    let url = db.url("crm");
    let worker = stack.worker("w1", &[("LEGACY_MYSQL_URL", url.as_str())]);

    // The first request is the full load.
    send(&stack, &request("r1", false)).await;
    let notes = stack.notifications(1, MINUTE).await;
    assert_eq!(notes.first().map(|n| n["state"].clone()), Some("succeeded".into()), "{}", worker.log_text());
    assert_eq!(notes[0]["key"], format!("mappings/{ORG_A}.toml"));
    assert_eq!(stack.contacts(ORG_A).await, 3);

    // Five row events, two a run: the request's run and the two it queues.
    db.sql(
        "UPDATE crm.customers SET last_name = 'Byron' WHERE id = 1;
         DELETE FROM crm.customers WHERE id = 2;
         INSERT INTO crm.customers VALUES (4, 'Frances', 'Allen', '2026-11-02'), (5, 'Barbara', 'Liskov', '2026-11-02');
         UPDATE crm.customers SET first_name = 'Rear Admiral Grace' WHERE id = 3;",
    );
    send(&stack, &request("r2", false)).await;
    let notes = stack.notifications(3, MINUTE).await;
    let mut windows = Vec::new();
    for key in
        stack.keys(&format!("tenants/{ORG_A}/_sync/_results/")).await.iter().filter(|k| k.ends_with("report.json"))
    {
        let r: serde_json::Value = serde_json::from_slice(&stack.get(key).await.unwrap()).unwrap();
        windows.push(r["sources"][0]["window"].clone());
    }
    assert_eq!(notes.len(), 3, "{windows:?}");
    assert!(notes.iter().all(|n| n["state"] == "succeeded"), "{notes:?}");
    stack.drained(MINUTE).await;
    let mut admin = stack.admin().await;
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT first_name, last_name FROM contacts WHERE org_id = $1::uuid ORDER BY last_name")
            .bind(ORG_A)
            .fetch_all(&mut admin)
            .await
            .unwrap();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        names,
        [s("Frances", "Allen"), s("Ada", "Byron"), s("Rear Admiral Grace", "Hopper"), s("Barbara", "Liskov")]
    );
    // Each run's report is under the tenant's sync prefix.
    let run_id = notes[0]["run_id"].as_str().unwrap().to_string();
    let report = stack.get(&format!("tenants/{ORG_A}/_sync/_results/{run_id}/report.json")).await.unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report).unwrap();
    assert_eq!(report["sources"][0]["window"]["cursor"], "$binlog");

    // A request delivered again runs nothing.
    let runs = stack.count("SELECT count(*) FROM migrate.runs").await;
    send(&stack, &request("r2", false)).await;
    stack.drained(MINUTE).await;
    assert_eq!(stack.count("SELECT count(*) FROM migrate.runs").await, runs);
    assert!(worker.log_text().contains("the job already ran"), "{}", worker.log_text());
}

#[tokio::test]
async fn a_follow_sync_reads_on_while_it_holds_its_lease_and_is_handed_over_on_sigterm() {
    let stack = Stack::new().await;
    let db = source_and_mapping(&stack).await;
    let url = db.url("crm");
    let settings = [("LEGACY_MYSQL_URL", url.as_str()), ("SYNC_FOLLOW_SECS", "1")];
    let mut first = stack.worker("w1", &settings);
    send(&stack, &request("follow", true)).await;
    let until = |want: Vec<&'static str>| {
        let stack = &stack;
        async move {
            let deadline = std::time::Instant::now() + MINUTE;
            while last_names(stack).await != want {
                assert!(std::time::Instant::now() < deadline, "the platform has {:?}", last_names(stack).await);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    until(vec!["Hopper", "Lovelace", "Turing"]).await;
    db.sql("UPDATE crm.customers SET last_name = 'Byron' WHERE id = 1;");
    until(vec!["Byron", "Hopper", "Turing"]).await;

    // SIGTERM: the worker hands the job over and exits; another takes it
    // and goes on from the mark.
    assert!(first.terminate(MINUTE).success(), "{}", first.log_text());
    assert!(first.log_text().contains("the follow sync is handed over"), "{}", first.log_text());
    let second = stack.worker("w2", &settings);
    db.sql("DELETE FROM crm.customers WHERE id = 2; INSERT INTO crm.customers VALUES (4, 'Frances', 'Allen', '2026-11-02');");
    until(vec!["Allen", "Byron", "Hopper"]).await;
    // One job, held by the second worker, no attempt spent on the handover.
    let held = stack
        .count("SELECT count(*) FROM migrate.jobs WHERE state = 'running' AND lease_owner = 'w2' AND attempts = 1")
        .await;
    assert_eq!(held, 1, "{}", second.log_text());
}
