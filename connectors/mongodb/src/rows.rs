//! Documents into rows: each column a path (see `path`), and under
//! `unwind` one row per element of an array, the element's position
//! included.

use bson::{Bson, Document};

use crate::path::{Ask, Found, Path, resolve, resolve_in};
use crate::value::{date_text, plain_json, text, type_name};

/// The columns a source's rows carry.
#[derive(Debug, Clone)]
pub struct RowShape {
    paths: Vec<Path>,
    unwind: Option<Vec<String>>,
}

/// One row's values and what the report should count about them
/// (column, code, example).
#[derive(Debug, Default, PartialEq)]
pub struct Row {
    pub values: Vec<Option<String>>,
    pub notes: Vec<(usize, &'static str, String)>,
    /// Under `unwind`: the element's position in its array.
    pub index: Option<usize>,
}

impl RowShape {
    pub fn new(columns: &[String], unwind: Option<&str>) -> Self {
        Self {
            paths: columns.iter().map(|c| Path::parse(c)).collect(),
            unwind: unwind.map(|u| u.split('.').map(str::to_string).collect()),
        }
    }

    /// The rows of one document: one, or under `unwind` one per element
    /// (none when the array is missing, null or empty; a single value that
    /// is not an array counts as one element, as MongoDB's `$unwind` does).
    pub fn rows(&self, doc: &Document) -> Vec<Row> {
        let Some(unwind) = &self.unwind else {
            return vec![self.row(doc, None)];
        };
        let elements: Vec<&Bson> = match resolve_in(doc, unwind) {
            Found::Missing | Found::One(Bson::Null) => Vec::new(),
            Found::One(Bson::Array(items)) => items.iter().collect(),
            Found::One(single) => vec![single],
            Found::Many(values) => values,
        };
        elements.into_iter().enumerate().map(|(i, e)| self.row(doc, Some((unwind, e, i)))).collect()
    }

    fn row(&self, doc: &Document, element: Option<(&Vec<String>, &Bson, usize)>) -> Row {
        let mut row =
            Row { values: Vec::with_capacity(self.paths.len()), index: element.map(|e| e.2), ..Row::default() };
        for (column, path) in self.paths.iter().enumerate() {
            let inside = element.and_then(|(prefix, value, index)| {
                path.segments.strip_prefix(prefix.as_slice()).map(|rest| (rest, value, index))
            });
            let value = match inside {
                Some((_, _, index)) if path.ask == Ask::Index => Some(index.to_string()),
                Some((rest, value, _)) => {
                    answer(path.ask, resolve(value, rest), &mut |code, example| row.notes.push((column, code, example)))
                }
                None => answer(path.ask, resolve_in(doc, &path.segments), &mut |code, example| {
                    row.notes.push((column, code, example))
                }),
            };
            row.values.push(value);
        }
        row
    }
}

/// What a path's question gives for what it found.
fn answer(ask: Ask, found: Found<'_>, note: &mut dyn FnMut(&'static str, String)) -> Option<String> {
    match (ask, found) {
        (Ask::Index, _) => None,
        (Ask::Type, Found::Missing) => Some("missing".into()),
        (Ask::Type, Found::One(v)) => Some(type_name(v).into()),
        (Ask::Type, Found::Many(_)) => Some("array".into()),
        (_, Found::Missing) => None,
        (Ask::Text, Found::One(v)) => {
            let t = text(v);
            if let (Some(code), Some(example)) = (t.note, &t.text) {
                note(code, example.clone());
            }
            t.text
        }
        (Ask::Json, Found::One(v)) => Some(plain_json(v).to_string()),
        (Ask::Text | Ask::Json, Found::Many(vs)) => {
            Some(serde_json::Value::Array(vs.into_iter().map(plain_json).collect()).to_string())
        }
        (Ask::Size, Found::One(Bson::Array(items))) => Some(items.len().to_string()),
        (Ask::Size, Found::Many(vs)) => Some(vs.len().to_string()),
        (Ask::Size, Found::One(_)) => None,
        (Ask::Time, Found::One(Bson::ObjectId(oid))) => date_text(oid.timestamp()),
        (Ask::Time, Found::One(Bson::DateTime(d))) => date_text(*d),
        (Ask::Time, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;
    use bson::oid::ObjectId;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn questions_answer_per_path() {
        let oid = ObjectId::parse_str("65a1b2c3d4e5f60718293a4b").unwrap();
        let d = doc! { "_id": oid, "score": null, "tags": ["vip", "eu"], "phones": [{"n": "1"}, {"n": "2"}] };
        let shape = RowShape::new(
            &cols(&[
                "_id",
                "_id.$time",
                "score",
                "score.$json",
                "score.$type",
                "gone.$type",
                "gone.$json",
                "tags",
                "tags.$size",
                "tags.1",
                "phones.n",
                "phones.1.n",
                "phones.$size",
            ]),
            None,
        );
        let rows = shape.rows(&d);
        assert_eq!(rows.len(), 1);
        let v: Vec<Option<&str>> = rows[0].values.iter().map(|v| v.as_deref()).collect();
        assert_eq!(
            v,
            vec![
                Some("65a1b2c3d4e5f60718293a4b"),
                Some("2024-01-12T21:44:35.000Z"),
                None,
                Some("null"),
                Some("null"),
                Some("missing"),
                None,
                Some(r#"["vip","eu"]"#),
                Some("2"),
                Some("eu"),
                Some(r#"["1","2"]"#),
                Some("2"),
                Some("2"),
            ]
        );
    }

    #[test]
    fn unwind_gives_a_row_per_element_with_its_parent_and_index() {
        let shape = RowShape::new(&cols(&["_id", "notes.$index", "notes.text", "notes", "name"]), Some("notes"));
        let d = doc! { "_id": 7, "name": "Ada", "notes": [ { "text": "a" }, { "text": "b" }, "loose" ] };
        let rows = shape.rows(&d);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1].values,
            vec![
                Some("7".into()),
                Some("1".into()),
                Some("b".into()),
                Some(r#"{"text":"b"}"#.into()),
                Some("Ada".into())
            ]
        );
        assert_eq!(rows[2].values[2], None);
        assert_eq!(rows[2].values[3].as_deref(), Some("loose"));
        assert_eq!(rows[2].index, Some(2));
        assert!(shape.rows(&doc! { "_id": 8, "notes": [] }).is_empty());
        assert!(shape.rows(&doc! { "_id": 9, "notes": null }).is_empty());
        assert!(shape.rows(&doc! { "_id": 10 }).is_empty());
        assert_eq!(
            shape.rows(&doc! { "_id": 11, "notes": { "text": "single" } })[0].values[2].as_deref(),
            Some("single")
        );
    }

    #[test]
    fn out_of_range_dates_are_noted() {
        let shape = RowShape::new(&cols(&["d"]), None);
        let rows = shape.rows(&doc! { "d": bson::DateTime::from_millis(i64::MIN) });
        assert_eq!(rows[0].notes, vec![(0, "date_out_of_range", i64::MIN.to_string())]);
    }
}
