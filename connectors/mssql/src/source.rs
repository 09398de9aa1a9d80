//! The SQL Server `Source`: one reader task per part (see
//! `migrate_engine::parts`), each on its own connection, streaming its
//! result set.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use migrate_engine::parts::{
    Domain, PartMsg, PartWriter, PartitionConfig, Parts, bounds, position, range_label, ranges, shown,
};
use migrate_engine::{Batch, Source, SourceError, SourceInfo};
use oem_cp::code_table::DECODING_TABLE_CP_MAP;
use oem_cp::code_table_type::TableType;
use tiberius::{Client, ColumnData, ColumnType, Config};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::config::{MssqlSourceConfig, quote_ident, quote_table};
use crate::values::text;

type Connection = Client<Compat<TcpStream>>;

pub struct MssqlSource {
    config: MssqlSourceConfig,
    columns: Vec<String>,
    parts: Parts,
    consistency: Option<String>,
    /// The columns read as bytes and decoded by their code page.
    code_pages: Vec<String>,
    /// An incremental read: the mark it starts from, then its window.
    start: Option<migrate_engine::Mark>,
    window: Option<migrate_engine::Window>,
}

/// A value bound to a statement's `@Pn`.
#[derive(Debug, Clone, PartialEq)]
enum Param {
    Bytes(Vec<u8>),
    Int(i64),
    Text(String),
}

impl Param {
    fn as_sql(&self) -> &dyn tiberius::ToSql {
        match self {
            Param::Bytes(b) => b,
            Param::Int(n) => n,
            Param::Text(t) => t,
        }
    }
}

impl MssqlSource {
    pub fn new(config: MssqlSourceConfig) -> Self {
        Self {
            config,
            columns: Vec::new(),
            parts: Parts::default(),
            consistency: None,
            code_pages: Vec::new(),
            start: None,
            window: None,
        }
    }

