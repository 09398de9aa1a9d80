//! A run killed with SIGKILL leaves nothing visible; the ledger calls it
//! `interrupted`; the next run succeeds with exact counts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use support::*;

/// After a kill: nothing of the run is visible to the tenant, `runs list`
/// says `interrupted`, staging is dropped, and a new run loads everything.
async fn assert_recovers(t: &Target, mapping: &std::path::Path) {
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 0);
    assert_eq!(t.tenant_count(Some(ORG_A), "migrate.keys").await, 0);
    assert_eq!(t.tenant_count(Some(ORG_A), "migrate.before_images").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);

    let list = t.migrate_as(LOADER).env("ORG_ID", ORG_A).args(["runs", "list"]).output().unwrap();
    assert_success(&list);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("interrupted"), "{listed}");
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0
    );

    assert_success(&t.run(mapping, ORG_A, "after"));
    let r = report(&t.out_dir("after"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [302, 0, 10, 18, 274, 274, 0, 0]);
    assert_eq!(e["target_count"], 274);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs WHERE status = 'interrupted'").await, 1);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs WHERE status = 'succeeded'").await, 1);
}

/// Starts a run that stages everything and then waits for the org's
/// publish lock, which the returned connection holds.
async fn run_waiting_to_publish(
    t: &Target,
    mapping: &std::path::Path,
    out: &str,
) -> (PgConnection, std::process::Child) {
    let mut holder = t.admin().await;
    Target::hold_publish_lock(&mut holder, ORG_A).await;
    let child = t.spawn_run(mapping, ORG_A, out);
    let mut watcher = t.admin().await;
    wait_until(&mut watcher, WAITING_TO_PUBLISH, "the run to wait for the publish lock").await;
    (holder, child)
}

#[tokio::test]
async fn killed_between_staging_and_publishing() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let (mut admin, child) = run_waiting_to_publish(&t, &mapping, "killed").await;
    let mut watcher = t.admin().await;
    // Everything is staged at this point.
    let staged: i64 = {
        let table: String = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM migrate.\"{table}\"")))
            .fetch_one(&mut watcher)
            .await
            .unwrap()
    };
    assert_eq!(staged, 284, "302 read - 18 rejected are staged, duplicates included");
    kill_and_wait(child, &mut watcher).await;
    sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut admin).await.unwrap();
    assert_recovers(&t, &mapping).await;
}

/// Starts a run whose publish transaction gets as far as the upsert (key
/// map already written inside it) and waits there, on a lock on contacts
/// that the returned connection holds until it rolls back.
async fn publish_waiting_on_contacts(
    t: &Target,
    mapping: &std::path::Path,
    out: &str,
) -> (PgConnection, std::process::Child) {
    let mut admin = t.admin().await;
    sqlx::query("BEGIN").execute(&mut admin).await.unwrap();
    sqlx::query("LOCK TABLE contacts IN EXCLUSIVE MODE").execute(&mut admin).await.unwrap();
    let child = t.spawn_run(mapping, ORG_A, out);
    let mut watcher = t.admin().await;
    wait_until(
        &mut watcher,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate' AND wait_event_type = 'Lock' AND wait_event = 'relation' AND query LIKE '%INSERT INTO \"public\".\"contacts\"%'",
        "the publish to wait on contacts",
    )
    .await;
    (admin, child)
}

#[tokio::test]
async fn killed_while_publishing() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let (mut admin, child) = publish_waiting_on_contacts(&t, &mapping, "killed").await;
    let mut watcher = t.admin().await;
    kill_and_wait(child, &mut watcher).await;
    sqlx::query("ROLLBACK").execute(&mut admin).await.unwrap();
    assert_recovers(&t, &mapping).await;
}

#[tokio::test]
async fn ctrl_c_before_the_publish_commits_publishes_nothing_and_exits_130() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let mut admin = t.admin().await;
    Target::hold_publish_lock(&mut admin, ORG_A).await;
    let child = t.spawn_run(&mapping, ORG_A, "cancelled");
    let mut watcher = t.admin().await;
    wait_until(&mut watcher, WAITING_TO_PUBLISH, "the run to wait for the publish lock").await;
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    // Let the SIGINT land before the lock is released.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut admin).await.unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report(&t.out_dir("cancelled"));
    assert_eq!(r["status"], "cancelled");
    assert!(entity(&r, "contacts")["target_count"].is_null());
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs WHERE status = 'cancelled'").await, 1);
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0
    );
}

