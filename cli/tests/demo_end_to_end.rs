//! The demo, end to end, with the exact counts the report must give.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sha2::{Digest, Sha256};
use support::*;

/// The line (1-based) of the first physical line that starts with `prefix`:
/// found by scanning the raw text, independently of the CSV reader.
fn raw_line(csv: &str, prefix: &str) -> usize {
    csv.lines().position(|l| l.starts_with(prefix)).unwrap() + 1
}

#[tokio::test]
async fn the_demo_loads_with_exact_counts_and_accounts_for_every_row() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let out = t.run(&mapping, ORG_A, "out");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("report: out/report.json"), "{stdout}");

    let dir = t.out_dir("out");
    let r = report(&dir);
    let csv_path = mapping.parent().unwrap().join("customers.csv");
    let csv_bytes = std::fs::read(&csv_path).unwrap();
    let mapping_bytes = std::fs::read(&mapping).unwrap();

    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["org_id"], ORG_A);
    assert!(uuid::Uuid::parse_str(r["run_id"].as_str().unwrap()).is_ok());
    assert_eq!(r["mapping"]["name"], "acme-legacy-crm");
    assert_eq!(r["mapping"]["path"], mapping.display().to_string());
    assert_eq!(r["mapping"]["sha256"], hex::encode(Sha256::digest(&mapping_bytes)));
    assert!(r["started_at"].as_str().unwrap() <= r["finished_at"].as_str().unwrap());
    assert!(r.get("error").is_none());

    let source = &r["sources"][0];
    assert_eq!(source["name"], "customers");
    assert_eq!(source["kind"], "csv");
    assert_eq!(source["location"], csv_path.display().to_string());
    assert_eq!(source["size"], csv_bytes.len() as u64);
    assert_eq!(source["sha256"], hex::encode(Sha256::digest(&csv_bytes)));
    assert_eq!(source["row_count"], 302);
    assert_eq!(source["encoding"], "utf-8");

    let e = entity(&r, "contacts");
    assert_eq!(e["source"], "customers");
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(e), [302, 0, 10, 18, 274, 274, 0, 0]);
    assert_eq!(e["target_count"], 274);
    assert_eq!(e["org_total"], 274);
    assert_eq!(e["balanced"], true);

    // target_count is what the tenant role counts, through the key map and in all.
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 274);
    assert_eq!(
        t.tenant_count(
            Some(ORG_A),
            "contacts c JOIN migrate.keys k ON k.target_id = c.id AND k.source_system = 'acme-crm'"
        )
        .await,
        274
    );

    // The one unmapped column that holds data is a warning with its count.
    let (header, rows) = read_csv(&csv_path);
    let flag = header.iter().position(|h| h == "LegacyFlag").unwrap();
    let flagged = rows.iter().filter(|r| !r[flag].trim().is_empty()).count() as u64;
    let warnings = r["warnings"].as_array().unwrap();
    let warning =
        |code: &str| warnings.iter().find(|w| w["code"] == code).unwrap_or_else(|| panic!("{code} in {warnings:?}"));
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert_eq!(warning("unmapped_source_column")["column"], "LegacyFlag");
    assert_eq!(warning("unmapped_source_column")["count"], flagged);
    // Legacy "no date" values are counted, never silent: into created_at,
    // which cannot be NULL, the platform's default (the load time).
    assert_eq!(warning("sentinel_date_defaulted")["column"], "Created");
    assert_eq!(warning("sentinel_date_defaulted")["count"], 4);
    assert_eq!(warning("sentinel_date_defaulted")["examples"], serde_json::json!(["00/00/0000", "01/01/1900 00:00"]));
    // A New York wall-clock time that the clocks skipped.
    assert_eq!(warning("dst_gap_shifted")["count"], 1);
    // The terminal summary lists the same warnings under its table, the
    // largest counts first, each with its code, count, column and meaning.
    let listed: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("warnings (")).take(4).collect();
    let meaning = |code: &str| migrate_engine::codes::warning_text(code).unwrap();
    assert_eq!(
        listed,
        [
            "warnings (3):".to_string(),
            format!(
                "  unmapped_source_column ×{flagged} in contacts.LegacyFlag: {}",
                meaning("unmapped_source_column")
            ),
            format!("  sentinel_date_defaulted ×4 in contacts.Created: {}", meaning("sentinel_date_defaulted")),
            format!(
                "  dst_gap_shifted ×1 in contacts.{}: {}",
                warning("dst_gap_shifted")["column"].as_str().unwrap(),
                meaning("dst_gap_shifted")
            ),
        ],
        "{stdout}"
    );

    // Every rejected row: its line, the column, the value, the reason code,
    // then the original fields.
    let text = String::from_utf8(csv_bytes).unwrap();
    let (rheader, rejects) = read_csv(&dir.join("rejects/contacts.csv"));
    assert_eq!(&rheader[..5], ["_location", "_column", "_value", "_reason", "_message"]);
    assert_eq!(&rheader[5..], header.as_slice());
    let file = csv_path.display().to_string();
    let mut expected: Vec<(String, &str, &str)> = Vec::new();
    for id in ["C0012", "C0025", "C0038", "C0051", "C0064", "C0077"] {
        expected.push((format!("{file}:{}", raw_line(&text, &format!("{id},"))), "required_missing", "E-Mail"));
    }
    for id in ["C0090", "C0091"] {
        expected.push((format!("{file}:{}", raw_line(&text, &format!("{id},"))), "too_long", "Company"));
    }
    for id in ["C0100", "C0110", "C0120", "C0130"] {
        expected.push((format!("{file}:{}", raw_line(&text, &format!("{id},"))), "invalid_value", "Type"));
    }
    for id in ["C0140", "C0150", "C0160"] {
        expected.push((format!("{file}:{}", raw_line(&text, &format!("{id},"))), "invalid_date", "Created"));
    }
    expected.push((format!("{file}:{}", raw_line(&text, "C0190,")), "invalid_amount", "LTV"));
    expected.push((format!("{file}:{}", raw_line(&text, ",")), "missing_key", "CustomerID"));
    expected.push((format!("{file}:{}", raw_line(&text, "  ,")), "missing_key", "CustomerID"));
    let mut got: Vec<(String, &str, &str)> =
        rejects.iter().map(|r| (r[0].clone(), r[3].as_str(), r[1].as_str())).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    // PostgreSQL's own message for the rows it refused, the original fields kept.
    let bad_date = rejects.iter().find(|r| r[2] == "not a date").unwrap();
    assert!(
        bad_date[4].starts_with("date: \"not a date\" matches none of the formats tried: %m/%d/%Y, "),
        "{bad_date:?}"
    );
    assert_eq!(bad_date[2], "not a date");
    assert_eq!(bad_date[5], "C0160");

    // Each dropped duplicate with the survivor's location; the later row won.
    let (_, dups) = read_csv(&dir.join("duplicates/contacts.csv"));
    assert_eq!(dups.len(), 10);
    for d in &dups {
        let line = |loc: &str| loc.rsplit(':').next().unwrap().parse::<u64>().unwrap();
        assert!(line(&d[1]) > line(&d[0]), "{d:?}");
    }
    let mut conn = t.admin().await;
    let row: (String, Option<String>, Option<String>, String, serde_json::Value) = sqlx::query_as(
        "SELECT c.email, c.company, c.phone, c.type, c.custom_fields FROM contacts c
         JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'C0003'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    // C0003: `  HEDY.WILSON3@EXAMPLE.COM ,…,N/A,Client,…` in the file.
    assert_eq!(row.0, "hedy.wilson3@example.com");
    assert_eq!(row.1, None, "N/A is NULL");
    assert_eq!(row.3, "client");
    assert_eq!(row.4["region"], "West");
    assert!(row.4.get("lifetime_value").is_none(), "an empty amount adds no key");
    let phone: String = sqlx::query_scalar(
        "SELECT c.phone FROM contacts c JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'C0200'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(phone, "+1 555-000-0000", "the later duplicate wins");
    let null_companies: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE company IN ('N/A', '-', '')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(null_companies, 0, "null_if and empty values become NULL");
    let notes: String = sqlx::query_scalar(
        "SELECT c.custom_fields->>'legacy_notes' FROM contacts c JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'C0005'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(notes, "Called twice.\nPrefers email,\nnot phone.");
    // US dates in New York time land in UTC; German amounts exactly.
    let (created, ltv): (chrono::DateTime<chrono::Utc>, serde_json::Value) = sqlx::query_as(
        "SELECT c.created_at, c.custom_fields->'lifetime_value' FROM contacts c
         JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'C0002'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(created.to_rfc3339(), "2014-01-25T06:30:00+00:00", "01/25/2014 01:30 EST");
    assert_eq!(ltv, serde_json::json!({ "amount": "97678.30", "currency": "EUR" }), "97.678,30 €");
    let negative: serde_json::Value = sqlx::query_scalar(
        "SELECT c.custom_fields->'lifetime_value' FROM contacts c
         JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'C0191'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(negative, serde_json::json!({ "amount": "-45.00", "currency": "EUR" }), "(45,00 €)");
    // Staging is gone once published.
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0
    );
}

#[tokio::test]
async fn a_dry_run_counts_everything_and_publishes_nothing() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .arg("run")
        .arg(&mapping)
        .args(["--out", "dry", "--dry-run"])
        .output()
        .unwrap();
    assert_success(&out);
    let r = report(&t.out_dir("dry"));
    assert_eq!(r["status"], "dry_run");
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [302, 0, 10, 18, 274, 274, 0, 0]);
    assert!(e["target_count"].is_null());
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.keys").await, 0);
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0
    );
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs WHERE status = 'dry_run'").await, 1);
}

