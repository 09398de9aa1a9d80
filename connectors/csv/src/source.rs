use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use migrate_engine::{Batch, MalformedRow, RejectReason, Source, SourceError, SourceInfo, SourceLocation, SourceNote};
use sha2::Digest;

use crate::config::{CsvSourceConfig, InvalidBytes, Quoting, Ragged, SkipRows};
use crate::dialect::{reader_builder, sniff_delimiter, sniff_header_row, sniff_quoting};
use crate::encoding::{Detected, detect, looks_double_encoded};
use crate::error::CsvError;
use crate::lines::{HashState, Hashing, Lines, SharedHash};

/// How much of the file encoding and dialect detection look at.
const SAMPLE_BYTES: usize = 64 * 1024;

type Decoded = Lines<DecodeReaderBytes<Hashing<BufReader<File>>, Vec<u8>>>;

pub struct CsvSource {
    file: Arc<str>,
    reader: csv::Reader<Decoded>,
    header: Vec<String>,
    /// Indices of header columns kept (skip_columns removes some).
    kept: Vec<usize>,
    /// Fields in the file's header, skipped ones included.
    header_width: usize,
    options: CsvSourceConfig,
    detected: Detected,
    delimiter: u8,
    quoting: Quoting,
    hash: SharedHash,
    rows: u64,
    /// Size and checksum, once read to the end.
    done: Option<(u64, String)>,
    /// Header names made unique, reported with the first batch.
    header_notes: Vec<SourceNote>,
}

fn read_sample(path: &Path) -> Result<Vec<u8>, CsvError> {
    let file = File::open(path).map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    file.take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
    Ok(sample)
}

