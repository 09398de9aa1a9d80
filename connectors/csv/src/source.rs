use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use migrate_engine::{Batch, MalformedRow, RejectReason, Source, SourceError, SourceInfo, SourceLocation, SourceNote};
use sha2::Digest;

use crate::config::{CsvSourceConfig, InvalidBytes, Quoting, Ragged, SkipRows, Terminators};
use crate::dialect::{header_and_rows, sniff_delimiter, sniff_header_row, sniff_quoting};
use crate::encoding::{Detected, detect, detect_file};
use crate::error::CsvError;
use crate::lines::{HashState, Hashing, SharedHash};
use crate::records::{Record, Records};

/// How much of the file encoding and dialect detection look at.
const SAMPLE_BYTES: usize = 64 * 1024;

type Decoded = DecodeReaderBytes<Hashing<BufReader<File>>, Vec<u8>>;

pub struct CsvSource {
    file: Arc<str>,
    reader: Records<Decoded>,
    header: Vec<String>,
    /// Indices of header columns kept (skip_columns removes some).
    kept: Vec<usize>,
    /// Fields in the file's header, skipped ones included.
    header_width: usize,
    /// The header's width without its trailing empty fields: a row may
    /// stop there.
    core_width: usize,
    options: CsvSourceConfig,
    detected: Detected,
    delimiter: u8,
    quoting: Quoting,
    terminators: Option<Terminators>,
    hash: SharedHash,
    rows: u64,
    /// Size and checksum, once read to the end.
    done: Option<(u64, String)>,
    /// Header names made unique, reported with the first batch.
    header_notes: Vec<SourceNote>,
    /// The file's size, for progress.
    total_bytes: u64,
    /// The header as read (what the report shows of it).
    header_info: migrate_engine::HeaderInfo,
    /// With `header = false`: the first record, read to learn the width and
    /// delivered as the first row.
    pending: Option<Record>,
    /// The encoding the whole file reads as, when it is not the one
    /// declared: found once, at the first row whose bytes do not decode.
    likely_encoding: Option<Option<String>>,
    /// A rejects file of an earlier run fed back: its cells carry the
    /// formula escape, undone as they are read.
    rejects_file: bool,
}

fn read_sample(path: &Path) -> Result<Vec<u8>, CsvError> {
    let file = File::open(path).map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    file.take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
    Ok(sample)
}

/// A file's encoding and dialect, as declared or sniffed from its start.
struct Settled {
    detected: Detected,
    delimiter: u8,
    quoting: Quoting,
    /// A terminator-delimited file's terminators (delimiter and quoting
    /// then unused).
    terminators: Option<Terminators>,
    /// Records before the header.
    skip: usize,
    /// Why the header looks like a data record, judged on the sample.
    header_looks_like_data: Option<String>,
}

fn settle(config: &CsvSourceConfig, path: &Path) -> Result<Settled, CsvError> {
    let sample = read_sample(path)?;
    let detected = detect_file(path, &sample, config.encoding.as_deref())?;
    settle_sample(config, &sample, detected)
}

/// What the sniffers make of the start of a file (the first 64 KiB are
/// what a source looks at): its encoding, delimiter, quoting and the records
/// before its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub encoding: Detected,
    pub delimiter: u8,
    pub quoting: Quoting,
    pub skip_rows: usize,
}

/// Sniffs everything `config` leaves to detection from `sample`.
pub fn sniff(config: &CsvSourceConfig, sample: &[u8]) -> Result<Sniffed, CsvError> {
    let detected = detect(sample, config.encoding.as_deref())?;
    let Settled { detected, delimiter, quoting, skip, .. } = settle_sample(config, sample, detected)?;
    Ok(Sniffed { encoding: detected, delimiter, quoting, skip_rows: skip })
}

/// The first records of a sample of a terminator-delimited file (a last
/// one cut by the sample's end left out).
fn terminated_sample(text: &str, terminators: &Terminators, rows: usize) -> Vec<Vec<String>> {
    let mut reader = Records::terminated(text.as_bytes(), terminators, 1 << 20);
    let mut record = Record::default();
    let mut out = Vec::new();
    while out.len() < rows && reader.read(&mut record).unwrap_or(false) {
        out.push(record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect());
    }
    if out.len() > 1 && !terminators.records.iter().any(|r| text.as_bytes().ends_with(r)) {
        out.pop();
    }
    out
}

