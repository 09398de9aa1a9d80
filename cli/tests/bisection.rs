//! Rows PostgreSQL refuses are found by bisecting the batch, wherever they
//! are, and only they are rejected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use support::*;

/// `dir/mapping.toml`: rows.csv (id, email, created) into contacts, the
/// dates as PostgreSQL reads them; `source` adds to the CSV source.
fn write_mapping(dir: &std::path::Path, source: &str) -> std::path::PathBuf {
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        format!(
            r#"
[migration]
name = "bisect"
org_id = "${{ORG_ID}}"
source_system = "bisect"

[sources.rows]
kind = "csv"
path = "rows.csv"
{source}

[contacts]
from = "rows"
key = "id"

[contacts.columns]
email = "email"
created_at = "created"
"#
        ),
    )
    .unwrap();
    mapping
}

#[tokio::test]
async fn every_row_postgres_refuses_is_found_and_no_other() {
    let t = Target::new().await;
    let dir = t.work.path().join("bisect");
    std::fs::create_dir_all(&dir).unwrap();
    // 3000 rows in batches of 500; 40 impossible dates scattered, some
    // adjacent, some at batch edges.
    let mut bad: BTreeSet<usize> = (0..36).map(|i| (i * 7919 + 13) % 3000).collect();
    bad.extend([0, 499, 500, 2999, 1000, 1001]);
    let mut csv = String::from("id,email,created\n");
    for i in 0..3000 {
        let created = if bad.contains(&i) { "2021-13-45 10:00" } else { "2021-03-04 10:00" };
        csv.push_str(&format!("K{i},p{i}@example.com,{created}\n"));
    }
    std::fs::write(dir.join("rows.csv"), csv).unwrap();
    let mapping = write_mapping(&dir, "batch_size = 500");
    assert_success(&t.run(&mapping, ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    let e = entity(&r, "contacts");
    let n = bad.len() as u64;
    assert_eq!(counts(e), [3000, 0, 0, n, 3000 - n, 3000 - n, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("out").join("rejects/contacts.csv"));
    let rejected: BTreeSet<usize> = rejects.iter().map(|r| r[5].trim_start_matches('K').parse().unwrap()).collect();
    assert_eq!(rejected, bad);
    for r in &rejects {
        assert_eq!(r[1], "created", "the column PostgreSQL named, mapped back to the source column");
        assert_eq!(r[3], "invalid_type");
        assert!(r[4].contains("out of range"), "{r:?}");
        let line: usize = r[0].rsplit(':').next().unwrap().parse().unwrap();
        let id: usize = r[5].trim_start_matches('K').parse().unwrap();
        assert_eq!(line, id + 2);
    }
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 3000 - n as i64);
}

/// Staging remembers the keys it staged: when no two are alike the
/// publish skips its duplicate-key query, and a row PostgreSQL refused is
/// not one of them (its key staged again is no duplicate). A key staged
/// twice still goes through the query: the later row wins.
#[tokio::test]
async fn keys_staging_saw_once_skip_the_duplicate_key_query_and_refused_rows_do_not_count() {
    let t = Target::new().await;
    let dir = t.work.path().join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    let mapping = write_mapping(&dir, "");
    let run = |csv: &str, out: &str| {
        std::fs::write(dir.join("rows.csv"), csv).unwrap();
        let output = t
            .migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env_remove("RUST_LOG")
            .args(["run", "--verbose"])
            .arg(&mapping)
            .args(["--out", out])
            .output()
            .unwrap();
        assert_success(&output);
        (String::from_utf8(output.stderr).unwrap(), report(&t.out_dir(out)))
    };

    let (log, r) = run(
        "id,email,created\nK1,first@example.com,2021-13-45 10:00\nK1,second@example.com,2021-03-04 10:00\n\
         K2,k2@example.com,2021-03-04 10:00\n",
        "distinct",
    );
    assert!(log.contains("publish contacts: no source key staged twice (known from staging)"), "{log}");
    assert!(!log.contains("duplicate source keys dropped"), "{log}");
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 1, 2, 2, 0, 0]);
    let mut admin = t.admin().await;
    let emails: Vec<String> =
        sqlx::query_scalar("SELECT email FROM contacts ORDER BY email").fetch_all(&mut admin).await.unwrap();
    assert_eq!(emails, ["k2@example.com", "second@example.com"]);

    let (log, r) =
        run("id,email,created\nK3,old@example.com,2021-03-04 10:00\nK3,new@example.com,2021-03-04 10:00\n", "twice");
    assert!(log.contains("publish contacts: 1 duplicate source keys dropped"), "{log}");
    assert!(!log.contains("known from staging"), "{log}");
    assert_eq!(counts(entity(&r, "contacts"))[..5], [2, 0, 1, 0, 1]);
    let k3: Vec<String> = sqlx::query_scalar(
        "SELECT c.email FROM contacts c JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'K3'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(k3, ["new@example.com"], "the later row of the key wins");
}
