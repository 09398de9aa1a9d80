//! The SQL Server connector through the real tiberius client, against the
//! fake TDS server of the test support code (no SQL Server can be installed
//! here): every legacy type as exact text, money summed exactly over many
//! rows, GUID byte order, code pages by collation, (max) values and their
//! cap, and clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use migrate_engine::{Batch, RejectReason, Source};
use migrate_mssql::{MssqlSourceConfig, PartitionConfig};
use migrate_testkit::sources::{Row, count_rows, read_source};
use migrate_testkit::tds::{
    CYRILLIC_GENERAL, FakeTds, LATIN1_CP437, LATIN1_CP850, LATIN1_GENERAL, TdsTable, TdsType as T, TdsValue as V,
};
use migrate_testkit::tls::{Flaw, TestPki};

fn config(server: &FakeTds, table: Option<&str>, query: Option<&str>) -> MssqlSourceConfig {
    MssqlSourceConfig {
        incremental: None,
        connection: server.connection_string(),
        table: table.map(str::to_string),
        query: query.map(str::to_string),
        partition: None,
        batch_rows: 1000,
        max_value_bytes: 16 << 20,
    }
}

async fn read_all(config: &MssqlSourceConfig) -> (Vec<(String, Row)>, Vec<Batch>) {
    read_source(&mut config.build(std::path::Path::new("."))).await
}

fn v(s: &str) -> Option<String> {
    Some(s.to_string())
}

const GUID: [u8; 16] = [0x6f, 0x96, 0x19, 0xff, 0x8b, 0x86, 0xd0, 0x11, 0xb4, 0x2d, 0x00, 0xc0, 0x4f, 0xc9, 0x64, 0xff];

fn all_types() -> TdsTable {
    let columns: Vec<(&str, T)> = vec![
        ("Id", T::Int),
        ("Tiny", T::TinyInt),
        ("Small", T::SmallInt),
        ("Big", T::BigInt),
        ("Flag", T::Bit),
        ("Ratio", T::Real),
        ("Score", T::Float),
        ("Balance", T::Money),
        ("Petty", T::SmallMoney),
        ("Created", T::DateTime),
        ("Booked", T::SmallDateTime),
        ("Born", T::Date),
        ("Opens", T::Time(7)),
        ("Stamp", T::DateTime2(7)),
        ("Stamp3", T::DateTime2(3)),
        ("Seen", T::DateTimeOffset(7)),
        ("Wide", T::Decimal(38, 10)),
        ("Narrow", T::Decimal(5, 2)),
        ("RowGuid", T::UniqueIdentifier),
        ("Name", T::VarChar(Some(50), LATIN1_GENERAL)),
        ("NameRu", T::VarChar(Some(50), CYRILLIC_GENERAL)),
        ("Code", T::Char(10, LATIN1_GENERAL)),
        ("Title", T::NVarChar(Some(50))),
        ("Initials", T::NChar(5)),
        ("Notes", T::NVarChar(None)),
        ("Memo", T::VarChar(None, LATIN1_GENERAL)),
        ("Hash", T::VarBinary(Some(10))),
        ("Tag", T::Binary(4)),
        ("Blob", T::VarBinary(None)),
        ("OldText", T::Text(LATIN1_GENERAL)),
        ("OldNText", T::NText),
        ("Picture", T::Image),
        ("Doc", T::Xml),
    ];
    let full = vec![
        V::Int(1),
        V::Int(255),
        V::Int(-32768),
        V::Int(i64::MIN),
        V::Bit(true),
        V::Real(0.1),
        V::Float(0.1),
        V::Money(i64::MAX),
        V::Money(i64::from(i32::MIN)),
        V::DateTime { days: 45349, ticks: 86399 * 300 + 299 },
        V::SmallDateTime { days: 29019, minutes: 1439 },
        V::Date(738944),
        V::Time(863_999_999_999),
        V::DateTime2 { days: 738944, increments: 1_234_567 },
        V::DateTime2 { days: 738944, increments: 86_399_999 },
        V::DateTimeOffset { days: 738945, increments: 5400 * 10_000_000, offset: -300 },
        V::Decimal(12_345_678_901_234_567_890_123_456_780_123_456_789),
        V::Decimal(99_999),
        V::Guid(GUID),
        V::Text("Müller €".into()),
        V::Text("Иванов".into()),
        V::Text("ab        ".into()),
        V::Text("😀 Zoë a\u{0}b".into()),
        V::Text("ab   ".into()),
        V::Text("x".repeat(100_000)),
        V::Text("varchar(max) in 1252: é".into()),
        V::Bytes(vec![0, 255, 16]),
        V::Bytes(vec![1, 2, 3, 4]),
        V::Bytes(vec![0xde, 0xad]),
        V::Text("legacy text é".into()),
        V::Text("ntext ü".into()),
        V::Bytes(vec![0xff, 0xd8]),
        V::Text("<a b=\"1\">ü</a>".into()),
    ];
    let mut nulls = vec![V::Int(2)];
    nulls.extend(std::iter::repeat_n(V::Null, columns.len() - 1));
    let mut low = full.clone();
    low[0] = V::Int(3);
    low[9] = V::DateTime { days: -53690, ticks: 1 };
    low[11] = V::Date(0);
    low[12] = V::Time(0);
    low[16] = V::Decimal(-1);
    low[17] = V::Decimal(-99_999);
    low[7] = V::Money(i64::MIN);
    low[22] = V::Text(String::new());
    low[24] = V::Text("short".into());
    TdsTable {
        name: "dbo.AllTypes".into(),
        primary_key: vec!["Id".into()],
        columns: columns.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
        rows: vec![full, nulls, low],
    }
}