fn settle_terminated(config: &CsvSourceConfig, text: &str, detected: Detected, terminators: Terminators) -> Settled {
    let rows = terminated_sample(text, &terminators, 500);
    let skip = match config.skip_rows {
        None => 0,
        Some(SkipRows::Count(n)) => n,
        Some(SkipRows::Auto(_)) => crate::dialect::header_row(&rows),
    };
    let header_looks_like_data = if config.header {
        rows.get(skip).and_then(|header| {
            let header: Vec<String> = header.iter().map(|f| f.trim().to_string()).collect();
            let below: Vec<Vec<Option<String>>> = rows
                .iter()
                .skip(skip + 1)
                .take(migrate_engine::header::HEADER_SAMPLE_ROWS)
                .map(|r| r.iter().map(|f| Some(f.clone())).collect())
                .collect();
            migrate_engine::header::header_looks_like_data(&header, &below)
        })
    } else {
        None
    };
    let delimiter = terminators.field.first().copied().unwrap_or(b',');
    Settled {
        detected,
        delimiter,
        quoting: Quoting::None,
        terminators: Some(terminators),
        skip,
        header_looks_like_data,
    }
}

fn settle_sample(config: &CsvSourceConfig, sample: &[u8], detected: Detected) -> Result<Settled, CsvError> {
    let (text, _, _) = detected.encoding.decode(sample);
    if let Some(terminators) = config.terminators()? {
        return Ok(settle_terminated(config, &text, detected, terminators));
    }
    let delimiter = match config.delimiter_byte()? {
        Some(d) => d,
        None => sniff_delimiter(&text),
    };
    let skip = match config.skip_rows {
        None => 0,
        Some(SkipRows::Count(n)) => n,
        Some(SkipRows::Auto(_)) => sniff_header_row(&text, delimiter),
    };
    let quoting = match config.quoting {
        Quoting::Auto => sniff_quoting(&text, delimiter, skip),
        declared => declared,
    };
    let header_looks_like_data = if config.header {
        header_and_rows(&text, delimiter, quoting, skip, migrate_engine::header::HEADER_SAMPLE_ROWS)
            .and_then(|(header, rows)| migrate_engine::header::header_looks_like_data(&header, &rows))
    } else {
        None
    };
    Ok(Settled { detected, delimiter, quoting, terminators: None, skip, header_looks_like_data })
}

/// A record reader for a settled file: by terminators or by delimiter.
fn records<R: Read>(
    inner: R,
    delimiter: u8,
    quoting: Quoting,
    terminators: Option<&Terminators>,
    keep: usize,
) -> Records<R> {
    match terminators {
        Some(t) => Records::terminated(inner, t, keep),
        None => Records::new(inner, delimiter, quoting, keep),
    }
}

/// A file's encoding and dialect written out, so that every part of a
/// partitioned file is read alike whatever its own first bytes look like.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pinned {
    pub encoding: String,
    pub delimiter: String,
    pub quoting: Quoting,
    pub skip_rows: usize,
}

impl Pinned {
    /// `config` with this encoding and dialect declared.
    pub fn apply(&self, config: &CsvSourceConfig) -> CsvSourceConfig {
        // A terminator-delimited file keeps its terminators (the config's).
        let delimiter =
            if config.field_terminator.is_some() { config.delimiter.clone() } else { Some(self.delimiter.clone()) };
        CsvSourceConfig {
            encoding: Some(self.encoding.clone()),
            delimiter,
            quoting: self.quoting,
            skip_rows: Some(SkipRows::Count(self.skip_rows)),
            ..config.clone()
        }
    }
}

/// Whole records of a file, about `part_bytes` each: `[start, end)` in
/// bytes, and the line the range starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    pub start: u64,
    pub end: u64,
    pub first_line: u64,
    pub records: u64,
    /// Line breaks in the file before `start`.
    pub breaks_before: u64,
}

