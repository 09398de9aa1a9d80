//! A database source read as parts: each part a task on its own connection
//! that streams its rows into a bounded channel; batches are taken from the
//! parts in turn, so the order is the same on every run of the same data
//! and memory holds a few batches per part.

use std::sync::Arc;

use serde::Deserialize;
use tokio::sync::mpsc;

use crate::batch::{Batch, MAX_BATCH_BYTES, MalformedRow, SourceNote};
use crate::location::SourceLocation;
use crate::reject::RejectReason;
use crate::report::SourcePart;
use crate::source::SourceError;

/// `partition = { column = "id", parts = 8 }` of a database source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionConfig {
    pub column: String,
    pub parts: u32,
}

/// The checks every database source's options share: a `table`
/// (`schema.table` or `table`) or a `query`, not both; a partition only of
/// a table, in 2 to 64 parts; batches of at least one row. `schema` names
/// the first part of a table name (`database`, `schema`).
pub fn check_read(
    table: Option<&str>,
    query: Option<&str>,
    partition: Option<&PartitionConfig>,
    batch_rows: usize,
    schema: &str,
) -> Result<(), String> {
    match (table, query) {
        (Some(_), Some(_)) => return Err("give `table` or `query`, not both".into()),
        (None, None) => return Err(format!("name a `table` ({schema}.table) or give a `query`")),
        _ => {}
    }
    if let Some(table) = table
        && (table.split('.').count() > 2 || table.split('.').any(|p| p.trim().is_empty()))
    {
        return Err(format!("table {table:?}: expected `{schema}.table` or `table`"));
    }
    if let Some(p) = partition {
        if query.is_some() {
            return Err("`partition` splits a `table` read; a `query` is read as it is".into());
        }
        if !(2..=64).contains(&p.parts) {
            return Err(format!("partition.parts = {}: from 2 to 64", p.parts));
        }
    }
    if batch_rows == 0 {
        return Err("batch_rows must be at least 1".into());
    }
    Ok(())
}

/// (schema, table) of `schema.table`; no schema for a bare `table`.
pub fn split_table(table: &str) -> (Option<String>, String) {
    match table.split_once('.') {
        Some((s, n)) => (Some(s.trim().to_string()), n.trim().to_string()),
        None => (None, table.trim().to_string()),
    }
}

/// Batches a part may read ahead of the pipeline.
const READ_AHEAD: usize = 2;

/// What a part's reader sends: its columns first, then chunks of rows,
/// then `Done` with its row count (or an error).
pub enum PartMsg {
    Columns(Vec<String>),
    Chunk(PartChunk),
    Done(u64),
    Error(SourceError),
}

/// Rows of one batch as a reader builds them.
#[derive(Default)]
pub struct PartChunk {
    pub rows: Vec<Vec<Option<String>>>,
    pub locations: Vec<SourceLocation>,
    pub notes: Vec<SourceNote>,
    pub malformed: Vec<MalformedRow>,
}

/// A part's reader's side: it sends the columns, then builds batches of
/// rows (locating each by its key columns, or its number) and sends them.
pub struct PartWriter<'a> {
    tx: &'a mpsc::Sender<PartMsg>,
    label: Arc<str>,
    names: Vec<String>,
    keys: Vec<usize>,
    batch_rows: usize,
    max_value_bytes: usize,
    chunk: PartChunk,
    /// Text in `chunk`, sent when it reaches [`MAX_BATCH_BYTES`].
    chunk_bytes: usize,
    rows: u64,
}

impl<'a> PartWriter<'a> {
    /// Sends the columns; `None` when the source was dropped meanwhile.
    pub async fn start(
        tx: &'a mpsc::Sender<PartMsg>,
        label: Arc<str>,
        names: Vec<String>,
        key_columns: &[String],
        batch_rows: usize,
        max_value_bytes: usize,
    ) -> Option<Self> {
        tx.send(PartMsg::Columns(names.clone())).await.ok()?;
        let keys = key_columns.iter().filter_map(|k| names.iter().position(|n| n == k)).collect();
        let chunk = PartChunk::default();
        Some(Self { tx, label, names, keys, batch_rows, max_value_bytes, chunk, chunk_bytes: 0, rows: 0 })
    }

    fn name(&self, column: usize) -> String {
        self.names.get(column).cloned().unwrap_or_default()
    }