    /// The delta's statement and its bound values (`base` is the SELECT
    /// without WHERE, `order` its ORDER BY), and the window: from the
    /// previous mark less the overlap to the cursor's greatest value now.
    async fn plan_window(
        &self,
        client: &mut Connection,
        quoted: &str,
        columns: &[(String, ColumnType)],
        base: &str,
        order: &str,
    ) -> Result<(String, Vec<Param>, migrate_engine::Window), String> {
        let Some(inc) = &self.config.incremental else { return Err("not incremental".into()) };
        let Some((_, ty)) = columns.iter().find(|(n, _)| *n == inc.cursor) else {
            return Err(format!("incremental.cursor {:?} is not a column of the table", inc.cursor));
        };
        let kind = CursorKind::of(*ty).ok_or_else(|| {
            format!("incremental.cursor {:?} is {ty:?}: use a rowversion, a datetime2 or an integer column", inc.cursor)
        })?;
        let cursor = quote_ident(&inc.cursor);
        let rows = client
            .simple_query(format!("SELECT MAX({cursor}) FROM {quoted}"))
            .await
            .map_err(|e| e.to_string())?
            .into_first_result()
            .await
            .map_err(|e| e.to_string())?;
        let mark = rows.into_iter().next().and_then(|r| r.into_iter().next()).and_then(text).map(|(t, _)| t);
        let mut window = migrate_engine::Window::new(&inc.cursor, self.start.as_ref(), mark.clone());
        let Some(previous) = &self.start else { return Ok((format!("{base}{order}"), Vec::new(), window)) };
        let lower = kind.less(&previous.value, inc.overlap.as_ref())?;
        let upper = mark.unwrap_or_else(|| previous.value.clone());
        window.read_from = Some(lower.clone());
        let (from, to) = (kind.param(&lower)?, kind.param(&upper)?);
        let cast = kind.cast();
        let sql = format!("{base} WHERE {cursor} >= {} AND {cursor} <= {}{order}", cast("@P1"), cast("@P2"));
        Ok((sql, vec![from, to], window))
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
    // tiberius's TLS brings aws-lc beside the ring provider everything else
    // uses; with two compiled in, rustls picks none by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = Config::from_ado_string(connection).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(config.get_addr()).await.map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let plaintext = connection
        .split(';')
        .filter_map(|p| p.split_once('='))
        .any(|(k, v)| k.trim().eq_ignore_ascii_case("encrypt") && v.trim() == "DANGER_PLAINTEXT");
    Client::connect(config, tcp.compat_write()).await.map_err(|e| explain(&e.to_string(), plaintext))
}

/// A failed login, with what to change when the cause is TLS.
/// `plaintext`: the connection string said `encrypt=DANGER_PLAINTEXT`.
fn explain(text: &str, plaintext: bool) -> String {
    if let Some(problem) = migrate_engine::tls::CertProblem::of(text) {
        let why = problem.explain(
            "TrustServerCertificateCA in the connection string",
            "the server in the connection string (or HostNameInCertificate)",
        );
        let demanded = if plaintext {
            "the server requires TLS, so encrypt=DANGER_PLAINTEXT does not apply (use encrypt=true); "
        } else {
            ""
        };
        return format!("{demanded}{why}: {}", first_line(text));
    }
    if text.contains("does not allow the requested encryption level") {
        return format!(
            "the server does not offer TLS, but the connection string asks for it (encrypt=true, the default): {text}"
        );
    }
    text.to_string()
}

/// tiberius's certificate errors go on with a paragraph of advice that
/// names its own API; the first sentence is the server's problem.
fn first_line(text: &str) -> &str {
    text.split(". To connect anyway").next().unwrap_or(text)
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

/// The code page of each character column of `table` that tiberius cannot
/// decode (the OEM code pages of old `SQL_Latin1_General_CP850_*` and
/// `CP437` collations, among others), with the table that decodes it.
async fn oem_columns(client: &mut Connection, table: &str) -> Result<Vec<(String, u16, &'static TableType)>, String> {
    let literal = quote_table(table).replace('\'', "''");
    let sql = format!(
        "SELECT c.name, CAST(COLLATIONPROPERTY(c.collation_name, 'CodePage') AS int) FROM sys.columns c \
         WHERE c.object_id = OBJECT_ID(N'{literal}') AND TYPE_NAME(c.system_type_id) IN ('char', 'varchar', 'text')"
    );
    let rows = client
        .simple_query(sql)
        .await
        .map_err(|e| e.to_string())?
        .into_first_result()
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        let name = row.try_get::<&str, _>(0).ok().flatten().unwrap_or_default().to_string();
        let Some(page) = row.try_get::<i32, _>(1).ok().flatten() else { continue };
        if driver_decodes(page) {
            continue;
        }
        let table = u16::try_from(page).ok().and_then(|p| DECODING_TABLE_CP_MAP.get(&p).map(|t| (p, t)));
        match table {
            Some((page, t)) => out.push((name, page, t)),
            None => {
                return Err(format!(
                    "column {name} is in code page {page}, which neither the driver nor migrate decodes: read the table with a query that selects it as CAST({} AS nvarchar(max))",
                    quote_ident(&name)
                ));
            }
        }
    }
    Ok(out)
}

/// The code pages of character columns tiberius decodes itself (through
/// encoding_rs): the Windows ANSI and East Asian ones, UTF-8, and none
/// (Unicode-only collations).
fn driver_decodes(page: i32) -> bool {
    matches!(page, 0 | 874 | 932 | 936 | 949 | 950 | 1250..=1258 | 65001)
}

/// A column read as its stored bytes, decoded here by its code page's
/// table; bytes the table leaves undefined become U+FFFD and are noted.
fn oem_text(value: ColumnData<'static>, table: &TableType) -> Option<(String, Option<&'static str>)> {
    let ColumnData::Binary(Some(bytes)) = value else { return None };
    match table.decode_string_checked(bytes.as_ref()) {
        Some(text) => Some((text, None)),
        None => Some((table.decode_string_lossy(bytes.as_ref()), Some("invalid_bytes_replaced"))),
    }
}

fn is_money(ty: ColumnType) -> bool {
    matches!(ty, ColumnType::Money | ColumnType::Money4)
}

/// How a cursor's values compare and are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CursorKind {
    /// rowversion (binary(8)): compared as bytes, an 8-byte big-endian count.
    RowVersion,
    Integer,
    Time,
}

