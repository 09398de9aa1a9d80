//! Staging: COPY a mapped batch into the run's staging table; when
//! PostgreSQL refuses the batch, bisect until the rows at fault are found.

use std::fmt::Write;

use migrate_engine::{MappedBatch, StageRejection};
use sqlx::PgConnection;

use crate::error::{Context, PgError, classify, describe, error_column, error_line, reject_reason};

/// Appends one value in COPY text format.
pub(crate) fn push_copy_value(out: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    // Runs without a character COPY gives meaning to are copied whole:
    // pushing char by char was the busiest line of staging.
    let mut rest = value;
    while let Some(at) = rest.bytes().position(|b| matches!(b, b'\\' | b'\n' | b'\r' | b'\t')) {
        let (plain, special) = rest.split_at(at);
        out.push_str(plain);
        let mut chars = special.chars();
        out.push_str(match chars.next() {
            Some('\\') => "\\\\",
            Some('\n') => "\\n",
            Some('\r') => "\\r",
            _ => "\\t",
        });
        rest = chars.as_str();
    }
    out.push_str(rest);
}

/// The COPY text of some rows of a batch: org, mapped columns, then the
/// bookkeeping columns (_seq, _source_key, _location).
fn encode_rows(org: &str, columns: &[String], batch: &MappedBatch, rows: &[usize]) -> String {
    // Each column's values in one pass: a `get` per value searches the
    // column's chunks for the row, the busiest part of staging.
    let values: Vec<Vec<Option<&str>>> = columns
        .iter()
        .map(|c| match batch.frame.column(c).ok().and_then(|c| c.str().ok()) {
            Some(s) => s.iter().collect(),
            None => Vec::new(),
        })
        .collect();
    let mut out = String::with_capacity(rows.len() * 128);
    for &row in rows {
        out.push_str(org);
        for column in &values {
            out.push('\t');
            push_copy_value(&mut out, column.get(row).copied().flatten());
        }
        out.push('\t');
        // Writing to a String cannot fail.
        let _ = write!(out, "{}", batch.seqs.get(row).copied().unwrap_or_default());
        out.push('\t');
        push_copy_value(&mut out, batch.keys.get(row).map(String::as_str));
        out.push('\t');
        push_copy_value(&mut out, batch.locations.get(row).map(String::as_str));
        out.push('\n');
    }
    out
}

/// Records (sequence number, source key) pairs in a run's seen table.
pub(crate) async fn stage_seen(conn: &mut PgConnection, seen: &str, keys: &[(u64, String)]) -> Result<(), PgError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut data = String::with_capacity(keys.len() * 32);
    for (seq, key) in keys {
        data.push_str(&seq.to_string());
        data.push('\t');
        push_copy_value(&mut data, Some(key));
        data.push('\n');
    }
    copy_rows(conn, &format!("COPY {seen} (_seq, _source_key) FROM STDIN"), data)
        .await
        .context("recording the keys of rows not staged")
}

async fn copy_rows(conn: &mut PgConnection, statement: &str, data: String) -> Result<(), sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Stages `batch`; returns the rows PostgreSQL refused, each with its
/// message. Errors that are not the rows' fault fail the run.
///
/// A refused COPY names the line it stopped at: that row is rejected and
/// the others are sent again, so each bad row costs one COPY. When no line
/// is named (a constraint checked at the end), the rows are split in halves
/// until the rows at fault are alone.
pub(crate) async fn stage_batch(
    conn: &mut PgConnection,
    statement: &str,
    org: &str,
    columns: &[String],
    batch: &MappedBatch,
) -> Result<Vec<StageRejection>, PgError> {
    let mut rejections = Vec::new();
    let mut pending: Vec<Vec<usize>> = vec![(0..batch.height()).collect()];
    while let Some(rows) = pending.pop() {
        if rows.is_empty() {
            continue;
        }
        let result = copy_rows(conn, statement, encode_rows(org, columns, batch, &rows)).await;
        let Err(e) = result else { continue };
        let Some(reason) = reject_reason(classify(&e)) else {
            return Err(e).context("staging a batch");
        };
        let at_fault = match (rows.as_slice(), error_line(&e)) {
            ([row], _) => Some(*row),
            (_, Some(line)) => line.checked_sub(1).and_then(|i| rows.get(i)).copied(),
            _ => None,
        };
        match at_fault {
            Some(row) => {
                rejections.push(StageRejection {
                    row,
                    column: error_column(&e).filter(|c| !c.starts_with('_') && c != "org_id"),
                    reason,
                    message: describe(&e),
                });
                pending.push(rows.into_iter().filter(|r| *r != row).collect());
            }
            None => {
                let (left, right) = rows.split_at(rows.len() / 2);
                pending.push(right.to_vec());
                pending.push(left.to_vec());
            }
        }
    }
    rejections.sort_by_key(|r| r.row);
    Ok(rejections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_the_characters_copy_gives_meaning_to() {
        let cases = [
            (None, "\\N"),
            (Some(""), ""),
            (Some("plain"), "plain"),
            (Some("a\tb"), "a\\tb"),
            (Some("line1\nline2\r"), "line1\\nline2\\r"),
            (Some("C:\\path"), "C:\\\\path"),
            (Some("\\N"), "\\\\N"),
            (Some("é\tü\\"), "é\\tü\\\\"),
            (Some("\n\nend"), "\\n\\nend"),
            (Some("José Müller"), "José Müller"),
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            push_copy_value(&mut out, value);
            assert_eq!(out, expected, "{value:?}");
        }
    }
}
