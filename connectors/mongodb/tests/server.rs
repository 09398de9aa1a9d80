//! The MongoDB source against a real MongoDB-wire server (SecantusDB,
//! started per test), through the official driver: every BSON type as
//! exact text, nested paths, cursors over many getMore batches, filters,
//! projections and pipelines, unwind into child rows, mixed-type fields in
//! the sample's shape, and the export-file variant giving the same rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Document, Regex, Timestamp, doc};
use migrate_engine::Source;
use migrate_mongodb::{MongoSource, MongoSourceConfig};
use migrate_testkit::MongoServer;
use migrate_testkit::sources::{Row, count_rows, read_source};
use migrate_testkit::tls::{Flaw, TestPki};

fn config(json: serde_json::Value, wanted: &[&str]) -> MongoSourceConfig {
    let mut c: MongoSourceConfig = serde_json::from_value(json).unwrap();
    c.wanted = wanted.iter().map(|s| s.to_string()).collect();
    c.check().unwrap();
    c
}

fn source(c: &MongoSourceConfig) -> MongoSource {
    c.build(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
}

async fn insert(server: &MongoServer, db: &str, collection: &str, docs: Vec<Document>) {
    let client = mongodb::Client::with_uri_str(server.url(db)).await.unwrap();
    client.database(db).collection::<Document>(collection).insert_many(docs).await.unwrap();
}

fn values(rows: &[(String, Row)]) -> Vec<&Row> {
    rows.iter().map(|(_, r)| r).collect()
}

fn get<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column).unwrap_or_else(|| panic!("no column {column} in {row:?}")).as_deref()
}

