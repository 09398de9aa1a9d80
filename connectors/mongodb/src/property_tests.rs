//! Generated documents of every BSON type, nested: turning them into rows
//! never panics, whatever the columns ask, and a document written as
//! canonical extended JSON (what mongoexport writes) and read back through
//! the file scanner gives the same rows as the document itself.

use bson::oid::ObjectId;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128, Document, Regex, Timestamp};
use proptest::prelude::*;

use crate::file::{Item, Scanner, parse};
use crate::rows::RowShape;
use crate::shape::Shape;

/// Text without NUL (BSON keys, regex patterns and options are C strings).
fn cstring() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,12}"
}

pub fn leaf() -> impl Strategy<Value = Bson> {
    prop_oneof![
        any::<f64>().prop_map(Bson::Double),
        Just(Bson::Double(f64::NAN)),
        ".{0,20}".prop_map(Bson::String),
        any::<i32>().prop_map(Bson::Int32),
        any::<i64>().prop_map(Bson::Int64),
        any::<bool>().prop_map(Bson::Boolean),
        Just(Bson::Null),
        Just(Bson::Undefined),
        Just(Bson::MinKey),
        Just(Bson::MaxKey),
        any::<i64>().prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        (-10_000_000_000_000i64..10_000_000_000_000).prop_map(|ms| Bson::DateTime(DateTime::from_millis(ms))),
        any::<[u8; 12]>().prop_map(|b| Bson::ObjectId(ObjectId::from_bytes(b))),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(t, bytes)| { Bson::Binary(Binary { subtype: BinarySubtype::from(t), bytes }) }),
        proptest::collection::vec(any::<u8>(), 16)
            .prop_map(|b| { Bson::Binary(Binary { subtype: BinarySubtype::Uuid, bytes: b }) }),
        any::<[u8; 16]>().prop_map(|b| Bson::Decimal128(Decimal128::from_bytes(b))),
        "-?[0-9]{1,30}(\\.[0-9]{1,10})?(E[+-][0-9]{1,3})?"
            .prop_filter_map("a decimal", |s| s.parse::<Decimal128>().ok().map(Bson::Decimal128)),
        (cstring(), proptest::sample::subsequence(vec!['i', 'm', 's', 'x'], 0..=4))
            .prop_map(|(p, o)| (p, o.into_iter().collect::<String>()))
            .prop_filter_map("a regex", |(p, o)| {
                Some(Bson::RegularExpression(Regex { pattern: p.try_into().ok()?, options: o.try_into().ok()? }))
            }),
        (any::<u32>(), any::<u32>()).prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        ".{0,8}".prop_map(Bson::Symbol),
        ".{0,8}".prop_map(Bson::JavaScriptCode),
    ]
}

