//! Values that are JSON (a document source's sub-documents and arrays, a
//! legacy column holding JSON text): kept as JSON in a JSONB key, or an
//! array joined into one string.

use serde_json::Value;

use super::Outcome;
use crate::reject::RejectReason;

/// Deeper nesting is refused rather than walked (serde_json stops at 128).
const MAX_TEXT: usize = 64 * 1024 * 1024;

/// The value as JSON, compacted; a value that is not JSON rejects its row.
pub fn parse_json(value: &str) -> Outcome {
    if value.len() > MAX_TEXT {
        return Outcome::Failed(RejectReason::TransformFailed, format!("{} bytes of JSON is too large", value.len()));
    }
    match serde_json::from_str::<Value>(value) {
        Ok(v) => Outcome::Value(v.to_string()),
        Err(e) => Outcome::Failed(RejectReason::TransformFailed, format!("{value:?} is not JSON: {e}")),
    }
}

/// A packed list split on `separator` into a JSON array of its trimmed,
/// non-empty items; NULL when it has none.
pub fn split(value: &str, separator: &str) -> Outcome {
    let items: Vec<Value> =
        value.split(separator).map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.to_string())).collect();
    if items.is_empty() { Outcome::Null } else { Outcome::Value(Value::Array(items).to_string()) }
}

/// A JSON array's elements joined by `separator` (strings without their
/// quotes, nulls left out, nested arrays and objects as JSON); anything
/// that is not an array stays as it is. An empty array is NULL.
pub fn join(value: &str, separator: &str) -> Outcome {
    let trimmed = value.trim_start();
    if !trimmed.starts_with('[') {
        return Outcome::Value(value.to_string());
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(trimmed) else {
        return Outcome::Value(value.to_string());
    };
    let parts: Vec<String> = items
        .into_iter()
        .filter_map(|item| match item {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        })
        .collect();
    if parts.is_empty() { Outcome::Null } else { Outcome::Value(parts.join(separator)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_checked_and_compacted() {
        assert_eq!(parse_json(r#"{ "a" : [1, "x"] }"#), Outcome::Value(r#"{"a":[1,"x"]}"#.into()));
        assert_eq!(parse_json("null"), Outcome::Value("null".into()));
        assert_eq!(parse_json("\"text\""), Outcome::Value("\"text\"".into()));
        let Outcome::Failed(reason, message) = parse_json("not json") else { panic!() };
        assert_eq!(reason, RejectReason::TransformFailed);
        assert!(message.starts_with("\"not json\" is not JSON"), "{message}");
    }

    #[test]
    fn arrays_join_and_the_rest_stays() {
        assert_eq!(join(r#"["+1 555", null, 42, {"a":1}]"#, "; "), Outcome::Value(r#"+1 555; 42; {"a":1}"#.into()));
        assert_eq!(join("[]", ", "), Outcome::Null);
        assert_eq!(join("[not json", ", "), Outcome::Value("[not json".into()));
        assert_eq!(join("plain", ", "), Outcome::Value("plain".into()));
    }
}
