//! The MySQL `Source`: one reader task per part (see `migrate_engine::parts`),
//! each on its own connection, streaming its result set: rows are read from
//! the socket as batches are taken, never buffered whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use encoding_rs::Encoding;
use migrate_engine::incremental::Overlap;
use migrate_engine::parts::{PartMsg, PartWriter, Parts, split_table};
use migrate_engine::{Batch, IncrementalConfig, Mark, Source, SourceError, SourceInfo, Window};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Value};
use tokio::sync::mpsc;

use crate::config::{MysqlSourceConfig, quote_ident, quote_table};
use crate::partition::{Part, plan_parts};
use crate::values::Kind;

pub struct MysqlSource {
    config: MysqlSourceConfig,
    columns: Vec<String>,
    parts: Parts,
    consistency: Option<String>,
    transport: Option<String>,
    /// An incremental read: the mark it starts from, then its window.
    start: Option<Mark>,
    window: Option<Window>,
}

impl MysqlSource {
    pub fn new(mut config: MysqlSourceConfig) -> Self {
        // The binlog's deletes come as rows flagged deleted.
        if let Some(inc) = config.incremental.as_mut().filter(|i| i.cursor == crate::binlog::BINLOG_CURSOR) {
            inc.deletes = migrate_engine::incremental::Deletes::SoftDelete;
            inc.deleted_flag = Some(crate::binlog::DELETED.to_string());
        }
        Self {
            config,
            columns: Vec::new(),
            parts: Parts::default(),
            consistency: None,
            transport: None,
            start: None,
            window: None,
        }
    }

    /// What a read selects from: the table, or the query as a derived table.
    fn selected(&self) -> Option<String> {
        match (&self.config.table, &self.config.query) {
            (Some(table), _) => Some(quote_table(table)),
            (None, Some(query)) => Some(format!("({}) AS `_migrate_q`", query.trim().trim_end_matches(';'))),
            (None, None) => None,
        }
    }

    fn shown(&self) -> String {
        let what = match (&self.config.table, &self.config.query) {
            (Some(t), _) => t.clone(),
            (None, Some(_)) => "query".to_string(),
            (None, None) => String::new(),
        };
        format!("{} {what}", self.config.shown_url())
    }

    fn error(&self, doing: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::new(format!("{doing} ({}): {e}", self.shown()))
    }
}

/// A failed connection, with what to change when the cause is TLS.
/// `tls`: whether TLS was asked for.
fn connect_error(label: &str, e: &mysql_async::Error, tls: bool) -> SourceError {
    const ONLY_TLS: &str = "add ?require_ssl=true to the url (and ssl_ca for a private CA)";
    let text = e.to_string();
    let lower = text.to_lowercase();
    let why = if let Some(problem) = migrate_engine::tls::CertProblem::of(&text) {
        format!("{}: {text}", problem.explain("ssl_ca", "the host in the url"))
    } else if lower.contains("insecure transport") {
        format!("the server accepts only TLS connections: {ONLY_TLS}: {text}")
    } else if !tls && lower.contains("access denied") {
        // MariaDB refuses a plaintext login to a server with
        // require_secure_transport as it refuses a wrong password.
        format!(
            "{text}: check the user and password; a server that accepts only TLS connections refuses plaintext logins the same way: {ONLY_TLS}"
        )
    } else if lower.contains("asked for ssl but server does not") || lower.contains("requires secure connection") {
        format!("the server does not offer TLS, but the url asks for it (require_ssl or ssl_ca): {text}")
    } else {
        text
    };
    SourceError::new(format!("connecting ({label}): {why}"))
}

/// The session every connection reads in: string columns' bytes as stored
/// (decoded here, by each column's charset), TIMESTAMPs in UTC.
pub(crate) async fn session(conn: &mut Conn) -> Result<(), mysql_async::Error> {
    conn.query_drop("SET NAMES utf8mb4").await?;
    conn.query_drop("SET character_set_results = NULL").await?;
    conn.query_drop("SET time_zone = '+00:00'").await
}

