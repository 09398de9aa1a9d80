use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use migrate_engine::{Batch, MalformedRow, RejectReason, Source, SourceError, SourceInfo, SourceLocation};
use sha2::{Digest, Sha256};

use crate::config::{Dialect, SqlDumpSourceConfig};
use crate::scan::{Scanner, Statement};

#[derive(Debug, thiserror::Error)]
pub enum SqlDumpError {
    #[error("cannot open {path:?}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(String),
    #[error("{file}:{line}: {message}")]
    Read { file: String, line: u64, message: String },
    #[error(
        "{file}: no INSERT of table {table} names its columns and the dump has no CREATE TABLE {table}: list them in the source block (columns = [\"id\", \"name\", …])"
    )]
    NoColumns { file: String, table: String },
    #[error("{file}: the dump has no INSERT of table {table}{seen}")]
    NoTable { file: String, table: String, seen: String },
}

type SharedHash = Arc<Mutex<(Sha256, u64)>>;

/// Hashes every raw byte read through it.
struct Hashing {
    inner: File,
    state: SharedHash,
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut s) = self.state.lock() {
            s.0.update(buf.get(..n).unwrap_or_default());
            s.1 += n as u64;
        }
        Ok(n)
    }
}

/// The INSERT being read.
struct Insert {
    ours: bool,
    table: String,
    first: bool,
}

/// The rows of one table's INSERT statements in a dump, in file order.
pub struct SqlDumpSource {
    file: Arc<str>,
    scanner: Scanner<BufReader<DecodeReaderBytes<Hashing, Vec<u8>>>>,
    hash: SharedHash,
    size: u64,
    table: Vec<String>,
    columns: Vec<String>,
    batch_size: usize,
    insert: Option<Insert>,
    /// Rows of other tables' INSERTs, by table.
    others: BTreeMap<String, u64>,
    rows: u64,
    done: Option<(u64, String)>,
}

/// A scan error as the source's, naming the file and line.
fn scan_error(file: &str, e: crate::scan::ScanError) -> SqlDumpError {
    SqlDumpError::Read { file: file.to_string(), line: e.line, message: e.message }
}

fn same_table(want: &[String], got: &[String]) -> bool {
    // `Customers` matches `dbo.Customers` and `[crm].[dbo].[Customers]`;
    // `dbo.Customers` must match its schema too.
    want.len() <= got.len() && want.iter().rev().zip(got.iter().rev()).all(|(a, b)| a.eq_ignore_ascii_case(b))
}

impl SqlDumpSource {
    pub(crate) fn open(config: &SqlDumpSourceConfig, path: &Path) -> Result<Self, SqlDumpError> {
        let file = File::open(path).map_err(|source| SqlDumpError::Open { path: path.to_path_buf(), source })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let hash: SharedHash = Arc::new(Mutex::new((Sha256::new(), 0)));
        // SQL Server writes scripts as UTF-16 with a BOM: decoded to UTF-8.
        let decoded = DecodeReaderBytesBuilder::new()
            .bom_sniffing(true)
            .strip_bom(true)
            .build(Hashing { inner: file, state: hash.clone() });
        let mut scanner = Scanner::new(BufReader::with_capacity(1 << 16, decoded), config.max_field_bytes);
        scanner.backslashes = config.dialect == Dialect::Mysql;
        let table: Vec<String> =
            config.table.split('.').map(|p| p.trim_matches(['[', ']', '`', '"']).to_string()).collect();
        let mut source = Self {
            file: path.display().to_string().into(),
            scanner,
            hash,
            size,
            table,
            columns: config.columns.clone(),
            batch_size: config.batch_size,
            insert: None,
            others: BTreeMap::new(),
            rows: 0,
            done: None,
        };
        // The columns: the source block's, else the first of this table's
        // INSERTs or CREATE TABLEs that names them (read up to there).
        let auto = config.dialect == Dialect::Auto;
        loop {
            if source.insert.as_ref().is_some_and(|i| i.ours) {
                break;
            }
            if source.insert.is_some() {
                source.skip_tuples()?;
                continue;
            }
            let statement = source.scanner.statement().map_err(|e| scan_error(&source.file, e))?;
            if auto {
                source.scanner.backslashes = source.scanner.saw_backtick;
            }
            match statement {
                Statement::End => break,
                Statement::Other => {}
                Statement::Create { table, columns } => {
                    if source.columns.is_empty() && same_table(&source.table, &table) {
                        source.columns = columns;
                    }
                }
                Statement::Insert { table, columns, .. } => {
                    let ours = same_table(&source.table, &table);
                    if ours && source.columns.is_empty() {
                        source.columns = columns;
                    }
                    source.insert = Some(Insert { ours, table: table.join("."), first: true });
                }
            }
        }
        if source.insert.is_none() {
            let seen = if source.others.is_empty() {
                String::new()
            } else {
                format!(" (it has rows of {})", source.others.keys().cloned().collect::<Vec<_>>().join(", "))
            };
            return Err(SqlDumpError::NoTable { file: source.file.to_string(), table: config.table.clone(), seen });
        }
        if source.columns.is_empty() {
            return Err(SqlDumpError::NoColumns { file: source.file.to_string(), table: config.table.clone() });
        }
        Ok(source)
    }