    /// Whether a value of `size` bytes in `column` of the row being built
    /// is over the cap; if so its row is rejected (once).
    pub fn oversized(&mut self, column: usize, size: usize) -> bool {
        if size <= self.max_value_bytes {
            return false;
        }
        let row = self.chunk.rows.len();
        if self.chunk.malformed.last().is_none_or(|m| m.row != row) {
            let message = format!(
                "{} holds {size} bytes, more than max_value_bytes ({})",
                self.name(column),
                self.max_value_bytes
            );
            self.chunk.malformed.push(MalformedRow { row, reason: RejectReason::FieldTooLarge, message });
        }
        true
    }

    /// Counts a note on `column` of the row being built.
    pub fn note(&mut self, column: usize, code: &'static str, example: &str) {
        let row = self.chunk.rows.len();
        let column = self.name(column);
        self.chunk.notes.push(SourceNote { row, column, code, example: example.to_string() });
    }

    /// Adds the row; sends the batch when it is full. `false` when the
    /// source was dropped (stop reading).
    pub async fn push(&mut self, values: Vec<Option<String>>) -> bool {
        let key = if self.keys.is_empty() {
            format!("row {}", self.rows + 1)
        } else {
            self.keys
                .iter()
                .map(|&i| {
                    let value = values.get(i).cloned().flatten().unwrap_or_else(|| "NULL".into());
                    format!("{}={value}", self.name(i))
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let location = SourceLocation::Key { table: self.label.clone(), key };
        self.push_at(values, location).await
    }

    /// Adds the row at a location the reader names; sends the batch when
    /// it is full. `false` when the source was dropped.
    pub async fn push_at(&mut self, values: Vec<Option<String>>, location: SourceLocation) -> bool {
        self.rows += 1;
        self.chunk_bytes += values.iter().flatten().map(String::len).sum::<usize>();
        self.chunk.locations.push(location);
        self.chunk.rows.push(values);
        if self.chunk.rows.len() < self.batch_rows && self.chunk_bytes < MAX_BATCH_BYTES {
            return true;
        }
        self.chunk_bytes = 0;
        self.tx.send(PartMsg::Chunk(std::mem::take(&mut self.chunk))).await.is_ok()
    }

    /// Adds a row the reader could not make sense of: it is counted and
    /// rejected with `reason`, at `location`.
    pub async fn push_malformed(&mut self, location: SourceLocation, reason: RejectReason, message: String) -> bool {
        let row = self.chunk.rows.len();
        self.chunk.malformed.push(MalformedRow { row, reason, message });
        self.push_at(vec![None; self.names.len()], location).await
    }

    /// Sends the last batch and the part's row count.
    pub async fn finish(self) {
        if !self.chunk.rows.is_empty() && self.tx.send(PartMsg::Chunk(self.chunk)).await.is_err() {
            return;
        }
        let _ = self.tx.send(PartMsg::Done(self.rows)).await;
    }
}

struct Reader {
    label: String,
    rx: mpsc::Receiver<PartMsg>,
    rows: u64,
    done: bool,
}

#[derive(Default)]
pub struct Parts {
    readers: Vec<Reader>,
    turn: usize,
    rows: u64,
}

impl Parts {
    /// A new part's channel: give the sender to its reader task.
    pub fn add(&mut self, label: String) -> mpsc::Sender<PartMsg> {
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        self.readers.push(Reader { label, rx, rows: 0, done: false });
        tx
    }

    /// Waits until every part's query is under way; returns the columns.
    /// A refused login or a bad column fails here, before the run starts.
    pub async fn columns(&mut self, shown: &str) -> Result<Vec<String>, SourceError> {
        let mut columns = Vec::new();
        for reader in &mut self.readers {
            match reader.rx.recv().await {
                Some(PartMsg::Columns(names)) => {
                    if columns.is_empty() {
                        columns = names;
                    }
                }
                Some(PartMsg::Error(e)) => return Err(e),
                _ => return Err(SourceError::new(format!("{shown}: a reader stopped before its first row"))),
            }
        }
        Ok(columns)
    }

    /// The next batch, taking the parts in turn.
    pub async fn next_batch(&mut self, columns: &[String], shown: &str) -> Result<Option<Batch>, SourceError> {
        loop {
            if self.readers.iter().all(|r| r.done) {
                return Ok(None);
            }
            let turn = self.turn % self.readers.len().max(1);
            self.turn = turn + 1;
            let Some(reader) = self.readers.get_mut(turn) else { continue };
            if reader.done {
                continue;
            }
            match reader.rx.recv().await {
                Some(PartMsg::Chunk(chunk)) => {
                    self.rows += chunk.rows.len() as u64;
                    let mut batch = Batch::from_rows(columns, chunk.rows, chunk.locations)
                        .map_err(|e| SourceError::new(e.to_string()))?;
                    batch.notes = chunk.notes;
                    batch.malformed = chunk.malformed;
                    return Ok(Some(batch));
                }
                Some(PartMsg::Done(n)) => {
                    reader.rows = n;
                    reader.done = true;
                }
                Some(PartMsg::Error(e)) => return Err(e),
                Some(PartMsg::Columns(_)) => {}
                None => return Err(SourceError::new(format!("{shown}: a reader stopped without finishing"))),
            }
        }
    }

    /// Rows delivered so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Each part's range and rows, when the read was split.
    pub fn report(&self) -> Vec<SourcePart> {
        if self.readers.len() < 2 {
            return Vec::new();
        }
        self.readers.iter().map(|r| SourcePart { range: r.label.clone(), rows: r.rows }).collect()
    }
}

/// The kind of column a read is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Integer,
    Date,
    DateTime,
}

/// A value of the column as a number: itself, days or seconds since 1970.
pub fn position(domain: Domain, text: &str) -> Result<i128, String> {
    use chrono::{NaiveDate, NaiveDateTime};
    let bad = || format!("cannot split on the value {text:?}: partition by another column");
    let text = text.trim();
    match domain {
        Domain::Integer => text.parse::<i128>().map_err(|_| bad()),
        Domain::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| i128::from((d - NaiveDate::default()).num_days()))
            .map_err(|_| bad()),
        Domain::DateTime => NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| i128::from(t.and_utc().timestamp()))
            .map_err(|_| bad()),
    }
}