/// Nested values from `leaves`; sub-document keys from `key`.
fn value_with(leaves: BoxedStrategy<Bson>, key: BoxedStrategy<String>) -> impl Strategy<Value = Bson> {
    leaves.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            proptest::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

/// Documents with any keys: dots, dollars, any text.
pub fn document() -> impl Strategy<Value = Document> {
    proptest::collection::vec(("[a-z$.]{1,6}", value_with(leaf().boxed(), cstring().boxed())), 0..8)
        .prop_map(|fields| fields.into_iter().collect())
}

/// Documents with plain keys, as applications write them, and values the
/// test server keeps as they are: it is written in Python, so it refuses
/// dates outside years 1–9999 and stores the deprecated `undefined` as
/// null and symbols as strings, where MongoDB keeps all three.
fn plain_document() -> impl Strategy<Value = Document> {
    let kept = leaf().prop_filter("a value the test server keeps", |v| match v {
        Bson::Undefined | Bson::Symbol(_) => false,
        Bson::DateTime(d) => (-62_135_596_800_000..=253_402_300_799_999).contains(&d.timestamp_millis()),
        _ => true,
    });
    proptest::collection::vec(("[a-z]{1,6}", value_with(kept.boxed(), "[a-z_]{1,6}".boxed())), 0..8)
        .prop_map(|fields| fields.into_iter().collect())
}

/// Every column a mapping could name for a document: each sampled path,
/// with each question, and positions into arrays.
fn every_column(doc: &Document) -> Vec<String> {
    let mut shape = Shape::default();
    shape.observe(doc);
    let mut out = Vec::new();
    for path in shape.paths.keys() {
        for suffix in ["", ".$json", ".$type", ".$size", ".$time", ".$index", ".0", ".1.x"] {
            out.push(format!("{path}{suffix}"));
        }
    }
    out.push("missing.path".into());
    out
}

fn via_export_file(doc: &Document) -> Document {
    let line = Bson::Document(doc.clone()).into_canonical_extjson().to_string();
    let text = format!("{line}\n");
    let mut scanner = Scanner::new(text.as_bytes(), usize::MAX);
    match scanner.next_item() {
        Ok(Some(Item::Doc { bytes, .. })) => parse(&bytes).unwrap_or_else(|e| panic!("{e}: {line}")),
        other => panic!("{other:?}: {line}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_document_becomes_rows_and_the_export_file_agrees(doc in document()) {
        let columns = every_column(&doc);
        let unwind = doc.keys().next().cloned();
        for u in [None, unwind.as_deref()] {
            let shape = RowShape::new(&columns, u);
            let direct = shape.rows(&doc);
            let exported = shape.rows(&via_export_file(&doc));
            let texts = |rows: &[crate::rows::Row]| rows.iter().map(|r| r.values.clone()).collect::<Vec<_>>();
            prop_assert_eq!(texts(&direct), texts(&exported));
        }
    }
}

/// Generated documents stored in a real server and read back through the
/// driver's cursor give the same rows as the documents themselves: the
/// wire decoding holds for every BSON type the server keeps.
#[tokio::test]
async fn generated_documents_read_back_from_a_server_unchanged() {
    use migrate_engine::Source;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let server = migrate_testkit::MongoServer::start();
    let client = mongodb::Client::with_uri_str(server.url("gen")).await.unwrap();
    let collection = client.database("gen").collection::<Document>("docs");
    let mut runner = TestRunner::deterministic();
    let mut stored: Vec<Document> = Vec::new();
    for i in 0..300_i64 {
        let mut doc = plain_document().new_tree(&mut runner).unwrap().current();
        doc.insert("_id", i);
        collection.insert_one(&doc).await.unwrap_or_else(|e| panic!("{e}: {doc:?}"));
        stored.push(doc);
    }
    let mut shape = Shape::default();
    stored.iter().for_each(|d| shape.observe(d));
    let mut columns = vec!["_id".to_string()];
    for path in shape.paths.keys().filter(|p| p.as_str() != "_id") {
        for suffix in ["", ".$json", ".$type", ".$time"] {
            columns.push(format!("{path}{suffix}"));
        }
    }
    let mut config: crate::MongoSourceConfig = serde_json::from_value(serde_json::json!({
        "url": server.url("gen"), "collection": "docs", "sample": 1000, "batch_size": 64
    }))
    .unwrap();
    config.wanted = columns.clone();
    let mut source = config.build(std::path::Path::new(""));
    let (rows, _) = migrate_testkit::sources::read_source(&mut source).await;
    assert_eq!(source.columns().len(), columns.len());
    assert!(source.columns() == columns.as_slice(), "the source reads every path the sample holds");
    let expected = RowShape::new(&columns, None);
    assert_eq!(rows.len(), stored.len());
    for ((_, row), doc) in rows.iter().zip(&stored) {
        let want = expected.rows(doc).remove(0).values;
        let got: Vec<Option<String>> = columns.iter().map(|c| row.get(c).cloned().flatten()).collect();
        let differ: Vec<(&String, &Option<String>, &Option<String>)> = columns
            .iter()
            .zip(want.iter().zip(&got))
            .filter(|(_, (w, g))| w != g)
            .map(|(c, (w, g))| (c, w, g))
            .collect();
        assert!(differ.is_empty(), "document {:?}: (column, stored, read back) {differ:?}", doc.get("_id"));
    }
}
