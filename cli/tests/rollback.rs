//! `migrate rollback`: a published run undone exactly (full table contents
//! compared), refused while a later run builds on it, and refused over
//! rows edited in the platform since, unless forced.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

async fn snapshot(t: &Target) -> String {
    let mut admin = t.admin().await;
    sqlx::query_scalar("SELECT coalesce(string_agg(to_jsonb(c)::text, E'\\n' ORDER BY c.id), '') FROM contacts c")
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

/// Equal table contents; on a difference, only the differing rows are shown.
fn same(now: &str, expected: &str, what: &str) {
    if now != expected {
        let a: std::collections::BTreeSet<&str> = now.lines().collect();
        let b: std::collections::BTreeSet<&str> = expected.lines().collect();
        let extra: Vec<&&str> = a.difference(&b).take(3).collect();
        let missing: Vec<&&str> = b.difference(&a).take(3).collect();
        panic!("{what}: rows now but not expected: {extra:#?}\nrows expected but not now: {missing:#?}");
    }
}

fn run_id(t: &Target, out: &str) -> String {
    report(&t.out_dir(out))["run_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_rollback_restores_the_previous_state_exactly_and_refuses_to_lose_work() {
    let t = Target::new().await;
    let rollback = |run: &str, force: bool| {
        let mut c = t.migrate_as(LOADER);
        c.env("ORG_ID", ORG_A).args(["rollback", run]);
        if force {
            c.arg("--force");
        }
        c.output().unwrap()
    };
    let before_all = snapshot(&t).await;
    assert_eq!(before_all, "");

    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "first"));
    let first = run_id(&t, "first");
    let after_first = snapshot(&t).await;

    // A corrected export: five phone numbers changed, three customers new.
    let csv_path = mapping.parent().unwrap().join("customers.csv");
    let (header, mut rows) = read_csv(&csv_path);
    let phone = header.iter().position(|h| h == "Phone").unwrap();
    for id in ["C0001", "C0002", "C0003", "C0004", "C0005"] {
        let row = rows.iter_mut().find(|r| r[0] == id).unwrap();
        row[phone] = format!("+1 555-999-{}", &id[1..]);
    }
    for n in 1..=3 {
        let mut row = rows[1].clone();
        row[0] = format!("N000{n}");
        rows.push(row);
    }
    write_csv(&csv_path, &header, &rows);
    assert_success(&t.run(&mapping, ORG_A, "second"));
    let second = run_id(&t, "second");
    let r = report(&t.out_dir("second"));
    let e = entity(&r, "contacts");
    assert_eq!((e["inserted"].as_u64(), e["updated"].as_u64()), (Some(3), Some(5)));
    let after_second = snapshot(&t).await;
    assert_ne!(after_second, after_first);

    // The first run cannot go while the second stands on its rows.
    let out = rollback(&first, false);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("later runs changed rows of run {first}: {second}")), "{stderr}");
    same(&snapshot(&t).await, &after_second, "a refused rollback changes nothing");

    // Someone edits one of the rows the second run updated.
    let mut admin = t.admin().await;
    let hand = sqlx::query("UPDATE contacts SET company = 'Edited by hand' WHERE phone = '+1 555-999-0003'")
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(hand.rows_affected(), 1);
    let edited = snapshot(&t).await;
    let out = rollback(&second, false);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 row(s) were edited in the platform after run"), "{stderr}");
    assert!(stderr.contains("use --force"), "{stderr}");
    same(&snapshot(&t).await, &edited, "a refused rollback changes nothing");

    // Forced: back to exactly what the first run left.
    let out = rollback(&second, true);
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().next(), Some("contacts: 3 removed, 5 restored"));
    same(&snapshot(&t).await, &after_first, "rolled back to the first run's state");
    let status = t
        .admin_count(&format!("SELECT count(*) FROM migrate.runs WHERE run_id = '{second}' AND status = 'rolled_back'"))
        .await;
    assert_eq!(status, 1);
    assert_eq!(rollback(&second, false).status.code(), Some(2), "only a succeeded run rolls back");

    // Now the first run can go too: nothing is left, keys included.
    assert_success(&rollback(&first, false));
    same(&snapshot(&t).await, &before_all, "rolled back to nothing");
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 0);

    // And loading again starts from scratch.
    assert_success(&t.run(&mapping, ORG_A, "third"));
    let r = report(&t.out_dir("third"));
    let e = entity(&r, "contacts");
    assert_eq!(e["inserted"].as_u64(), Some(277));
}

