//! Splitting a table read into ranges of one column. The ranges cover the
//! whole domain (the first is open below, the last open above, NULLs are a
//! part of their own), so every row is in exactly one part whatever was
//! inserted since the bounds were measured.

use migrate_engine::parts::{Domain, PartitionConfig, bounds, position, range_label, ranges, shown, split_table};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::config::{quote_ident, quote_table};

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
        (Some(min), Some(max)) => bounds(position(domain, min)?, position(domain, max)?, parts),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (lo, hi) in ranges(&bounds) {
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
        let setup =
            if assignments.is_empty() { Vec::new() } else { vec![(format!("SET {}", assignments.join(", ")), params)] };
        out.push(Part {
            label: range_label(&p.column, domain, (lo, hi)),
            setup,
            sql: format!("{base} WHERE {}{order}", conditions.join(" AND ")),
        });
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
        _ => Value::Bytes(shown(domain, x, false).into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_bind_as_the_column_s_type() {
        assert_eq!(value(Domain::Integer, 18446744073709551615), Value::UInt(u64::MAX));
        assert_eq!(value(Domain::Integer, -5), Value::Int(-5));
        assert_eq!(value(Domain::Date, 0), Value::Bytes(b"1970-01-01".to_vec()));
        assert_eq!(cast(Domain::DateTime, "@x"), "@x = CAST(? AS DATETIME)");
    }
}