/// What one reader needs.
struct ReadJob {
    opts: Opts,
    /// A connection already in its session (and snapshot) to read on.
    conn: Option<Conn>,
    /// Statements with bound values run first (the part's bounds).
    setup: Vec<(String, Vec<Value>)>,
    sql: String,
    label: Arc<str>,
    keys: Vec<String>,
    decode: BTreeMap<String, &'static Encoding>,
    batch_rows: usize,
    max_value_bytes: usize,
}

async fn read(mut job: ReadJob, tx: &mpsc::Sender<PartMsg>) -> Result<(), SourceError> {
    let fail = |doing: &str, e: mysql_async::Error| SourceError::new(format!("{doing} ({}): {e}", job.label));
    let tls = job.opts.ssl_opts().is_some();
    let mut conn = match job.conn.take() {
        Some(conn) => conn,
        None => {
            let mut conn = Conn::new(job.opts.clone()).await.map_err(|e| connect_error(&job.label, &e, tls))?;
            session(&mut conn).await.map_err(|e| fail("setting up the session", e))?;
            conn
        }
    };
    for (statement, params) in &job.setup {
        conn.exec_drop(statement.as_str(), params.clone()).await.map_err(|e| fail("setting the part's bounds", e))?;
    }
    let mut result = conn.query_iter(job.sql.as_str()).await.map_err(|e| fail("reading", e))?;
    let columns: Vec<mysql_async::Column> = result.columns().map(|c| c.to_vec()).unwrap_or_default();
    let names: Vec<String> = columns.iter().map(|c| c.name_str().into_owned()).collect();
    let kinds: Vec<Kind> = columns.iter().zip(&names).map(|(c, n)| Kind::of(c, job.decode.get(n).copied())).collect();
    let Some(mut writer) =
        PartWriter::start(tx, job.label.clone(), names.clone(), &job.keys, job.batch_rows, job.max_value_bytes).await
    else {
        return Ok(());
    };
    while let Some(row) = result.next().await.map_err(|e| fail("reading", e))? {
        let mut out: Vec<Option<String>> = Vec::with_capacity(names.len());
        for (i, value) in row.unwrap().into_iter().enumerate() {
            match value {
                Value::NULL => out.push(None),
                Value::Bytes(bytes) if writer.oversized(i, bytes.len()) => out.push(None),
                Value::Bytes(bytes) => {
                    let (text, note) = kinds.get(i).unwrap_or(&Kind::Number).text(&bytes);
                    if let Some(code) = note {
                        writer.note(i, code, &text);
                    }
                    out.push(Some(text));
                }
                other => {
                    return Err(SourceError::new(format!(
                        "{}: column {} came back as {other:?}, not text; the connector reads the text protocol",
                        job.label,
                        names.get(i).map(String::as_str).unwrap_or("?")
                    )));
                }
            }
        }
        if !writer.push(out).await {
            return Ok(());
        }
    }
    drop(result);
    writer.finish().await;
    let _ = conn.disconnect().await;
    Ok(())
}