#[tokio::test]
async fn every_legacy_type_reads_as_exact_text() {
    let server = FakeTds::start(vec![all_types()]);
    let (rows, batches) = read_all(&config(&server, Some("dbo.AllTypes"), None)).await;
    assert_eq!(rows.len(), 3);
    let (location, first) = &rows[0];
    assert_eq!(location, "dbo.AllTypes[Id=1]");
    let expected: Vec<(&str, Option<String>)> = vec![
        ("Tiny", v("255")),
        ("Small", v("-32768")),
        ("Big", v("-9223372036854775808")),
        ("Flag", v("true")),
        ("Ratio", v("0.1")),
        ("Score", v("0.1")),
        ("Balance", v("922337203685477.5807")),
        ("Petty", v("-214748.3648")),
        // 299/300 s, to the microsecond (SQL Server shows .997).
        ("Created", v("2024-02-29 23:59:59.996667")),
        ("Booked", v("1979-06-15 23:59:00")),
        ("Born", v("2024-02-29")),
        ("Opens", v("23:59:59.999999")),
        ("Stamp", v("2024-02-29 00:00:00.123456")),
        ("Stamp3", v("2024-02-29 23:59:59.999000")),
        ("Seen", v("2024-02-29 20:30:00.000000-05:00")),
        ("Wide", v("1234567890123456789012345678.0123456789")),
        ("Narrow", v("999.99")),
        ("RowGuid", v("6f9619ff-8b86-d011-b42d-00c04fc964ff")),
        ("Name", v("Müller €")),
        ("NameRu", v("Иванов")),
        ("Code", v("ab        ")),
        ("Title", v("😀 Zoë a\u{0}b")),
        ("Initials", v("ab   ")),
        ("Memo", v("varchar(max) in 1252: é")),
        ("Hash", v("\\x00ff10")),
        ("Tag", v("\\x01020304")),
        ("Blob", v("\\xdead")),
        ("OldText", v("legacy text é")),
        ("OldNText", v("ntext ü")),
        ("Picture", v("\\xffd8")),
        ("Doc", v("<a b=\"1\">ü</a>")),
    ];
    for (column, value) in &expected {
        assert_eq!(&first[*column], value, "row 1, {column}");
    }
    assert_eq!(first["Notes"].as_ref().map(String::len), Some(100_000), "an nvarchar(max) in many PLP chunks");

    // The 7th digit that PostgreSQL cannot hold is counted, per column.
    let notes: Vec<(usize, &str)> = batches[0]
        .notes
        .iter()
        .filter(|n| n.code == "fraction_truncated")
        .map(|n| (n.row, n.column.as_str()))
        .collect();
    assert_eq!(notes, [(0, "Opens"), (0, "Stamp"), (2, "Stamp")]);

    let (_, nulls) = &rows[1];
    assert!(nulls.iter().filter(|(k, _)| *k != "Id").all(|(_, v)| v.is_none()), "{nulls:?}");

    let (_, low) = &rows[2];
    assert_eq!(low["Created"], v("1753-01-01 00:00:00.003333"));
    assert_eq!(low["Born"], v("0001-01-01"));
    assert_eq!(low["Opens"], v("00:00:00.000000"));
    assert_eq!(low["Wide"], v("-0.0000000001"));
    assert_eq!(low["Narrow"], v("-999.99"));
    assert_eq!(low["Balance"], v("-922337203685477.5808"));
    assert_eq!(low["Title"], v(""), "an empty string is not NULL");
}

