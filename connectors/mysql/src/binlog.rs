//! Change capture from the binlog (`incremental = { cursor = "$binlog" }`):
//! the full load reads the table in a consistent snapshot and keeps the
//! snapshot's binlog position as its mark; a delta reads the row events of
//! the table from the mark, whole transactions only, and hands over the
//! last change of each row (a deleted row flagged in `_migrate_deleted`).
//! Positions are (file, offset), as `file:offset`.

use std::collections::HashMap;

use futures_util::StreamExt;
use migrate_engine::SourceError;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts, Value};

/// The cursor that asks for the binlog.
pub const BINLOG_CURSOR: &str = "$binlog";
/// The column a binlog read adds: `1` for a deleted row, `0` otherwise.
pub const DELETED: &str = "_migrate_deleted";

/// A place in the binlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub file: String,
    pub offset: u64,
}

impl Position {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (file, offset) = text.rsplit_once(':').ok_or_else(|| format!("{text:?} is not a binlog position"))?;
        let offset = offset.parse().map_err(|_| format!("{text:?} is not a binlog position"))?;
        Ok(Self { file: file.to_string(), offset })
    }

    pub fn shown(&self) -> String {
        format!("{}:{}", self.file, self.offset)
    }
}

/// Where the server's binlog ends now; an error naming the setting when
/// binary logging is off.
pub(crate) async fn end(conn: &mut Conn) -> Result<Position, String> {
    let row: Option<mysql_async::Row> = conn.query_first("SHOW MASTER STATUS").await.map_err(|e| e.to_string())?;
    let row = row.ok_or("the server writes no binlog: start it with log_bin, binlog_format=ROW and a server_id")?;
    let file: Option<String> = row.get(0);
    let offset: Option<u64> = row.get(1);
    match (file, offset) {
        (Some(file), Some(offset)) => Ok(Position { file, offset }),
        _ => Err("SHOW MASTER STATUS gave no file and position".into()),
    }
}

/// The GTID position a (file, offset) corresponds to (MariaDB's
/// `BINLOG_GTID_POS`); `None` where the server has no such function or
/// no GTID there.
pub(crate) async fn gtid(conn: &mut Conn, at: &Position) -> Option<String> {
    let gtid: Option<Option<String>> =
        conn.exec_first("SELECT BINLOG_GTID_POS(?, ?)", (at.file.clone(), at.offset)).await.ok()?;
    gtid.flatten().filter(|g| !g.is_empty())
}

/// Starts a consistent snapshot on `conn` and returns the binlog position
/// it corresponds to (MariaDB's `binlog_snapshot_file/position`): rows read
/// in it are exactly those committed before that position.
pub(crate) async fn snapshot(conn: &mut Conn) -> Result<Position, String> {
    let format: Option<String> = conn.query_first("SELECT @@GLOBAL.binlog_format").await.map_err(|e| e.to_string())?;
    if !format.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("ROW")) {
        return Err(format!(
            "the binlog format is {}: reading changes from the binlog needs binlog_format=ROW",
            format.unwrap_or_default()
        ));
    }
    end(conn).await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT").await.map_err(|e| e.to_string())?;
    let status: Vec<(String, String)> =
        conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await.map_err(|e| e.to_string())?;
    let get = |name: &str| status.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    match (get("Binlog_snapshot_file"), get("Binlog_snapshot_position").and_then(|p| p.parse().ok())) {
        (Some(file), Some(offset)) if !file.is_empty() => Ok(Position { file, offset }),
        _ => Err("the server gives no binlog_snapshot_file/position (MariaDB does; MySQL does not)".into()),
    }
}

/// One row's last change in a read.
pub(crate) struct Change {
    pub values: Vec<Option<String>>,
    pub deleted: bool,
}

/// What a delta read of the binlog found.
pub(crate) struct Changes {
    /// In the order rows first changed; each row once, as it ended.
    pub rows: Vec<Change>,
    /// Where the last whole transaction read ends: the next mark.
    pub mark: Position,
    /// The read reached the end of the binlog (not the batch's cap).
    pub caught_up: bool,
    /// Row events read (before a row's changes were folded into one).
    pub events: u64,
}

/// The table's columns (in order), whether each is text, and its primary
/// key's positions.
pub(crate) struct TableShape {
    pub schema: String,
    pub name: String,
    pub columns: Vec<String>,
    pub key: Vec<usize>,
}