impl MysqlSource {
    /// A delta from the binlog: the table's changes since `start`, read
    /// now (up to `binlog_batch` row events), handed over as rows.
    async fn read_binlog(
        &mut self,
        conn: &mut Conn,
        opts: &Opts,
        table: &str,
        keys: &[String],
        start: &Mark,
    ) -> Result<(), SourceError> {
        let shape = crate::binlog::table_shape(conn, table, keys)
            .await
            .map_err(|e| self.error("reading the table's columns", e))?;
        let from =
            crate::binlog::Position::parse(&start.value).map_err(|e| self.error("reading the stored mark", e))?;
        let changes = crate::binlog::read_changes(opts, &shape, &from, self.config.binlog_batch).await?;
        let mut window = Window::new(crate::binlog::BINLOG_CURSOR, Some(start), Some(changes.mark.shown()));
        window.read_from = Some(from.shown());
        window.caught_up = Some(changes.caught_up);
        window.mark_gtid = crate::binlog::gtid(conn, &changes.mark).await;
        tracing::info!(
            "{}: {} row events in the binlog from {} to {}, {} rows changed{}",
            self.shown(),
            changes.events,
            from.shown(),
            changes.mark.shown(),
            changes.rows.len(),
            if changes.caught_up { "" } else { " (more to read)" }
        );
        self.window = Some(window);
        let mut names = shape.columns.clone();
        names.push(crate::binlog::DELETED.to_string());
        let label: Arc<str> = table.into();
        let tx = self.parts.add(String::new());
        let (keys, batch_rows, max_value_bytes) = (keys.to_vec(), self.config.batch_rows, self.config.max_value_bytes);
        tokio::spawn(async move {
            let Some(mut writer) = PartWriter::start(&tx, label, names, &keys, batch_rows, max_value_bytes).await
            else {
                return;
            };
            for change in changes.rows {
                let mut values = change.values;
                values.push(Some(if change.deleted { "1" } else { "0" }.to_string()));
                if !writer.push(values).await {
                    return;
                }
            }
            writer.finish().await;
        });
        Ok(())
    }
}

/// How a cursor's values compare, by the type MySQL gives it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CursorKind {
    Time,
    Number,
    Text,
}

impl CursorKind {
    fn of(column: &mysql_async::Column) -> Self {
        use mysql_async::consts::ColumnType as T;
        match column.column_type() {
            T::MYSQL_TYPE_DATE
            | T::MYSQL_TYPE_NEWDATE
            | T::MYSQL_TYPE_DATETIME
            | T::MYSQL_TYPE_DATETIME2
            | T::MYSQL_TYPE_TIMESTAMP
            | T::MYSQL_TYPE_TIMESTAMP2 => Self::Time,
            T::MYSQL_TYPE_TINY
            | T::MYSQL_TYPE_SHORT
            | T::MYSQL_TYPE_INT24
            | T::MYSQL_TYPE_LONG
            | T::MYSQL_TYPE_LONGLONG
            | T::MYSQL_TYPE_DECIMAL
            | T::MYSQL_TYPE_NEWDECIMAL => Self::Number,
            _ => Self::Text,
        }
    }

    /// A bound value as a value of the cursor's type.
    fn cast(self) -> &'static str {
        match self {
            Self::Time => "CAST(? AS DATETIME(6))",
            Self::Number => "CAST(? AS DECIMAL(65,10))",
            Self::Text => "?",
        }
    }
}

