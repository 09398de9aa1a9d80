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
        (cstring(), "[imsx]{0,3}").prop_filter_map("a regex", |(p, o)| {
            Some(Bson::RegularExpression(Regex { pattern: p.try_into().ok()?, options: o.try_into().ok()? }))
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(time, increment)| Bson::Timestamp(Timestamp { time, increment })),
        ".{0,8}".prop_map(Bson::Symbol),
        ".{0,8}".prop_map(Bson::JavaScriptCode),
    ]
}

pub fn value() -> impl Strategy<Value = Bson> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Bson::Array),
            proptest::collection::vec((cstring(), inner), 0..6)
                .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
        ]
    })
}

pub fn document() -> impl Strategy<Value = Document> {
    proptest::collection::vec(("[a-z$.]{1,6}", value()), 0..8).prop_map(|fields| fields.into_iter().collect())
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
