//! A mongoexport file, read one document at a time: JSON lines (one
//! document per line, or any whitespace between documents) or one JSON
//! array of documents (`mongoexport --jsonArray`), in canonical, relaxed
//! or legacy extended JSON. The file is never held whole: the scanner
//! finds where each document ends (tracking strings, escapes and nesting),
//! and a document over the size limit is skipped to its end and counted.

use std::io::{BufRead, Read};

use bson::Document;
use sha2::{Digest, Sha256};

/// One document's text, or the note that it was too large to keep.
#[derive(Debug, PartialEq)]
pub enum Item {
    Doc { line: u64, bytes: Vec<u8> },
    TooLarge { line: u64, size: u64 },
}

#[derive(Debug, PartialEq)]
pub struct ScanError {
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Unknown,
    Lines,
    Array,
    /// After the array's closing bracket.
    Ended,
}

/// Splits a stream into documents.
pub struct Scanner<R: Read> {
    input: std::io::BufReader<HashingReader<R>>,
    layout: Layout,
    line: u64,
    max_bytes: usize,
    started: bool,
}

/// Counts and hashes what passes through, for the report.
pub struct HashingReader<R> {
    inner: R,
    hash: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R: Read> Scanner<R> {
    pub fn new(input: R, max_bytes: usize) -> Self {
        let reader = HashingReader { inner: input, hash: Sha256::new(), bytes: 0 };
        Self {
            input: std::io::BufReader::with_capacity(256 * 1024, reader),
            layout: Layout::Unknown,
            line: 1,
            max_bytes,
            started: false,
        }
    }

    /// Bytes read so far and their SHA-256 (complete at the end).
    pub fn digest(&self) -> (u64, String) {
        let inner = self.input.get_ref();
        (inner.bytes, hex::encode(inner.hash.clone().finalize()))
    }

    pub fn bytes_read(&self) -> u64 {
        self.input.get_ref().bytes
    }

    fn peek(&mut self) -> Result<Option<u8>, ScanError> {
        let line = self.line;
        let buf = self.input.fill_buf().map_err(|e| ScanError { line, message: e.to_string() })?;
        Ok(buf.first().copied())
    }

    fn bump(&mut self) {
        self.input.consume(1);
    }

    /// Skips whitespace (and a byte-order mark at the start).
    fn skip_space(&mut self) -> Result<Option<u8>, ScanError> {
        if !self.started {
            self.started = true;
            let line = self.line;
            let buf = self.input.fill_buf().map_err(|e| ScanError { line, message: e.to_string() })?;
            if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
                self.input.consume(3);
            }
        }
        loop {
            match self.peek()? {
                Some(b'\n') => {
                    self.line += 1;
                    self.bump();
                }
                Some(b' ' | b'\t' | b'\r') => self.bump(),
                other => return Ok(other),
            }
        }
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ScanError> {
        Err(ScanError { line: self.line, message: message.into() })
    }

    /// The next document, `None` at the end.
    pub fn next_item(&mut self) -> Result<Option<Item>, ScanError> {
        loop {
            let next = self.skip_space()?;
            match (self.layout, next) {
                (Layout::Unknown, Some(b'[')) => {
                    self.bump();
                    self.layout = Layout::Array;
                    let after = self.skip_space()?;
                    if after == Some(b']') {
                        self.bump();
                        self.layout = Layout::Ended;
                    }
                }
                (Layout::Unknown, Some(b'{')) => self.layout = Layout::Lines,
                (Layout::Unknown, None) => return Ok(None),
                (Layout::Unknown, Some(c)) => {
                    return self
                        .error(format!("expected a JSON document or an array of them, found {:?}", char::from(c)));
                }
                (Layout::Lines, None) | (Layout::Ended, None) => return Ok(None),
                (Layout::Lines, Some(b'{')) => return self.value().map(Some),
                (Layout::Lines, Some(c)) => {
                    return self.error(format!("expected the next document, found {:?}", char::from(c)));
                }
                (Layout::Array, Some(b'{')) => {
                    let item = self.value()?;
                    match self.skip_space()? {
                        Some(b',') => self.bump(),
                        Some(b']') => {
                            self.bump();
                            self.layout = Layout::Ended;
                        }
                        Some(c) => {
                            return self
                                .error(format!("expected `,` or `]` after a document, found {:?}", char::from(c)));
                        }
                        None => return self.error("the array is not closed: the file ends inside it"),
                    }
                    return Ok(Some(item));
                }
                (Layout::Array, Some(c)) => {
                    return self.error(format!("expected a document in the array, found {:?}", char::from(c)));
                }
                (Layout::Array, None) => return self.error("the array is not closed: the file ends inside it"),
                (Layout::Ended, Some(c)) => {
                    return self.error(format!("text after the array's closing `]`: {:?}", char::from(c)));
                }
            }
        }
    }

    /// One `{…}` value, from its opening brace.
    fn value(&mut self) -> Result<Item, ScanError> {
        let start = self.line;
        let mut bytes: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        let mut depth: usize = 0;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let line = self.line;
            let buf = self.input.fill_buf().map_err(|e| ScanError { line, message: e.to_string() })?;
            if buf.is_empty() {
                return Err(ScanError { line: start, message: "the file ends inside this document".into() });
            }
            let mut end = None;
            for (i, &b) in buf.iter().enumerate() {
                if b == b'\n' {
                    self.line += 1;
                }
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let take = end.unwrap_or(buf.len());
            size += take as u64;
            if size <= self.max_bytes as u64 {
                bytes.extend_from_slice(buf.get(..take).unwrap_or_default());
            } else {
                bytes = Vec::new();
            }
            self.input.consume(take);
            if end.is_some() {
                return Ok(if size <= self.max_bytes as u64 {
                    Item::Doc { line: start, bytes }
                } else {
                    Item::TooLarge { line: start, size }
                });
            }
        }
    }
}

/// A document from its extended JSON text.
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    upgrade_legacy(&mut value);
    match value {
        serde_json::Value::Object(map) => {
            Document::try_from(map).map_err(|e| format!("not MongoDB extended JSON: {e}"))
        }
        _ => Err("not a document".into()),
    }
}