/// Ten-thousandths from decimal text.
fn units(text: &str) -> i128 {
    let (sign, digits) = text.strip_prefix('-').map_or((1, text), |d| (-1, d));
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    sign * (whole.parse::<i128>().unwrap() * 10_000 + format!("{frac:0<4}")[..4].parse::<i128>().unwrap())
}

#[tokio::test]
async fn money_is_read_exactly_and_sums_to_the_cent() {
    // Amounts beyond 2^53 ten-thousandths, where a float loses digits.
    let rows: Vec<Vec<V>> = (0..50_000i64)
        .map(|i| {
            let amount = (i * 7_919_337_611 % 90_071_992_547_409) * if i % 3 == 0 { -1 } else { 1 } + 1;
            vec![V::Int(i), V::Money(amount * 1000 + i % 997), V::Money(i % 2_000_000 - 1_000_000)]
        })
        .collect();
    let exact: i128 = rows.iter().map(|r| if let V::Money(m) = r[1] { i128::from(m) } else { 0 }).sum();
    let small: i128 = rows.iter().map(|r| if let V::Money(m) = r[2] { i128::from(m) } else { 0 }).sum();
    let table = TdsTable {
        name: "dbo.Ledger".into(),
        primary_key: vec!["Id".into()],
        columns: vec![("Id".into(), T::BigInt), ("Amount".into(), T::Money), ("Fee".into(), T::SmallMoney)],
        rows,
    };
    let server = FakeTds::start(vec![table]);
    let (rows, _) = read_all(&config(&server, Some("Ledger"), None)).await;
    assert_eq!(rows.len(), 50_000);
    let ours: i128 = rows.iter().map(|(_, r)| units(r["Amount"].as_deref().unwrap())).sum();
    let fees: i128 = rows.iter().map(|(_, r)| units(r["Fee"].as_deref().unwrap())).sum();
    assert_eq!(ours, exact);
    assert_eq!(fees, small);
    assert!(rows.iter().any(|(_, r)| units(r["Amount"].as_deref().unwrap()).abs() > 1 << 53), "beyond a float's reach");

    // A query must cast money itself; one that does not is refused.
    let bare = config(&server, None, Some("SELECT [Id], [Amount] FROM [dbo].[Ledger]"));
    let e = bare.build(std::path::Path::new(".")).prepare().await.err().unwrap().to_string();
    assert!(e.contains("column Amount is money") && e.contains("CAST(Amount AS decimal(19,4))"), "{e}");
    let cast =
        config(&server, None, Some("SELECT [Id], CAST([Amount] AS decimal(19,4)) AS [Amount] FROM [dbo].[Ledger]"));
    let (rows, _) = read_all(&cast).await;
    assert_eq!(rows[0].0, "query[row 1]");
    assert_eq!(rows.iter().map(|(_, r)| units(r["Amount"].as_deref().unwrap())).sum::<i128>(), exact);
}