/// Reads `table`'s column names in order, refusing character columns not
/// in UTF-8 (the binlog carries their bytes, which this read decodes as
/// UTF-8).
pub(crate) async fn table_shape(conn: &mut Conn, table: &str, keys: &[String]) -> Result<TableShape, String> {
    let (schema, name) = migrate_engine::parts::split_table(table);
    let schema = match schema {
        Some(s) => s,
        None => {
            let db: Option<String> = conn.query_first("SELECT DATABASE()").await.map_err(|e| e.to_string())?;
            db.ok_or("the url names no database")?
        }
    };
    let columns: Vec<(String, Option<String>)> = conn
        .exec(
            "SELECT CAST(COLUMN_NAME AS CHAR), CAST(CHARACTER_SET_NAME AS CHAR) FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (schema.clone(), name.clone()),
        )
        .await
        .map_err(|e| e.to_string())?;
    if let Some((column, charset)) = columns.iter().find(|(_, c)| c.as_deref().is_some_and(|c| !c.starts_with("utf8")))
    {
        return Err(format!(
            "column {column} is in {}: the binlog is read as UTF-8 only; use a cursor column instead",
            charset.as_deref().unwrap_or("?")
        ));
    }
    let columns: Vec<String> = columns.into_iter().map(|(n, _)| n).collect();
    let key = keys.iter().filter_map(|k| columns.iter().position(|c| c == k)).collect::<Vec<_>>();
    if key.is_empty() {
        return Err(format!("{table} has no primary key: the binlog's changes are matched to rows by it"));
    }
    Ok(TableShape { schema, name, columns, key })
}

/// A binlog value as the text protocol writes it (`fsp`: the column's
/// fractional digits, from its metadata).
fn text(value: &BinlogValue<'_>, fsp: u8) -> Result<Option<String>, String> {
    let fraction = |micros: u32| {
        if fsp == 0 {
            String::new()
        } else {
            let digits = format!("{micros:06}");
            format!(".{}", &digits[..usize::from(fsp.min(6))])
        }
    };
    Ok(match value {
        BinlogValue::Value(Value::NULL) => None,
        BinlogValue::Value(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        BinlogValue::Value(Value::Int(n)) => Some(n.to_string()),
        BinlogValue::Value(Value::UInt(n)) => Some(n.to_string()),
        BinlogValue::Value(Value::Float(f)) => Some(f.to_string()),
        BinlogValue::Value(Value::Double(f)) => Some(f.to_string()),
        BinlogValue::Value(Value::Date(y, m, d, 0, 0, 0, 0)) if fsp == u8::MAX => Some(format!("{y:04}-{m:02}-{d:02}")),
        BinlogValue::Value(Value::Date(y, m, d, h, i, s, us)) => {
            Some(format!("{y:04}-{m:02}-{d:02} {h:02}:{i:02}:{s:02}{}", fraction(*us)))
        }
        BinlogValue::Value(Value::Time(negative, days, h, i, s, us)) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            Some(format!("{}{hours:02}:{i:02}:{s:02}{}", if *negative { "-" } else { "" }, fraction(*us)))
        }
        BinlogValue::Jsonb(_) | BinlogValue::JsonDiff(_) => {
            return Err("a JSON column: not read from the binlog yet; use a cursor column instead".into());
        }
    })
}

