//! Source columns of a document source are paths into each document.
//!
//! `address.city` walks sub-documents; a number walks into an array
//! (`phones.0.number`); a name on an array walks every element, as
//! MongoDB's own queries do (`phones.number` is every phone's number, as a
//! JSON array). A last segment starting with `$` asks something of the value:
//!
//! - `$json`: the value as plain JSON (`"abc"`, `42`, `null`, `[1,2]`), so
//!   that a field of varying type can be kept as it is in a JSONB column,
//!   and a stored `null` stays distinct from a missing field;
//! - `$type`: MongoDB's name of its type (`string`, `long`, `array`, …),
//!   or `missing`;
//! - `$size`: the number of elements of an array;
//! - `$time`: the creation time inside an ObjectId (or a date itself);
//! - `$index`: under `unwind`, the element's position in its array.

use bson::{Bson, Document};

/// What a path asks of the value it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Text,
    Json,
    Type,
    Size,
    Time,
    Index,
}

/// A parsed column name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub segments: Vec<String>,
    pub ask: Ask,
}

impl Path {
    pub fn parse(column: &str) -> Path {
        let mut segments: Vec<String> = column.split('.').map(str::to_string).collect();
        let ask = match segments.last().map(String::as_str) {
            Some("$json") => Ask::Json,
            Some("$type") => Ask::Type,
            Some("$size") => Ask::Size,
            Some("$time") => Ask::Time,
            Some("$index") => Ask::Index,
            _ => Ask::Text,
        };
        if ask != Ask::Text {
            segments.pop();
        }
        Path { segments, ask }
    }

    /// The path with array positions left out (`phones.0.number` →
    /// `phones.number`): the form `Shape` records.
    pub fn general(&self) -> String {
        self.segments.iter().filter(|s| s.parse::<usize>().is_err()).cloned().collect::<Vec<_>>().join(".")
    }
}

/// What a path reaches in one document.
#[derive(Debug, PartialEq)]
pub enum Found<'a> {
    Missing,
    One(&'a Bson),
    /// The path crossed an array by name: the values found in its elements.
    Many(Vec<&'a Bson>),
}

/// The values `segments` reaches from `value`.
pub fn resolve<'a>(value: &'a Bson, segments: &[String]) -> Found<'a> {
    let mut out = Vec::new();
    let mut mapped = false;
    walk(value, segments, &mut out, &mut mapped, 0);
    match (mapped, out.len()) {
        (true, _) => Found::Many(out),
        (false, 0) => Found::Missing,
        (false, _) => out.first().map_or(Found::Missing, |v| Found::One(v)),
    }
}

/// The same, from a document.
pub fn resolve_in<'a>(doc: &'a Document, segments: &[String]) -> Found<'a> {
    match lookup(doc, segments) {
        Some((value, used)) => resolve(value, segments.get(used..).unwrap_or_default()),
        None => Found::Missing,
    }
}

/// A document's field for the first segment; a key that itself holds dots
/// (`"a.b"`, allowed since MongoDB 5) matches several segments. Returns how
/// many segments the key used.
fn lookup<'a>(doc: &'a Document, segments: &[String]) -> Option<(&'a Bson, usize)> {
    let first = segments.first()?;
    if let Some(v) = doc.get(first) {
        return Some((v, 1));
    }
    (2..=segments.len()).find_map(|n| doc.get(segments.get(..n)?.join(".")).map(|v| (v, n)))
}

/// Nesting deeper than this is not walked (BSON allows about 100 levels).
const MAX_DEPTH: usize = 200;

fn walk<'a>(value: &'a Bson, segments: &[String], out: &mut Vec<&'a Bson>, mapped: &mut bool, depth: usize) {
    let Some(first) = segments.first() else {
        out.push(value);
        return;
    };
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Bson::Document(doc) => {
            if let Some((v, used)) = lookup(doc, segments) {
                walk(v, segments.get(used..).unwrap_or_default(), out, mapped, depth + 1);
            }
        }
        Bson::Array(items) => match first.parse::<usize>() {
            Ok(i) => {
                if let Some(v) = items.get(i) {
                    walk(v, segments.get(1..).unwrap_or_default(), out, mapped, depth + 1);
                }
            }
            Err(_) => {
                *mapped = true;
                for item in items {
                    if matches!(item, Bson::Document(_)) {
                        walk(item, segments, out, mapped, depth + 1);
                    }
                }
            }
        },
        _ => {}
    }
}

/// The value at a dotted path of sub-documents (`audit.updated_at`), for a
/// cursor field; `None` when a step is missing or not a document.
pub(crate) fn value_at<'a>(doc: &'a Document, path: &str) -> Option<&'a Bson> {
    let mut current = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let value = current.get(part)?;
        if parts.peek().is_none() {
            return Some(value);
        }
        current = value.as_document()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn seg(p: &str) -> Vec<String> {
        Path::parse(p).segments
    }

    #[test]
    fn paths_parse_with_their_question() {
        assert_eq!(
            Path::parse("address.city"),
            Path { segments: vec!["address".into(), "city".into()], ask: Ask::Text }
        );
        assert_eq!(Path::parse("score.$json").ask, Ask::Json);
        assert_eq!(Path::parse("notes.$index").segments, vec!["notes".to_string()]);
        assert_eq!(Path::parse("phones.0.number").general(), "phones.number");
    }

    #[test]
    fn documents_arrays_and_dotted_keys_are_walked() {
        let d = doc! {
            "address": { "city": "Köln" },
            "phones": [ { "number": "1" }, { "type": "fax" }, { "number": "3" } ],
            "tags": ["a", "b"],
            "a.b": 7,
        };
        assert_eq!(resolve_in(&d, &seg("address.city")), Found::One(&Bson::String("Köln".into())));
        assert_eq!(resolve_in(&d, &seg("address.zip")), Found::Missing);
        assert_eq!(resolve_in(&d, &seg("phones.2.number")), Found::One(&Bson::String("3".into())));
        assert_eq!(resolve_in(&d, &seg("phones.5.number")), Found::Missing);
        assert_eq!(
            resolve_in(&d, &seg("phones.number")),
            Found::Many(vec![&Bson::String("1".into()), &Bson::String("3".into())])
        );
        assert_eq!(resolve_in(&d, &seg("tags.1")), Found::One(&Bson::String("b".into())));
        assert_eq!(resolve_in(&d, &seg("a.b")), Found::One(&Bson::Int32(7)));
        assert_eq!(resolve_in(&d, &seg("tags.x")), Found::Many(vec![]));
        assert_eq!(resolve_in(&d, &seg("address.city.x")), Found::Missing);
    }
}