impl CursorKind {
    fn of(ty: ColumnType) -> Option<Self> {
        match ty {
            ColumnType::BigBinary | ColumnType::BigVarBin => Some(Self::RowVersion),
            ColumnType::Int1 | ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8 | ColumnType::Intn => {
                Some(Self::Integer)
            }
            ColumnType::Datetime
            | ColumnType::Datetime4
            | ColumnType::Datetimen
            | ColumnType::Datetime2
            | ColumnType::Daten => Some(Self::Time),
            _ => None,
        }
    }

    /// A mark (as the connector writes the cursor's values) less the
    /// overlap, in the same form.
    fn less(self, mark: &str, overlap: Option<&migrate_engine::incremental::Overlap>) -> Result<String, String> {
        use migrate_engine::incremental::Overlap;
        match (self, overlap) {
            (_, None) => Ok(mark.to_string()),
            (Self::RowVersion, Some(Overlap::Units(n))) => {
                let v = rowversion(mark)?;
                Ok(format!("\\x{}", hex::encode(v.saturating_sub(*n).to_be_bytes())))
            }
            (Self::Integer, Some(Overlap::Units(n))) => {
                let v: i64 = mark.parse().map_err(|_| format!("the stored mark {mark:?} is not an integer"))?;
                Ok(v.saturating_sub(i64::try_from(*n).unwrap_or(i64::MAX)).to_string())
            }
            (Self::Time, Some(o @ Overlap::Duration(_))) => {
                let seconds = o.seconds()?.unwrap_or(0);
                let at = chrono::NaiveDateTime::parse_from_str(mark, "%Y-%m-%d %H:%M:%S%.f")
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(mark, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map_err(|_| format!("the stored mark {mark:?} is not a date and time"))?;
                let lower = at - chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX));
                Ok(lower.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
            }
            (_, Some(_)) => Err(
                "incremental.overlap does not fit the cursor: a number for a rowversion or an integer, a duration (\"10m\") for a date and time"
                    .into(),
            ),
        }
    }

    fn param(self, value: &str) -> Result<Param, String> {
        Ok(match self {
            Self::RowVersion => Param::Bytes(rowversion(value)?.to_be_bytes().to_vec()),
            Self::Integer => Param::Int(value.parse().map_err(|_| format!("{value:?} is not an integer"))?),
            Self::Time => Param::Text(value.to_string()),
        })
    }

    /// The parameter as the cursor's type.
    fn cast(self) -> fn(&str) -> String {
        match self {
            Self::Time => |p| format!("CAST({p} AS datetime2(7))"),
            Self::RowVersion | Self::Integer => |p| p.to_string(),
        }
    }
}

/// A rowversion as the connector writes it (`\x00000000000007d1`).
fn rowversion(text: &str) -> Result<u64, String> {
    let digits = text.trim_start_matches("\\x");
    let bytes = hex::decode(digits).map_err(|_| format!("the stored mark {text:?} is not a rowversion"))?;
    let eight: [u8; 8] = bytes.try_into().map_err(|_| format!("the stored mark {text:?} is not 8 bytes"))?;
    Ok(u64::from_be_bytes(eight))
}

/// What one reader needs.
struct ReadJob {
    sql: String,
    /// Values bound to `@P1`…: the statement goes through sp_executesql.
    params: Vec<Param>,
    /// Per column, the code-page table its bytes are decoded with (columns
    /// whose collation tiberius cannot decode, read as varbinary).
    oem: Vec<Option<&'static TableType>>,
    label: Arc<str>,
    /// The primary key's columns, which locate each row.
    keys: Vec<String>,
    batch_rows: usize,
    max_value_bytes: usize,
}