/// One pass over a file that finds where its records start, so that it
/// can be cut into parts (quoted newlines hide those from a blind seek).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileIndex {
    pub size: u64,
    pub sha256: String,
    /// Where the header (and any preamble) ends: every part is read after
    /// bytes `[0, data_start)`.
    pub data_start: u64,
    /// Line breaks in `[0, data_start)`.
    pub header_breaks: u64,
    pub pinned: Pinned,
    pub parts: Vec<Part>,
    /// The header as read from the whole file (each part reads it again).
    #[serde(default)]
    pub header: migrate_engine::HeaderInfo,
}

impl FileIndex {
    /// The line offset of a part read after the header bytes.
    pub fn line_offset(&self, part: &Part) -> i64 {
        part.breaks_before as i64 - self.header_breaks as i64
    }
}

impl CsvSource {
    /// Indexes the file of `config` into parts of about `part_bytes`.
    /// `None` when it cannot be cut by bytes: encodings other than UTF-8
    /// and single-byte ones (a delimiter byte may sit inside a character).
    pub fn index(config: &CsvSourceConfig, path: &Path, part_bytes: u64) -> Result<Option<FileIndex>, CsvError> {
        let file_name = path.display().to_string();
        let settled = settle(config, path)?;
        let encoding = settled.detected.encoding;
        if encoding != encoding_rs::UTF_8 && !encoding.is_single_byte() {
            return Ok(None);
        }
        let file = File::open(path).map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
        let hash: SharedHash = Arc::new(Mutex::new(HashState::default()));
        let raw = Hashing { inner: BufReader::with_capacity(1 << 16, file), state: hash.clone() };
        // Only where records start matters here: fields are kept a byte long.
        let mut reader = records(raw, settled.delimiter, settled.quoting, settled.terminators.as_ref(), 1);
        let mut record = Record::default();
        for _ in 0..settled.skip + usize::from(config.header) {
            if !reader.read(&mut record).map_err(|e| read_error(&file_name, &e))? {
                return Err(CsvError::NoHeader { file: file_name });
            }
        }
        let header = migrate_engine::HeaderInfo {
            consumed: config.header,
            line: config.header.then(|| record.line()),
            skipped_above: settled.skip as u64,
            fields: Vec::new(),
            looks_like_data: settled.header_looks_like_data.clone(),
        };
        let mut parts: Vec<Part> = Vec::new();
        let mut current: Option<Part> = None;
        let (mut data_start, mut header_breaks) = (None, 0);
        while reader.read(&mut record).map_err(|e| read_error(&file_name, &e))? {
            let byte = record.position();
            let (breaks, line) = (record.breaks_before(), record.line());
            if data_start.is_none() {
                data_start = Some(byte);
                header_breaks = breaks;
            }
            match &mut current {
                Some(part) if byte - part.start < part_bytes => part.records += 1,
                _ => {
                    if let Some(mut done) = current.take() {
                        done.end = byte;
                        parts.push(done);
                    }
                    current = Some(Part { start: byte, end: 0, first_line: line, records: 1, breaks_before: breaks });
                }
            }
        }
        let state = hash.lock().map_err(|_| CsvError::Read {
            file: file_name.clone(),
            line: 0,
            message: "hash state poisoned".into(),
        })?;
        let size = state.bytes;
        if let Some(mut last) = current.take() {
            last.end = size;
            parts.push(last);
        }
        let delimiter = match &settled.terminators {
            Some(t) => t.shown(),
            None if settled.delimiter == b'\t' => "tab".to_string(),
            None => (settled.delimiter as char).to_string(),
        };
        Ok(Some(FileIndex {
            size,
            sha256: hex::encode(state.hasher.clone().finalize()),
            data_start: data_start.unwrap_or(size),
            header_breaks,
            pinned: Pinned {
                encoding: encoding.name().to_lowercase(),
                delimiter,
                quoting: settled.quoting,
                skip_rows: settled.skip,
            },
            parts,
            header,
        }))
    }

