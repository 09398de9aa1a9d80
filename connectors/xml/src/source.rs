use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use migrate_engine::{Batch, MalformedRow, RejectReason, Source, SourceError, SourceInfo, SourceLocation};
use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use sha2::{Digest, Sha256};

use crate::config::XmlSourceConfig;
use crate::error::XmlError;
use crate::path::{FieldPath, Step, field_path, record_path};

/// The file as the parser reads it: raw bytes hashed, decoded to UTF-8,
/// newlines noted.
type Decoded = Counted<DecodeReaderBytes<Hashing<File>, Vec<u8>>>;

/// The raw file's checksum and size, shared with the source.
type SharedHash = Arc<Mutex<(Sha256, u64)>>;

/// Hashes every raw byte read through it.
struct Hashing<R> {
    inner: R,
    state: SharedHash,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut state) = self.state.lock() {
            state.0.update(buf.get(..n).unwrap_or_default());
            state.1 += n as u64;
        }
        Ok(n)
    }
}

/// Notes where the newlines of the decoded text are, so a record's byte
/// position becomes a line.
struct Counted<R> {
    inner: R,
    offset: u64,
    newlines: VecDeque<u64>,
    lines_behind: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, b) in buf.get(..n).unwrap_or_default().iter().enumerate() {
            if *b == b'\n' {
                self.newlines.push_back(self.offset + i as u64);
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// The encoding a document declares (`<?xml … encoding="ISO-8859-1"?>`);
/// a BOM is handled by the decoder.
fn declared_encoding(path: &Path) -> Option<&'static encoding_rs::Encoding> {
    let mut head = [0u8; 512];
    let n = File::open(path).ok()?.read(&mut head).ok()?;
    let text = std::str::from_utf8(head.get(..n)?).ok().or_else(|| {
        let end = head.get(..n)?.iter().position(|b| *b == b'>')?;
        std::str::from_utf8(head.get(..=end)?).ok()
    })?;
    let decl = text.strip_prefix("<?xml")?;
    let decl = decl.get(..decl.find("?>")?)?;
    let at = decl.find("encoding")?;
    let rest = decl.get(at + 8..)?.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    let value = rest.get(1..)?.split(quote).next()?;
    encoding_rs::Encoding::for_label(value.as_bytes())
}

impl<R> Counted<R> {
    fn line_at(&mut self, position: u64) -> u64 {
        while self.newlines.front().is_some_and(|n| *n < position) {
            self.newlines.pop_front();
            self.lines_behind += 1;
        }
        self.lines_behind + 1
    }
}

pub struct XmlSource {
    file: Arc<str>,
    reader: NsReader<BufReader<Decoded>>,
    hash: SharedHash,
    /// The file's size, for the progress bar.
    size: u64,
    record: Vec<Step>,
    columns: Vec<String>,
    fields: Vec<FieldPath>,
    max_depth: usize,
    max_field_bytes: usize,
    batch_size: usize,
    trim: bool,
    /// Open elements from the root: (namespace URI, local name).
    stack: Vec<(Option<String>, String)>,
    /// Attributes of the open elements, kept only when a field reads an
    /// ancestor's (`../@id`).
    ancestors: Vec<Vec<(Option<String>, String, String)>>,
    needs_ancestors: bool,
    rows: u64,
    done: Option<(u64, String)>,
}

/// The record being read.
struct Record {
    line: u64,
    /// Open elements below the record, with their text so far.
    open: Vec<((Option<String>, String), String)>,
    /// Text directly inside the record element (a field of `.`).
    own_text: String,
    /// Set when a field outgrew max_field_bytes: the record is rejected.
    too_large: Option<String>,
    values: Vec<Option<String>>,
    lists: Vec<Vec<String>>,
}

fn resolved_uri(r: &ResolveResult) -> Option<String> {
    match r {
        ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.as_ref().as_bytes()).into_owned()),
        _ => None,
    }
}