#[tokio::test]
async fn large_values_are_capped_and_errors_are_clear() {
    let server = FakeTds::start(vec![all_types()]);
    let mut capped = config(&server, Some("dbo.AllTypes"), None);
    capped.max_value_bytes = 50_000;
    let (rows, batches) = read_all(&capped).await;
    assert_eq!(rows.len(), 3);
    let malformed: Vec<_> = batches.iter().flat_map(|b| b.malformed.iter()).collect();
    assert_eq!(malformed.len(), 1, "only row 1's Notes is that long");
    assert_eq!(malformed[0].reason, RejectReason::FieldTooLarge);
    assert!(malformed[0].message.contains("Notes holds 100000 bytes"), "{}", malformed[0].message);

    let missing = config(&server, Some("dbo.Nowhere"), None);
    let e = missing.build(std::path::Path::new(".")).prepare().await.err().unwrap().to_string();
    assert!(e.contains("Invalid object name") && e.contains("Nowhere"), "{e}");

    let mut down = config(&server, Some("dbo.AllTypes"), None);
    down.connection = "server=tcp:127.0.0.1,1;user=sa;password=hunter2;encrypt=DANGER_PLAINTEXT".into();
    let e = down.build(std::path::Path::new(".")).prepare().await.err().unwrap().to_string();
    assert!(e.starts_with("connecting (server=tcp:127.0.0.1,1;user=sa;password=***"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}

/// Reads `dbo.AllTypes` with python-tds and prints each row as JSON text.
const PYTDS: &str = r#"
import json, sys, uuid, decimal, datetime, pytds
def text(v):
    if v is None: return None
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, (bytes, bytearray)): return "\\x" + v.hex()
    if isinstance(v, datetime.datetime): return v.isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, datetime.time): return v.isoformat(timespec="microseconds")
    if isinstance(v, decimal.Decimal): return format(v, "f")
    return str(v)
