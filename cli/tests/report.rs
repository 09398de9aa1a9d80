//! The customer's report: the page in a real browser (verdict, totals, data
//! shown as text, never run), the fingerprint check catching a value
//! changed after the load in exactly its column, the Markdown summary, and
//! a rejects file fixed and fed back through the same mapping.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

fn chromium(args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium not found: run fixtures/scripts/setup.sh");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[tokio::test]
async fn the_report_page_gives_the_verdict_and_shows_hostile_data_as_text_in_a_browser() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    // Hostile values where the page shows them: a rejected date (in the
    // reject examples) and an unmapped column (in the warnings).
    let csv_path = mapping.parent().unwrap().join("customers.csv");
    let (header, mut rows) = read_csv(&csv_path);
    assert_eq!(header[7], "Created");
    rows[0][7] = "<script>document.body.setAttribute('data-pwned','1')</script>".into();
    let last = header.len() - 1;
    rows[0][last] = "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">".into();
    write_csv(&csv_path, &header, &rows);

    let out = t.run(&mapping, ORG_A, "out");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("All 302 source rows are accounted for. 273 loaded, 19 rejected, 10 duplicates."),
        "{stdout}"
    );
    assert!(stdout.contains("html:   out/report.html"), "{stdout}");
    let r = report(&t.out_dir("out"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [302, 0, 10, 19, 273, 273, 0, 0]);

    let page = t.out_dir("out").join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "the page carries no script of its own or the data's");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external request");
    let dom = String::from_utf8(chromium(&["--dump-dom"], &page).stdout).unwrap();
    assert!(dom.contains("All 302 source rows are accounted for."), "{dom}");
    assert!(dom.contains("273 loaded, 19 rejected, 10 duplicates."));
    assert!(
        dom.contains("&lt;script&gt;document.body.setAttribute('data-pwned','1')&lt;/script&gt;"),
        "shown as text: {dom}"
    );
    assert!(dom.contains("&lt;img src=x onerror="), "shown as text");
    assert!(!dom.contains("data-pwned=\""), "injected data ran in the page");
    for total in ["302", "273", "19", "10"] {
        assert!(dom.contains(&format!("<td class=\"n\">{total}</td>")), "{total} missing from the totals");
    }
    // A picture for people: kept under the build's test output.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&shots).unwrap();
    let png = shots.join("report.png");
    chromium(&[&format!("--screenshot={}", png.display()), "--window-size=1280,2400"], &page);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "{} bytes", bytes.len());
}

