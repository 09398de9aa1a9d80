//! `migrate run` from a legacy SQL Server ERP, served by the fake TDS
//! server of the test support code through the real tiberius client: money
//! exact, the 1900-01-01 sentinel counted, collation code pages decoded,
//! GUIDs canonical, and a re-run that changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use migrate_testkit::tds::{FakeTds, LATIN1_GENERAL, TdsTable, TdsType as T, TdsValue as V};
use migrate_testkit::tls::{Flaw, TestPki};
use support::*;

fn accounts() -> TdsTable {
    let row = |id: i64, name: &str, email: &str, active: bool, days: i32, money: i64, manager: [u8; 16]| {
        vec![
            V::Int(id),
            V::Text(name.into()),
            V::Text(email.into()),
            V::Bit(active),
            V::DateTime { days, ticks: 0 },
            V::Money(money),
            V::Guid(manager),
        ]
    };
    let g = |last: u8| [0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86, 0xd0, 0x11, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, last];
    TdsTable {
        name: "dbo.Accounts".into(),
        primary_key: vec!["AccountID".into()],
        columns: vec![
            ("AccountID".into(), T::Int),
            ("AccountName".into(), T::VarChar(Some(100), LATIN1_GENERAL)),
            ("Email".into(), T::NVarChar(Some(200))),
            ("Active".into(), T::Bit),
            ("Opened".into(), T::DateTime),
            ("CreditLimit".into(), T::Money),
            ("Manager".into(), T::UniqueIdentifier),
        ],
        rows: vec![
            row(1, "Müller  GmbH", "info@mueller.de", true, 45349, 9_007_199_254_740_993, g(1)),
            // 1900-01-01: the ERP's "no date".
            row(2, "Café Crème", "cafe@example.fr", false, 0, 1, g(2)),
            row(3, "Broken Ltd", "not an email", true, 40000, 0, g(3)),
        ],
    }
}

/// company, status, credit limit, account manager, created before today.
type AccountRow = (String, String, Option<String>, Option<String>, bool);

#[tokio::test]
async fn a_legacy_sql_server_erp_lands_in_contacts() {
    let server = FakeTds::start(vec![accounts()]);
    let t = Target::new().await;
    let mapping = workspace().join("fixtures/mssql/erp.toml");
    let run = |out: &str| {
        t.migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("ERP_MSSQL", server.connection_string())
            .arg("run")
            .arg(&mapping)
            .args(["--out", out])
            .output()
            .unwrap()
    };
    assert_success(&run("first"));
    let r = report(&t.out_dir("first"));
    migrate_testkit::check_report(&r);
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 1, 2, 2, 0, 0]);
    let reject = &entity(&r, "contacts")["rejects_by_reason"][0];
    assert_eq!(
        (reject["reason"].as_str(), reject["examples"][0]["location"].as_str()),
        (Some("invalid_email"), Some("dbo.Accounts[AccountID=3]"))
    );
    let source = &r["sources"][0];
    assert_eq!(source["kind"], "mssql");
    assert!(source["location"].as_str().unwrap().contains("password=***"), "{source}");
    let sentinel = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "sentinel_date_defaulted").unwrap();
    assert_eq!((sentinel["column"].as_str(), sentinel["count"].as_u64()), (Some("Opened"), Some(1)));

    let mut admin = t.admin().await;
    let rows: Vec<AccountRow> = sqlx::query_as(
        "SELECT company, status, custom_fields->'credit_limit'->>'amount', custom_fields->>'account_manager',
                created_at < now() - interval '1 day'
           FROM contacts ORDER BY company",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |x: &str| Some(x.to_string());
    let expected: Vec<AccountRow> = vec![
        ("Café Crème".into(), "inactive".into(), s("0.0001"), s("6f9619ff-8b86-d011-b42d-00c04fc96402"), false),
        // 2^53 + 1 ten-thousandths: a float would have made it …0992.
        (
            "Müller GmbH".into(),
            "active".into(),
            s("900719925474.0993"),
            s("6f9619ff-8b86-d011-b42d-00c04fc96401"),
            true,
        ),
    ];
    assert_eq!(rows, expected, "the 1900-01-01 sentinel left created_at to its default, now()");

    assert_success(&run("again"));
    assert_eq!(counts(entity(&report(&t.out_dir("again")), "contacts")), [3, 0, 0, 1, 2, 0, 0, 2]);
}

/// The same ERP behind TLS: the customer's report says how the server's
/// certificate was checked, verified or not.
#[tokio::test]
async fn over_tls_the_report_says_how_the_certificate_was_checked() {
    let pki = TestPki::new("erp");
    let server = FakeTds::start_tls(vec![accounts()], &pki.server("sql", Flaw::None));
    let t = Target::new().await;
    let mapping = workspace().join("fixtures/mssql/erp.toml");
    let run = |tail: &str, out: &str| {
        let out_dir = t.out_dir(out);
        let output = t
            .migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .env("ERP_MSSQL", server.tls_connection_string("localhost", tail))
            .arg("run")
            .arg(&mapping)
            .args(["--out", out])
            .output()
            .unwrap();
        assert_success(&output);
        let r = report(&out_dir);
        migrate_testkit::check_report(&r);
        let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
        (r["sources"][0]["transport"].as_str().unwrap().to_string(), html)
    };
    let (said, html) = run(&format!("TrustServerCertificateCA={}", pki.ca_file().display()), "verified");
    assert_eq!(said, "TLS; certificate and host name verified (TrustServerCertificateCA)");
    assert!(html.contains("connection: TLS; certificate and host name verified (TrustServerCertificateCA)"), "{html}");
    let (said, html) = run("TrustServerCertificate=true", "trusted");
    assert_eq!(said, "TLS; the server's certificate NOT verified (TrustServerCertificate=true)");
    assert!(html.contains("certificate NOT verified"));
    // Two connections a run (the columns, then the rows), each asking for
    // encryption as required.
    assert_eq!(server.encryption_asked(), [3, 3, 3, 3]);
}
