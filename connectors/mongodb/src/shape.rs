//! What a sample of documents holds: every path, the types seen at it with
//! counts and examples. It names the source's columns (so `validate` can
//! say a path is unknown) and is what `migrate inspect` shows.

use std::collections::BTreeMap;

use bson::{Bson, Document};
use serde::Serialize;

use crate::path::{Ask, Path};
use crate::value::{text, type_name};

/// Examples kept per path and type.
const EXAMPLES: usize = 2;
/// Characters an example keeps.
const EXAMPLE_CHARS: usize = 60;
/// Paths recorded at most (a collection keyed by data, `{ "2024-01-01": … }`,
/// would otherwise grow without end).
const MAX_PATHS: usize = 2_000;
const MAX_DEPTH: usize = 100;

/// One path of the sample.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PathStats {
    /// Documents in which the path holds a value (null included).
    pub documents: u64,
    /// Values by type name. Inside arrays a document counts once per element.
    pub types: BTreeMap<String, u64>,
    /// For an array: its elements' types.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub element_types: BTreeMap<String, u64>,
    /// The path is reached through an array (`phones.number`).
    pub in_array: bool,
    /// A few values per type, as text.
    pub examples: Vec<String>,
}

impl PathStats {
    /// Values of more than one kind (numbers, text, dates, arrays, …; nulls
    /// aside): the mapping has to decide. Int32 beside Int64 is not mixed.
    pub fn mixed(&self) -> bool {
        let mut families: Vec<&str> = self.types.keys().filter_map(|t| family(t)).collect();
        families.sort_unstable();
        families.dedup();
        families.len() > 1
    }
}