async fn read(mut client: Connection, job: ReadJob, tx: &mpsc::Sender<PartMsg>) -> Result<(), SourceError> {
    let fail = |e: tiberius::error::Error| {
        let text = e.to_string();
        // tiberius spells it "unspported".
        let hint = if text.contains("pported encoding") {
            ": a column's collation is in a code page the driver cannot decode (an OEM page such as 437 or 850); \
             read the table with `table`, which decodes it, or select the column as CAST(… AS nvarchar(max))"
        } else {
            ""
        };
        SourceError::new(format!("reading ({}): {text}{hint}", job.label))
    };
    let mut stream = if job.params.is_empty() {
        client.simple_query(job.sql.as_str()).await.map_err(fail)?
    } else {
        let params: Vec<&dyn tiberius::ToSql> = job.params.iter().map(Param::as_sql).collect();
        client.query(job.sql.as_str(), &params).await.map_err(fail)?
    };
    // The result's own columns: a query's are known only now (it runs once).
    let columns: Vec<(String, ColumnType)> = stream
        .columns()
        .await
        .map_err(fail)?
        .map(|c| c.iter().map(|c| (c.name().to_string(), c.column_type())).collect())
        .unwrap_or_default();
    if let Some((name, _)) = columns.iter().find(|(_, ty)| is_money(*ty)) {
        return Err(SourceError::new(format!(
            "checking the query ({}): column {name} is money, which would be read through a float: select it as \
             CAST({name} AS decimal(19,4)) AS {name}",
            job.label
        )));
    }
    let names: Vec<String> = columns.into_iter().map(|(n, _)| n).collect();
    let mut rows = stream.into_row_stream();
    let Some(mut writer) =
        PartWriter::start(tx, job.label.clone(), names, &job.keys, job.batch_rows, job.max_value_bytes).await
    else {
        return Ok(());
    };
    while let Some(row) = rows.try_next().await.map_err(fail)? {
        let mut out: Vec<Option<String>> = Vec::with_capacity(row.len());
        for (i, value) in row.into_iter().enumerate() {
            let size = match &value {
                ColumnData::String(Some(s)) => s.len(),
                ColumnData::Binary(Some(b)) => b.len(),
                _ => 0,
            };
            if writer.oversized(i, size) {
                out.push(None);
                continue;
            }
            let text = match job.oem.get(i).copied().flatten() {
                Some(table) => oem_text(value, table),
                None => text(value),
            };
            if let Some((text, Some(code))) = &text {
                writer.note(i, code, text);
            }
            out.push(text.map(|(t, _)| t));
        }
        if !writer.push(out).await {
            return Ok(());
        }
    }
    drop(rows);
    writer.finish().await;
    let _ = client.close().await;
    Ok(())
}