    /// Skips the tuples of another table's INSERT, counting them.
    fn skip_tuples(&mut self) -> Result<(), SqlDumpError> {
        let Some(insert) = self.insert.as_mut() else { return Ok(()) };
        let first = insert.first;
        insert.first = false;
        match self.scanner.tuple(first).map_err(|e| scan_error(&self.file, e))? {
            Some(_) => {
                let table = insert.table.clone();
                *self.others.entry(table).or_default() += 1;
            }
            None => self.insert = None,
        }
        Ok(())
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, SqlDumpError> {
        if self.done.is_some() {
            return Ok(None);
        }
        let width = self.columns.len();
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut locations = Vec::new();
        let mut malformed = Vec::new();
        while rows.len() < self.batch_size {
            let Some(insert) = self.insert.as_mut() else {
                match self.scanner.statement().map_err(|e| scan_error(&self.file, e))? {
                    Statement::End => {
                        if let Ok(state) = self.hash.lock() {
                            self.done = Some((state.1, hex::encode(state.0.clone().finalize())));
                        }
                        break;
                    }
                    Statement::Insert { table, .. } => {
                        let ours = same_table(&self.table, &table);
                        self.insert = Some(Insert { ours, table: table.join("."), first: true });
                    }
                    Statement::Create { .. } | Statement::Other => {}
                }
                continue;
            };
            if !insert.ours {
                self.skip_tuples()?;
                continue;
            }
            let first = insert.first;
            insert.first = false;
            let tuple = self.scanner.tuple(first).map_err(|e| scan_error(&self.file, e))?;
            let Some((line, values)) = tuple else {
                self.insert = None;
                continue;
            };
            let index = rows.len();
            match values {
                Ok(mut values) if values.len() == width => {
                    rows.push(std::mem::take(&mut values));
                }
                Ok(values) => {
                    malformed.push(MalformedRow {
                        row: index,
                        reason: RejectReason::MalformedRow,
                        message: format!("the row has {} values, the table {width} columns", values.len()),
                    });
                    let mut padded = values;
                    padded.resize(width, None);
                    rows.push(padded);
                }
                Err(message) => {
                    malformed.push(MalformedRow { row: index, reason: RejectReason::FieldTooLarge, message });
                    rows.push(vec![None; width]);
                }
            }
            locations.push(SourceLocation::Line { file: self.file.clone(), line });
        }
        self.rows += rows.len() as u64;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut batch = Batch::from_rows(&self.columns, rows, locations).map_err(|e| SqlDumpError::Read {
            file: self.file.to_string(),
            line: 0,
            message: e.to_string(),
        })?;
        batch.malformed = malformed;
        Ok(Some(batch))
    }

    /// Rows of other tables' INSERTs skipped, by table (so far).
    pub fn other_tables(&self) -> &BTreeMap<String, u64> {
        &self.others
    }
}

#[async_trait]
impl Source for SqlDumpSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        self.read_batch().map_err(SourceError::wrap)
    }

    fn position(&self) -> Option<(u64, u64)> {
        let read = self.hash.lock().map(|s| s.1).unwrap_or(0);
        (self.size > 0).then_some((read.min(self.size), self.size))
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "sql_dump".into(),
            location: self.file.to_string(),
            size: self.done.as_ref().map(|d| d.0),
            sha256: self.done.as_ref().map(|d| d.1.clone()),
            row_count: Some(self.rows),
            skipped: self
                .others
                .iter()
                .map(|(t, n)| migrate_engine::SkippedRows { what: format!("rows of table {t}"), rows: *n })
                .collect(),
            ..SourceInfo::default()
        }
    }
}