#[tokio::test]
async fn runs_clean_drops_the_staging_of_dead_runs_in_any_org() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let mut admin = t.admin().await;
    Target::hold_publish_lock(&mut admin, ORG_A).await;
    let child = t.spawn_run(&mapping, ORG_A, "killed");
    let mut watcher = t.admin().await;
    wait_until(&mut watcher, WAITING_TO_PUBLISH, "the run to stage").await;
    // While the run lives, clean leaves its staging alone.
    let clean = t.migrate_as(LOADER).args(["runs", "clean"]).output().unwrap();
    assert_success(&clean);
    assert!(String::from_utf8_lossy(&clean.stdout).contains("dropped 0 staging table(s)"));
    kill_and_wait(child, &mut watcher).await;
    let clean = t.migrate_as(LOADER).args(["runs", "clean"]).output().unwrap();
    assert_success(&clean);
    assert!(
        // The entity's staging table and its table of seen keys.
        String::from_utf8_lossy(&clean.stdout).contains("dropped 2 staging table(s)"),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0
    );
}

/// Kills a run once its own staging (not a dead run's) holds at least
/// `rows` rows.
async fn kill_once_staged(t: &Target, mapping: &std::path::Path, rows: i64, watcher: &mut PgConnection) {
    const STAGES: &str =
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'";
    let before: Vec<String> = sqlx::query_scalar(STAGES).fetch_all(&mut *watcher).await.unwrap();
    let child = t.spawn_run(mapping, ORG_A, "killed");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let tables: Vec<String> = sqlx::query_scalar(STAGES).fetch_all(&mut *watcher).await.unwrap();
        let table = tables.into_iter().find(|t| !before.contains(t));
        if let Some(table) = table {
            let staged: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM migrate.\"{table}\"")))
                    .fetch_one(&mut *watcher)
                    .await
                    .unwrap_or(0);
            if staged >= rows {
                break;
            }
        }
        assert!(Instant::now() < deadline, "staging never reached {rows} rows");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    kill_and_wait(child, watcher).await;
}

#[tokio::test]
async fn killed_while_staging_at_several_points_then_the_next_run_is_exact() {
    let t = Target::new().await;
    let dir = t.work.path().join("bulk");
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("id,first,last,email\n");
    for i in 0..60_000 {
        csv.push_str(&format!("B{i:06},First{i},Last{i},p{i}@example.com\n"));
    }
    std::fs::write(dir.join("people.csv"), csv).unwrap();
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        "[migration]\nname = \"bulk\"\norg_id = \"${ORG_ID}\"\nsource_system = \"bulk\"\n\n[sources.people]\nkind = \"csv\"\npath = \"people.csv\"\n\n[contacts]\nfrom = \"people\"\nkey = [\"id\"]\n\n[contacts.columns]\nfirst_name = \"first\"\nlast_name = \"last\"\nemail = { from = \"email\", transform = [\"email\"] }\n",
    )
    .unwrap();
    let mut watcher = t.admin().await;
    // The first batch, the middle, near the end: nothing is ever visible.
    for rows in [1, 20_000, 40_000] {
        kill_once_staged(&t, &mapping, rows, &mut watcher).await;
        assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0, "killed at {rows}");
        assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 0, "killed at {rows}");
    }
    assert_success(&t.run(&mapping, ORG_A, "after"));
    let r = report(&t.out_dir("after"));
    assert_eq!(counts(entity(&r, "contacts")), [60_000, 0, 0, 0, 60_000, 60_000, 0, 0]);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 60_000);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs WHERE status = 'interrupted'").await, 3);
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0,
        "the dead runs' staging is gone"
    );
}

/// PostgreSQL crashing (an immediate restart) under a run: while it
/// stages, and while its publish transaction is open. Each time the run
/// fails with exit 1 and a message naming the lost connection, nothing of
/// it is visible, and the next run loads everything exactly once.
#[tokio::test]
async fn postgres_restarted_mid_run_fails_cleanly_and_the_next_run_is_exact() {
    let t = Target::new().await;
    // Test clusters run with synchronous_commit off, which may lose the
    // last commits in a crash; a real server keeps them (the ledger rows
    // of the interrupted runs are checked below).
    t.cluster.admin_sql("postgres", &format!("ALTER DATABASE {DB} SET synchronous_commit = on")).await;
    let mapping = t.demo("demo");

    // While staging: the run waits for the publish lock with its staging
    // filled (the same point as a slow load's middle).
    let (_holder, child) = run_waiting_to_publish(&t, &mapping, "staging").await;
    t.cluster.restart_immediate();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("connection"), "the error names the lost connection: {stderr}");
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 0);

    // While publishing: the upsert waits on a lock on contacts, inside the
    // publish transaction (key map already written in it).
    let (_admin, child) = publish_waiting_on_contacts(&t, &mapping, "publishing").await;
    t.cluster.restart_immediate();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("connection"), "the error names the lost connection: {stderr}");
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.after_images").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.after_image_sets").await, 0);

    // Both runs are interrupted; the next one is exact.
    assert_success(&t.run(&mapping, ORG_A, "after"));
    let r = report(&t.out_dir("after"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [302, 0, 10, 18, 274, 274, 0, 0]);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 274);
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM migrate.runs ORDER BY started_at")
        .fetch_all(&mut t.admin().await)
        .await
        .unwrap();
    assert_eq!(statuses, ["interrupted", "interrupted", "succeeded"]);
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0,
        "the dead runs' staging is gone"
    );
}