#[tokio::test]
async fn chain_rolls_back_the_later_runs_first_in_one_transaction() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "first"));
    let first = run_id(&t, "first");
    let csv_path = mapping.parent().unwrap().join("customers.csv");
    let (header, mut rows) = read_csv(&csv_path);
    let phone = header.iter().position(|h| h == "Phone").unwrap();
    rows[0][phone] = "+1 555-999-0001".to_string();
    write_csv(&csv_path, &header, &rows);
    assert_success(&t.run(&mapping, ORG_A, "second"));
    let second = run_id(&t, "second");
    assert_eq!(entity(&report(&t.out_dir("second")), "contacts")["updated"], 1);

    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).args(["rollback", &first, "--chain"]).output().unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let done: Vec<&str> = stdout.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(done, [format!("run {second} rolled back"), format!("run {first} rolled back")], "{stdout}");
    same(&snapshot(&t).await, "", "both runs undone");
    let rolled = t
        .admin_count(&format!(
            "SELECT count(*) FROM migrate.runs WHERE run_id IN ('{first}', '{second}') AND status = 'rolled_back'"
        ))
        .await;
    assert_eq!(rolled, 2);
}

/// A run published before migration 0009 has digests of the rows' JSON
/// form. Applying 0009 carries over those of rows still as the run left
/// them, so the run still rolls back; a row edited since stays edited.
#[tokio::test]
async fn digests_written_before_migration_9_still_roll_back() {
    let t = Target::new().await;
    let mut admin = t.admin().await;
    // The database as migration 8 left it.
    sqlx::raw_sql(
        "DELETE FROM migrate.schema_migrations WHERE version >= 9;
         DROP INDEX migrate.after_images_run;
         ALTER TABLE migrate.after_images ADD PRIMARY KEY (run_id, entity, target_id);",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "old"));
    let run = run_id(&t, "old");
    // After-images a row each, as runs before 0012 wrote them, with digests
    // as runs before 0009 did (in UTC, as every session of ours was), then
    // one row edited by hand.
    let old = sqlx::raw_sql(
        "INSERT INTO migrate.after_images (run_id, org_id, entity, target_id, inserted, row_hash)
         SELECT s.run_id, s.org_id, s.entity, u.id, s.inserted, u.hash::text
           FROM migrate.after_image_sets s, unnest(s.target_ids, s.row_hashes) AS u(id, hash);
         DELETE FROM migrate.after_image_sets;
         SET TimeZone = 'UTC';
         UPDATE migrate.after_images a SET row_hash = md5(to_jsonb(t)::text) FROM contacts t WHERE t.id = a.target_id;
         UPDATE contacts SET company = 'Edited by hand' WHERE id = (SELECT id FROM contacts ORDER BY id LIMIT 1);",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    assert!(old.rows_affected() > 1);
    let images = t.admin_count("SELECT count(*) FROM migrate.after_images WHERE entity = 'contacts'").await;

    let out = t.migrate_as("postgres").args(["schema", "apply"]).output().unwrap();
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0009_cheaper_after_images"));
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.after_images WHERE entity = 'contacts'").await, images);
    let carried = t
        .admin_count(
            "SELECT count(*) FROM migrate.after_images a JOIN contacts t ON t.id = a.target_id
              WHERE a.row_hash = hash_record_extended(t, 0)::text",
        )
        .await;
    assert_eq!(carried, images - 1, "every row but the edited one carries its digest over");

    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).args(["rollback", &run]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1 row(s) were edited in the platform after run"), "{stderr}");
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).args(["rollback", &run, "--force"]).output().unwrap();
    assert_success(&out);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
}