impl MysqlSource {
    /// The greatest cursor value now (the next mark), and the statement
    /// that reads from the previous mark less the overlap to it (every row
    /// for a full load). Values are bound into user variables.
    async fn plan_window(&self, conn: &mut Conn, inc: &IncrementalConfig) -> Result<(Part, Window), SourceError> {
        let from = self.selected().ok_or_else(|| SourceError::new("no table and no query"))?;
        let cursor = quote_ident(&inc.cursor);
        let fail =
            |e: mysql_async::Error| self.error(&format!("reading the greatest value of the cursor {}", inc.cursor), e);
        let mut result = conn.query_iter(format!("SELECT MAX({cursor}) FROM {from}")).await.map_err(fail)?;
        let kind = result.columns().and_then(|c| c.first().map(CursorKind::of)).unwrap_or(CursorKind::Text);
        let rows: Vec<mysql_async::Row> = result.collect().await.map_err(fail)?;
        let mark: Option<String> = rows.into_iter().next().and_then(|mut r| r.take::<Option<String>, _>(0)).flatten();
        let mut window = Window::new(&inc.cursor, self.start.as_ref(), mark.clone());
        let select = format!("SELECT * FROM {from}");
        let Some(previous) = &self.start else { return Ok((Part::whole(select), window)) };
        let lower = match (&inc.overlap, kind) {
            (None, _) => (kind.cast().to_string(), vec![Value::from(previous.value.clone())]),
            (Some(Overlap::Duration(_)), CursorKind::Time) => {
                let seconds = inc.overlap.as_ref().and_then(|o| o.seconds().ok().flatten()).unwrap_or(0);
                (format!("{} - INTERVAL ? SECOND", kind.cast()), vec![previous.value.clone().into(), seconds.into()])
            }
            (Some(Overlap::Units(n)), CursorKind::Number) => {
                (format!("{} - ?", kind.cast()), vec![previous.value.clone().into(), (*n).into()])
            }
            (Some(o), _) => {
                return Err(SourceError::new(format!(
                    "{}: incremental.overlap = {} does not fit the cursor {} ({}): a duration (\"10m\") for a date or time, a number for a number",
                    self.shown(),
                    match o {
                        Overlap::Units(n) => n.to_string(),
                        Overlap::Duration(d) => format!("{d:?}"),
                    },
                    inc.cursor,
                    match kind {
                        CursorKind::Time => "a date or time",
                        CursorKind::Number => "a number",
                        CursorKind::Text => "text",
                    }
                )));
            }
        };
        // What the window starts from, as the server computes it.
        let read_from: Option<String> = conn
            .exec_first(format!("SELECT CAST({} AS CHAR)", lower.0), lower.1.clone())
            .await
            .map_err(|e| self.error("computing where the delta starts", e))?;
        window.read_from = read_from;
        let mut params = lower.1;
        params.push(mark.clone().unwrap_or_else(|| previous.value.clone()).into());
        let part = Part {
            label: String::new(),
            setup: vec![(format!("SET @migrate_from = {}, @migrate_to = {}", lower.0, kind.cast()), params)],
            sql: format!("{select} WHERE {cursor} >= @migrate_from AND {cursor} <= @migrate_to"),
        };
        Ok((part, window))
    }
}

/// The primary key's columns, in key order.
async fn primary_key(conn: &mut Conn, table: &str) -> Result<Vec<String>, mysql_async::Error> {
    let (schema, name) = split_table(table);
    conn.exec(
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS
          WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY'
          ORDER BY SEQ_IN_INDEX",
        (schema, name),
    )
    .await
}

#[async_trait]
impl Source for MysqlSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    async fn prepare(&mut self) -> Result<(), SourceError> {
        self.config.check().map_err(SourceError::new)?;
        let opts = self.config.connect_opts().map_err(|e| SourceError::new(format!("{}: {e}", self.shown())))?;
        self.transport = Some(crate::config::transport(&opts));
        let mut decode = BTreeMap::new();
        for (column, label) in &self.config.decode {
            if let Some(e) = Encoding::for_label(label.as_bytes()) {
                decode.insert(column.clone(), e);
            }
        }
        let tls = opts.ssl_opts().is_some();
        let mut conn = Conn::new(opts.clone()).await.map_err(|e| connect_error(&self.shown(), &e, tls))?;
        session(&mut conn).await.map_err(|e| self.error("setting up the session", e))?;

