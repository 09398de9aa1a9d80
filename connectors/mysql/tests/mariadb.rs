//! The MySQL connector against a real MariaDB server started for the test:
//! every type read as exact text, charsets decoded per column, money summed
//! exactly over many rows, a split read equal to a single read, concurrent
//! inserts never read twice, and clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use migrate_engine::{Batch, RejectReason, Source};
use migrate_mysql::{MysqlSourceConfig, PartitionConfig};
use migrate_testkit::MariaDb;
use migrate_testkit::sources::{Row, read_source};
use migrate_testkit::tls::{Flaw, TestPki};
use sha2::{Digest, Sha256};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/mysql/legacy_crm.sql")
}

fn config(url: String, table: Option<&str>, query: Option<&str>) -> MysqlSourceConfig {
    MysqlSourceConfig {
        url,
        table: table.map(str::to_string),
        query: query.map(str::to_string),
        decode: BTreeMap::new(),
        partition: None,
        ssl_ca: None,
        ssl_server_name: None,
        incremental: None,
        binlog_batch: 100_000,
        batch_rows: 1000,
        max_value_bytes: 16 << 20,
    }
}

async fn read_all(config: &MysqlSourceConfig) -> (Vec<(String, Row)>, Vec<Batch>) {
    read_source(&mut config.build(std::path::Path::new("."))).await
}