    pub(crate) fn open(config: &CsvSourceConfig, path: &Path) -> Result<Self, CsvError> {
        let file_name: Arc<str> = path.display().to_string().into();
        let Settled { detected, delimiter, quoting, terminators, skip, header_looks_like_data } = settle(config, path)?;

        let file = File::open(path).map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
        let hash: SharedHash = Arc::new(Mutex::new(HashState::default()));
        let raw = Hashing { inner: BufReader::with_capacity(1 << 16, file), state: hash.clone() };
        let decoded = DecodeReaderBytesBuilder::new()
            .encoding(Some(detected.encoding))
            .bom_sniffing(true)
            .strip_bom(true)
            .build(raw);
        let mut reader = records(decoded, delimiter, quoting, terminators.as_ref(), config.max_field_bytes);

        let mut record = Record::default();
        for _ in 0..skip {
            if !reader.read(&mut record).map_err(|e| read_error(&file_name, &e))? {
                break;
            }
        }
        if !reader.read(&mut record).map_err(|e| read_error(&file_name, &e))? {
            return Err(CsvError::NoHeader { file: file_name.to_string() });
        }
        let fields: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        let header_info = migrate_engine::HeaderInfo {
            consumed: config.header,
            line: config.header.then(|| record.line().saturating_add_signed(config.line_offset)),
            skipped_above: skip as u64,
            fields: if config.header { fields.clone() } else { Vec::new() },
            looks_like_data: header_looks_like_data.clone(),
        };
        let (raw_names, pending) = if config.header {
            (fields, None)
        } else {
            (migrate_engine::header::positional_names(record.len()), Some(record.clone()))
        };
        if raw_names.iter().all(String::is_empty) {
            return Err(CsvError::NoHeader { file: file_name.to_string() });
        }
        // A header ending in delimiters: the columns there keep generated
        // names (`column_4`), empty unless a row fills them, and a row may
        // leave them out (rows that end before the trailing delimiter).
        let trailing = raw_names.iter().rev().take_while(|n| n.is_empty()).count();
        let core_width = raw_names.len() - trailing;
        let (names, changes) = migrate_engine::unique_header_names(raw_names);
        let generated: Vec<String> = names.iter().skip(core_width).cloned().collect();
        let mut header_notes: Vec<SourceNote> = changes
            .into_iter()
            .filter(|(column, _)| !generated.contains(column))
            .map(|(column, why)| SourceNote { row: 0, column, code: "header_renamed", example: why })
            .collect();
        if let Some(why) = header_looks_like_data {
            header_notes.push(SourceNote {
                row: 0,
                column: String::new(),
                code: migrate_engine::header::HEADER_LOOKS_LIKE_DATA,
                example: why,
            });
        }
        if trailing > 0 {
            header_notes.push(SourceNote {
                row: 0,
                column: generated.join(", "),
                code: "trailing_delimiter",
                example: format!(
                    "the header ends with {trailing} empty field(s), kept as {} (empty unless a row fills it)",
                    generated.join(", ")
                ),
            });
        }
        let rejects_file = names.len() >= crate::formula::REJECTS_COLUMNS.len()
            && names.iter().zip(crate::formula::REJECTS_COLUMNS).all(|(n, r)| n == r);
        let prefix = config.skip_columns.as_deref().map(|p| p.trim_end_matches('*'));
        let kept: Vec<usize> = (0..names.len())
            .filter(|&i| prefix.is_none_or(|p| !names.get(i).is_some_and(|n| n.starts_with(p))))
            .collect();
        let header = kept.iter().filter_map(|&i| names.get(i).cloned()).collect();
        Ok(Self {
            file: file_name,
            reader,
            header,
            kept,
            header_width: names.len(),
            core_width,
            options: config.clone(),
            detected,
            delimiter,
            quoting,
            terminators,
            hash,
            rows: 0,
            done: None,
            header_notes,
            total_bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            header_info,
            pending,
            likely_encoding: None,
            rejects_file,
        })
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, CsvError> {
        if self.done.is_some() {
            return Ok(None);
        }
        let batch_size = self.options.batch_size;
        let mut rows = Vec::with_capacity(batch_size);
        let mut locations = Vec::with_capacity(batch_size);
        let mut malformed = Vec::new();
        let mut notes = std::mem::take(&mut self.header_notes);
        let mut record = Record::default();
        let mut bytes = 0usize;
        while rows.len() < batch_size && bytes < migrate_engine::MAX_BATCH_BYTES {
            let more = match self.pending.take() {
                Some(first) => {
                    record = first;
                    true
                }
                None => self.reader.read(&mut record).map_err(|e| read_error(&self.file, &e))?,
            };
            if !more {
                if let Ok(state) = self.hash.lock() {
                    self.done = Some((state.bytes, hex::encode(state.hasher.clone().finalize())));
                }
                break;
            }
            let row_index = rows.len();
            let line = record.line().saturating_add_signed(self.options.line_offset);
            let problem = self.check_record(&record);
            let mut row = Vec::with_capacity(self.kept.len());
            let mut bad_bytes: Option<usize> = None;
            for &i in &self.kept {
                let mut value = record.get(i).map(|raw| String::from_utf8_lossy(raw).into_owned());
                if self.rejects_file
                    && let Some(v) = value.as_mut()
                {
                    let plain = crate::formula::unescape_formula(v);
                    if plain.len() != v.len() {
                        *v = plain.to_string();
                    }
                }
                bytes += value.as_ref().map_or(0, String::len);
                if let Some(v) = &value {
                    let column = self.header_name(i);
                    if v.contains('\u{fffd}') {
                        bad_bytes.get_or_insert(i);
                        if self.options.invalid_bytes == InvalidBytes::Replace {
                            notes.push(SourceNote {
                                row: row_index,
                                column: column.clone(),
                                code: "invalid_bytes_replaced",
                                example: v.clone(),
                            });
                        }
                    }
                }
                row.push(value);
            }
            let problem = problem.or_else(|| match (bad_bytes, self.options.invalid_bytes) {
                (Some(i), InvalidBytes::Reject) => {
                    let hint = match self.likely_encoding() {
                        Some(name) => format!(
                            "the whole file reads as {name}: set encoding = \"{name}\", or set invalid_bytes = \"replace\" to keep the row"
                        ),
                        None => "set invalid_bytes = \"replace\" to keep the row".to_string(),
                    };
                    Some((
                        RejectReason::InvalidEncoding,
                        format!(
                            "field {} ({}) has bytes that are not valid {} ({hint})",
                            i + 1,
                            self.header_name(i),
                            self.detected.encoding.name()
                        ),
                    ))
                }
                _ => None,
            });
            if let Some((reason, message)) = problem {
                malformed.push(MalformedRow { row: row_index, reason, message });
            }
            rows.push(row);
            locations.push(SourceLocation::Line { file: self.file.clone(), line });
        }
        if rows.is_empty() {
            return Ok(None);
        }
        self.rows += rows.len() as u64;
        let mut batch = Batch::from_rows(&self.header, rows, locations).map_err(|e| CsvError::Read {
            file: self.file.to_string(),
            line: 0,
            message: e.to_string(),
        })?;
        batch.malformed = malformed;
        batch.notes = notes;
        Ok(Some(batch))
    }

    /// The encoding the whole file reads as, if it is not the one this
    /// source decodes with (a declared `utf-8` that is not).
    fn likely_encoding(&mut self) -> Option<String> {
        if self.likely_encoding.is_none() {
            let path = Path::new(self.file.as_ref());
            let found = read_sample(path).ok().and_then(|sample| detect_file(path, &sample, None).ok());
            self.likely_encoding =
                Some(found.filter(|d| d.encoding != self.detected.encoding).map(|d| d.encoding.name().to_lowercase()));
        }
        self.likely_encoding.clone().flatten()
    }

    fn header_name(&self, index: usize) -> String {
        self.kept
            .iter()
            .position(|k| *k == index)
            .and_then(|p| self.header.get(p))
            .cloned()
            .unwrap_or_else(|| format!("column_{}", index + 1))
    }

    /// Why a record cannot be a row, if it cannot.
    fn check_record(&self, record: &Record) -> Option<(RejectReason, String)> {
        let width = self.header_width;
        // Empty fields past the header's end are trailing delimiters.
        let mut fields = record.len();
        while fields > width && record.get(fields - 1).is_some_and(<[u8]>::is_empty) {
            fields -= 1;
        }
        let ragged = match self.options.ragged {
            Ragged::Pad => fields > width,
            Ragged::Reject => fields > width || fields < self.core_width,
        };
        if ragged {
            let has = if fields < self.core_width { self.core_width } else { width };
            return Some((RejectReason::MalformedRow, format!("record has {fields} fields, the header has {has}")));
        }
        let max = self.options.max_field_bytes;
        if let Some(i) = (0..record.len()).find(|&i| record.size(i) > max) {
            let len = record.size(i);
            return Some((
                RejectReason::FieldTooLarge,
                format!("field {} is {len} bytes, more than max_field_bytes = {max}", i + 1),
            ));
        }
        (!record.is_whole()).then(|| {
            let len: usize = (0..record.len()).map(|i| record.size(i)).sum();
            (
                RejectReason::FieldTooLarge,
                format!("the record's {fields} fields hold {len} bytes, more than it can hold"),
            )
        })
    }
}

/// Records before the header of an opened source's file (title lines, export
/// notes), sniffed from its first 64 KiB with the source's encoding and
/// delimiter.
pub fn sniff_preamble(source: &CsvSource) -> usize {
    let Ok(sample) = read_sample(Path::new(source.file.as_ref())) else { return 0 };
    let (text, _, _) = source.detected.encoding.decode(&sample);
    sniff_header_row(&text, source.delimiter)
}

/// How each candidate delimiter would read an opened source's file (its
/// first 64 KiB, in the source's encoding): the header each would take.
pub fn dialect_candidates(source: &CsvSource) -> Vec<crate::dialect::Candidate> {
    if source.terminators.is_some() {
        return Vec::new();
    }
    let Ok(sample) = read_sample(Path::new(source.file.as_ref())) else { return Vec::new() };
    let (text, _, _) = source.detected.encoding.decode(&sample);
    crate::dialect::candidates(&text)
}

fn read_error(file: &str, e: &std::io::Error) -> CsvError {
    CsvError::Read { file: file.to_string(), line: 0, message: e.to_string() }
}

#[async_trait]
impl Source for CsvSource {
    fn columns(&self) -> &[String] {
        &self.header
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        self.read_batch().map_err(SourceError::wrap)
    }