#[tokio::test]
async fn every_bson_type_reads_as_exact_text() {
    let server = MongoServer::start();
    let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
    let uuid = Binary { subtype: BinarySubtype::Uuid, bytes: (0u8..16).collect() };
    let legacy_uuid = Binary { subtype: BinarySubtype::UuidOld, bytes: vec![0xab; 16] };
    let doc = doc! {
        "_id": oid,
        "i32": -7_i32,
        "i64": 9_007_199_254_740_993_i64,
        "f": 0.1_f64,
        "nan": f64::NAN,
        "dec": Bson::Decimal128("-12345678901234567890.1234".parse().unwrap()),
        "dec_exp": Bson::Decimal128("1.5E+3".parse().unwrap()),
        "yes": true,
        "nothing": Bson::Null,
        "moon": DateTime::from_millis(-14_182_940_000),
        "blob": Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 255, 7] },
        "uuid": uuid,
        "old_uuid": legacy_uuid,
        "re": Regex { pattern: "^A.*z$".try_into().unwrap(), options: "si".try_into().unwrap() },
        "ts": Timestamp { time: 1_700_000_000, increment: 9 },
        "address": { "city": "Köln", "zip": "01067", "geo": { "lat": 50.94 } },
        "phones": [ { "type": "mobile", "number": "+49 221 1" }, { "type": "fax" }, { "number": "+49 221 3" } ],
        "tags": ["a", 1_i32, Bson::Null],
    };
    insert(&server, "crm", "types", vec![doc]).await;
    let columns = [
        "i32",
        "i64",
        "f",
        "nan",
        "dec",
        "dec_exp",
        "yes",
        "nothing",
        "nothing.$json",
        "nothing.$type",
        "absent",
        "absent.$json",
        "absent.$type",
        "moon",
        "blob",
        "uuid",
        "old_uuid",
        "re",
        "ts",
        "address.city",
        "address.zip",
        "address.geo.lat",
        "address",
        "phones.0.number",
        "phones.1.number",
        "phones.2.number",
        "phones.number",
        "phones.$size",
        "tags",
        "tags.0",
        "_id.$time",
        "i64.$type",
        "dec.$type",
        "uuid.$type",
    ];
    let c = config(serde_json::json!({ "url": server.url("crm"), "collection": "types" }), &columns);
    let mut s = source(&c);
    let (rows, _) = read_source(&mut s).await;
    assert_eq!(rows.len(), 1);
    let (location, row) = &rows[0];
    assert_eq!(location, "crm.types[_id=65a1b2c3d4e5f60718293a4b]");
    let expected: BTreeMap<&str, Option<&str>> = BTreeMap::from([
        ("_id", Some("65a1b2c3d4e5f60718293a4b")),
        ("i32", Some("-7")),
        ("i64", Some("9007199254740993")),
        ("f", Some("0.1")),
        ("nan", Some("NaN")),
        ("dec", Some("-12345678901234567890.1234")),
        ("dec_exp", Some("1500")),
        ("yes", Some("true")),
        ("nothing", None),
        ("nothing.$json", Some("null")),
        ("nothing.$type", Some("null")),
        ("moon", Some("1969-07-20T20:17:40.000Z")),
        ("blob", Some("AP8H")),
        ("uuid", Some("00010203-0405-0607-0809-0a0b0c0d0e0f")),
        ("old_uuid", Some("abababab-abab-abab-abab-abababababab")),
        ("re", Some("/^A.*z$/is")),
        ("ts", Some("1700000000:9")),
        ("address.city", Some("Köln")),
        ("address.zip", Some("01067")),
        ("address.geo.lat", Some("50.94")),
        ("address", Some(r#"{"city":"Köln","geo":{"lat":50.94},"zip":"01067"}"#)),
        ("phones.0.number", Some("+49 221 1")),
        ("phones.1.number", None),
        ("phones.2.number", Some("+49 221 3")),
        ("phones.number", Some(r#"["+49 221 1","+49 221 3"]"#)),
        ("phones.$size", Some("3")),
        ("tags", Some(r#"["a",1,null]"#)),
        ("tags.0", Some("a")),
        ("_id.$time", Some("2024-01-12T21:44:35.000Z")),
        ("i64.$type", Some("long")),
        ("dec.$type", Some("decimal")),
        ("uuid.$type", Some("uuid")),
    ]);
    for (column, value) in &expected {
        assert_eq!(get(row, column), *value, "{column}");
    }
    // A missing field is no column at all: validate names it unknown.
    assert!(!row.contains_key("absent"), "{row:?}");
    assert!(s.offered_columns().contains(&"address.geo.lat".to_string()));
}

#[tokio::test]
async fn cursors_stream_many_batches_in_id_order_and_filters_run_on_the_server() {
    let server = MongoServer::start();
    let docs: Vec<Document> = (0..2_500_i64)
        .rev()
        .map(|i| doc! { "_id": i, "n": format!("n{i}"), "even": i % 2 == 0, "secret": "x", "score": i % 10 })
        .collect();
    insert(&server, "crm", "many", docs).await;

    let url = server.url("crm");
    let c = config(
        serde_json::json!({ "url": url, "collection": "many", "batch_size": 100, "batch_rows": 300, "sample": 50 }),
        &["n"],
    );
    let (rows, batches) = read_source(&mut source(&c)).await;
    assert_eq!(rows.len(), 2_500, "every document, across 25 getMore round trips");
    assert_eq!(batches.len(), 9);
    assert!(batches.iter().all(|b| b.height() <= 300));
    let ids: Vec<i64> = values(&rows).iter().map(|r| get(r, "_id").unwrap().parse().unwrap()).collect();
    assert_eq!(ids, (0..2_500).collect::<Vec<_>>(), "in _id order, not insertion order");

    let filtered = config(
        serde_json::json!({ "url": url, "collection": "many", "filter": r#"{"even": true, "_id": {"$lt": 100}}"#,
            "projection": r#"{"secret": 0}"# }),
        &[],
    );
    let mut s = source(&filtered);
    let (rows, _) = read_source(&mut s).await;
    assert_eq!(rows.len(), 50);
    assert!(!s.columns().contains(&"secret".to_string()), "{:?}", s.columns());
    assert!(values(&rows).iter().all(|r| get(r, "even") == Some("true")));

    let pipeline = config(
        serde_json::json!({ "url": url, "collection": "many", "batch_size": 7,
            "pipeline": r#"[{"$match": {"score": {"$gte": 8}}}, {"$project": {"n": 1, "score": 1}}]"# }),
        &["n", "score"],
    );
    let (rows, _) = read_source(&mut source(&pipeline)).await;
    assert_eq!(rows.len(), 500);
    assert!(values(&rows).iter().all(|r| matches!(get(r, "score"), Some("8" | "9"))));
}

#[tokio::test]
async fn mixed_types_show_in_the_shape_and_unwind_gives_child_rows() {
    let server = MongoServer::start();
    insert(
        &server,
        "crm",
        "customers",
        vec![
            doc! { "_id": 1, "score": "12", "notes": [ { "text": "a" }, { "text": "b" } ] },
            doc! { "_id": 2, "score": 12_i64, "notes": [] },
            doc! { "_id": 3, "score": [1, 2], "notes": "loose text" },
            doc! { "_id": 4, "score": Bson::Null },
        ],
    )
    .await;
    let url = server.url("crm");
    let c = config(serde_json::json!({ "url": url, "collection": "customers" }), &["score", "score.$json"]);
    let mut s = source(&c);
    let (rows, _) = read_source(&mut s).await;
    let score = &s.shape().paths["score"];
    assert!(score.mixed());
    let types: Vec<(&str, u64)> = score.types.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(types, [("array", 1), ("long", 1), ("null", 1), ("string", 1)]);
    let json: Vec<Option<&str>> = values(&rows).iter().map(|r| get(r, "score.$json")).collect();
    assert_eq!(json, [Some("\"12\""), Some("12"), Some("[1,2]"), Some("null")]);

    let notes = config(
        serde_json::json!({ "url": url, "collection": "customers", "unwind": "notes" }),
        &["notes.$index", "notes.text", "notes"],
    );
    let (rows, _) = read_source(&mut source(&notes)).await;
    type Child<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let got: Vec<Child> = rows
        .iter()
        .map(|(loc, r)| (loc.as_str(), get(r, "_id"), get(r, "notes.$index"), get(r, "notes.text")))
        .collect();
    assert_eq!(
        got,
        [
            ("crm.customers[_id=1 notes[0]]", Some("1"), Some("0"), Some("a")),
            ("crm.customers[_id=1 notes[1]]", Some("1"), Some("1"), Some("b")),
            ("crm.customers[_id=3 notes[0]]", Some("3"), Some("0"), None),
        ]
    );
    assert_eq!(get(&rows[2].1, "notes"), Some("loose text"));
}

/// The fixture, loaded into the server as mongoimport would.
async fn load_fixture(server: &MongoServer) {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/mongodb/customers.json");
    server.import("legacy_crm", "customers", std::path::Path::new(file)).await;
}

#[tokio::test]
async fn the_export_file_gives_the_same_rows_as_the_collection() {
    let server = MongoServer::start();
    load_fixture(&server).await;
    let columns = [
        "name.first",
        "email",
        "email.$type",
        "phones.0.number",
        "phones.number",
        "since",
        "lifetime_value",
        "score",
        "score.$json",
        "legacy_uuid",
        "address",
        "tags",
    ];
    for unwind in [None, Some("notes")] {
        let mut wanted = columns.to_vec();
        if unwind.is_some() {
            wanted.extend(["notes.$index", "notes.title", "notes.at", "notes.size"]);
        }
        let mut on_server = serde_json::json!({ "url": server.url("legacy_crm"), "collection": "customers" });
        let mut in_file = serde_json::json!({ "path": "../../fixtures/mongodb/customers.json" });
        if let Some(u) = unwind {
            on_server["unwind"] = u.into();
            in_file["unwind"] = u.into();
        }
        let mut a = source(&config(on_server, &wanted));
        let mut b = source(&config(in_file, &wanted));
        let (server_rows, _) = read_source(&mut a).await;
        let (file_rows, _) = read_source(&mut b).await;
        assert_eq!(a.columns(), b.columns());
        assert_eq!(values(&server_rows), values(&file_rows), "unwind {unwind:?}");
        assert_eq!(server_rows.len(), if unwind.is_some() { 6 } else { 5 });
        let info = b.info();
        assert_eq!(info.size, Some(std::fs::metadata("../../fixtures/mongodb/customers.json").unwrap().len()));
        assert_eq!(info.sha256.as_deref().map(str::len), Some(64));
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let port = migrate_testkit::free_port();
    let c = config(
        serde_json::json!({ "url": format!("mongodb://app:s3cret@127.0.0.1:{port}/crm?serverSelectionTimeoutMS=300"),
            "collection": "customers" }),
        &[],
    );
    let Err(e) = source(&c).prepare().await else { panic!("connected to nothing") };
    let message = e.to_string();
    assert!(message.contains("mongodb://app:***@127.0.0.1"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn a_read_picks_up_after_the_server_crashes_and_restarts_without_a_document_twice() {
    let mut server = MongoServer::start();
    let docs: Vec<Document> = (0..3_000_i64).map(|i| doc! { "_id": i, "n": format!("n{i}") }).collect();
    insert(&server, "crm", "restarts", docs).await;
    let c = config(
        serde_json::json!({ "url": server.url("crm"), "collection": "restarts", "batch_size": 100,
            "batch_rows": 100, "sample": 10 }),
        &["n"],
    );
    let mut s = source(&c);
    s.prepare().await.unwrap();
    let mut ids: Vec<i64> = Vec::new();
    let take = |batch: migrate_engine::Batch, ids: &mut Vec<i64>| {
        let col = batch.text("_id").unwrap();
        ids.extend(col.iter().map(|v| v.unwrap().parse::<i64>().unwrap()));
    };
    take(s.next_batch().await.unwrap().unwrap(), &mut ids);
    server.crash_and_restart();
    let client = mongodb::Client::with_uri_str(server.url("crm")).await.unwrap();
    let kept = client.database("crm").collection::<Document>("restarts").count_documents(doc! {}).await.unwrap();
    assert_eq!(kept, 3_000, "the server kept every document through the crash");
    while let Some(batch) = s.next_batch().await.unwrap_or_else(|e| panic!("{e}")) {
        take(batch, &mut ids);
    }
    assert!(
        ids == (0..3_000).collect::<Vec<_>>(),
        "every document once, in order, across the restart: {} ids, {:?}…{:?}",
        ids.len(),
        ids.first(),
        ids.last()
    );
    assert_eq!(s.info().row_count, Some(3_000));
}

#[tokio::test]
async fn documents_at_the_16_mib_limit_read_whole_in_batches_bounded_by_bytes() {
    let server = MongoServer::start();
    // A string as large as a document may hold with its _id and key.
    let big = 16 * 1024 * 1024 - 1024;
    let docs: Vec<Document> = (0..8_i64).map(|i| doc! { "_id": i, "notes": "n".repeat(big - i as usize) }).collect();
    for d in &docs {
        assert!(bson::RawDocumentBuf::try_from(d).unwrap().as_bytes().len() > 16 * 1024 * 1024 - 2048);
    }
    let client = mongodb::Client::with_uri_str(server.url("crm")).await.unwrap();
    let collection = client.database("crm").collection::<Document>("huge");
    for d in docs {
        collection.insert_one(d).await.unwrap();
    }
    let c = config(serde_json::json!({ "url": server.url("crm"), "collection": "huge", "sample": 1 }), &["notes"]);
    let (rows, batches) = read_source(&mut source(&c)).await;
    let sizes: Vec<(i64, usize)> = values(&rows)
        .iter()
        .map(|r| (get(r, "_id").unwrap().parse().unwrap(), get(r, "notes").unwrap().len()))
        .collect();
    assert_eq!(sizes, (0..8).map(|i| (i, big - i as usize)).collect::<Vec<_>>(), "every document whole");
    // 10,000 rows a batch by default, but a batch is sent once it holds
    // 8 MiB of text: one of these documents each.
    let heights: Vec<usize> = batches.iter().map(|b| b.height()).collect();
    assert_eq!(heights, [1; 8]);
}

#[tokio::test]
async fn a_server_that_speaks_only_tls_is_read_with_its_certificate_verified() {
    let pki = TestPki::new("legacy mongo");
    let server = MongoServer::start_tls(&pki.server("mongo", Flaw::None), &pki.ca_file());
    insert(&server, "crm", "customers", (1..=3).map(|i| doc! { "_id": i, "name": format!("n{i}") }).collect()).await;
    let url = |tail: &str| {
        format!("mongodb://127.0.0.1:{}/crm?directConnection=true&serverSelectionTimeoutMS=3000{tail}", server.port)
    };
    let read = |json: serde_json::Value, base: &std::path::Path| {
        let mut source = config(json, &["name"]).build(base);
        async move { count_rows(&mut source).await }
    };

    // The CA beside the mapping.
    let ours = serde_json::json!({ "url": url(""), "collection": "customers", "tls_ca_file": "ca.pem" });
    assert_eq!(
        read(ours, pki.dir()).await,
        Ok((3, "TLS; certificate and host name verified (tls_ca_file)".to_string()))
    );
    // The url's own options.
    let in_url = serde_json::json!({ "url": server.url("crm"), "collection": "customers" });
    assert_eq!(
        read(in_url, pki.dir()).await,
        Ok((3, "TLS; certificate and host name verified (tlsCAFile)".to_string()))
    );

    // Plaintext to a TLS-only server: the message suggests tls=true.
    let plain = serde_json::json!({ "url": url(""), "collection": "customers" });
    let e = read(plain, pki.dir()).await.unwrap_err();
    assert!(e.contains("add tls=true to the url (and tls_ca_file for a private CA)"), "{e}");
    // Another CA.
    let stranger = TestPki::new("stranger");
    let wrong = serde_json::json!({ "url": url(""), "collection": "customers", "tls_ca_file": stranger.ca_file() });
    let e = read(wrong, pki.dir()).await.unwrap_err();
    assert!(e.contains("not signed by an authority this machine trusts: set tls_ca_file"), "{e}");
    // A certificate for another host.
    let elsewhere = MongoServer::start_tls(&pki.server("mongo-wrong-host", Flaw::WrongHost), &pki.ca_file());
    let wrong_host = serde_json::json!({ "url": format!("mongodb://localhost:{}/crm?directConnection=true&serverSelectionTimeoutMS=3000", elsewhere.port),
        "collection": "customers", "tls_ca_file": "ca.pem" });
    let e = read(wrong_host, pki.dir()).await.unwrap_err();
    assert!(e.contains("not valid for the host name connected to: check the host in the url"), "{e}");
    // A missing CA file is named before connecting.
    let missing = serde_json::json!({ "url": url(""), "collection": "customers", "tls_ca_file": "nowhere.pem" });
    let e = read(missing, pki.dir()).await.unwrap_err();
    assert!(e.contains("nowhere.pem: not a file"), "{e}");
}