fn v(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[tokio::test]
async fn every_type_reads_as_exact_text() {
    let db = MariaDb::start();
    db.load(&fixture());
    let (rows, _) = read_all(&config(db.url("legacy_crm"), Some("legacy_crm.all_types"), None)).await;
    assert_eq!(rows.len(), 3);
    let (location, first) = &rows[0];
    assert_eq!(location, "legacy_crm.all_types[id=1]");
    let expected: Vec<(&str, Option<String>)> = vec![
        ("t_tiny", v("-128")),
        ("t_utiny", v("255")),
        ("t_bool", v("true")),
        ("t_small", v("-32768")),
        ("t_medium", v("-8388608")),
        ("t_int", v("-2147483648")),
        ("t_ubig", v("18446744073709551615")),
        ("t_big", v("-9223372036854775808")),
        ("t_dec", v("12345678901234567890.0123456789")),
        ("t_float", v("0.1")),
        ("t_double", v("0.1")),
        ("t_date", v("2024-02-29")),
        ("t_datetime", v("2024-02-29 23:59:59.999999")),
        ("t_ts", v("2038-01-19 03:14:07.999+00:00")),
        ("t_time", v("-838:59:59")),
        ("t_year", v("1901")),
        ("t_enum", v("b c")),
        ("t_set", v(r#"["x","z"]"#)),
        ("t_bit1", v("1")),
        ("t_bit", v("2730")),
        ("t_json", v(r#"{"a": [1, 2.50, "ü"]}"#)),
        ("t_blob", v("\\x00ff10")),
        ("t_binary", v("\\x616263")),
        ("t_latin1", v("Müller €")),
        ("t_utf8mb3", v("Señor")),
        ("t_utf8mb4", v("😀 ok")),
        ("t_text", v("long text")),
        ("t_char", v("ab")),
    ];
    for (column, value) in &expected {
        assert_eq!(&first[*column], value, "row 1, {column}");
    }

    let (_, second) = &rows[1];
    let expected: Vec<(&str, Option<String>)> = vec![
        ("t_bool", v("false")),
        ("t_ubig", v("0")),
        ("t_dec", v("0.0000000001")),
        ("t_float", v("-3.4e38")),
        ("t_double", v("1.7976931348623157e308")),
        ("t_date", v("0000-00-00")),
        ("t_datetime", v("0000-00-00 00:00:00.000000")),
        ("t_ts", None),
        ("t_time", v("838:59:59")),
        ("t_year", v("2155")),
        ("t_enum", v("ü")),
        ("t_set", v("[]")),
        ("t_bit1", v("0")),
        ("t_bit", v("0")),
        ("t_json", v("null")),
        ("t_blob", v("\\x")),
        ("t_binary", v("\\x000000")),
        ("t_latin1", v("")),
        ("t_char", v("")),
    ];
    for (column, value) in &expected {
        assert_eq!(&second[*column], value, "row 2, {column}: an empty string is not NULL");
    }

    // Partial dates are kept for the date transforms to count; NULL stays NULL.
    let (_, third) = &rows[2];
    assert_eq!(third["t_date"], v("2024-00-15"));
    assert_eq!(third["t_datetime"], v("2024-02-00 10:00:00.000000"));
    for column in ["t_tiny", "t_dec", "t_json", "t_blob", "t_latin1", "t_set", "t_bit"] {
        assert_eq!(third[column], None, "row 3, {column}");
    }
}

#[tokio::test]
async fn text_is_decoded_by_its_column_charset_or_the_mapping_s_override() {
    let db = MariaDb::start();
    db.load(&fixture());
    let mut c = config(db.url("legacy_crm"), Some("legacy_crm.customers"), None);
    let (rows, _) = read_all(&c).await;
    let jurgen = &rows[0].1;
    assert_eq!(jurgen["first_name"], v("Jürgen"), "a latin1 column");
    assert_eq!(jurgen["company"], v("BÃ¤ckerei GÃ¶ller"), "UTF-8 bytes that MySQL believes are latin1");
    assert_eq!(jurgen["tags"], v(r#"["vip","newsletter"]"#));
    assert_eq!(jurgen["credit_limit"], v("15000.00"));
    assert_eq!(rows[1].1["signup_date"], v("0000-00-00"));
    assert_eq!(rows[2].1["signup_date"], v("2021-00-15"));

    c.decode.insert("company".into(), "utf-8".into());
    let (rows, _) = read_all(&c).await;
    assert_eq!(rows[0].1["company"], v("Bäckerei Göller"));
    assert_eq!(rows[1].1["company"], v("Nordic AB"));

    // A query names its rows by their number.
    let q = config(db.url("legacy_crm"), None, Some("SELECT subject, fee FROM tasks ORDER BY id"));
    let (rows, _) = read_all(&q).await;
    assert_eq!(
        rows[0],
        (
            "query[row 1]".to_string(),
            [("fee", v("1234.5678")), ("subject", v("Rückruf wegen Angebot"))]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
        )
    );
}

/// A decimal's text as an integer count of 1/10 000.
fn ten_thousandths(text: &str) -> i128 {
    let (sign, digits) = text.strip_prefix('-').map_or((1, text), |d| (-1, d));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = format!("{frac:0<4}");
    sign * (whole.parse::<i128>().unwrap() * 10_000 + frac[..4].parse::<i128>().unwrap())
}

#[tokio::test]
async fn money_sums_exactly_over_many_rows() {
    let db = MariaDb::start();
    db.sql(
        "CREATE DATABASE ledger; USE ledger; CREATE TABLE ledger.entries (id INT PRIMARY KEY, amount DECIMAL(19,4), small DECIMAL(10,2));
         INSERT INTO ledger.entries SELECT seq, (seq * 7919 % 1000003) / 10000 - 50 + 0.0001, (seq % 997) / 100 FROM seq_1_to_200000;",
    );
    let (rows, _) = read_all(&config(db.url("ledger"), Some("entries"), None)).await;
    assert_eq!(rows.len(), 200_000);
    let ours: i128 = rows.iter().map(|(_, r)| ten_thousandths(r["amount"].as_deref().unwrap())).sum();
    let small: i128 = rows.iter().map(|(_, r)| ten_thousandths(r["small"].as_deref().unwrap())).sum();
    let out = std::process::Command::new("mariadb")
        .args(["--protocol=tcp", "-h127.0.0.1", "-umigrate", "-plegacy pw", "--batch", "--skip-column-names"])
        .arg(format!("-P{}", db.port))
        .args(["-e", "SELECT SUM(amount), SUM(small) FROM ledger.entries"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let sums: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(ours, ten_thousandths(sums[0]), "the server's exact SUM");
    assert_eq!(small, ten_thousandths(sums[1]));
}

/// An order-independent digest of rows: count and the wrapping sum of each
/// row's SHA-256 (first 16 bytes).
fn multiset(rows: &[(String, Row)]) -> (usize, u128) {
    let sum = rows.iter().fold(0u128, |acc, (_, row)| {
        let mut h = Sha256::new();
        for (k, v) in row {
            h.update(k.as_bytes());
            h.update([0]);
            match v {
                Some(v) => h.update(v.as_bytes()),
                None => h.update([0xff]),
            }
            h.update([1]);
        }
        let digest = h.finalize();
        acc.wrapping_add(u128::from_le_bytes(digest[..16].try_into().unwrap()))
    });
    (rows.len(), sum)
}

#[tokio::test]
async fn a_split_read_returns_exactly_the_rows_of_a_single_read() {
    let db = MariaDb::start();
    db.sql(
        "CREATE DATABASE big; USE big; CREATE TABLE big.people (id INT PRIMARY KEY, bucket INT NULL, name VARCHAR(40), joined DATE);
         INSERT INTO big.people SELECT seq, IF(seq % 10 = 0, NULL, seq % 1000), CONCAT('person ', seq),
                DATE_ADD('2000-01-01', INTERVAL seq % 9000 DAY) FROM seq_1_to_1000000;",
    );
    let single = config(db.url("big"), Some("people"), None);
    let (rows, _) = read_all(&single).await;
    let whole = multiset(&rows);
    assert_eq!(whole.0, 1_000_000);
    drop(rows);

    // By a nullable column: NULLs are a part of their own.
    let mut split = single.clone();
    split.partition = Some(PartitionConfig { column: "bucket".into(), parts: 4 });
    let mut source = split.build(std::path::Path::new("."));
    let (rows, _) = read_source(&mut source).await;
    assert_eq!(multiset(&rows), whole, "the same multiset of rows");
    let info = source.info();
    let parts: Vec<(String, u64)> = info.parts.iter().map(|p| (p.range.clone(), p.rows)).collect();
    assert_eq!(parts.len(), 5, "{parts:?}");
    assert_eq!(parts[0], ("bucket < 250".to_string(), 225_000));
    assert_eq!(parts[4], ("bucket is NULL".to_string(), 100_000));
    assert_eq!(parts.iter().map(|p| p.1).sum::<u64>(), 1_000_000);
    assert!(info.consistency.unwrap().contains("separate connections"));

    // By a date column.
    let mut by_date = single.clone();
    by_date.partition = Some(PartitionConfig { column: "joined".into(), parts: 3 });
    let (rows, _) = read_all(&by_date).await;
    assert_eq!(multiset(&rows), whole);
}

#[tokio::test]
async fn rows_inserted_during_a_split_read_are_never_read_twice() {
    let db = MariaDb::start();
    // Even ids now; odd ids arrive, in every part's range, while it reads.
    db.sql(
        "CREATE DATABASE live; USE live; CREATE TABLE live.orders (id INT PRIMARY KEY, note VARCHAR(20));
         INSERT INTO live.orders SELECT seq * 2, 'before' FROM seq_1_to_100000;",
    );
    let mut c = config(db.url("live"), Some("orders"), None);
    c.batch_rows = 500;
    c.partition = Some(PartitionConfig { column: "id".into(), parts: 4 });
    let mut source = c.build(std::path::Path::new("."));
    source.prepare().await.unwrap();
    let port = db.port;
    let writer = std::thread::spawn(move || {
        for chunk in 0..20 {
            let values: Vec<String> = (0..1000).map(|i| format!("({}, 'during')", (chunk + i * 20) * 10 + 1)).collect();
            let out = std::process::Command::new("mariadb")
                .args(["--protocol=tcp", "-h127.0.0.1", "-umigrate", "-plegacy pw"])
                .arg(format!("-P{port}"))
                .args(["-e", &format!("INSERT IGNORE INTO live.orders VALUES {}", values.join(", "))])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    });
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut batches = 0;
    while let Some(batch) = source.next_batch().await.unwrap() {
        batches += 1;
        let ids = batch.text("id").unwrap();
        for id in ids.iter().flatten() {
            *seen.entry(id.to_string()).or_default() += 1;
        }
        if batches % 20 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    writer.join().unwrap();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "read twice: {twice:?}");
    let before = (1..=100_000).filter(|i| seen.contains_key(&(i * 2).to_string())).count();
    assert_eq!(before, 100_000, "every row that was there before the read");
    assert!(seen.len() >= 100_000 && seen.len() <= 120_000, "{}", seen.len());
}

#[tokio::test]
async fn errors_name_the_source_and_never_the_password() {
    let db = MariaDb::start();
    db.load(&fixture());
    let wrong = config(db.url("legacy_crm").replace("legacy%20pw", "nope"), Some("customers"), None);
    let e = wrong.build(std::path::Path::new(".")).prepare().await.err().unwrap().to_string();
    assert!(e.contains("connecting (mysql://migrate:***@127.0.0.1:"), "{e}");
    assert!(!e.contains("nope"), "{e}");

    let missing = config(db.url("legacy_crm"), Some("legacy_crm.nowhere"), None);
    let e = missing.build(std::path::Path::new(".")).prepare().await.err().unwrap().to_string();
    assert!(e.contains("nowhere") && e.contains("doesn't exist"), "{e}");

    let mut bad_split = config(db.url("legacy_crm"), Some("customers"), None);
    bad_split.partition = Some(PartitionConfig { column: "first_name".into(), parts: 2 });
    let e = bad_split.build(std::path::Path::new(".")).prepare().await.err().unwrap().to_string();
    assert!(e.contains("partition by an integer or date column"), "{e}");

    // A value above the cap rejects its row; the others read on.
    let mut capped = config(db.url("legacy_crm"), Some("tasks"), None);
    capped.max_value_bytes = 20;
    let (rows, batches) = read_all(&capped).await;
    assert_eq!(rows.len(), 5);
    let malformed: Vec<_> = batches.iter().flat_map(|b| b.malformed.iter()).collect();
    assert_eq!(malformed.len(), 2, "{malformed:?}");
    assert_eq!(malformed[0].reason, RejectReason::FieldTooLarge);
    assert!(malformed[0].message.contains("subject holds 21 bytes"), "{}", malformed[0].message);
}

#[tokio::test]
async fn a_server_that_requires_tls_is_read_over_verified_tls() {
    let pki = TestPki::new("legacy mysql");
    let db = MariaDb::start_tls(&pki.server("mariadb", Flaw::None));
    db.load(&fixture());
    let here = std::path::Path::new(".");
    let prepare_error = |c: &MysqlSourceConfig| {
        let c = c.clone();
        async move { c.build(std::path::Path::new(".")).prepare().await.err().map(|e| e.to_string()).unwrap_or_default() }
    };

    // Without TLS the server refuses, and the message says what to add.
    let plain = config(db.url("legacy_crm"), Some("customers"), None);
    let e = prepare_error(&plain).await;
    assert!(
        e.contains("accepts only TLS connections refuses plaintext logins the same way: add ?require_ssl=true"),
        "{e}"
    );

    // The private CA: every row read, and the report says how.
    let mut verified = plain.clone();
    verified.ssl_ca = Some(pki.ca_file());
    let mut source = verified.build(here);
    let (rows, _) = read_source(&mut source).await;
    // The same rows as the server counts over its socket.
    let counted = db.query_one("SELECT COUNT(*) FROM legacy_crm.customers");
    assert_eq!(rows.len().to_string(), counted);
    assert_eq!(source.info().transport.as_deref(), Some("TLS; certificate and host name verified (ssl_ca)"));
    // The CA relative to the mapping's folder.
    let mut relative = verified.clone();
    relative.ssl_ca = Some("ca.pem".into());
    let (rows_relative, _) = read_source(&mut relative.build(pki.dir())).await;
    assert_eq!(rows_relative.len(), rows.len());

    // Another CA, a certificate for another host, an expired one.
    let stranger = TestPki::new("stranger");
    let mut wrong_ca = plain.clone();
    wrong_ca.ssl_ca = Some(stranger.ca_file());
    let e = prepare_error(&wrong_ca).await;
    assert!(e.contains("not signed by an authority this machine trusts: set ssl_ca"), "{e}");
    assert!(!e.contains("legacy pw") && !e.contains("legacy%20pw"), "{e}");
    db.replace_tls(&pki.server("mariadb-wrong-host", Flaw::WrongHost));
    let e = prepare_error(&verified).await;
    assert!(e.contains("not valid for the host name connected to: check the host in the url"), "{e}");
    // The name the certificate carries, for a server reached by another
    // name (a tunnel), and the report says so.
    let mut renamed = verified.clone();
    renamed.ssl_server_name = Some("db.invalid".to_string());
    let mut source = renamed.build(here);
    let (rows_renamed, _) = read_source(&mut source).await;
    assert_eq!(rows_renamed.len(), rows.len());
    assert_eq!(
        source.info().transport.as_deref(),
        Some("TLS; certificate verified (ssl_ca) for host name db.invalid (ssl_server_name)")
    );
    db.replace_tls(&pki.server("mariadb-expired", Flaw::Expired));
    let e = prepare_error(&verified).await;
    assert!(e.contains("certificate has expired"), "{e}");

    // A server without TLS, asked for it.
    let bare = MariaDb::start();
    let mut asks = config(bare.url("mysql"), None, Some("SELECT 1"));
    asks.ssl_ca = Some(pki.ca_file());
    let e = prepare_error(&asks).await;
    assert!(e.contains("the server does not offer TLS, but the url asks for it"), "{e}");
}
