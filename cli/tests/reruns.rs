//! Re-runs are idempotent; a corrected re-run changes exactly what changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

/// id, email, phone, custom_fields, created_at
type ContactRow = (uuid::Uuid, Option<String>, Option<String>, serde_json::Value, chrono::DateTime<chrono::Utc>);

#[tokio::test]
async fn three_runs_leave_the_same_rows_and_the_later_two_change_nothing() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let mut snapshots = Vec::new();
    for (i, expected) in
        [[302, 0, 10, 18, 274, 274, 0, 0], [302, 0, 10, 18, 274, 0, 0, 274], [302, 0, 10, 18, 274, 0, 0, 274]]
            .iter()
            .enumerate()
    {
        let out_name = format!("run{i}");
        assert_success(&t.run(&mapping, ORG_A, &out_name));
        let r = report(&t.out_dir(&out_name));
        let e = entity(&r, "contacts");
        assert_eq!(&counts(e), expected, "run {}", i + 1);
        assert_eq!(e["target_count"], 274);
        assert_eq!(e["org_total"], 274);
        let mut conn = t.admin().await;
        let rows: Vec<ContactRow> =
            sqlx::query_as("SELECT id, email, phone, custom_fields, created_at FROM contacts ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        snapshots.push(rows);
    }
    assert_eq!(snapshots[0].len(), 274);
    assert_eq!(snapshots[0], snapshots[1]);
    assert_eq!(snapshots[1], snapshots[2]);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 274);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.before_images").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs WHERE status = 'succeeded'").await, 3);
}

#[tokio::test]
async fn a_corrected_rerun_updates_exactly_the_changed_rows_and_keeps_their_before_images() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "first"));

    // The customer fixes the file: five phones change, one blank e-mail is
    // filled in (a row rejected before now loads), everything else is equal.
    let csv = mapping.parent().unwrap().join("customers.csv");
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut changed = String::new();
    for line in text.split_inclusive('\n') {
        let id = line.split(',').next().unwrap_or("");
        let fixed = match id {
            "C0001" | "C0002" | "C0003" | "C0004" | "C0006" => {
                let mut fields: Vec<&str> = line.splitn(6, ',').collect();
                fields[4] = "+1 555-999-0000";
                fields.join(",")
            }
            "C0012" => line.replacen(",,", ",fixed.c0012@example.com,", 1),
            _ => line.to_string(),
        };
        changed.push_str(&fixed);
    }
    assert_ne!(changed, text);
    std::fs::write(&csv, changed).unwrap();

    assert_success(&t.run(&mapping, ORG_A, "second"));
    let r = report(&t.out_dir("second"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [302, 0, 10, 17, 275, 1, 5, 269]);
    assert_eq!(e["target_count"], 275);
    assert_eq!(e["balanced"], true);

    let run_id = r["run_id"].as_str().unwrap();
    let mut conn = t.admin().await;
    let before: Vec<String> =
        sqlx::query_scalar("SELECT row_data->>'phone' FROM migrate.before_images WHERE run_id = $1::uuid ORDER BY 1")
            .bind(run_id)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(before.len(), 5, "one before-image per updated row");
    assert!(before.iter().all(|p| p != "+1 555-999-0000"), "before-images hold the old values");
    let now: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE phone = '+1 555-999-0000'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(now, 5);
}

/// A key map analyzed while empty (a fresh database, or one whose first
/// big run was interrupted and rolled back) made the planner join it with a
/// nested loop that rescanned, for every staged row, all the keys the
/// statement had written so far: quadratic, over 12 minutes for 1M rows.
/// The key map statements run without nested loops: the key map is read by
/// its index (a handful of scans), never once per row.
#[tokio::test]
async fn a_key_map_analyzed_while_empty_is_not_rescanned_for_every_row() {
    let t = Target::new().await;
    let mut admin = t.admin().await;
    sqlx::query("ANALYZE migrate.keys").execute(&mut admin).await.unwrap();
    let seq_scans = "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = 'migrate' AND relname = 'keys'";
    let before: i64 = sqlx::query_scalar(seq_scans).fetch_one(&mut admin).await.unwrap();
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "first"));
    assert_eq!(counts(entity(&report(&t.out_dir("first")), "contacts")), [302, 0, 10, 18, 274, 274, 0, 0]);
    // The run's sessions report their counters as they end.
    wait_until(
        &mut admin,
        "SELECT (count(*) = 0)::int::bigint FROM pg_stat_activity WHERE application_name = 'migrate'",
        "the run's sessions to end",
    )
    .await;
    let mut fresh = t.admin().await;
    let after: i64 = sqlx::query_scalar(seq_scans).fetch_one(&mut fresh).await.unwrap();
    assert!(after - before < 20, "the key map was scanned {} times for 284 staged keys", after - before);
}

/// A row deleted in the platform since the last run comes back on the next
/// one, with its id (the key map still names it), counted as inserted; the
/// other rows are unchanged and nothing is written twice.
#[tokio::test]
async fn a_row_deleted_in_the_platform_comes_back_with_its_id_on_the_next_run() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "first"));
    let mut conn = t.admin().await;
    let (id, email): (uuid::Uuid, Option<String>) = sqlx::query_as(
        "DELETE FROM contacts WHERE id = (
             SELECT c.id FROM contacts c
              WHERE NOT EXISTS (SELECT 1 FROM tasks k WHERE k.contact_id = c.id)
                AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.contact_id = c.id)
              ORDER BY c.id LIMIT 1)
         RETURNING id, email",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 273);

    assert_success(&t.run(&mapping, ORG_A, "second"));
    let r = report(&t.out_dir("second"));
    let e = entity(&r, "contacts");
    assert_eq!(&counts(e), &[302, 0, 10, 18, 274, 1, 0, 273]);
    assert_eq!(e["target_count"], 274);
    let back: Option<String> =
        sqlx::query_scalar("SELECT email FROM contacts WHERE id = $1").bind(id).fetch_one(&mut conn).await.unwrap();
    assert_eq!(back, email);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys WHERE entity = 'contacts'").await, 274);
    let images: Vec<(uuid::Uuid, bool)> = sqlx::query_as(
        "SELECT target_id, inserted FROM migrate.after_images WHERE entity = 'contacts' AND run_id = $1::uuid
         UNION ALL
         SELECT unnest(target_ids), inserted FROM migrate.after_image_sets WHERE entity = 'contacts' AND run_id = $1::uuid",
    )
    .bind(r["run_id"].as_str().unwrap())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(images, [(id, true)], "one after-image: the row inserted again");
}
