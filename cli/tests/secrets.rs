//! Secrets read from files (as container platforms mount them) reach the
//! servers and nothing else: a succeeding and a failing run, with every
//! output they leave grepped for the passwords.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;

use migrate_testkit::MariaDb;
use migrate_testkit::tls::{Flaw, TestPki};
use support::*;

const MYSQL_SECRET: &str = "Zq8-s3cret_mysql";
const PG_SECRET: &str = "Pg-s3cret_platform";

/// Every file under `dir`, as text.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn passwords_from_files_reach_the_servers_and_no_output() {
    let pki = TestPki::new("legacy mysql");
    let db = MariaDb::start_tls(&pki.server("mariadb", Flaw::None));
    db.load(&workspace().join("fixtures/mysql/legacy_crm.sql"));
    db.sql(&format!(
        "ALTER USER 'migrate'@'%' IDENTIFIED BY '{MYSQL_SECRET}'; ALTER USER 'migrate'@'localhost' IDENTIFIED BY '{MYSQL_SECRET}'"
    ));
    let t = Target::new().await;
    t.cluster.admin_sql(DB, &format!("ALTER ROLE {LOADER} PASSWORD '{PG_SECRET}'")).await;
    t.cluster.set_hba(&format!("host all {LOADER} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust"));

    let work = t.work.path();
    let secrets = work.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(secrets.join("mysql"), format!("{MYSQL_SECRET}\n")).unwrap();
    std::fs::write(secrets.join("db"), PG_SECRET).unwrap();
    std::fs::copy(pki.ca_file(), work.join("ca.pem")).unwrap();
    let fixture = std::fs::read_to_string(workspace().join("fixtures/mysql/legacy_crm.toml")).unwrap();
    let source =
        format!("url = \"mysql://migrate:${{MYSQL_PASSWORD}}@127.0.0.1:{}/legacy_crm\"\nssl_ca = \"ca.pem\"", db.port);
    let good = fixture.replace("url = \"${LEGACY_MYSQL_URL}\"", &source);
    assert_ne!(good, fixture);
    std::fs::write(work.join("good.toml"), &good).unwrap();
    // Fails after connecting: the table is not there.
    std::fs::write(
        work.join("bad.toml"),
        good.replace("table = \"legacy_crm.customers\"", "table = \"legacy_crm.gone\""),
    )
    .unwrap();

    let migrate = |args: &[&str], debug: bool| {
        let mut c = t.migrate_with_db_vars(LOADER, "127.0.0.1");
        c.env("DB_PASSWORD_FILE", secrets.join("db"))
            .env("MYSQL_PASSWORD_FILE", secrets.join("mysql"))
            .env("ORG_ID", ORG_A)
            .args(args);
        if debug {
            c.env("RUST_LOG", "debug");
        }
        c.output().unwrap()
    };
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, out: &std::process::Output| {
        outputs.push((format!("{what} stdout"), String::from_utf8_lossy(&out.stdout).into_owned()));
        outputs.push((format!("{what} stderr"), String::from_utf8_lossy(&out.stderr).into_owned()));
    };

    let ok = migrate(&["run", "good.toml", "--out", "good-out", "--verbose"], true);
    assert_success(&ok);
    keep("run good.toml", &ok);
    let r = report(&work.join("good-out"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 2, 3, 3, 0, 0]);
    assert_eq!(r["sources"][0]["transport"], "TLS; certificate and host name verified (ssl_ca)", "{}", r["sources"][0]);

    // A run that stops before loading (no such table: exit 2), and one
    // that fails after reading everything (too many rejects: exit 3).
    let bad = migrate(&["run", "bad.toml", "--out", "bad-out"], false);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("gone"), "{}", String::from_utf8_lossy(&bad.stderr));
    keep("run bad.toml", &bad);
    let over = migrate(&["run", "good.toml", "--out", "over-out", "--max-rejects", "1"], false);
    assert_eq!(over.status.code(), Some(3), "{}", String::from_utf8_lossy(&over.stderr));
    keep("run over budget", &over);

    let html = migrate(&["report", "good-out/report.json", "--html", "good-out/again.html"], false);
    assert_success(&html);
    keep("report --html", &html);
    let list = migrate(&["runs", "list"], false);
    assert_success(&list);
    keep("runs list", &list);
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    let run_ids: Vec<&str> = listed
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .filter(|w| w.len() == 36 && uuid::Uuid::parse_str(w).is_ok() && *w != ORG_A)
        .collect();
    assert_eq!(run_ids.len(), 2, "a succeeded run and one over its reject budget: {listed}");
    for id in run_ids {
        let show = migrate(&["runs", "show", id], false);
        assert_success(&show);
        keep(&format!("runs show {id}"), &show);
    }
    for dir in ["good-out", "bad-out", "over-out"] {
        if work.join(dir).exists() {
            outputs.extend(files_under(&work.join(dir)));
        }
    }
    assert!(outputs.iter().any(|(what, _)| what.ends_with("report.html")), "the run wrote its HTML report");
    assert!(outputs.len() >= 14, "{:?}", outputs.iter().map(|(w, _)| w).collect::<Vec<_>>());
    for (what, text) in &outputs {
        for secret in [MYSQL_SECRET, PG_SECRET] {
            assert!(!text.contains(secret), "{what} shows a password:\n{text}");
        }
    }
}
