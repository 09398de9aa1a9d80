//! The platform's PostgreSQL over verified TLS: a throwaway cluster with
//! `ssl = on` and a certificate from a CA generated for this test, whose
//! pg_hba.conf refuses the loader any connection without TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use migrate_testkit::TestCluster;
use migrate_testkit::tls::{Flaw, TestPki};
use support::{DB, LOADER, ORG_A, Target};

/// `migrate` with the `DB_*` variables for the loader over TLS, host
/// `localhost` (the certificate's name).
fn over_tls(target: &Target, ca: &std::path::Path, mode: &str) -> Command {
    let mut c = target.migrate_with_db_vars(LOADER, "localhost");
    c.env("DB_SSLMODE", mode).env("DB_SSLROOTCERT", ca).env("ORG_ID", ORG_A);
    c
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn the_target_is_reached_with_verify_full_and_a_private_ca() {
    let pki = TestPki::new("platform");
    let good = pki.server("pg", Flaw::None);
    let target = Target::on(TestCluster::start_tls(&good)).await;
    // The loader may only come in over TLS, with its password.
    target.cluster.admin_sql(DB, &format!("ALTER ROLE {LOADER} PASSWORD 'tls pw 42'")).await;
    target.cluster.set_hba(&format!(
        "hostssl all {LOADER} 127.0.0.1/32 scram-sha-256\nhostnossl all {LOADER} 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 trust"
    ));
    let secret = target.work.path().join("db-password");
    std::fs::write(&secret, "tls pw 42\n").unwrap();
    let mapping = target.demo("demo");

    // Verified TLS, the password from a file: the demo loads.
    let out = over_tls(&target, &pki.ca_file(), "verify-full")
        .env("DB_PASSWORD_FILE", &secret)
        .arg("run")
        .arg(&mapping)
        .args(["--out", "tls-out"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let loaded = target.admin_count(&format!("SELECT count(*) FROM contacts WHERE org_id = '{ORG_A}'")).await;
    assert_eq!(loaded, 274, "{}", text(&out));

    // The same through DATABASE_URL's own parameters; a URL without a
    // password takes the one DB_PASSWORD_FILE holds.
    let url = format!(
        "postgres://{LOADER}@localhost:{}/{DB}?sslmode=verify-full&sslrootcert={}",
        target.cluster.port,
        pki.ca_file().display()
    );
    let out = target
        .migrate_as(LOADER)
        .env("DATABASE_URL", url)
        .env("DB_PASSWORD_FILE", &secret)
        .env("ORG_ID", ORG_A)
        .args(["runs", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("acme-legacy-crm"), "{}", text(&out));

    // Without TLS the server refuses the loader.
    let list = |ca: &std::path::Path, mode: &str, extra: &[(&str, &std::path::Path)]| {
        let mut c = over_tls(&target, ca, mode);
        c.env("DB_PASSWORD_FILE", &secret);
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.args(["runs", "list"]).output().unwrap();
        (out.status.code(), text(&out))
    };
    let ca = pki.ca_file();
    let (code, said) = list(&ca, "disable", &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("no encryption"), "{said}");

    // Another CA's certificate is refused, naming the setting to change.
    let stranger = TestPki::new("stranger");
    let (code, said) = list(&stranger.ca_file(), "verify-full", &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("not signed by an authority this machine trusts: set DB_SSLROOTCERT"), "{said}");
    // A certificate for another host name.
    target.cluster.replace_tls(&pki.server("pg-wrong-host", Flaw::WrongHost));
    let (code, said) = list(&ca, "verify-full", &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("not valid for the host name connected to: check DB_HOST"), "{said}");
    // verify-ca checks the signature but not the name: it connects.
    let (code, said) = list(&ca, "verify-ca", &[]);
    assert_eq!(code, Some(0), "{said}");
    // An expired certificate.
    target.cluster.replace_tls(&pki.server("pg-expired", Flaw::Expired));
    let (code, said) = list(&ca, "verify-full", &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("certificate has expired"), "{said}");

    // Settings that cannot work are named before connecting (exit 2).
    let (code, said) = list(&target.work.path().join("no-such-ca.pem"), "verify-full", &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("DB_SSLROOTCERT"), "{said}");
    let (code, said) = list(&ca, "verify-full", &[("DB_PASSWORD_FILE", &target.work.path().join("no-such-secret"))]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("DB_PASSWORD_FILE=") && said.contains("cannot read it"), "{said}");
    let (code, said) = list(&ca, "verify-full", &[("DB_PASSWORD", std::path::Path::new("tls pw 42"))]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("DB_PASSWORD and DB_PASSWORD_FILE are both set"), "{said}");
}