/// Rewrites the legacy (v1) forms older mongoexport versions wrote into
/// the v2 forms the parser reads: `{"$binary": "…", "$type": "00"}`,
/// `{"$regex": "…", "$options": "i"}`, and `$date` text with an offset
/// written without its colon (`…T00:00:00.000-0700`) or without minutes
/// (`-07`), which becomes milliseconds (`{"$numberLong": …}`).
fn upgrade_legacy(value: &mut serde_json::Value) {
    use serde_json::{Value, json};
    match value {
        Value::Array(items) => items.iter_mut().for_each(upgrade_legacy),
        Value::Object(map) => {
            let legacy_binary = map.len() == 2
                && matches!(map.get("$binary"), Some(Value::String(_)))
                && matches!(map.get("$type"), Some(Value::String(_)));
            let legacy_regex = (map.len() == 2 || map.len() == 1)
                && matches!(map.get("$regex"), Some(Value::String(_)))
                && map.get("$options").is_none_or(Value::is_string);
            if legacy_binary {
                let subtype = map.get("$type").cloned().unwrap_or(Value::Null);
                let base64 = map.get("$binary").cloned().unwrap_or(Value::Null);
                *value = json!({ "$binary": { "base64": base64, "subType": subtype } });
            } else if let (1, Some(Value::String(text))) = (map.len(), map.get("$date"))
                && let Some(millis) = legacy_date(text)
            {
                *value = json!({ "$date": { "$numberLong": millis.to_string() } });
            } else if legacy_regex {
                let pattern = map.get("$regex").cloned().unwrap_or(Value::Null);
                let options = map.get("$options").cloned().unwrap_or(Value::String(String::new()));
                *value = json!({ "$regularExpression": { "pattern": pattern, "options": options } });
            } else {
                map.values_mut().for_each(upgrade_legacy);
            }
        }
        _ => {}
    }
}