/// Reads the row events of `shape`'s table from `from`, whole
/// transactions only, until the end of the binlog or until `cap` row events
/// have been read (at a transaction's end).
pub(crate) async fn read_changes(
    opts: &Opts,
    shape: &TableShape,
    from: &Position,
    cap: u64,
) -> Result<Changes, SourceError> {
    let fail =
        |doing: &str, e: &dyn std::fmt::Display| SourceError::new(format!("{doing} (binlog {}): {e}", from.shown()));
    let conn = Conn::new(opts.clone()).await.map_err(|e| fail("connecting", &e))?;
    // A replica id of its own for this reader, unlikely to meet a real one.
    let server_id = 0x6d00_0000 | (std::process::id() & 0x00ff_ffff);
    let request = BinlogStreamRequest::new(server_id)
        .with_filename(from.file.as_bytes())
        .with_pos(from.offset)
        .with_non_blocking();
    let mut stream = conn.get_binlog_stream(request).await.map_err(|e| fail("opening the binlog", &e))?;
    let mut file = from.file.clone();
    let mut committed = from.clone();
    let mut rows: Vec<Change> = Vec::new();
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    // The current transaction's changes: kept only once it commits.
    let mut pending: Vec<Change> = Vec::new();
    let mut events = 0u64;
    let mut pending_events = 0u64;
    let mut caught_up = true;
    while let Some(event) = stream.next().await {
        let event = event.map_err(|e| fail("reading the binlog", &e))?;
        let at = u64::from(event.header().log_pos());
        let data = event.read_data().map_err(|e| fail("reading an event", &e))?;
        match data {
            // The server's own rotate, sent before it describes the
            // stream's checksums, names the file asked for (its name is
            // read with the checksum's bytes after it): only the rotate
            // written in the binlog moves to the next file.
            Some(EventData::RotateEvent(_)) if at == 0 => {}
            Some(EventData::RotateEvent(r)) => {
                file = r.name().into_owned();
                if pending.is_empty() {
                    committed = Position { file: file.clone(), offset: r.position() };
                }
            }
            Some(EventData::XidEvent(_)) => {
                for change in pending.drain(..) {
                    let key: Vec<Option<String>> =
                        shape.key.iter().map(|&k| change.values.get(k).cloned().flatten()).collect();
                    match index.get(&key) {
                        Some(&i) => rows[i] = change,
                        None => {
                            index.insert(key, rows.len());
                            rows.push(change);
                        }
                    }
                }
                events += pending_events;
                pending_events = 0;
                committed = Position { file: file.clone(), offset: at };
                if events >= cap {
                    caught_up = false;
                    break;
                }
            }
            Some(EventData::RowsEvent(rows_event)) => {
                let Some(tme) = stream.get_tme(rows_event.table_id()) else { continue };
                if tme.database_name() != shape.schema.as_str() || tme.table_name() != shape.name.as_str() {
                    continue;
                }
                let fsp: Vec<u8> = (0..shape.columns.len())
                    .map(|i| {
                        use mysql_async::consts::ColumnType as T;
                        match tme.get_column_type(i) {
                            Ok(Some(T::MYSQL_TYPE_DATE)) => u8::MAX,
                            Ok(Some(T::MYSQL_TYPE_DATETIME2 | T::MYSQL_TYPE_TIME2 | T::MYSQL_TYPE_TIMESTAMP2)) => {
                                tme.get_column_metadata(i).and_then(|m| m.first().copied()).unwrap_or(0)
                            }
                            _ => 0,
                        }
                    })
                    .collect();
                let deleting =
                    matches!(rows_event, RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_));
                for row in rows_event.rows(tme) {
                    let (before, after) = row.map_err(|e| fail("reading a row event", &e))?;
                    let Some(image) = (if deleting { before } else { after }) else { continue };
                    let mut values = Vec::with_capacity(shape.columns.len());
                    for (i, f) in fsp.iter().enumerate() {
                        let v = match image.as_ref(i) {
                            Some(v) => text(v, *f).map_err(|e| {
                                fail(
                                    "reading a row event",
                                    &format!("{}: {e}", shape.columns.get(i).map_or("?", |c| c.as_str())),
                                )
                            })?,
                            None => None,
                        };
                        values.push(v);
                    }
                    pending.push(Change { values, deleted: deleting });
                    pending_events += 1;
                }
            }
            _ => {}
        }
    }
    let _ = stream.close().await;
    Ok(Changes { rows, mark: committed, caught_up, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_back_as_written() {
        let p = Position::parse("mysql-bin.000012:4567").unwrap();
        assert_eq!((p.file.as_str(), p.offset), ("mysql-bin.000012", 4567));
        assert_eq!(p.shown(), "mysql-bin.000012:4567");
        assert!(Position::parse("mysql-bin.000012").is_err());
        assert!(Position::parse("f:x").is_err());
    }

    #[test]
    fn values_are_written_as_the_text_protocol_writes_them() {
        let v = |x: Value| BinlogValue::Value(x);
        assert_eq!(
            text(&v(Value::Date(2026, 11, 2, 9, 0, 0, 120)), 6).unwrap().as_deref(),
            Some("2026-11-02 09:00:00.000120")
        );
        assert_eq!(text(&v(Value::Date(2026, 11, 2, 9, 0, 0, 0)), 0).unwrap().as_deref(), Some("2026-11-02 09:00:00"));
        assert_eq!(text(&v(Value::Date(2026, 11, 2, 0, 0, 0, 0)), u8::MAX).unwrap().as_deref(), Some("2026-11-02"));
        assert_eq!(text(&v(Value::Time(true, 1, 2, 3, 4, 0)), 0).unwrap().as_deref(), Some("-26:03:04"));
        assert_eq!(text(&v(Value::Bytes("Zoë".into())), 0).unwrap().as_deref(), Some("Zoë"));
        assert_eq!(text(&v(Value::NULL), 0).unwrap(), None);
        assert_eq!(text(&v(Value::Int(-7)), 0).unwrap().as_deref(), Some("-7"));
    }
}