#[tokio::test]
async fn a_value_changed_after_the_load_is_flagged_in_its_column_and_only_there() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    let checks = entity(&r, "contacts")["fingerprints"].as_array().unwrap().clone();
    let columns: Vec<&str> = checks.iter().map(|c| c["column"].as_str().unwrap()).collect();
    assert_eq!(
        columns,
        ["first_name", "last_name", "email", "phone", "company", "type", "created_at", "custom_fields"]
    );
    assert!(checks.iter().all(|c| c["matches"] == true), "{checks:?}");
    let created = checks.iter().find(|c| c["column"] == "created_at").unwrap();
    assert_eq!(created["kind"], "temporal");
    assert_eq!(created["published"]["rows"], 274);
    assert!(created["published"]["min"].as_str().unwrap().starts_with("20"), "{created}");
    // The hash sum is the exact sum of the 64-bit hashes (as reports of
    // earlier versions stored it), not one that wraps around.
    let mut admin = t.admin().await;
    for check in &checks {
        let column = check["column"].as_str().unwrap();
        // `column` is one of the report's own eight column names.
        let exact: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT coalesce(sum(hashtextextended(\"{column}\"::text, 0)::numeric), 0)::text FROM contacts
              WHERE org_id = $1"
        )))
        .bind(uuid::Uuid::parse_str(ORG_A).unwrap())
        .fetch_one(&mut admin)
        .await
        .unwrap();
        assert_eq!(check["published"]["hash"], exact.as_str(), "{column}");
    }

    let report_path = t.out_dir("out").join("report.json");
    let verify = |extra: &[&str]| {
        t.migrate_as(LOADER).arg("report").arg(&report_path).arg("--verify").args(extra).output().unwrap()
    };
    let clean = verify(&[]);
    assert_success(&clean);
    assert_eq!(String::from_utf8_lossy(&clean.stdout).trim(), "contacts: all 8 columns match what the run loaded");

    // Someone edits one phone number in the platform after the load.
    let changed = sqlx::query(
        "UPDATE contacts SET phone = '+1 555 000 0000'
          WHERE id = (SELECT id FROM contacts WHERE org_id = $1 AND phone IS NOT NULL ORDER BY id LIMIT 1)",
    )
    .bind(uuid::Uuid::parse_str(ORG_A).unwrap())
    .execute(&mut admin)
    .await
    .unwrap();
    assert_eq!(changed.rows_affected(), 1);

    let html = t.out_dir("out").join("verified.html");
    let out = verify(&["--html", html.to_str().unwrap(), "--format", "md"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let flagged: Vec<&str> = stdout.lines().filter(|l| l.contains(": differs")).collect();
    assert_eq!(flagged.len(), 1, "{stdout}");
    assert!(flagged[0].starts_with("contacts.phone: differs — loaded "), "{stdout}");
    assert!(stdout.contains("Data check: **columns that differ:** contacts.phone"), "{stdout}");
    assert!(stdout.contains("| contacts | 302 | 274 | 18 | 10 | 0 | 274 | yes |"), "{stdout}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("1 of 8 columns differ"), "the page flags it");
    assert_eq!(page.matches("class=\"mismatch\"").count(), 1);
}

#[tokio::test]
async fn verifying_a_run_an_unchanged_rerun_superseded_checks_the_rerun_and_passes() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "first"));
    assert_success(&t.run(&mapping, ORG_A, "second"));
    let second = report(&t.out_dir("second"));
    assert_eq!(counts(entity(&second, "contacts"))[7], 274, "the re-run changed nothing");
    let (first_id, second_id) = (report(&t.out_dir("first"))["run_id"].clone(), second["run_id"].clone());
    let (first_id, second_id) = (first_id.as_str().unwrap().to_string(), second_id.as_str().unwrap().to_string());

    let out = t
        .migrate_as(LOADER)
        .arg("report")
        .arg(t.out_dir("first").join("report.json"))
        .arg("--verify")
        .output()
        .unwrap();
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("contacts: run {first_id} was superseded by run {second_id}, finished ")),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with(&format!(
            "which re-loaded its rows (0 of them are still last written by run {first_id}); checking run {second_id}"
        )),
        "{stdout}"
    );
    assert_eq!(lines[1], format!("contacts: all 8 columns match what run {second_id} loaded"));

    // The latest run is its own: checked as before.
    let out = t
        .migrate_as(LOADER)
        .arg("report")
        .arg(t.out_dir("second").join("report.json"))
        .arg("--verify")
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "contacts: all 8 columns match what the run loaded");
}

#[tokio::test]
async fn a_rejects_file_fixed_by_the_customer_loads_through_the_same_mapping() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "out"));
    let (header, rows) = read_csv(&t.out_dir("out").join("rejects/contacts.csv"));
    assert_eq!(&header[..5], ["_location", "_column", "_value", "_reason", "_message"]);
    let source_header = std::fs::read_to_string(mapping.parent().unwrap().join("customers.csv")).unwrap();
    let source_header: Vec<&str> = source_header.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[5..], source_header.as_slice(), "the original fields follow, in source order");

    // The customer fixes the bad e-mail addresses and sends the file back.
    let email = header.iter().position(|h| h == "E-Mail").unwrap();
    let mut fixed = csv::Writer::from_path(mapping.parent().unwrap().join("fixed.csv")).unwrap();
    fixed.write_record(&header).unwrap();
    let mut repaired = 0;
    for (i, row) in rows.iter().enumerate() {
        let mut row = row.clone();
        if row[1] == "E-Mail" && (row[3] == "invalid_email" || row[3] == "required_missing") {
            row[email] = format!("fixed{i}@example.com");
            repaired += 1;
        }
        fixed.write_record(&row).unwrap();
    }
    fixed.flush().unwrap();
    assert!(repaired >= 2, "the demo has bad e-mails to fix");
    let text = std::fs::read_to_string(&mapping)
        .unwrap()
        .replace("path = \"customers.csv\"", "path = \"fixed.csv\"\nskip_columns = \"_*\"");
    let again = mapping.with_file_name("fixed.toml");
    std::fs::write(&again, text).unwrap();
    assert_success(&t.run(&again, ORG_A, "fixed-out"));
    let r = report(&t.out_dir("fixed-out"));
    let e = entity(&r, "contacts");
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    let n = rows.len() as u64;
    assert_eq!(counts(e), [n, 0, 0, n - repaired, repaired, repaired, 0, 0]);
    assert_eq!(e["target_count"], 274 + repaired);
    let still: Vec<String> =
        read_csv(&t.out_dir("fixed-out").join("rejects/contacts.csv")).1.iter().map(|r| r[3].clone()).collect();
    assert_eq!(still.len() as u64, n - repaired, "{still:?}");
    assert!(!still.iter().any(|r| r == "required_missing"), "{still:?}");
}
