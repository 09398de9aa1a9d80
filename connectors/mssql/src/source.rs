//! The SQL Server `Source`: one connection, the result set streamed by a
//! reader task into a bounded channel (a few batches of memory).

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use migrate_engine::{Batch, MalformedRow, RejectReason, Source, SourceError, SourceInfo, SourceLocation, SourceNote};
use tiberius::{Client, ColumnData, ColumnType, Config};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::config::{MssqlSourceConfig, quote_ident, quote_table};
use crate::values::text;

type Connection = Client<Compat<TcpStream>>;

/// Batches the reader may hold ahead of the pipeline.
const READ_AHEAD: usize = 2;

enum Msg {
    Chunk(Chunk),
    Done,
    Error(SourceError),
}

#[derive(Default)]
struct Chunk {
    rows: Vec<Vec<Option<String>>>,
    locations: Vec<SourceLocation>,
    notes: Vec<SourceNote>,
    malformed: Vec<MalformedRow>,
}

pub struct MssqlSource {
    config: MssqlSourceConfig,
    columns: Vec<String>,
    rx: Option<mpsc::Receiver<Msg>>,
    rows: u64,
    done: bool,
}

impl MssqlSource {
    pub fn new(config: MssqlSourceConfig) -> Self {
        Self { config, columns: Vec::new(), rx: None, rows: 0, done: false }
    }

    fn shown(&self) -> String {
        let what = match (&self.config.table, &self.config.query) {
            (Some(t), _) => t.clone(),
            _ => "query".to_string(),
        };
        format!("{} {what}", self.config.shown())
    }

    fn error(&self, doing: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::new(format!("{doing} ({}): {e}", self.shown()))
    }
}

async fn connect(connection: &str) -> Result<Connection, String> {
    let config = Config::from_ado_string(connection).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(config.get_addr()).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    Client::connect(config, tcp.compat_write()).await.map_err(|e| e.to_string())
}

/// The columns (name, type) a statement returns, without reading rows.
async fn describe(client: &mut Connection, sql: &str) -> Result<Vec<(String, ColumnType)>, tiberius::error::Error> {
    let mut stream = client.simple_query(sql).await?;
    let columns = stream
        .columns()
        .await?
        .map(|c| c.iter().map(|c| (c.name().to_string(), c.column_type())).collect())
        .unwrap_or_default();
    stream.into_results().await?;
    Ok(columns)
}

/// The primary key's columns of `table`, in key order.
async fn primary_key(client: &mut Connection, table: &str) -> Result<Vec<String>, tiberius::error::Error> {
    // The name is a quoted identifier inside an N'' literal, quotes doubled.
    let literal = quote_table(table).replace('\'', "''");
    let sql = format!(
        "SELECT c.name FROM sys.indexes i \
         JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
         JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
         WHERE i.is_primary_key = 1 AND i.object_id = OBJECT_ID(N'{literal}') ORDER BY ic.key_ordinal"
    );
    let rows = client.simple_query(sql).await?.into_first_result().await?;
    Ok(rows.iter().filter_map(|r| r.try_get::<&str, _>(0).ok().flatten().map(str::to_string)).collect())
}

fn is_money(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::Money | ColumnType::Money4)
}

struct ReadJob {
    sql: String,
    label: Arc<str>,
    keys: Vec<usize>,
    names: Vec<String>,
    batch_rows: usize,
    max_value_bytes: usize,
}