/// Milliseconds since 1970 of a `$date` text the extended JSON parser
/// refuses but old exports wrote: an ISO 8601 date and time whose offset is
/// `±hhmm` or `±hh`. `None` for every other text (left to the parser, so
/// that the forms it reads stay its own, and its error names the rest).
fn legacy_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let sign = text.rfind(['+', '-']).filter(|&i| i > 10)?;
    let offset = text.get(sign + 1..)?;
    if offset.contains(':') || !offset.bytes().all(|b| b.is_ascii_digit()) || bytes.get(10) != Some(&b'T') {
        return None;
    }
    let full = match offset.len() {
        4 => text.to_string(),
        2 => format!("{text}00"),
        _ => return None,
    };
    chrono::DateTime::parse_from_str(&full, "%Y-%m-%dT%H:%M:%S%.f%z").ok().map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_date_offsets_read_as_the_same_instant() {
        let at = |text: &str| -> Option<bson::DateTime> {
            let doc = parse(format!(r#"{{"d":{{"$date":"{text}"}}}}"#).as_bytes()).ok()?;
            doc.get_datetime("d").ok().copied()
        };
        let utc = at("2009-04-01T07:00:00.000Z").unwrap();
        for text in [
            "2009-04-01T00:00:00.000-0700",
            "2009-04-01T00:00:00.000-07:00",
            "2009-04-01T00:00:00-0700",
            "2009-04-01T00:00:00.000-07",
            "2009-04-01T12:30:00.000+0530",
        ] {
            let expected = if text.ends_with("+0530") { at("2009-04-01T07:00:00.000Z") } else { Some(utc) };
            assert_eq!(at(text), expected, "{text}");
        }
        // Not dates: left to the parser, which refuses them.
        for text in ["2009-04-01", "yesterday", "2009-04-01T00:00:00.000-07000"] {
            assert!(parse(format!(r#"{{"d":{{"$date":"{text}"}}}}"#).as_bytes()).is_err(), "{text}");
        }
    }

    fn items(text: &str, max: usize) -> Result<Vec<Item>, ScanError> {
        let mut s = Scanner::new(text.as_bytes(), max);
        let mut out = Vec::new();
        while let Some(i) = s.next_item()? {
            out.push(i);
        }
        Ok(out)
    }

    fn lines(items: &[Item]) -> Vec<u64> {
        items
            .iter()
            .map(|i| match i {
                Item::Doc { line, .. } | Item::TooLarge { line, .. } => *line,
            })
            .collect()
    }

    #[test]
    fn json_lines_and_arrays_give_the_same_documents() {
        let jsonl = "{\"a\":1}\n{\"a\":\"}{\\\"\"}\n\n{\"a\":[{\"b\":2}]}\n";
        let array = "\u{feff}[\n  {\"a\":1},\n  {\"a\":\"}{\\\"\"},\n  {\"a\":[{\"b\":2}]}\n]\n";
        let (a, b) = (items(jsonl, 1000).unwrap(), items(array, 1000).unwrap());
        assert_eq!(lines(&a), vec![1, 2, 4]);
        assert_eq!(lines(&b), vec![2, 3, 4]);
        let docs = |v: &[Item]| -> Vec<Document> {
            v.iter()
                .map(|i| match i {
                    Item::Doc { bytes, .. } => parse(bytes).unwrap(),
                    Item::TooLarge { .. } => panic!("too large"),
                })
                .collect()
        };
        assert_eq!(docs(&a), docs(&b));
        assert_eq!(docs(&a)[1].get_str("a").unwrap(), "}{\"");
        assert_eq!(items("[]", 10).unwrap(), vec![]);
        assert_eq!(items("  \n", 10).unwrap(), vec![]);
    }

    #[test]
    fn broken_files_name_the_line() {
        assert_eq!(items("{\"a\":1}\n{\"a\":", 100).unwrap_err().line, 2);
        assert!(items("[{\"a\":1}\n{\"b\":2}]", 100).unwrap_err().message.contains("`,` or `]`"));
        assert!(items("[{\"a\":1},", 100).unwrap_err().message.contains("not closed"));
        assert!(items("[{\"a\":1}] x", 100).unwrap_err().message.contains("after the array"));
        assert!(items("42", 100).unwrap_err().message.contains("expected a JSON document"));
        assert!(items("{\"a\":1}\nnull", 100).unwrap_err().message.contains("expected the next document"));
    }

    #[test]
    fn an_oversized_document_is_skipped_whole_and_counted() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(5000));
        let text = format!("{{\"a\":1}}\n{big}\n{{\"a\":2}}\n");
        let got = items(&text, 100).unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], Item::TooLarge { line: 2, size: big.len() as u64 });
        assert!(matches!(&got[2], Item::Doc { line: 3, .. }));
    }

    #[test]
    fn extended_json_in_every_form() {
        let canonical = r#"{"_id":{"$oid":"65a1b2c3d4e5f60718293a4b"},"n":{"$numberLong":"9007199254740993"},
            "d":{"$date":{"$numberLong":"-14182940000"}},"m":{"$numberDecimal":"19.99"},
            "u":{"$binary":{"base64":"AAECAwQFBgcICQoLDA0ODw==","subType":"04"}}}"#;
        let d = parse(canonical.as_bytes()).unwrap();
        assert_eq!(d.get_i64("n").unwrap(), 9_007_199_254_740_993);
        assert_eq!(d.get_datetime("d").unwrap().timestamp_millis(), -14_182_940_000);
        let relaxed = parse(br#"{"d":{"$date":"1969-07-20T22:17:40.000+02:00"},"i":5}"#).unwrap();
        assert_eq!(relaxed.get_datetime("d").unwrap().timestamp_millis(), -14_182_940_000);
        assert_eq!(relaxed.get_i32("i").unwrap(), 5);
        let legacy = parse(br#"{"d":{"$date":-14182940000},"b":{"$binary":"AP8=","$type":"00"}}"#).unwrap();
        assert_eq!(legacy.get_datetime("d").unwrap().timestamp_millis(), -14_182_940_000);
        assert_eq!(legacy.get_binary_generic("b").unwrap(), &vec![0u8, 255]);
        let re = parse(br#"{"r":{"$regex":"^a","$options":"i"},"deep":[{"b":{"$binary":"AA==","$type":"04"}}]}"#);
        assert!(matches!(re.unwrap().get("r"), Some(bson::Bson::RegularExpression(_))));
        assert!(parse(br#"{"_id":{"$oid":"nothex"}}"#).unwrap_err().contains("extended JSON"));
        assert!(parse(b"[1]").unwrap_err().contains("not a document"));
        assert!(parse(b"{\"a\":").unwrap_err().contains("not JSON"));
    }
}