/// The parts of a table read by `p.column`: (label, SELECT) each, the last
/// for NULLs; and the consistency note for the report. Bounds are numbers
/// and dates computed here, written as literals.
async fn split(
    client: &mut Connection,
    quoted: &str,
    columns: &[(String, ColumnType)],
    p: &PartitionConfig,
    base: &str,
    order: &str,
) -> Result<(Vec<(String, String)>, String), String> {
    let Some((_, ty)) = columns.iter().find(|(n, _)| *n == p.column) else {
        return Err(format!("partition.column {:?} is not a column of the table", p.column));
    };
    let domain = match ty {
        ColumnType::Int1 | ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8 | ColumnType::Intn => Domain::Integer,
        ColumnType::Daten => Domain::Date,
        ColumnType::Datetime | ColumnType::Datetimen | ColumnType::Datetime4 | ColumnType::Datetime2 => {
            Domain::DateTime
        }
        other => {
            return Err(format!(
                "partition.column {:?} is {other:?}: partition by an integer or date column (the primary key is best)",
                p.column
            ));
        }
    };
    let column = quote_ident(&p.column);
    let rows = client
        .simple_query(format!("SELECT MIN({column}), MAX({column}) FROM {quoted}"))
        .await
        .map_err(|e| e.to_string())?
        .into_first_result()
        .await
        .map_err(|e| e.to_string())?;
    let mut values = rows.into_iter().next().map(|r| r.into_iter().map(text).collect::<Vec<_>>()).unwrap_or_default();
    let max = values.pop().flatten().map(|(t, _)| t);
    let min = values.pop().flatten().map(|(t, _)| t);
    let bounds = match (min, max) {
        (Some(min), Some(max)) => bounds(position(domain, &min)?, position(domain, &max)?, p.parts),
        _ => Vec::new(),
    };
    let literal = |x: i128| match domain {
        Domain::Integer => x.to_string(),
        _ => format!("'{}'", shown(domain, x, true)),
    };
    let mut out = Vec::new();
    for range in ranges(&bounds) {
        let mut conditions = Vec::new();
        if let Some(lo) = range.0 {
            conditions.push(format!("{column} >= {}", literal(lo)));
        }
        if let Some(hi) = range.1 {
            conditions.push(format!("{column} < {}", literal(hi)));
        }
        if conditions.is_empty() {
            conditions.push(format!("{column} IS NOT NULL"));
        }
        out.push((range_label(&p.column, domain, range), format!("{base} WHERE {}{order}", conditions.join(" AND "))));
    }
    out.push((format!("{} is NULL", p.column), format!("{base} WHERE {column} IS NULL{order}")));
    let note = format!(
        "read in {} parts by {} on separate connections; each part is one statement. Under READ COMMITTED (SQL \
         Server's default) a statement reads no snapshot: rows changed while the read ran may be missing, seen in \
         their new state, or read twice if their key changes; with READ_COMMITTED_SNAPSHOT on, each part reads the \
         table as of the moment it started, and the parts start at slightly different moments. For an exact \
         point-in-time copy, stop writes to the table (or read a snapshot copy) while migrating.",
        out.len(),
        p.column
    );
    Ok((out, note))
}

