//! A field far over `max_field_bytes` costs its cap in memory, not its
//! size: its row is rejected with the real size and the rows after it read
//! normally. Alone in its test binary so the process's peak RSS is its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use migrate_csv::{CsvSourceConfig, Quoting};
use migrate_engine::{RejectReason, Source, SourceLocation};

/// The process's peak resident set so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

const FIELD_BYTES: usize = 128 << 20;

#[tokio::test]
async fn a_128_mib_field_is_rejected_with_its_size_and_memory_stays_at_the_cap() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    {
        let mut w = std::io::BufWriter::new(f.as_file_mut());
        w.write_all(b"id,notes,city\n1,short,Paris\n2,\"").unwrap();
        let chunk = "ab,\"\"\n".repeat((1 << 20) / 6).into_bytes();
        let mut written = 0;
        while written < FIELD_BYTES {
            let n = chunk.len().min(FIELD_BYTES - written);
            w.write_all(&chunk[..n]).unwrap();
            written += n;
        }
        w.write_all(b"\",Lyon\n3,after,Nice\n").unwrap();
    }
    let before = peak_rss();
    // The first 64 KiB are all inside the field: too little to sniff the
    // quoting from, so it is declared.
    let config = CsvSourceConfig {
        batch_size: 10,
        quoting: Quoting::Rfc4180,
        ..CsvSourceConfig::for_path(f.path().display().to_string())
    };
    let mut source = config.build(std::path::Path::new("/")).unwrap();
    let mut rows = Vec::new();
    let mut rejected = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        for m in &batch.malformed {
            rejected.push((rows.len() + m.row, m.reason, m.message.clone()));
        }
        for (i, loc) in batch.locations.iter().enumerate() {
            let SourceLocation::Line { line, .. } = loc else { panic!("not a line location") };
            let values = batch.row_values(i);
            rows.push((*line, values[0].clone(), values[2].clone()));
        }
    }
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 48 << 20, "peak RSS grew by {} MiB reading a {} MiB field", grown >> 20, FIELD_BYTES >> 20);
    assert_eq!((rows.len(), rejected.len()), (3, 1), "rows and rejections");

    // The field's `""` pairs are escaped quotes: the unescaped field is
    // smaller than its bytes in the file, and still far over the cap.
    let unescaped = FIELD_BYTES / 6 * 5 + (FIELD_BYTES % 6).min(5);
    let expected = format!("field 2 is {unescaped} bytes, more than max_field_bytes = 1048576");
    assert_eq!(rejected, vec![(1, RejectReason::FieldTooLarge, expected)]);
    let some = |s: &str| Some(s.to_string());
    let lines_in_field = (FIELD_BYTES / 6) as u64;
    assert_eq!(
        rows,
        vec![
            (2, some("1"), some("Paris")),
            (3, some("2"), some("Lyon")),
            (4 + lines_in_field, some("3"), some("Nice")),
        ]
    );
}
