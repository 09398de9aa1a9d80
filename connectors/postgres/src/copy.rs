//! Staging: COPY a mapped batch into the run's staging table; when
//! PostgreSQL refuses the batch, bisect until the rows at fault are found.

use std::fmt::Write;
use std::hash::BuildHasher;

use migrate_engine::{MappedBatch, StageRejection};
use sqlx::PgConnection;
use uuid::Uuid;

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

/// The id each staged row takes if its key is new: the layout of UUID
/// version 7, as `migrate.ordered_uuid` (migration 0008) builds it, 48 bits
/// of the run's clock advanced a millisecond every 4096 rows, the version,
/// 12 bits of the row's position, the variant, and 62 bits hashed from the
/// position with a key drawn at random for the run, so that runs started
/// in the same millisecond never share an id. Made here, the ids cost
/// nothing in PostgreSQL: the key map's insert took 8.1 s a million keys
/// calling `migrate.ordered_uuid` for each, 3.7 s with the ids staged.
pub(crate) struct RowIds {
    ms: i64,
    random: std::hash::RandomState,
}

impl RowIds {
    pub(crate) fn new(ms: i64) -> Self {
        Self { ms, random: std::hash::RandomState::new() }
    }

    pub(crate) fn id(&self, seq: u64) -> Uuid {
        let clock = self.ms.wrapping_add(i64::try_from(seq / 4096).unwrap_or(i64::MAX)).to_be_bytes();
        let counter = 0x7000 | (seq % 4096) as u16;
        let random = (self.random.hash_one(seq) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&clock[2..]);
        bytes[6..8].copy_from_slice(&counter.to_be_bytes());
        bytes[8..].copy_from_slice(&random.to_be_bytes());
        Uuid::from_bytes(bytes)
    }
}

/// The COPY text of some rows of a batch: org, the id a new row takes,
/// mapped columns, then the bookkeeping columns (_seq, _source_key,
/// _location).
fn encode_rows(org: &str, ids: &RowIds, columns: &[String], batch: &MappedBatch, rows: &[usize]) -> String {
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
    let mut id = Uuid::encode_buffer();
    for &row in rows {
        let seq = batch.seqs.get(row).copied().unwrap_or_default();
        out.push_str(org);
        out.push('\t');
        out.push_str(ids.id(seq).hyphenated().encode_lower(&mut id));
        for column in &values {
            out.push('\t');
            push_copy_value(&mut out, column.get(row).copied().flatten());
        }
        out.push('\t');
        // Writing to a String cannot fail.
        let _ = write!(out, "{seq}");
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

/// COPYs keys an incremental source has (a key scan) or marks deleted
/// into the seen table; they belong to no staged row (sequence 0).
pub(crate) async fn stage_seen_keys(
    conn: &mut PgConnection,
    seen: &str,
    keys: &[String],
    deleted: bool,
) -> Result<(), PgError> {
    if keys.is_empty() {
        return Ok(());
    }
    let flag = if deleted { "t" } else { "f" };
    let mut data = String::with_capacity(keys.len() * 32);
    for key in keys {
        data.push_str("0\t");
        push_copy_value(&mut data, Some(key));
        data.push('\t');
        data.push_str(flag);
        data.push('\n');
    }
    copy_rows(conn, &format!("COPY {seen} (_seq, _source_key, _deleted) FROM STDIN"), data).await.context(if deleted {
        "recording the keys the source marks deleted"
    } else {
        "recording the scanned keys"
    })
}

/// COPYs pairs of sequence numbers into `table` (two bigint columns).
pub(crate) async fn copy_pairs(conn: &mut PgConnection, table: &str, pairs: &[(u64, u64)]) -> Result<(), sqlx::Error> {
    let mut data = String::with_capacity(pairs.len() * 16);
    for (a, b) in pairs {
        let _ = writeln!(data, "{a}\t{b}");
    }
    copy_rows(conn, &format!("COPY {table} FROM STDIN"), data).await
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
    ids: &RowIds,
    columns: &[String],
    batch: &MappedBatch,
) -> Result<Vec<StageRejection>, PgError> {
    let mut rejections = Vec::new();
    let mut pending: Vec<Vec<usize>> = vec![(0..batch.height()).collect()];
    while let Some(rows) = pending.pop() {
        if rows.is_empty() {
            continue;
        }
        let result = copy_rows(conn, statement, encode_rows(org, ids, columns, batch, &rows)).await;
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
    fn staged_ids_have_the_layout_of_migrate_ordered_uuid() {
        // migrate.ordered_uuid(1764403200000, s): cli/tests/schema_apply.rs.
        let ids = RowIds::new(1_764_403_200_000);
        let all: Vec<String> = (0..20_000u64).map(|s| ids.id(s).to_string()).collect();
        assert!(all[0].starts_with("019acea0-4000-7000-"), "{}", all[0]);
        assert!(all[4097].starts_with("019acea0-4001-7001-"), "{}", all[4097]);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted, "ids increase with the row's position");
        for id in &all {
            assert_eq!(id.as_bytes()[14], b'7', "version 7: {id}");
            assert!(matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "the variant: {id}");
        }
        let other = RowIds::new(1_764_403_200_000);
        assert_ne!(ids.id(5), other.id(5), "runs of the same millisecond differ in their random bits");
        assert_eq!(ids.id(5), ids.id(5), "a row's id is its position's");
    }

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