#[async_trait]
impl Source for MssqlSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    async fn prepare(&mut self) -> Result<(), SourceError> {
        self.config.check().map_err(SourceError::new)?;
        let mut client = connect(&self.config.connection).await.map_err(|e| self.error("connecting", e))?;
        let mut oem = Vec::new();
        // (label of the part, its SELECT), the rows' label and key columns.
        let (parts, label, key_names): (Vec<(String, String, Vec<Param>)>, String, Vec<String>) =
            match (&self.config.table, &self.config.query) {
                (Some(table), _) => {
                    let quoted = quote_table(table);
                    let columns = describe(&mut client, &format!("SELECT TOP 0 * FROM {quoted}"))
                        .await
                        .map_err(|e| self.error("reading the columns", e))?;
                    let keys =
                        primary_key(&mut client, table).await.map_err(|e| self.error("reading the primary key", e))?;
                    let pages =
                        oem_columns(&mut client, table).await.map_err(|e| self.error("reading the collations", e))?;
                    // Money is read as an exact decimal: as money, tiberius
                    // would hand it over as a float. A column in a code page
                    // tiberius cannot decode is read as its bytes.
                    let list: Vec<String> = columns
                        .iter()
                        .map(|(name, ty)| {
                            let q = quote_ident(name);
                            if is_money(*ty) {
                                format!("CAST({q} AS decimal(19,4)) AS {q}")
                            } else if pages.iter().any(|(n, _, _)| n == name) {
                                format!("CAST({q} AS varbinary(max)) AS {q}")
                            } else {
                                q
                            }
                        })
                        .collect();
                    oem = columns
                        .iter()
                        .map(|(name, _)| pages.iter().find(|(n, _, _)| n == name).map(|(_, _, t)| *t))
                        .collect();
                    self.code_pages = pages.iter().map(|(n, p, _)| format!("{n}: code page {p}")).collect();
                    let order = if keys.is_empty() {
                        String::new()
                    } else {
                        format!(" ORDER BY {}", keys.iter().map(|k| quote_ident(k)).collect::<Vec<_>>().join(", "))
                    };
                    let base = format!("SELECT {} FROM {quoted}", list.join(", "));
                    let parts = match (&self.config.partition, &self.config.incremental) {
                        (_, Some(_)) => {
                            let (sql, params, window) = self
                                .plan_window(&mut client, &quoted, &columns, &base, &order)
                                .await
                                .map_err(|e| self.error("planning the delta", e))?;
                            self.window = Some(window);
                            vec![(String::new(), sql, params)]
                        }
                        (None, None) => vec![(String::new(), format!("{base}{order}"), Vec::new())],
                        (Some(p), None) => {
                            let (parts, note) = split(&mut client, &quoted, &columns, p, &base, &order)
                                .await
                                .map_err(|e| self.error("planning the parts", e))?;
                            self.consistency = Some(note);
                            parts.into_iter().map(|(label, sql)| (label, sql, Vec::new())).collect()
                        }
                    };
                    self.columns = columns.into_iter().map(|(n, _)| n).collect();
                    (parts, table.clone(), keys)
                }
                // The reader learns a query's columns (and refuses money)
                // from its one execution.
                (None, Some(query)) => {
                    (vec![(String::new(), query.clone(), Vec::new())], "query".to_string(), Vec::new())
                }
                (None, None) => return Err(SourceError::new("no table and no query")),
            };
        let mut first = Some(client);
        for (part, sql, params) in parts {
            // The first part reads on the connection that planned the read.
            let client = match first.take() {
                Some(c) => c,
                None => connect(&self.config.connection).await.map_err(|e| self.error("connecting", e))?,
            };
            let job = ReadJob {
                sql,
                params,
                oem: oem.clone(),
                label: if part.is_empty() { label.clone().into() } else { format!("{label} {part}").into() },
                keys: key_names.clone(),
                batch_rows: self.config.batch_rows,
                max_value_bytes: self.config.max_value_bytes,
            };
            let tx = self.parts.add(part);
            tokio::spawn(async move {
                if let Err(e) = read(client, job, &tx).await {
                    let _ = tx.send(PartMsg::Error(e)).await;
                }
            });
        }
        self.columns = self.parts.columns(&self.shown()).await?;
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        let shown = self.shown();
        self.parts.next_batch(&self.columns, &shown).await
    }

    fn incremental(&self) -> Option<&migrate_engine::IncrementalConfig> {
        self.config.incremental.as_ref()
    }

    fn start_from(&mut self, mark: Option<&migrate_engine::Mark>) {
        self.start = mark.cloned();
    }

    fn window(&self) -> Option<migrate_engine::Window> {
        self.window.clone()
    }

    fn key_scan(&self, columns: &[String]) -> Option<Box<dyn Source>> {
        let table = self.config.table.as_ref()?;
        let list = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
        let config = MssqlSourceConfig {
            table: None,
            query: Some(format!("SELECT {list} FROM {}", quote_table(table))),
            incremental: None,
            partition: None,
            ..self.config.clone()
        };
        Some(Box::new(MssqlSource::new(config)))
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            window: self.window.clone(),
            kind: "mssql".into(),

            location: self.shown(),
            row_count: Some(self.parts.rows()),
            parts: self.parts.report(),
            consistency: self.consistency.clone(),
            transport: Some(self.config.transport()),
            encoding: (!self.code_pages.is_empty()).then(|| {
                format!(
                    "by each column's collation; read as bytes and decoded by migrate: {}",
                    self.code_pages.join(", ")
                )
            }),
            ..SourceInfo::default()
        }
    }
}
