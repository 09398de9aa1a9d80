use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use migrate_engine::{Batch, MalformedRow, Source, SourceError, SourceInfo, SourceLocation};
use sha2::{Digest, Sha256};

use crate::config::CsvSourceConfig;
use crate::error::CsvError;

/// Reads through, hashing and counting every byte, so the report can name
/// exactly which file was loaded without a second pass. It also notes where
/// line terminators are, because the csv parser's position for a record is
/// taken before it skips the previous record's `\n` (of a CRLF) and blank
/// lines; see `start_line`.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    /// Offsets of `\r` and `\n` bytes read but not yet behind the parser,
    /// with whether each is a `\n`. Bounded by the read-ahead buffer.
    terminators: VecDeque<(u64, bool)>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf.get(..n).unwrap_or_default();
        self.hasher.update(read);
        for (i, b) in read.iter().enumerate() {
            if *b == b'\n' || *b == b'\r' {
                self.terminators.push_back((self.bytes + i as u64, *b == b'\n'));
            }
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<R> Hashing<R> {
    /// The line a record really starts on, given the parser's position for
    /// it: skip the run of terminators at that position, counting `\n`s.
    fn start_line(&mut self, position: &csv::Position) -> u64 {
        let start = position.byte();
        while self.terminators.front().is_some_and(|(offset, _)| *offset < start) {
            self.terminators.pop_front();
        }
        let newlines = (start..)
            .zip(&self.terminators)
            .take_while(|(expected, (offset, _))| offset == expected)
            .filter(|(_, (_, is_lf))| *is_lf)
            .count() as u64;
        position.line() + newlines
    }
}

pub struct CsvSource {
    file: Arc<str>,
    reader: csv::Reader<Hashing<BufReader<File>>>,
    header: Vec<String>,
    /// Indices of header columns kept (skip_columns removes some).
    kept: Vec<usize>,
    /// Fields in the file's header, skipped ones included.
    header_width: usize,
    batch_size: usize,
    rows: u64,
    done: Option<(u64, String)>,
}

impl CsvSource {
    pub(crate) fn open(config: &CsvSourceConfig, path: &Path, delimiter: u8) -> Result<Self, CsvError> {
        let file_name: Arc<str> = path.display().to_string().into();
        let file = File::open(path).map_err(|source| CsvError::Open { path: path.to_path_buf(), source })?;
        let hashing = Hashing {
            inner: BufReader::with_capacity(1 << 16, file),
            hasher: Sha256::new(),
            bytes: 0,
            terminators: VecDeque::new(),
        };
        let mut reader =
            csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).flexible(true).from_reader(hashing);
        let header = reader.byte_headers().map_err(|e| read_error(&file_name, &e))?.clone();
        let line = header.position().map_or(1, |p| p.line());
        if header.is_empty() || header.iter().all(|h| h.is_empty()) {
            return Err(CsvError::NoHeader { file: file_name.to_string() });
        }
        let mut names: Vec<String> = Vec::with_capacity(header.len());
        for (index, raw) in header.iter().enumerate() {
            let text = std::str::from_utf8(raw).map_err(|_| CsvError::NotUtf8 {
                file: file_name.to_string(),
                line,
                field: index + 1,
            })?;
            // csv leaves a UTF-8 byte-order mark on the first name.
            let name = text.trim_start_matches('\u{feff}').trim().to_string();
            if name.is_empty() {
                return Err(CsvError::EmptyHeader { file: file_name.to_string(), line, index: index + 1 });
            }
            if names.contains(&name) {
                return Err(CsvError::DuplicateHeader { file: file_name.to_string(), line, name });
            }
            names.push(name);
        }
        let prefix = config.skip_columns.as_deref().map(|p| p.trim_end_matches('*'));
        let kept: Vec<usize> = (0..names.len())
            .filter(|&i| prefix.is_none_or(|p| !names.get(i).is_some_and(|n| n.starts_with(p))))
            .collect();
        let header = kept.iter().filter_map(|&i| names.get(i).cloned()).collect();
        let header_width = names.len();
        Ok(Self {
            file: file_name,
            reader,
            header,
            kept,
            header_width,
            batch_size: config.batch_size,
            rows: 0,
            done: None,
        })
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, CsvError> {
        if self.done.is_some() {
            return Ok(None);
        }
        let width = self.header.len();
        let mut rows = Vec::with_capacity(self.batch_size);
        let mut locations = Vec::with_capacity(self.batch_size);
        let mut malformed = Vec::new();
        let mut record = csv::ByteRecord::new();
        while rows.len() < self.batch_size {
            let more = self.reader.read_byte_record(&mut record).map_err(|e| read_error(&self.file, &e))?;
            if !more {
                let hashing = self.reader.get_ref();
                self.done = Some((hashing.bytes, hex::encode(hashing.hasher.clone().finalize())));
                break;
            }
            let line = match record.position() {
                Some(p) => self.reader.get_mut().start_line(p),
                None => 0,
            };
            let full_width = self.header_width;
            if record.len() != full_width {
                malformed.push(MalformedRow {
                    row: rows.len(),
                    message: format!("record has {} fields, the header has {}", record.len(), full_width),
                });
            }
            let mut row = Vec::with_capacity(width);
            for &i in &self.kept {
                let value = match record.get(i) {
                    Some(raw) => Some(
                        std::str::from_utf8(raw)
                            .map_err(|_| CsvError::NotUtf8 { file: self.file.to_string(), line, field: i + 1 })?
                            .to_string(),
                    ),
                    None => None,
                };
                row.push(value);
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
        Ok(Some(batch))
    }
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
        self.read_batch().map_err(|e| SourceError::with_cause(e.to_string(), e))
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: String::new(),
            kind: "csv".to_string(),
            location: self.file.to_string(),
            size: self.done.as_ref().map(|d| d.0),
            sha256: self.done.as_ref().map(|d| d.1.clone()),
            row_count: Some(self.rows),
            encoding: Some("utf-8".to_string()),
        }
    }
}