    fn position(&self) -> Option<(u64, u64)> {
        let read = self.hash.lock().map(|s| s.bytes).ok()?;
        (self.total_bytes > 0).then_some((read.min(self.total_bytes), self.total_bytes))
    }

    /// What `auto` settled, with the evidence: the encoding, the
    /// delimiter, the quoting and the records above the header.
    fn decisions(&self) -> Vec<(String, String, String)> {
        let auto = |v: &Option<String>| v.as_deref().is_none_or(|v| v.eq_ignore_ascii_case("auto"));
        let mut out = Vec::new();
        if auto(&self.options.encoding) {
            out.push((
                "encoding".to_string(),
                self.detected.encoding.name().to_lowercase(),
                format!("{} (judged on the whole file)", self.detected.how),
            ));
        }
        if self.terminators.is_none() {
            if auto(&self.options.delimiter) {
                let shown =
                    if self.delimiter == b'\t' { "tab".to_string() } else { (self.delimiter as char).to_string() };
                out.push((
                    "delimiter".to_string(),
                    shown,
                    "the candidate that splits the first 64 KiB into the most consistent records".to_string(),
                ));
            }
            if matches!(self.options.quoting, Quoting::Auto) {
                out.push((
                    "quoting".to_string(),
                    self.quoting.as_str().to_string(),
                    "how the quotes of the first 64 KiB are escaped".to_string(),
                ));
            }
        }
        if matches!(self.options.skip_rows, Some(SkipRows::Auto(_))) {
            let skipped = self.header_info.skipped_above;
            let line = self.header_info.line.map_or(String::new(), |l| format!(" on line {l}"));
            out.push((
                "skip_rows".to_string(),
                skipped.to_string(),
                format!("the header{line}: the first record as wide as the records below it"),
            ));
        }
        out
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: String::new(),
            kind: "csv".to_string(),
            location: self.file.to_string(),
            size: self.done.as_ref().map(|d| d.0),
            sha256: self.done.as_ref().map(|d| d.1.clone()),
            row_count: Some(self.rows),
            encoding: Some(self.detected.encoding.name().to_lowercase()),
            encoding_confidence: Some(self.detected.how.to_string()),
            delimiter: Some(match &self.terminators {
                Some(t) => t.shown(),
                None if self.delimiter == b'\t' => "tab".to_string(),
                None => (self.delimiter as char).to_string(),
            }),
            quoting: Some(self.quoting.as_str().to_string()),
            header: Some(self.header_info.clone()),
            ..SourceInfo::default()
        }
    }
}
