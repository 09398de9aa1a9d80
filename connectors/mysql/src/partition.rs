//! Splitting a table read into ranges of one column. The ranges cover the
//! whole domain (the first is open below, the last open above, NULLs are a
//! part of their own), so every row is in exactly one part whatever was
//! inserted since the bounds were measured.

use chrono::{NaiveDate, NaiveDateTime};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::config::{PartitionConfig, quote_ident, quote_table, split_table};

/// One part's statements.
pub(crate) struct Part {
    /// `id in [250001, 500001)`; empty for an unsplit read.
    pub label: String,
    pub setup: Vec<(String, Vec<Value>)>,
    pub sql: String,
}

impl Part {
    pub(crate) fn whole(sql: String) -> Self {
        Self { label: String::new(), setup: Vec::new(), sql }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Domain {
    Integer,
    Date,
    DateTime,
}

/// The parts of `table` by `p.column`, and the consistency note for the
/// report. `base` is the SELECT without WHERE, `order` its ORDER BY.
pub(crate) async fn plan_parts(
    conn: &mut Conn,
    table: &str,
    p: &PartitionConfig,
    base: &str,
    order: &str,
) -> Result<(Vec<Part>, String), String> {
    let (schema, name) = split_table(table);
    let data_type: Option<String> = conn
        .exec_first(
            "SELECT CAST(DATA_TYPE AS CHAR) FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?",
            (schema, name, p.column.clone()),
        )
        .await
        .map_err(|e| e.to_string())?;
    let Some(data_type) = data_type else {
        return Err(format!("partition.column {:?} is not a column of {table}", p.column));
    };
    let domain = match data_type.to_ascii_lowercase().as_str() {
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" => Domain::Integer,
        "date" => Domain::Date,
        "datetime" | "timestamp" => Domain::DateTime,
        other => {
            return Err(format!(
                "partition.column {:?} is {other}: partition by an integer or date column (the primary key is best)",
                p.column
            ));
        }
    };
    let column = quote_ident(&p.column);
    let (min, max): (Option<String>, Option<String>) = conn
        .query_first(format!("SELECT MIN({column}), MAX({column}) FROM {}", quote_table(table)))
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or((None, None));
    let max_connections: Option<u64> = conn.query_first("SELECT @@max_connections").await.map_err(|e| e.to_string())?;
    // Leave most of the server's connections to its applications.
    let allowed = max_connections.map_or(p.parts, |m| u32::try_from(m / 4).unwrap_or(u32::MAX).max(1));
    let parts = p.parts.min(allowed);

    let bounds: Vec<i128> = match (min.as_deref(), max.as_deref()) {
        (Some(min), Some(max)) => {
            let (lo, hi) = (position(domain, min)?, position(domain, max)?);
            let span = hi - lo + 1;
            let mut b: Vec<i128> = (1..i128::from(parts)).map(|i| lo + span * i / i128::from(parts)).collect();
            b.dedup();
            b.retain(|x| *x > lo);
            b
        }
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let show = |x: i128| shown(domain, x);
    let count = bounds.len() + 1;
    for i in 0..count {
        let lo = i.checked_sub(1).and_then(|j| bounds.get(j)).copied();
        let hi = bounds.get(i).copied();
        let mut conditions = Vec::new();
        let mut assignments = Vec::new();
        let mut params = Vec::new();
        if let Some(lo) = lo {
            conditions.push(format!("{column} >= @migrate_lo"));
            assignments.push(cast(domain, "@migrate_lo"));
            params.push(value(domain, lo));
        }
        if let Some(hi) = hi {
            conditions.push(format!("{column} < @migrate_hi"));
            assignments.push(cast(domain, "@migrate_hi"));
            params.push(value(domain, hi));
        }
        if conditions.is_empty() {
            conditions.push(format!("{column} IS NOT NULL"));
        }
        let label = match (lo, hi) {
            (None, None) => format!("{} is not NULL", p.column),
            (None, Some(hi)) => format!("{} < {}", p.column, show(hi)),
            (Some(lo), None) => format!("{} >= {}", p.column, show(lo)),
            (Some(lo), Some(hi)) => format!("{} in [{}, {})", p.column, show(lo), show(hi)),
        };
        let setup =
            if assignments.is_empty() { Vec::new() } else { vec![(format!("SET {}", assignments.join(", ")), params)] };
        out.push(Part { label, setup, sql: format!("{base} WHERE {}{order}", conditions.join(" AND ")) });
    }
    out.push(Part {
        label: format!("{} is NULL", p.column),
        setup: Vec::new(),
        sql: format!("{base} WHERE {column} IS NULL{order}"),
    });
    let clamped = if parts < p.parts {
        format!(" (asked for {}, the server allows {} connections)", p.parts, max_connections.unwrap_or(0))
    } else {
        String::new()
    };
    let note = format!(
        "read in {} parts by {} on separate connections{clamped}; each part is one statement, which InnoDB \
         reads as a snapshot of the moment it started, but the parts start at slightly different moments: rows \
         changed while the read ran may be missing or seen in their new state, and a row is never read twice \
         unless its {} changes during the read. For an exact point-in-time copy, stop writes to the table (or \
         read a snapshot copy) while migrating.",
        out.len(),
        p.column,
        p.column
    );
    Ok((out, note))
}

/// `@var = CAST(? AS …)` for the column's domain.
fn cast(domain: Domain, var: &str) -> String {
    match domain {
        Domain::Integer => format!("{var} = ?"),
        Domain::Date => format!("{var} = CAST(? AS DATE)"),
        Domain::DateTime => format!("{var} = CAST(? AS DATETIME)"),
    }
}

/// A bound as the value bound to the statement.
fn value(domain: Domain, x: i128) -> Value {
    match domain {
        Domain::Integer => match i64::try_from(x) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::UInt(u64::try_from(x).unwrap_or(u64::MAX)),
        },
        _ => Value::Bytes(shown(domain, x).into_bytes()),
    }
}

/// A value of the column as a number: itself, days or seconds since 1970.
fn position(domain: Domain, text: &str) -> Result<i128, String> {
    let bad = || format!("cannot split on the value {text:?}: partition by another column");
    match domain {
        Domain::Integer => text.trim().parse::<i128>().map_err(|_| bad()),
        Domain::Date => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|d| i128::from((d - NaiveDate::default()).num_days()))
            .map_err(|_| bad()),
        Domain::DateTime => NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .map(|t| i128::from(t.and_utc().timestamp()))
            .map_err(|_| bad()),
    }
}

/// A position written back as the column's text.
fn shown(domain: Domain, x: i128) -> String {
    let epoch = NaiveDate::default();
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
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        assert_eq!(position(Domain::Integer, "18446744073709551615"), Ok(18446744073709551615));
        let d = position(Domain::Date, "2024-02-29").unwrap();
        assert_eq!(shown(Domain::Date, d), "2024-02-29");
        let t = position(Domain::DateTime, "1969-07-20 20:17:40").unwrap();
        assert_eq!(shown(Domain::DateTime, t), "1969-07-20 20:17:40");
        assert!(position(Domain::Date, "0000-00-00").unwrap_err().contains("another column"));
        assert_eq!(value(Domain::Integer, 18446744073709551615), Value::UInt(u64::MAX));
    }
}