impl CsvSource {
    pub(crate) fn open(config: &CsvSourceConfig, path: &Path) -> Result<Self, CsvError> {
        let file_name: Arc<str> = path.display().to_string().into();
        let sample = read_sample(path)?;
        let detected = detect(&sample, config.encoding.as_deref())?;
        let (text, _, _) = detected.encoding.decode(&sample);
        let delimiter = match config.delimiter_byte()? {
            Some(d) => d,
            None => sniff_delimiter(&text),
        };
        let skip = match config.skip_rows {
            None => 0,
            Some(SkipRows::Count(n)) => n,
            Some(SkipRows::Auto(_)) => sniff_header_row(&text, delimiter),
        };

        let file = File::open(path).map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
        let hash: SharedHash = Arc::new(Mutex::new(HashState::default()));
        let raw = Hashing { inner: BufReader::with_capacity(1 << 16, file), state: hash.clone() };
        let decoded = DecodeReaderBytesBuilder::new()
            .encoding(Some(detected.encoding))
            .bom_sniffing(true)
            .strip_bom(true)
            .build(raw);
        let quoting = match config.quoting {
            Quoting::Auto => sniff_quoting(&text, delimiter, skip),
            declared => declared,
        };
        let mut reader = reader_builder(delimiter, quoting).from_reader(Lines::new(decoded));

        let mut record = csv::ByteRecord::new();
        for _ in 0..skip {
            if !reader.read_byte_record(&mut record).map_err(|e| read_error(&file_name, &e))? {
                break;
            }
        }
        if !reader.read_byte_record(&mut record).map_err(|e| read_error(&file_name, &e))? {
            return Err(CsvError::NoHeader { file: file_name.to_string() });
        }
        let mut raw_names: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim_start_matches('\u{feff}').trim().to_string())
            .collect();
        if raw_names.iter().all(String::is_empty) {
            return Err(CsvError::NoHeader { file: file_name.to_string() });
        }
        // A header ending in delimiters names no columns there: the rows'
        // trailing empty fields are dropped with them.
        let mut trailing = 0;
        while raw_names.last().is_some_and(String::is_empty) {
            raw_names.pop();
            trailing += 1;
        }
        let (names, changes) = migrate_engine::unique_header_names(raw_names);
        let mut header_notes: Vec<SourceNote> = changes
            .into_iter()
            .map(|(column, why)| SourceNote { row: 0, column, code: "header_renamed", example: why })
            .collect();
        if trailing > 0 {
            header_notes.push(SourceNote {
                row: 0,
                column: String::new(),
                code: "trailing_delimiter",
                example: format!("the header ends with {trailing} empty field(s); empty trailing fields are dropped"),
            });
        }
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
            options: config.clone(),
            detected,
            delimiter,
            quoting,
            hash,
            rows: 0,
            done: None,
            header_notes,
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
        let mut record = csv::ByteRecord::new();
        while rows.len() < batch_size {
            let more = self.reader.read_byte_record(&mut record).map_err(|e| read_error(&self.file, &e))?;
            if !more {
                if let Ok(state) = self.hash.lock() {
                    self.done = Some((state.bytes, hex::encode(state.hasher.clone().finalize())));
                }
                break;
            }
            let row_index = rows.len();
            let line = match record.position() {
                Some(p) => self.reader.get_mut().start_line(p.byte()),
                None => 0,
            };
            let problem = self.check_record(&record);
            let mut row = Vec::with_capacity(self.kept.len());
            let mut bad_bytes: Option<usize> = None;
            for &i in &self.kept {
                let value = record.get(i).map(|raw| String::from_utf8_lossy(raw).into_owned());
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
                    if looks_double_encoded(v) {
                        notes.push(SourceNote {
                            row: row_index,
                            column,
                            code: "double_encoded_utf8",
                            example: v.clone(),
                        });
                    }
                }
                row.push(value);
            }
            let problem = problem.or_else(|| match (bad_bytes, self.options.invalid_bytes) {
                (Some(i), InvalidBytes::Reject) => Some((
                    RejectReason::InvalidEncoding,
                    format!(
                        "field {} ({}) has bytes that are not valid {} (set invalid_bytes = \"replace\" to keep the row)",
                        i + 1,
                        self.header_name(i),
                        self.detected.encoding.name()
                    ),
                )),
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

    fn header_name(&self, index: usize) -> String {
        self.kept
            .iter()
            .position(|k| *k == index)
            .and_then(|p| self.header.get(p))
            .cloned()
            .unwrap_or_else(|| format!("column_{}", index + 1))
    }

    /// Why a record cannot be a row, if it cannot.
    fn check_record(&self, record: &csv::ByteRecord) -> Option<(RejectReason, String)> {
        let width = self.header_width;
        // Empty fields past the header's end are trailing delimiters.
        let mut fields = record.len();
        while fields > width && record.get(fields - 1).is_some_and(<[u8]>::is_empty) {
            fields -= 1;
        }
        let ragged = match self.options.ragged {
            Ragged::Pad => fields > width,
            Ragged::Reject => fields != width,
        };
        if ragged {
            return Some((RejectReason::MalformedRow, format!("record has {fields} fields, the header has {width}")));
        }
        let max = self.options.max_field_bytes;
        record.iter().position(|f| f.len() > max).map(|i| {
            let len = record.get(i).map_or(0, <[u8]>::len);
            (RejectReason::FieldTooLarge, format!("field {} is {len} bytes, more than max_field_bytes = {max}", i + 1))
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

fn read_error(file: &str, e: &csv::Error) -> CsvError {
    let line = e.position().map_or(0, |p| p.line());
    CsvError::Read { file: file.to_string(), line, message: e.to_string() }
}

#[async_trait]
impl Source for CsvSource {
    fn columns(&self) -> &[String] {
        &self.header
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        self.read_batch().map_err(SourceError::wrap)
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
            delimiter: Some(if self.delimiter == b'\t' {
                "tab".to_string()
            } else {
                (self.delimiter as char).to_string()
            }),
            quoting: Some(self.quoting.as_str().to_string()),
        }
    }
}
