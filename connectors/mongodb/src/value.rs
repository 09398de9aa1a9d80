//! BSON values as the engine's text, as plain JSON, and by type name.
//!
//! Text is exact and never goes through a float that the value did not
//! already hold: Int64 and Decimal128 are written digit for digit, a date
//! is ISO 8601 in UTC with milliseconds (before 1970 too), an ObjectId is
//! its 24 hex digits. Sub-documents and arrays become plain JSON, the form
//! a JSONB column takes: ObjectIds, dates, decimals and UUIDs inside them
//! are strings, not extended-JSON wrappers.

use base64::Engine;
use bson::spec::BinarySubtype;
use bson::{Binary, Bson, DateTime, Decimal128};
use serde_json::Value;

/// A value written as text, and what the report should count about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub text: Option<String>,
    pub note: Option<&'static str>,
}

impl Text {
    fn of(text: String) -> Self {
        Self { text: Some(text), note: None }
    }
}

/// MongoDB's own alias for each type (what `$type` answers).
pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Array(_) => "array",
        Bson::Document(_) => "object",
        Bson::Boolean(_) => "bool",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::JavaScriptCode(_) => "javascript",
        Bson::JavaScriptCodeWithScope(_) => "javascriptWithScope",
        Bson::Int32(_) => "int",
        Bson::Int64(_) => "long",
        Bson::Timestamp(_) => "timestamp",
        Bson::Binary(b) if is_uuid(b) => "uuid",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::DateTime(_) => "date",
        Bson::Symbol(_) => "symbol",
        Bson::Decimal128(_) => "decimal",
        Bson::Undefined => "undefined",
        Bson::MaxKey => "maxKey",
        Bson::MinKey => "minKey",
        Bson::DbPointer(_) => "dbPointer",
    }
}

/// One value as the engine's text. `null` and `undefined` are no value.
pub fn text(value: &Bson) -> Text {
    match value {
        Bson::Null | Bson::Undefined => Text { text: None, note: None },
        Bson::String(s) | Bson::Symbol(s) | Bson::JavaScriptCode(s) => Text::of(s.clone()),
        Bson::Int32(n) => Text::of(n.to_string()),
        Bson::Int64(n) => Text::of(n.to_string()),
        Bson::Double(f) => Text::of(double_text(*f)),
        Bson::Decimal128(d) => Text::of(decimal_text(d)),
        Bson::Boolean(b) => Text::of(b.to_string()),
        Bson::ObjectId(oid) => Text::of(oid.to_hex()),
        Bson::DateTime(d) => match date_text(*d) {
            Some(t) => Text::of(t),
            None => Text { text: Some(d.timestamp_millis().to_string()), note: Some("date_out_of_range") },
        },
        Bson::Binary(b) => Text::of(binary_text(b)),
        Bson::RegularExpression(r) => {
            // Flags in alphabetical order, as BSON stores them.
            let mut flags: Vec<char> = r.options.as_str().chars().collect();
            flags.sort_unstable();
            Text::of(format!("/{}/{}", r.pattern, flags.into_iter().collect::<String>()))
        }
        Bson::Timestamp(t) => Text::of(format!("{}:{}", t.time, t.increment)),
        Bson::MinKey => Text::of("MinKey".into()),
        Bson::MaxKey => Text::of("MaxKey".into()),
        Bson::Array(_) | Bson::Document(_) | Bson::JavaScriptCodeWithScope(_) | Bson::DbPointer(_) => {
            Text::of(plain_json(value).to_string())
        }
    }
}

/// A double as the shortest text that reads back as the same double;
/// `NaN`, `Infinity` and `-Infinity` as MongoDB writes them.
fn double_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        f.to_string()
    }
}

/// A Decimal128 digit for digit; scientific forms (`1.5E+3`) written out in
/// positional notation when they fit 28 digits, as the money and number
/// parsers read them; otherwise as MongoDB writes them.
fn decimal_text(d: &Decimal128) -> String {
    let s = d.to_string();
    if !s.contains(['E', 'e']) {
        return s;
    }
    match rust_decimal::Decimal::from_scientific(&s) {
        Ok(exact) => exact.to_string(),
        Err(_) => s,
    }
}

/// A date in UTC with milliseconds; `None` past the years a calendar can
/// write (BSON dates run to ±292 million years).
pub fn date_text(d: DateTime) -> Option<String> {
    let t = chrono::DateTime::from_timestamp_millis(d.timestamp_millis())?;
    Some(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

fn is_uuid(b: &Binary) -> bool {
    matches!(b.subtype, BinarySubtype::Uuid | BinarySubtype::UuidOld) && b.bytes.len() == 16
}

/// A UUID (subtypes 3 and 4) in its hyphenated form; other binary in base64.
fn binary_text(b: &Binary) -> String {
    if is_uuid(b) {
        let h = hex::encode(&b.bytes);
        return format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]);
    }
    base64::engine::general_purpose::STANDARD.encode(&b.bytes)
}