impl XmlSource {
    pub(crate) fn open(config: &XmlSourceConfig, path: &Path) -> Result<Self, XmlError> {
        let file = File::open(path).map_err(|source| XmlError::Open { path: path.to_path_buf(), source })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let hash: SharedHash = Arc::new(Mutex::new((Sha256::new(), 0)));
        // Everything becomes UTF-8 before the parser sees it; the declaration
        // then names an encoding the text is no longer in, which the parser
        // does not act on.
        let decoded = DecodeReaderBytesBuilder::new()
            .encoding(declared_encoding(path))
            .bom_sniffing(true)
            .strip_bom(true)
            .build(Hashing { inner: file, state: hash.clone() });
        let counted = Counted { inner: decoded, offset: 0, newlines: VecDeque::new(), lines_behind: 0 };
        let mut reader = NsReader::from_reader(BufReader::with_capacity(1 << 16, counted));
        reader.config_mut().expand_empty_elements = false;
        let record = record_path(&config.record, &config.namespaces)?;
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        for (name, p) in &config.fields {
            columns.push(name.clone());
            fields.push(field_path(p, &config.namespaces)?);
        }
        let needs_ancestors = fields.iter().any(|f| f.up > 0);
        Ok(Self {
            needs_ancestors,
            file: path.display().to_string().into(),
            reader,
            hash,
            size,
            record,
            columns,
            fields,
            max_depth: config.max_depth,
            max_field_bytes: config.max_field_bytes,
            batch_size: config.batch_size,
            trim: config.trim,
            stack: Vec::new(),
            ancestors: Vec::new(),
            rows: 0,
            done: None,
        })
    }

    fn error(&mut self, message: impl Into<String>) -> XmlError {
        let position = self.reader.buffer_position();
        let line = self.reader.get_mut().get_mut().line_at(position);
        XmlError::Read { file: self.file.to_string(), line, message: message.into() }
    }

    fn at_record(&self) -> bool {
        self.stack.len() == self.record.len()
            && self.stack.iter().zip(&self.record).all(|((uri, local), step)| step.matches(uri.as_deref(), local))
    }