/// The kind of value a type name holds, for `mixed`; `None` for no value.
fn family(type_name: &str) -> Option<&'static str> {
    match type_name {
        "null" | "undefined" => None,
        "int" | "long" | "double" | "decimal" => Some("number"),
        "string" | "symbol" => Some("text"),
        "date" | "timestamp" => Some("time"),
        "binData" | "uuid" => Some("binary"),
        "array" => Some("array"),
        "object" => Some("object"),
        "bool" => Some("bool"),
        "objectId" => Some("objectId"),
        _ => Some("other"),
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Shape {
    pub documents: u64,
    pub paths: BTreeMap<String, PathStats>,
    /// Paths not recorded once `MAX_PATHS` was reached.
    pub paths_dropped: u64,
    /// Documents of the sample that could not be read, and the first
    /// one's location and error: their paths are not in `paths`.
    pub unreadable: u64,
    pub first_unreadable: Option<String>,
}

impl Shape {
    pub fn observe(&mut self, doc: &Document) {
        self.documents += 1;
        let mut seen = Vec::new();
        self.walk_doc(doc, "", false, 0, &mut seen);
        seen.sort_unstable();
        seen.dedup();
        for path in seen {
            if let Some(stats) = self.paths.get_mut(&path) {
                stats.documents += 1;
            }
        }
    }

    fn walk_doc(&mut self, doc: &Document, prefix: &str, in_array: bool, depth: usize, seen: &mut Vec<String>) {
        if depth > MAX_DEPTH {
            return;
        }
        for (key, value) in doc {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            self.value(&path, value, in_array, depth, seen);
        }
    }

    fn value(&mut self, path: &str, value: &Bson, in_array: bool, depth: usize, seen: &mut Vec<String>) {
        let Some(stats) = self.stats(path) else { return };
        stats.in_array |= in_array;
        let ty = type_name(value);
        *stats.types.entry(ty.to_string()).or_default() += 1;
        let shown = stats.examples.iter().filter(|e| e.starts_with(&format!("{ty}: "))).count();
        if shown < EXAMPLES
            && !matches!(value, Bson::Document(_) | Bson::Array(_))
            && let Some(t) = text(value).text
        {
            let t: String = t.chars().take(EXAMPLE_CHARS).collect();
            if !stats.examples.iter().any(|e| e == &format!("{ty}: {t}")) {
                stats.examples.push(format!("{ty}: {t}"));
            }
        }
        seen.push(path.to_string());
        match value {
            Bson::Document(d) => self.walk_doc(d, path, in_array, depth + 1, seen),
            Bson::Array(items) => {
                for item in items {
                    if let Some(stats) = self.stats(path) {
                        *stats.element_types.entry(type_name(item).to_string()).or_default() += 1;
                    }
                    if let Bson::Document(d) = item {
                        self.walk_doc(d, path, true, depth + 1, seen);
                    }
                }
            }
            _ => {}
        }
    }

    fn stats(&mut self, path: &str) -> Option<&mut PathStats> {
        if !self.paths.contains_key(path) && self.paths.len() >= MAX_PATHS {
            self.paths_dropped += 1;
            return None;
        }
        Some(self.paths.entry(path.to_string()).or_default())
    }

    /// Whether a column name reaches a path the sample holds. `$index`
    /// needs the array being unwound.
    pub fn covers(&self, column: &str, unwind: Option<&str>) -> bool {
        let path = Path::parse(column);
        let general = path.general();
        match path.ask {
            Ask::Index => unwind == Some(general.as_str()),
            _ => self.paths.contains_key(&general),
        }
    }

    /// The columns a source offers when the mapping names none (a
    /// preview): every path outside arrays; under `unwind`, the unwound
    /// element's paths and its `$index` too.
    pub fn default_columns(&self, unwind: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(u) = unwind {
            out.push(format!("{u}.$index"));
        }
        for (path, stats) in &self.paths {
            let under_unwind = unwind.is_some_and(|u| path.starts_with(&format!("{u}.")));
            if !stats.in_array || under_unwind {
                out.push(path.clone());
            }
        }
        // `_id` first, as every tool shows it.
        if let Some(i) = out.iter().position(|c| c == "_id") {
            let id = out.remove(i);
            out.insert(0, id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn types_are_counted_per_path_and_mixed_fields_stand_out() {
        let mut shape = Shape::default();
        shape.observe(
            &doc! { "_id": 1, "score": "12", "phones": [ { "number": "1" }, { "number": 2 } ], "a": { "b": null } },
        );
        shape.observe(&doc! { "_id": 2, "score": 12_i64, "phones": "none" });
        shape.observe(&doc! { "_id": 3, "score": ["12"] });
        let score = &shape.paths["score"];
        assert_eq!(score.documents, 3);
        assert_eq!(score.types.get("string"), Some(&1));
        assert_eq!(score.types.get("long"), Some(&1));
        assert_eq!(score.types.get("array"), Some(&1));
        assert!(score.mixed());
        assert!(score.examples.contains(&"long: 12".to_string()));
        let number = &shape.paths["phones.number"];
        assert!(number.in_array);
        assert_eq!(number.documents, 1, "a document counts once however many elements hold the path");
        assert_eq!(number.types.get("int"), Some(&1));
        assert_eq!(shape.paths["phones"].element_types.get("object"), Some(&2));
        assert!(!shape.paths["a.b"].mixed());
        shape.observe(&doc! { "_id": 4_i64, "phones": [ { "number": 3_i64 } ] });
        assert!(!shape.paths["_id"].mixed(), "int and long are both numbers");
        assert!(shape.paths["phones.number"].mixed(), "a string beside numbers is mixed");
        assert!(shape.covers("phones.0.number", None));
        assert!(shape.covers("score.$type", None));
        assert!(!shape.covers("phone.number", None));
        assert!(shape.covers("phones.$index", Some("phones")));
        assert!(!shape.covers("phones.$index", None));
        assert_eq!(shape.default_columns(None), vec!["_id", "a", "a.b", "phones", "score"]);
        assert_eq!(
            shape.default_columns(Some("phones")),
            vec!["_id", "phones.$index", "a", "a.b", "phones", "phones.number", "score"]
        );
    }

    #[test]
    fn paths_are_bounded() {
        let mut shape = Shape::default();
        let mut d = Document::new();
        for i in 0..(MAX_PATHS + 10) {
            d.insert(format!("k{i}"), 1);
        }
        shape.observe(&d);
        assert_eq!(shape.paths.len(), MAX_PATHS);
        assert_eq!(shape.paths_dropped, 10);
    }
}
