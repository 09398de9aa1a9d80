//! The CSV source against real files: locations, header checks, streaming.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use migrate_csv::CsvSourceConfig;
use migrate_engine::{Source, SourceLocation};

fn config(path: &std::path::Path, batch_size: usize) -> CsvSourceConfig {
    CsvSourceConfig {
        path: path.display().to_string(),
        delimiter: None,
        encoding: None,
        batch_size,
        skip_columns: None,
    }
}

fn write(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f
}

async fn read_all(source: &mut dyn Source) -> Vec<(u64, Vec<Option<String>>)> {
    let mut out = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        for (i, loc) in batch.locations.iter().enumerate() {
            let SourceLocation::Line { line, .. } = loc else { panic!("not a line location") };
            out.push((*line, batch.row_values(i)));
        }
    }
    out
}

#[tokio::test]
async fn line_numbers_are_where_each_record_starts_even_after_embedded_newlines() {
    let f = write(b"id,note\r\n1,plain\r\n2,\"two\nlines\"\r\n3,\"three\r\nlines\r\nhere\"\r\n4,last\r\n");
    let mut source = config(f.path(), 2).build(std::path::Path::new("/")).unwrap();
    let rows = read_all(&mut source).await;
    let lines: Vec<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(lines, vec![2, 3, 5, 8]);
    assert_eq!(rows[1].1[1].as_deref(), Some("two\nlines"));
}

#[tokio::test]
async fn line_numbers_with_lf_endings_and_blank_lines() {
    let f = write(b"id,note\n1,plain\n2,\"two\nlines\"\n\n3,x\n");
    let mut source = config(f.path(), 10).build(std::path::Path::new("/")).unwrap();
    let lines: Vec<u64> = read_all(&mut source).await.iter().map(|r| r.0).collect();
    assert_eq!(lines, vec![2, 3, 6]);
}