    /// Sets the attribute fields of the element just opened at `rel`.
    fn take_attributes(&mut self, e: &BytesStart, record: &mut Record) -> Result<(), XmlError> {
        let rel: Vec<(Option<String>, String)> = record.open.iter().map(|(el, _)| el.clone()).collect();
        for (i, field) in self.fields.iter().enumerate() {
            let Some(attr_step) = &field.attribute else { continue };
            if field.up > 0 || !steps_match(&field.steps, &rel) {
                continue;
            }
            for attr in e.attributes() {
                let attr = attr.map_err(|err| XmlError::Read {
                    file: self.file.to_string(),
                    line: record.line,
                    message: err.to_string(),
                })?;
                let (ns, local) = self.reader.resolver().resolve_attribute(attr.key);
                let local = local.as_ref().to_string();
                if attr_step.matches(resolved_uri(&ns).as_deref(), &local) {
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|err| XmlError::Read {
                            file: self.file.to_string(),
                            line: record.line,
                            message: err.to_string(),
                        })?
                        .into_owned();
                    set(record, i, field.list, value);
                }
            }
        }
        Ok(())
    }

    /// Every attribute of an element: (namespace URI, local name, value).
    fn attributes_of(&self, e: &BytesStart) -> Result<Vec<(Option<String>, String, String)>, XmlError> {
        let mut out = Vec::new();
        for attr in e.attributes() {
            let attr =
                attr.map_err(|err| XmlError::Read { file: self.file.to_string(), line: 0, message: err.to_string() })?;
            let (ns, local) = self.reader.resolver().resolve_attribute(attr.key);
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| XmlError::Read {
                file: self.file.to_string(),
                line: 0,
                message: err.to_string(),
            })?;
            out.push((resolved_uri(&ns), local.as_ref().to_string(), value.into_owned()));
        }
        Ok(out)
    }

    /// Fields that read an ancestor's attribute (`../@id`), set when the
    /// record opens.
    fn take_ancestor_attributes(&self, record: &mut Record) {
        for (i, field) in self.fields.iter().enumerate() {
            let (Some(step), true) = (&field.attribute, field.up > 0) else { continue };
            let Some(attrs) = self.ancestors.len().checked_sub(1 + field.up).and_then(|a| self.ancestors.get(a)) else {
                continue;
            };
            if let Some((_, _, value)) = attrs.iter().find(|(uri, local, _)| step.matches(uri.as_deref(), local)) {
                set(record, i, field.list, value.clone());
            }
        }
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, XmlError> {
        if self.done.is_some() {
            return Ok(None);
        }
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut locations = Vec::new();
        let mut malformed = Vec::new();
        let mut buf = Vec::new();
        let mut current: Option<Record> = None;
        // Text in the batch's rows, counted as rows are added.
        let (mut bytes, mut counted) = (0usize, 0usize);
        while rows.len() < self.batch_size && bytes < migrate_engine::MAX_BATCH_BYTES {
            for row in rows.get(counted..).unwrap_or_default() {
                bytes += row.iter().flatten().map(String::len).sum::<usize>();
            }
            counted = rows.len();
            buf.clear();
            let read = self.reader.read_resolved_event_into(&mut buf);
            let (ns, event) = match read {
                Ok(v) => v,
                Err(e) => return Err(self.error(e.to_string())),
            };
            let uri = resolved_uri(&ns);
            let empty = matches!(event, Event::Empty(_));
            match event {
                Event::Start(e) | Event::Empty(e) => {
                    let local = e.local_name().as_ref().to_string();
                    self.stack.push((uri.clone(), local.clone()));
                    if self.stack.len() > self.max_depth {
                        return Err(self.error(format!("elements nest deeper than max_depth = {}", self.max_depth)));
                    }
                    let e = e.into_owned();
                    if self.needs_ancestors {
                        let attrs = self.attributes_of(&e)?;
                        self.ancestors.push(attrs);
                    }
                    if let Some(mut record) = current.take() {
                        record.open.push(((uri, local), String::new()));
                        self.take_attributes(&e, &mut record)?;
                        current = Some(record);
                    } else if self.at_record() {
                        let position = self.reader.buffer_position();
                        let line = self.reader.get_mut().get_mut().line_at(position);
                        let mut record = Record {
                            line,
                            open: Vec::new(),
                            own_text: String::new(),
                            too_large: None,
                            values: vec![None; self.fields.len()],
                            lists: vec![Vec::new(); self.fields.len()],
                        };
                        self.take_attributes(&e, &mut record)?;
                        self.take_ancestor_attributes(&mut record);
                        current = Some(record);
                    }
                    if empty {
                        self.close(&mut current, &mut rows, &mut locations, &mut malformed);
                    }
                }
                Event::Text(t) => {
                    if let Some(record) = current.as_mut() {
                        record.append(&t.xml10_content(), self.max_field_bytes);
                    }
                }
                Event::CData(t) => {
                    if let Some(record) = current.as_mut() {
                        record.append(&t.xml10_content(), self.max_field_bytes);
                    }
                }
                Event::GeneralRef(r) => {
                    let name: String = r.xml10_content().into_owned();
                    let ch = match name.as_str() {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => r.resolve_char_ref().ok().flatten(),
                    };
                    let Some(ch) = ch else {
                        return Err(
                            self.error(format!("entity &{name}; is not defined here: DTD entities are never expanded"))
                        );
                    };
                    if let Some(record) = current.as_mut() {
                        record.append(ch.encode_utf8(&mut [0u8; 4]), self.max_field_bytes);
                    }
                }
                Event::End(_) => self.close(&mut current, &mut rows, &mut locations, &mut malformed),
                Event::Eof => {
                    if let Ok(state) = self.hash.lock() {
                        self.done = Some((state.1, hex::encode(state.0.clone().finalize())));
                    }
                    break;
                }
                _ => {}
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        self.rows += rows.len() as u64;
        let mut batch = Batch::from_rows(&self.columns, rows, locations).map_err(|e| XmlError::Read {
            file: self.file.to_string(),
            line: 0,
            message: e.to_string(),
        })?;
        batch.malformed = malformed;
        Ok(Some(batch))
    }

    /// An element ends: a field's text is taken, or the record is complete.
    fn close(
        &mut self,
        current: &mut Option<Record>,
        rows: &mut Vec<Vec<Option<String>>>,
        locations: &mut Vec<SourceLocation>,
        malformed: &mut Vec<MalformedRow>,
    ) {
        self.stack.pop();
        if self.needs_ancestors {
            self.ancestors.pop();
        }
        let Some(record) = current.as_mut() else { return };
        if record.open.is_empty() {
            // The record element itself.
            if let Some(done) = current.take() {
                let mut row = done.values;
                for (i, field) in self.fields.iter().enumerate() {
                    if field.up == 0
                        && field.steps.is_empty()
                        && field.attribute.is_none()
                        && let Some(slot) = row.get_mut(i)
                    {
                        let text = if self.trim { done.own_text.trim() } else { done.own_text.as_str() };
                        *slot = Some(text.to_string()).filter(|t| !t.is_empty());
                    }
                }
                for (i, field) in self.fields.iter().enumerate() {
                    if field.list
                        && let Some(list) = done.lists.get(i)
                    {
                        row[i] = (!list.is_empty()).then(|| serde_json::Value::from(list.clone()).to_string());
                    }
                }
                if let Some(message) = done.too_large {
                    malformed.push(MalformedRow { row: rows.len(), reason: RejectReason::FieldTooLarge, message });
                }
                rows.push(row);
                locations.push(SourceLocation::Line { file: self.file.clone(), line: done.line });
            }
            return;
        }
        let rel: Vec<(Option<String>, String)> = record.open.iter().map(|(el, _)| el.clone()).collect();
        let text = record.open.pop().map(|(_, t)| t).unwrap_or_default();
        for (i, field) in self.fields.iter().enumerate() {
            if field.attribute.is_none() && steps_match(&field.steps, &rel) {
                let text = if self.trim { text.trim() } else { text.as_str() };
                set(record, i, field.list, text.to_string());
            }
        }
    }
}

impl Record {
    /// Adds text to the innermost open element (or the record's own text);
    /// past `max` bytes the text is dropped and the record marked.
    fn append(&mut self, more: &str, max: usize) {
        let text = match self.open.last_mut() {
            Some((_, text)) => text,
            None => &mut self.own_text,
        };
        if text.len() + more.len() > max {
            let name = self.open.last().map_or_else(|| "the record".to_string(), |((_, local), _)| local.clone());
            self.too_large.get_or_insert(format!("the text of {name} is more than max_field_bytes = {max}"));
            return;
        }
        text.push_str(more);
    }
}

fn steps_match(steps: &[Step], rel: &[(Option<String>, String)]) -> bool {
    steps.len() == rel.len() && steps.iter().zip(rel).all(|(s, (uri, local))| s.matches(uri.as_deref(), local))
}

fn set(record: &mut Record, field: usize, list: bool, value: String) {
    if list {
        if let Some(l) = record.lists.get_mut(field) {
            l.push(value);
        }
    } else if let Some(slot) = record.values.get_mut(field)
        && slot.is_none()
    {
        *slot = Some(value);
    }
}

#[async_trait]
impl Source for XmlSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        self.read_batch().map_err(SourceError::wrap)
    }

    /// Bytes of the file read so far (a buffer ahead of the parser), of
    /// its size.
    fn position(&self) -> Option<(u64, u64)> {
        if self.size == 0 {
            return None;
        }
        let read = self.hash.lock().map(|s| s.1).unwrap_or(0);
        Some((read.min(self.size), self.size))
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "xml".into(),
            location: self.file.to_string(),
            size: self.done.as_ref().map(|d| d.0),
            sha256: self.done.as_ref().map(|d| d.1.clone()),
            row_count: Some(self.rows),
            ..SourceInfo::default()
        }
    }
}