/// A position written back as the column's text (`T` between date and
/// time when `iso_t`, which SQL Server reads the same in every language).
pub fn shown(domain: Domain, x: i128, iso_t: bool) -> String {
    let epoch = chrono::NaiveDate::default();
    match domain {
        Domain::Integer => x.to_string(),
        Domain::Date => i64::try_from(x)
            .ok()
            .and_then(|d| epoch.checked_add_signed(chrono::Duration::days(d)))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        Domain::DateTime => i64::try_from(x)
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|t| t.format(if iso_t { "%Y-%m-%dT%H:%M:%S" } else { "%Y-%m-%d %H:%M:%S" }).to_string())
            .unwrap_or_default(),
    }
}

/// The inner bounds splitting [lo, hi] into `parts` ranges of equal width
/// (fewer when the range is narrower than `parts`).
pub fn bounds(lo: i128, hi: i128, parts: u32) -> Vec<i128> {
    let span = hi - lo + 1;
    let mut b: Vec<i128> = (1..i128::from(parts)).map(|i| lo + span * i / i128::from(parts)).collect();
    b.dedup();
    b.retain(|x| *x > lo);
    b
}

/// The (lower, upper) bound of each range: the first open below, the last
/// open above, so every non-NULL value is in exactly one.
pub fn ranges(bounds: &[i128]) -> Vec<(Option<i128>, Option<i128>)> {
    (0..=bounds.len())
        .map(|i| (i.checked_sub(1).and_then(|j| bounds.get(j)).copied(), bounds.get(i).copied()))
        .collect()
}

/// The report's text for a range of `column`.
pub fn range_label(column: &str, domain: Domain, range: (Option<i128>, Option<i128>)) -> String {
    let show = |x| shown(domain, x, false);
    match range {
        (None, None) => format!("{column} is not NULL"),
        (None, Some(hi)) => format!("{column} < {}", show(hi)),
        (Some(lo), None) => format!("{column} >= {}", show(lo)),
        (Some(lo), Some(hi)) => format!("{column} in [{}, {})", show(lo), show(hi)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        assert_eq!(bounds(1, 1000, 4), [251, 501, 751]);
        assert_eq!(bounds(5, 6, 8), [6], "a narrow range gives fewer parts");
        assert_eq!(bounds(7, 7, 4), Vec::<i128>::new());
        assert_eq!(ranges(&[251, 501]), [(None, Some(251)), (Some(251), Some(501)), (Some(501), None)]);
        assert_eq!(range_label("id", Domain::Integer, (Some(251), Some(501))), "id in [251, 501)");
        let d = position(Domain::Date, "2024-02-29").unwrap();
        assert_eq!(shown(Domain::Date, d, false), "2024-02-29");
        let t = position(Domain::DateTime, "1969-07-20 20:17:40.5").unwrap();
        assert_eq!(shown(Domain::DateTime, t, true), "1969-07-20T20:17:40");
        assert!(position(Domain::Date, "0000-00-00").unwrap_err().contains("another column"));
    }
}