/// Plain JSON (keys in name order, as PostgreSQL's jsonb keeps them):
/// documents are objects, arrays are arrays, numbers that JSON
/// holds exactly are numbers; everything else is its text.
pub fn plain_json(value: &Bson) -> Value {
    match value {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(n) => Value::from(*n),
        Bson::Int64(n) => Value::from(*n),
        Bson::Double(f) if f.is_finite() => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Bson::Array(items) => Value::Array(items.iter().map(plain_json).collect()),
        Bson::Document(doc) => Value::Object(doc.iter().map(|(k, v)| (k.clone(), plain_json(v))).collect()),
        Bson::JavaScriptCodeWithScope(c) => serde_json::json!({
            "code": c.code,
            "scope": plain_json(&Bson::Document(c.scope.clone())),
        }),
        Bson::DbPointer(_) => Value::String("DBPointer".into()),
        other => match text(other).text {
            Some(t) => Value::String(t),
            None => Value::Null,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;
    use bson::{Regex, Timestamp, doc};

    fn t(v: Bson) -> Option<String> {
        text(&v).text
    }

    #[test]
    fn scalars_are_exact_text() {
        assert_eq!(t(Bson::Int64(i64::MIN)).as_deref(), Some("-9223372036854775808"));
        assert_eq!(t(Bson::Double(0.1)).as_deref(), Some("0.1"));
        assert_eq!(t(Bson::Double(1e300)).as_deref().map(str::len), Some(301));
        assert_eq!(t(Bson::Double(f64::NAN)).as_deref(), Some("NaN"));
        assert_eq!(t(Bson::Double(f64::NEG_INFINITY)).as_deref(), Some("-Infinity"));
        let dec = |s: &str| Bson::Decimal128(s.parse().unwrap());
        assert_eq!(t(dec("1234567890123456789012345678.90")).as_deref(), Some("1234567890123456789012345678.90"));
        assert_eq!(t(dec("1.50E+3")).as_deref(), Some("1500"));
        assert_eq!(t(dec("-0.00")).as_deref(), Some("-0.00"));
        assert_eq!(t(dec("NaN")).as_deref(), Some("NaN"));
        assert_eq!(t(Bson::Boolean(false)).as_deref(), Some("false"));
        assert_eq!(t(Bson::Null), None);
        assert_eq!(t(Bson::Undefined), None);
        let re =
            Bson::RegularExpression(Regex { pattern: "^a.*".try_into().unwrap(), options: "i".try_into().unwrap() });
        assert_eq!(t(re).as_deref(), Some("/^a.*/i"));
        assert_eq!(
            t(Bson::Timestamp(Timestamp { time: 1_700_000_000, increment: 3 })).as_deref(),
            Some("1700000000:3")
        );
    }

    #[test]
    fn object_ids_dates_and_binaries() {
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        assert_eq!(t(Bson::ObjectId(oid)).as_deref(), Some("65a1b2c3d4e5f60718293a4b"));
        assert_eq!(
            t(Bson::DateTime(DateTime::from_millis(-14_182_940_000))).as_deref(),
            Some("1969-07-20T20:17:40.000Z")
        );
        assert_eq!(t(Bson::DateTime(DateTime::from_millis(1))).as_deref(), Some("1970-01-01T00:00:00.001Z"));
        let far = text(&Bson::DateTime(DateTime::from_millis(i64::MAX)));
        assert_eq!(far.note, Some("date_out_of_range"));
        assert_eq!(far.text.as_deref(), Some("9223372036854775807"));
        let uuid = Binary { subtype: BinarySubtype::Uuid, bytes: (0u8..16).collect() };
        assert_eq!(t(Bson::Binary(uuid.clone())).as_deref(), Some("00010203-0405-0607-0809-0a0b0c0d0e0f"));
        assert_eq!(type_name(&Bson::Binary(uuid)), "uuid");
        let blob = Binary { subtype: BinarySubtype::Generic, bytes: vec![0, 255, 1] };
        assert_eq!(t(Bson::Binary(blob)).as_deref(), Some("AP8B"));
    }

    #[test]
    fn containers_are_plain_json() {
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let d = doc! { "city": "Köln", "zip": "01234", "n": 3_i64, "at": DateTime::from_millis(0), "ref": oid, "tags": ["a", 1] };
        assert_eq!(
            t(Bson::Document(d)).as_deref(),
            Some(
                r#"{"at":"1970-01-01T00:00:00.000Z","city":"Köln","n":3,"ref":"65a1b2c3d4e5f60718293a4b","tags":["a",1],"zip":"01234"}"#
            )
        );
        assert_eq!(plain_json(&Bson::Double(f64::INFINITY)), Value::String("Infinity".into()));
    }
}