with pytds.connect(server="127.0.0.1", port=int(sys.argv[1]), user="legacy", password="p4ss", database="erp",
                   autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute(sys.argv[2])
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            print(json.dumps({n: text(v) for n, v in zip(names, row)}, ensure_ascii=False))
"#;

fn workspace() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// FreeTDS's `tsql` at `host:port`, logged in as the fake's user, with one
/// setting (`TDSVER`, or `FREETDSCONF` naming a configuration), given
/// `query` on its standard input.
fn tsql(host: &str, port: u16, setting: (&str, &std::ffi::OsStr), query: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new("tsql")
        .args(["-H", host, "-p", &port.to_string(), "-U", "legacy", "-P", "p4ss", "-D", "erp", "-o", "q"])
        .env(setting.0, setting.1)
        .env("LANG", "C.UTF-8")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tsql not found: run fixtures/scripts/setup.sh (freetds-bin)");
    child.stdin.take().unwrap().write_all(query.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The fake encodes only what we believe of TDS: two clients written by
/// others (python-tds, FreeTDS's tsql) must read the same values from it as
/// the connector does.
#[tokio::test]
async fn independent_clients_read_the_fake_as_the_connector_does() {
    let server = FakeTds::start(vec![all_types()]);
    let (ours, _) = read_all(&config(&server, Some("dbo.AllTypes"), None)).await;
    let columns: Vec<String> = all_types().columns.iter().map(|(n, _)| n.clone()).collect();
    let list = columns.iter().map(|c| format!("[{c}]")).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {list} FROM [dbo].[AllTypes]");

    let python = workspace().join(".local/pytds/bin/python");
    let out = std::process::Command::new(&python)
        .args(["-c", PYTDS, &server.port.to_string(), &sql])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run fixtures/scripts/setup.sh)", python.display()));
    assert!(out.status.success(), "python-tds: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<BTreeMap<String, Option<String>>> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(theirs.len(), ours.len());
    // python-tds gives a float32 as a float64, and a datetime's 1/300 s
    // ticks to the millisecond as SQL Server displays them (the connector
    // keeps microseconds, as SQL Server 2016 converts to datetime2): those
    // compare as numbers; every other value must be the same text.
    let millis = |v: &Option<String>| {
        v.as_ref().map(|t| {
            let (head, fraction) = t.split_once('.').unwrap_or((t, "0"));
            let f: f64 = format!("0.{fraction}").parse().unwrap();
            format!("{head}.{:03}", (f * 1000.0).round() as u32)
        })
    };
    for ((_, mine), theirs) in ours.iter().zip(&theirs) {
        for column in &columns {
            match column.as_str() {
                "Ratio" => assert_eq!(
                    mine[column].as_ref().map(|v| v.parse::<f32>().unwrap()),
                    theirs[column].as_ref().map(|v| v.parse::<f64>().unwrap() as f32),
                ),
                "Created" | "Booked" => assert_eq!(millis(&mine[column]), millis(&theirs[column]), "{column}"),
                _ => assert_eq!(mine[column], theirs[column], "python-tds and the connector differ on {column}"),
            }
        }
    }

    // tsql prints text; compare the columns whose text both sides write alike.
    let plain = ["Id", "Tiny", "Small", "Big", "Wide", "Narrow", "Balance", "Name", "NameRu", "Title", "Memo"];
    let query = format!("SELECT {} FROM [dbo].[AllTypes]\ngo\n", plain.map(|c| format!("[{c}]")).join(", "));
    let out = tsql("127.0.0.1", server.port, ("TDSVER", "7.4".as_ref()), &query);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<Vec<&str>> =
        text.lines().map(|l| l.split('\t').collect()).filter(|f: &Vec<&str>| f.len() == plain.len()).collect();
    assert_eq!(lines.len(), 1 + ours.len(), "tsql printed:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines[0], plain, "the header");
    for ((_, mine), fields) in ours.iter().zip(&lines[1..]) {
        for (column, field) in plain.iter().zip(fields) {
            let mine = mine[*column].clone().unwrap_or_else(|| "NULL".into());
            // tsql prints C strings: a NUL ends the text it shows.
            let shown = mine.split('\0').next().unwrap_or("");
            assert_eq!(shown, *field, "tsql and the connector differ on {column}");
        }
    }
}

#[tokio::test]
async fn a_split_read_returns_exactly_the_rows_of_a_single_read() {
    let rows: Vec<Vec<V>> = (1..=20_000i64)
        .map(|i| {
            vec![
                V::Int(i),
                if i % 10 == 0 { V::Null } else { V::Int(i % 997) },
                V::DateTime {
                    days: 36_000 + i32::try_from(i % 5000).unwrap(),
                    ticks: u32::try_from(i % 25_920_000).unwrap(),
                },
            ]
        })
        .collect();
    let table = TdsTable {
        name: "dbo.Orders".into(),
        primary_key: vec!["Id".into()],
        columns: vec![("Id".into(), T::BigInt), ("Bucket".into(), T::Int), ("Placed".into(), T::DateTime)],
        rows,
    };
    let server = FakeTds::start(vec![table]);
    let single = config(&server, Some("dbo.Orders"), None);
    let sorted = |mut rows: Vec<(String, Row)>| {
        rows.sort();
        rows
    };
    let whole = sorted(read_all(&single).await.0);
    assert_eq!(whole.len(), 20_000);
    for (column, parts, expected_parts) in [("Bucket", 4, 5), ("Placed", 3, 4), ("Id", 4, 5)] {
        let mut split = single.clone();
        split.partition = Some(PartitionConfig { column: column.into(), parts });
        let mut source = split.build(std::path::Path::new("."));
        let (rows, _) = read_source(&mut source).await;
        let info = source.info();
        assert_eq!(info.parts.len(), expected_parts, "{column}: {:?}", info.parts);
        assert_eq!(info.parts.iter().map(|p| p.rows).sum::<u64>(), 20_000);
        assert!(info.consistency.unwrap().contains("READ COMMITTED"));
        // Locations name the part: strip it to compare with the single read.
        let rows =
            rows.into_iter().map(|(l, r)| (format!("dbo.Orders[{}", l.rsplit_once('[').unwrap().1), r)).collect();
        let rows = sorted(rows);
        assert_eq!(rows.len(), whole.len(), "split by {column}");
        assert!(rows == whole, "split by {column}: the rows differ from a single read");
    }
    let mut nulls = single.clone();
    nulls.partition = Some(PartitionConfig { column: "Bucket".into(), parts: 2 });
    let mut source = nulls.build(std::path::Path::new("."));
    source.prepare().await.unwrap();
    while source.next_batch().await.unwrap().is_some() {}
    let last = source.info().parts.pop().unwrap();
    assert_eq!((last.range.as_str(), last.rows), ("Bucket is NULL", 2_000));
}

/// TLS inside TDS 7.x: the fake answers PRELOGIN with encryption
/// required and runs the handshake in PRELOGIN packets, as SQL Server does.
#[tokio::test]
async fn encrypt_true_verifies_the_certificate_and_says_so() {
    let pki = TestPki::new("erp");
    let server = FakeTds::start_tls(vec![all_types()], &pki.server("sql", Flaw::None));
    let tls = |tail: &str| {
        let mut c = config(&server, Some("dbo.AllTypes"), None);
        c.connection = server.tls_connection_string("localhost", tail);
        c
    };
    let attempt = |c: MssqlSourceConfig| async move {
        count_rows(&mut c.build(&std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))).await
    };
    let ca = format!("TrustServerCertificateCA={}", pki.ca_file().display());

    // A private CA: verified, and every row read as over plaintext.
    let (plain_rows, _) = read_all(&config(&FakeTds::start(vec![all_types()]), Some("dbo.AllTypes"), None)).await;
    let (rows, _) = read_all(&tls(&ca)).await;
    assert_eq!(rows, plain_rows);
    assert_eq!(
        attempt(tls(&ca)).await,
        Ok((3, "TLS; certificate and host name verified (TrustServerCertificateCA)".to_string()))
    );
    // TrustServerCertificate connects, and the report says nothing was verified.
    assert_eq!(
        attempt(tls("TrustServerCertificate=true")).await,
        Ok((3, "TLS; the server's certificate NOT verified (TrustServerCertificate=true)".to_string()))
    );
    // No CA given: the system's CAs do not know this one.
    let e = attempt(tls("")).await.unwrap_err();
    assert!(e.contains("not signed by an authority this machine trusts: set TrustServerCertificateCA"), "{e}");
    assert!(!e.contains("p4ss"), "{e}");
    // Another CA.
    let stranger = TestPki::new("stranger");
    let e = attempt(tls(&format!("TrustServerCertificateCA={}", stranger.ca_file().display()))).await.unwrap_err();
    assert!(e.contains("not signed by an authority this machine trusts"), "{e}");
    // A plaintext-only client of a server that requires TLS.
    let mut plain = config(&server, Some("dbo.AllTypes"), None);
    plain.connection = plain.connection.replace("127.0.0.1", "localhost");
    let e = attempt(plain).await.unwrap_err();
    assert!(
        e.contains("the server requires TLS, so encrypt=DANGER_PLAINTEXT does not apply (use encrypt=true)"),
        "{e}"
    );
    // encrypt=true asked for encryption as required (3) every time; the
    // plaintext client said it cannot encrypt (2).
    let asked = server.encryption_asked();
    assert_eq!(asked.last(), Some(&2), "{asked:?}");
    assert!(asked[..asked.len() - 1].iter().all(|a| *a == 3), "{asked:?}");

    // A certificate for another name: refused, unless HostNameInCertificate
    // names it (a server reached through a tunnel).
    let renamed = FakeTds::start_tls(vec![all_types()], &pki.server("sql-renamed", Flaw::WrongHost));
    let at = |tail: &str| {
        let mut c = config(&renamed, Some("dbo.AllTypes"), None);
        c.connection = renamed.tls_connection_string("localhost", tail);
        c
    };
    let e = attempt(at(&ca)).await.unwrap_err();
    assert!(e.contains("not valid for the host name connected to: check the server in the connection string"), "{e}");
    assert_eq!(
        attempt(at(&format!("{ca};HostNameInCertificate=db.invalid"))).await,
        Ok((
            3,
            "TLS; certificate verified (TrustServerCertificateCA) for host name db.invalid (HostNameInCertificate)"
                .to_string()
        ))
    );
    // An expired certificate.
    let old = FakeTds::start_tls(vec![all_types()], &pki.server("sql-expired", Flaw::Expired));
    let mut c = config(&old, Some("dbo.AllTypes"), None);
    c.connection = old.tls_connection_string("localhost", &ca);
    let e = attempt(c).await.unwrap_err();
    assert!(e.contains("certificate has expired"), "{e}");
    // encrypt=true against a server without TLS.
    let bare = FakeTds::start(vec![all_types()]);
    let mut c = config(&bare, Some("dbo.AllTypes"), None);
    c.connection = bare.tls_connection_string("localhost", &ca);
    let e = attempt(c).await.unwrap_err();
    assert!(e.contains("the server does not offer TLS, but the connection string asks for it"), "{e}");
    // A relative CA file is the mapping's.
    let mut relative = tls("TrustServerCertificateCA=ca.pem");
    let (rows, _) = read_source(&mut {
        relative.table = Some("dbo.AllTypes".into());
        relative.build(pki.dir())
    })
    .await;
    assert_eq!(rows.len(), 3);
}

/// The TLS inside PRELOGIN packets checked by a client written by others:
/// FreeTDS's tsql, told to require encryption and verify the certificate
/// and its host name, reads the same text as over plaintext; given another
/// CA, it refuses.
#[test]
fn freetds_reads_the_tls_fake_with_the_certificate_verified() {
    let pki = TestPki::new("erp");
    let server = FakeTds::start_tls(vec![all_types()], &pki.server("sql", Flaw::None));
    let read_with = |ca: &std::path::Path| {
        let conf = pki.dir().join(format!("freetds-{}.conf", ca.file_name().unwrap().to_string_lossy()));
        std::fs::write(
            &conf,
            format!(
                "[global]\n\ttds version = 7.4\n\tencryption = require\n\tca file = {}\n\tcheck certificate hostname = yes\n",
                ca.display()
            ),
        )
        .unwrap();
        let out = tsql(
            "localhost",
            server.port,
            ("FREETDSCONF", conf.as_os_str()),
            "SELECT [Id], [Name], [Balance] FROM [dbo].[AllTypes]\ngo\n",
        );
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (text, errors) = read_with(&pki.ca_file());
    let rows: Vec<&str> = text.lines().filter(|l| l.split('\t').count() == 3).collect();
    assert_eq!(rows.len(), 4, "tsql printed:\n{text}\n{errors}");
    assert_eq!(rows[0], "Id\tName\tBalance");
    let stranger = TestPki::new("stranger");
    let (text, errors) = read_with(&stranger.ca_file());
    assert!(text.lines().filter(|l| l.split('\t').count() == 3).count() == 0, "read with the wrong CA:\n{text}");
    assert!(!errors.is_empty(), "{text}");
}

/// A DOS-era table: varchar and text columns in the OEM code pages 437 and
/// 850, which tiberius cannot decode, beside nvarchar and a Windows code
/// page, which it can.
fn dos_table() -> TdsTable {
    let high: Vec<u8> = (0x80..=0xFF).collect();
    TdsTable {
        name: "dbo.Dos".into(),
        primary_key: vec!["Id".into()],
        columns: vec![
            ("Id".into(), T::Int),
            ("Box".into(), T::VarChar(Some(200), LATIN1_CP437)),
            ("Town".into(), T::VarChar(Some(200), LATIN1_CP850)),
            ("Memo".into(), T::Text(LATIN1_CP850)),
            ("Wide".into(), T::NVarChar(Some(40))),
            ("Plain".into(), T::VarChar(Some(40), LATIN1_GENERAL)),
        ],
        rows: vec![
            vec![
                V::Int(1),
                // "╔══╗ Müller ½ ß" as code page 437 stores it.
                V::Bytes(vec![
                    0xc9, 0xcd, 0xcd, 0xbb, 0x20, 0x4d, 0x81, 0x6c, 0x6c, 0x65, 0x72, 0x20, 0xab, 0x20, 0xe1,
                ]),
                // "Ærøskøbing ı ÿ ¤" as code page 850 stores it.
                V::Bytes(vec![
                    0x92, 0x72, 0x9b, 0x73, 0x6b, 0x9b, 0x62, 0x69, 0x6e, 0x67, 0x20, 0xd5, 0x20, 0x98, 0x20, 0xcf,
                ]),
                V::Bytes(b"plain ASCII".to_vec()),
                V::Text("Ærøskøbing".into()),
                V::Text("Müller".into()),
            ],
            vec![V::Int(2), V::Bytes(high.clone()), V::Bytes(high.clone()), V::Bytes(high), V::Null, V::Null],
        ],
    }
}

#[tokio::test]
async fn oem_code_pages_437_and_850_are_decoded_exactly() {
    let server = FakeTds::start(vec![dos_table()]);
    let c = config(&server, Some("dbo.Dos"), None);
    let mut source = c.build(std::path::Path::new("."));
    let (rows, _) = read_source(&mut source).await;
    assert_eq!(rows.len(), 2);
    let first = &rows[0].1;
    assert_eq!(first["Box"], v("╔══╗ Müller ½ ß"));
    assert_eq!(first["Town"], v("Ærøskøbing ı ÿ ¤"));
    assert_eq!(first["Memo"], v("plain ASCII"));
    assert_eq!(first["Wide"], v("Ærøskøbing"));
    assert_eq!(first["Plain"], v("Müller"));
    let info = source.info();
    assert_eq!(
        info.encoding.as_deref(),
        Some(
            "by each column's collation; read as bytes and decoded by migrate: Box: code page 437, Town: code page 850, Memo: code page 850"
        )
    );

    // Every byte above ASCII, as another client decodes it (python-tds,
    // with Python's own cp437 and cp850 codecs).
    let python = workspace().join(".local/pytds/bin/python");
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            PYTDS,
            &server.port.to_string(),
            "SELECT [Id], [Box], [Town], [Memo], [Wide], [Plain] FROM [dbo].[Dos]",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run fixtures/scripts/setup.sh)", python.display()));
    assert!(out.status.success(), "python-tds: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<BTreeMap<String, Option<String>>> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ours: Vec<BTreeMap<String, Option<String>>> =
        rows.iter().map(|(_, r)| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).collect();
    assert_eq!(ours, theirs);
    let all = ours[1]["Box"].clone().unwrap();
    assert_eq!(all.chars().count(), 128);
    assert!(all.starts_with("ÇüéâäàåçêëèïîìÄÅ") && all.ends_with("²■\u{a0}"), "{all}");
    assert!(ours[1]["Town"].as_deref().unwrap().contains("ðÐÊËÈıÍÎÏ"));

    // A query cannot be rewritten: tiberius's refusal comes with what to do.
    let query = config(&server, None, Some("SELECT [Id], [Box], [Town], [Memo], [Wide], [Plain] FROM [dbo].[Dos]"));
    let mut source = query.build(std::path::Path::new("."));
    let e = match source.prepare().await {
        Err(e) => e.to_string(),
        Ok(()) => loop {
            match source.next_batch().await {
                Err(e) => break e.to_string(),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the query read the OEM column without decoding it"),
            }
        },
    };
    assert!(e.contains("read the table with `table`, which decodes it, or select the column as CAST"), "{e}");
}