#[tokio::test]
async fn past_the_reject_budget_nothing_is_published_and_the_exit_code_is_3() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let text = std::fs::read_to_string(&mapping)
        .unwrap()
        .replace("source_system = \"acme-crm\"", "source_system = \"acme-crm\"\nmax_rejected = 16");
    std::fs::write(&mapping, text).unwrap();
    let out = t.run(&mapping, ORG_A, "budget");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("18 of 302 rows rejected, more than max_rejected = 16"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&t.out_dir("budget"));
    assert_eq!(r["status"], "failed");
    assert_eq!(entity(&r, "contacts")["rejected"], 18);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_eq!(
        t.admin_count("SELECT count(*) FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%'").await,
        0
    );

    // A share instead of a count, from the command line: 18 of 302 is 5.96%.
    let by_share = |budget: &str, out: &str| {
        t.migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .arg("run")
            .arg(&mapping)
            .args(["--out", out, "--quiet", "--max-rejects", budget])
            .output()
            .unwrap()
    };
    let over = by_share("5%", "share-over");
    assert_eq!(over.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&over.stderr).contains("18 of 302 rows rejected, more than max_rejected = 5%"));
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_success(&by_share("6%", "share-under"));
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 274);
    let bad = by_share("lots", "never");
    assert_eq!(bad.status.code(), Some(2), "a bad budget is a usage error");
}