async fn read(mut client: Connection, job: ReadJob, tx: &mpsc::Sender<Msg>) -> Result<(), SourceError> {
    let fail = |e: tiberius::error::Error| SourceError::new(format!("reading ({}): {e}", job.label));
    let mut rows = client.simple_query(job.sql.as_str()).await.map_err(fail)?.into_row_stream();
    let mut chunk = Chunk::default();
    let mut n: u64 = 0;
    while let Some(row) = rows.try_next().await.map_err(fail)? {
        n += 1;
        let index = chunk.rows.len();
        let mut out: Vec<Option<String>> = Vec::with_capacity(job.names.len());
        for (i, value) in row.into_iter().enumerate() {
            let column = || job.names.get(i).cloned().unwrap_or_default();
            let size = match &value {
                ColumnData::String(Some(s)) => s.len(),
                ColumnData::Binary(Some(b)) => b.len(),
                _ => 0,
            };
            if size > job.max_value_bytes {
                out.push(None);
                if chunk.malformed.last().is_none_or(|m| m.row != index) {
                    chunk.malformed.push(MalformedRow {
                        row: index,
                        reason: RejectReason::FieldTooLarge,
                        message: format!(
                            "{} holds {size} bytes, more than max_value_bytes ({})",
                            column(),
                            job.max_value_bytes
                        ),
                    });
                }
                continue;
            }
            match text(value) {
                None => out.push(None),
                Some((text, note)) => {
                    if let Some(code) = note {
                        chunk.notes.push(SourceNote { row: index, column: column(), code, example: text.clone() });
                    }
                    out.push(Some(text));
                }
            }
        }
        let key = if job.keys.is_empty() {
            format!("row {n}")
        } else {
            job.keys
                .iter()
                .map(|&i| {
                    let name = job.names.get(i).map(String::as_str).unwrap_or("?");
                    format!("{name}={}", out.get(i).cloned().flatten().unwrap_or_else(|| "NULL".into()))
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        chunk.locations.push(SourceLocation::Key { table: job.label.clone(), key });
        chunk.rows.push(out);
        if chunk.rows.len() >= job.batch_rows && tx.send(Msg::Chunk(std::mem::take(&mut chunk))).await.is_err() {
            return Ok(());
        }
    }
    drop(rows);
    if !chunk.rows.is_empty() && tx.send(Msg::Chunk(chunk)).await.is_err() {
        return Ok(());
    }
    let _ = tx.send(Msg::Done).await;
    let _ = client.close().await;
    Ok(())
}

#[async_trait]
impl Source for MssqlSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    async fn prepare(&mut self) -> Result<(), SourceError> {
        self.config.check().map_err(SourceError::new)?;
        let mut client = connect(&self.config.connection).await.map_err(|e| self.error("connecting", e))?;
        let (sql, label, key_names) = match (&self.config.table, &self.config.query) {
            (Some(table), _) => {
                let quoted = quote_table(table);
                let columns = describe(&mut client, &format!("SELECT TOP 0 * FROM {quoted}"))
                    .await
                    .map_err(|e| self.error("reading the columns", e))?;
                let keys =
                    primary_key(&mut client, table).await.map_err(|e| self.error("reading the primary key", e))?;
                // Money is read as an exact decimal: as money, tiberius
                // would hand it over as a float.
                let list: Vec<String> = columns
                    .iter()
                    .map(|(name, ty)| {
                        let q = quote_ident(name);
                        if is_money(*ty) { format!("CAST({q} AS decimal(19,4)) AS {q}") } else { q }
                    })
                    .collect();
                let order = if keys.is_empty() {
                    String::new()
                } else {
                    format!(" ORDER BY {}", keys.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "))
                };
                self.columns = columns.into_iter().map(|(n, _)| n).collect();
                (format!("SELECT {} FROM {quoted}{order}", list.join(", ")), table.clone(), keys)
            }
            (None, Some(query)) => {
                let columns = describe(&mut client, query).await.map_err(|e| self.error("running the query", e))?;
                if let Some((name, _)) = columns.iter().find(|(_, ty)| is_money(*ty)) {
                    return Err(self.error(
                        "checking the query",
                        format!(
                            "column {name} is money, which would be read through a float: select it as \
                             CAST({name} AS decimal(19,4)) AS {name}"
                        ),
                    ));
                }
                self.columns = columns.into_iter().map(|(n, _)| n).collect();
                (query.clone(), "query".to_string(), Vec::new())
            }
            (None, None) => return Err(SourceError::new("no table and no query")),
        };
        let keys = key_names.iter().filter_map(|k| self.columns.iter().position(|c| c == k)).collect();
        let job = ReadJob {
            sql,
            label: label.into(),
            keys,
            names: self.columns.clone(),
            batch_rows: self.config.batch_rows,
            max_value_bytes: self.config.max_value_bytes,
        };
        let (tx, rx) = mpsc::channel(READ_AHEAD);
        tokio::spawn(async move {
            if let Err(e) = read(client, job, &tx).await {
                let _ = tx.send(Msg::Error(e)).await;
            }
        });
        self.rx = Some(rx);
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        if self.done {
            return Ok(None);
        }
        let Some(rx) = self.rx.as_mut() else { return Err(SourceError::new("the source was not prepared")) };
        match rx.recv().await {
            Some(Msg::Chunk(chunk)) => {
                self.rows += chunk.rows.len() as u64;
                let mut batch = Batch::from_rows(&self.columns, chunk.rows, chunk.locations)
                    .map_err(|e| SourceError::new(e.to_string()))?;
                batch.notes = chunk.notes;
                batch.malformed = chunk.malformed;
                Ok(Some(batch))
            }
            Some(Msg::Done) => {
                self.done = true;
                Ok(None)
            }
            Some(Msg::Error(e)) => Err(e),
            None => Err(SourceError::new(format!("{}: the reader stopped without finishing", self.shown()))),
        }
    }

    fn info(&self) -> SourceInfo {
        SourceInfo { kind: "mssql".into(), location: self.shown(), row_count: Some(self.rows), ..SourceInfo::default() }
    }
}