        let mut snapshot = None;
        let window = match self.config.incremental.clone() {
            Some(inc) if inc.cursor == crate::binlog::BINLOG_CURSOR => {
                let table = self.config.table.clone().unwrap_or_default();
                let keys =
                    primary_key(&mut conn, &table).await.map_err(|e| self.error("reading the primary key", e))?;
                match self.start.clone() {
                    Some(start) => {
                        self.read_binlog(&mut conn, &opts, &table, &keys, &start).await?;
                        let _ = conn.disconnect().await;
                        self.columns = self.parts.columns(&self.shown()).await?;
                        return Ok(());
                    }
                    None => {
                        // The full load: the table as of a snapshot whose
                        // binlog position is the mark.
                        let mut reader =
                            Conn::new(opts.clone()).await.map_err(|e| connect_error(&self.shown(), &e, tls))?;
                        session(&mut reader).await.map_err(|e| self.error("setting up the session", e))?;
                        let at = crate::binlog::snapshot(&mut reader)
                            .await
                            .map_err(|e| self.error("starting the snapshot", e))?;
                        snapshot = Some(reader);
                        let mut window = Window::new(&inc.cursor, None, Some(at.shown()));
                        window.caught_up = Some(true);
                        window.mark_gtid = crate::binlog::gtid(&mut conn, &at).await;
                        let sql = format!(
                            "SELECT *, 0 AS {} FROM {}",
                            quote_ident(crate::binlog::DELETED),
                            quote_table(&table)
                        );
                        Some((Part::whole(sql), window))
                    }
                }
            }
            Some(inc) => Some(self.plan_window(&mut conn, &inc).await?),
            None => None,
        };
        let (label, keys, parts): (String, Vec<String>, Vec<Part>) =
            match (window, &self.config.table, &self.config.query) {
                (Some((part, shown)), _, _) => {
                    let (label, keys) = match &self.config.table {
                        Some(table) => (
                            table.clone(),
                            primary_key(&mut conn, table)
                                .await
                                .map_err(|e| self.error("reading the primary key", e))?,
                        ),
                        None => ("query".to_string(), Vec::new()),
                    };
                    self.window = Some(shown);
                    let order = if keys.is_empty() {
                        String::new()
                    } else {
                        format!(" ORDER BY {}", keys.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "))
                    };
                    (label, keys, vec![Part { sql: format!("{}{order}", part.sql), ..part }])
                }
                (None, Some(table), _) => {
                    let keys =
                        primary_key(&mut conn, table).await.map_err(|e| self.error("reading the primary key", e))?;
                    let order = if keys.is_empty() {
                        String::new()
                    } else {
                        format!(" ORDER BY {}", keys.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "))
                    };
                    let base = format!("SELECT * FROM {}", quote_table(table));
                    let parts = match &self.config.partition {
                        None => vec![Part::whole(format!("{base}{order}"))],
                        Some(p) => {
                            let (parts, note) = plan_parts(&mut conn, table, p, &base, &order)
                                .await
                                .map_err(|e| self.error("planning the parts", e))?;
                            self.consistency = Some(note);
                            parts
                        }
                    };
                    (table.clone(), keys, parts)
                }
                (None, None, Some(query)) => ("query".to_string(), Vec::new(), vec![Part::whole(query.clone())]),
                (None, None, None) => return Err(SourceError::new("no table and no query")),
            };
        let _ = conn.disconnect().await;

        let label: Arc<str> = label.into();
        for part in parts {
            let tx = self.parts.add(part.label.clone());
            let job = ReadJob {
                opts: opts.clone(),
                conn: snapshot.take(),
                setup: part.setup,
                sql: part.sql,
                label: if part.label.is_empty() { label.clone() } else { format!("{label} {}", part.label).into() },
                keys: keys.clone(),
                decode: decode.clone(),
                batch_rows: self.config.batch_rows,
                max_value_bytes: self.config.max_value_bytes,
            };
            tokio::spawn(async move {
                if let Err(e) = read(job, &tx).await {
                    let _ = tx.send(PartMsg::Error(e)).await;
                }
            });
        }
        self.columns = self.parts.columns(&self.shown()).await?;
        Ok(())
    }

    fn incremental(&self) -> Option<&IncrementalConfig> {
        self.config.incremental.as_ref()
    }

    fn start_from(&mut self, mark: Option<&Mark>) {
        self.start = mark.cloned();
    }

    fn window(&self) -> Option<Window> {
        self.window.clone()
    }

    fn key_scan(&self, columns: &[String]) -> Option<Box<dyn Source>> {
        let from = self.selected()?;
        let list = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        let config = MysqlSourceConfig {
            table: None,
            query: Some(format!("SELECT {list} FROM {from}")),
            incremental: None,
            partition: None,
            ..self.config.clone()
        };
        Some(Box::new(MysqlSource::new(config)))
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        let shown = self.shown();
        self.parts.next_batch(&self.columns, &shown).await
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "mysql".into(),
            location: self.shown(),
            row_count: Some(self.parts.rows()),
            parts: self.parts.report(),
            consistency: self.consistency.clone(),
            transport: self.transport.clone(),
            window: self.window.clone(),
            ..SourceInfo::default()
        }
    }
}