/// What a document's element paths hold, for `inspect`: every path with
/// how often it occurs, its attributes (`PATH/@name`) likewise, and the
/// first non-empty text or value seen at each.
#[derive(Debug, Default)]
pub struct ElementPaths {
    /// Path (`/Export/Customer`, `/Export/Customer/@id`) → (count, example).
    pub seen: std::collections::BTreeMap<String, (u64, Option<String>)>,
}

impl ElementPaths {
    /// The paths that repeat (candidate record paths), most frequent first.
    pub fn repeated(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self
            .seen
            .iter()
            .filter(|(p, (n, _))| *n > 1 && !p.contains("/@"))
            .map(|(p, (n, _))| (p.clone(), *n))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// A record path's fields as a mapping names them (`Name`, `@id`): its
    /// attributes and child elements, with how often each occurs and an
    /// example.
    pub fn fields_of(&self, record: &str) -> Vec<(String, u64, Option<String>)> {
        let prefix = format!("{record}/");
        self.seen
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, (n, example))| {
                let rest = p.get(prefix.len()..)?;
                (!rest.contains('/')).then(|| (rest.to_string(), *n, example.clone()))
            })
            .collect()
    }
}

/// Scans the first `max_elements` elements of a document (`inspect`).
pub fn element_paths(path: &Path, max_elements: u64) -> Result<ElementPaths, XmlError> {
    let file = File::open(path).map_err(|source| XmlError::Open { path: path.to_path_buf(), source })?;
    let decoded = DecodeReaderBytesBuilder::new()
        .encoding(declared_encoding(path))
        .bom_sniffing(true)
        .strip_bom(true)
        .build(file);
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(decoded));
    let mut stack: Vec<String> = Vec::new();
    let mut found = ElementPaths::default();
    let example = |v: &str| -> Option<String> {
        let v = v.trim();
        (!v.is_empty()).then(|| v.chars().take(40).collect())
    };
    let mut seen = 0u64;
    let mut buf = Vec::new();
    while seen < max_elements {
        buf.clear();
        let event = reader.read_event_into(&mut buf).map_err(|e| XmlError::Read {
            file: path.display().to_string(),
            line: 0,
            message: e.to_string(),
        })?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) | Event::Empty(e) => {
                stack.push(e.name().as_ref().to_string());
                let here = format!("/{}", stack.join("/"));
                for attr in e.attributes().flatten() {
                    let name = attr.key.as_ref().to_string();
                    if name == "xmlns" || name.starts_with("xmlns:") {
                        continue;
                    }
                    let value = attr
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_or_else(|_| attr.value.to_string(), |v| v.into_owned());
                    let entry = found.seen.entry(format!("{here}/@{name}")).or_default();
                    entry.0 += 1;
                    if entry.1.is_none() {
                        entry.1 = example(&value);
                    }
                }
                found.seen.entry(here).or_default().0 += 1;
                seen += 1;
                if empty {
                    stack.pop();
                }
            }
            Event::Text(t) if !stack.is_empty() => {
                let entry = found.seen.entry(format!("/{}", stack.join("/"))).or_default();
                if entry.1.is_none() {
                    entry.1 = example(&t.xml10_content());
                }
            }
            Event::CData(t) if !stack.is_empty() => {
                let entry = found.seen.entry(format!("/{}", stack.join("/"))).or_default();
                if entry.1.is_none() {
                    entry.1 = example(&t.xml10_content());
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(found)
}
