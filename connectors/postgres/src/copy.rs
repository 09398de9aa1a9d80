//! Staging: COPY a mapped batch into the run's staging table; when
//! PostgreSQL refuses the batch, bisect until the rows at fault are found.

use migrate_engine::{MappedBatch, StageRejection};
use sqlx::PgConnection;

use crate::error::{Context, PgError, classify, describe, error_column, error_line, reject_reason};

/// Appends one value in COPY text format.
pub(crate) fn push_copy_value(out: &mut String, value: Option<&str>) {
    let Some(value) = value else {
        out.push_str("\\N");
        return;
    };
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

/// The COPY text of some rows of a batch: org, mapped columns, then the
/// bookkeeping columns (_seq, _source_key, _location).
fn encode_rows(org: &str, columns: &[String], batch: &MappedBatch, rows: &[usize]) -> String {
    let series: Vec<Option<&polars::prelude::StringChunked>> =
        columns.iter().map(|c| batch.frame.column(c).ok().and_then(|c| c.str().ok())).collect();
    let mut out = String::with_capacity(rows.len() * 128);
    for &row in rows {
        out.push_str(org);
        for s in &series {
            out.push('\t');
            push_copy_value(&mut out, s.and_then(|s| s.get(row)));
        }
        out.push('\t');
        out.push_str(&batch.seqs.get(row).copied().unwrap_or_default().to_string());
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
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            push_copy_value(&mut out, value);
            assert_eq!(out, expected, "{value:?}");
        }
    }
}
