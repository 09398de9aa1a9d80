//! The CSV source against real files: locations, header checks, streaming.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use migrate_csv::CsvSourceConfig;
use migrate_engine::{Source, SourceLocation};

fn config(path: &std::path::Path, batch_size: usize) -> CsvSourceConfig {
    CsvSourceConfig { batch_size, ..CsvSourceConfig::for_path(path.display().to_string()) }
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

#[tokio::test]
async fn a_utf8_bom_is_not_part_of_the_first_column_name_and_values_stay_text() {
    let f = write("\u{feff}CustomerID,Zip\n00123,01234\n".as_bytes());
    let mut source = config(f.path(), 10).build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["CustomerID", "Zip"]);
    let rows = read_all(&mut source).await;
    assert_eq!(rows[0].1, vec![Some("00123".to_string()), Some("01234".to_string())]);
}

#[tokio::test]
async fn batches_are_bounded_and_the_report_gets_size_checksum_and_count() {
    let mut content = String::from("id\n");
    for i in 0..25 {
        content.push_str(&format!("{i}\n"));
    }
    let f = write(content.as_bytes());
    let mut source = config(f.path(), 10).build(std::path::Path::new("/")).unwrap();
    let mut sizes = Vec::new();
    while let Some(b) = source.next_batch().await.unwrap() {
        sizes.push(b.height());
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    let info = source.info();
    assert_eq!(info.row_count, Some(25));
    assert_eq!(info.size, Some(content.len() as u64));
    use sha2::Digest;
    assert_eq!(info.sha256, Some(hex::encode(sha2::Sha256::digest(content.as_bytes()))));
}

#[tokio::test]
async fn records_with_the_wrong_number_of_fields_are_marked_not_dropped() {
    let f = write(b"a,b\n1,2\n3\n4,5,6\n7,8\n");
    let mut source = config(f.path(), 10).build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 4);
    let malformed: Vec<(usize, &str)> = batch.malformed.iter().map(|m| (m.row, m.message.as_str())).collect();
    assert_eq!(
        malformed,
        vec![(1, "record has 1 fields, the header has 2"), (2, "record has 3 fields, the header has 2")]
    );
}

#[tokio::test]
async fn skip_columns_drops_the_underscore_columns_of_a_rejects_file() {
    let f = write(b"_location,_reason,id,name\nx.csv:2,too_long,1,Ada\n");
    let mut c = config(f.path(), 10);
    c.skip_columns = Some("_*".to_string());
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["id", "name"]);
    let rows = read_all(&mut source).await;
    assert_eq!(rows[0].1, vec![Some("1".to_string()), Some("Ada".to_string())]);
}

#[tokio::test]
async fn bad_files_are_errors_that_name_file_and_line() {
    let f = write(b"");
    let err = config(f.path(), 10).build(std::path::Path::new("/")).err().expect("an error");
    assert!(err.to_string().contains("the header is empty"), "{err}");
    let f = write(b",,\n1,2,3\n");
    assert!(
        config(f.path(), 10)
            .build(std::path::Path::new("/"))
            .err()
            .unwrap()
            .to_string()
            .contains("the header is empty")
    );
    let missing = config(std::path::Path::new("nope.csv"), 10).build(std::path::Path::new("/data")).err().unwrap();
    assert!(missing.to_string().contains("/data/nope.csv"), "{missing}");
}

#[test]
fn options_are_checked_when_building() {
    let f = write(b"id\n1\n");
    let mut c = config(f.path(), 0);
    assert!(c.build(std::path::Path::new("/")).err().unwrap().to_string().contains("batch_size"));
    c.batch_size = 10;
    c.delimiter = Some(";;".into());
    assert!(c.build(std::path::Path::new("/")).err().unwrap().to_string().contains("delimiter"));
    c.delimiter = Some("tab".into());
    assert_eq!(c.delimiter_byte().unwrap(), Some(b'\t'));
    c.encoding = Some("klingon".into());
    assert!(c.build(std::path::Path::new("/")).err().unwrap().to_string().contains("encoding \"klingon\" is unknown"));
}

/// A `bcp`-style dump: every line is a record, the first one included.
const HEADERLESS: &[u8] = b"1001,2019-03-12,Smith,45.00\n1002,2019-03-13,Jones,12.50\n1003,2019-04-01,Brown,7.25\n";

#[tokio::test]
async fn header_false_reads_the_first_record_as_data_with_positional_column_names() {
    let f = write(HEADERLESS);
    let c = CsvSourceConfig { header: false, ..config(f.path(), 10) };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["column_1", "column_2", "column_3", "column_4"]);
    let rows = read_all(&mut source).await;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(
        rows[0].1,
        ["1001", "2019-03-12", "Smith", "45.00"].map(|v| Some(v.to_string())).to_vec(),
        "the first record is a row"
    );
    let header = source.info().header.unwrap();
    assert!(!header.consumed);
    assert_eq!((header.line, header.skipped_above, header.looks_like_data), (None, 0, None));
    assert_eq!(source.info().row_count, Some(3));
}

#[tokio::test]
async fn a_headerless_file_read_with_a_header_is_flagged_and_says_which_line_was_consumed() {
    let f = write(HEADERLESS);
    let mut source = config(f.path(), 10).build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["1001", "2019-03-12", "Smith", "45.00"]);
    let first = source.next_batch().await.unwrap().unwrap();
    assert_eq!(first.height(), 2);
    let note = first.notes.iter().find(|n| n.code == "header_looks_like_data").expect("flagged");
    assert!(note.example.starts_with("3 of the header's 4 named cells look like values"), "{}", note.example);
    let header = source.info().header.unwrap();
    assert!(header.consumed);
    assert_eq!(header.line, Some(1));
    assert_eq!(header.fields, ["1001", "2019-03-12", "Smith", "45.00"]);
    assert_eq!(header.looks_like_data.as_deref(), Some(note.example.as_str()));
}

#[tokio::test]
async fn header_false_after_skipped_title_lines_counts_what_it_skipped() {
    let f = write(b"Export of 2024-02-01\nfrom LEGACY\n7,Ada\n8,Grace\n");
    let c = CsvSourceConfig { header: false, skip_rows: Some(migrate_csv::SkipRows::Count(2)), ..config(f.path(), 10) };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["column_1", "column_2"]);
    let rows = read_all(&mut source).await;
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(source.info().header.unwrap().skipped_above, 2);
}

#[tokio::test]
async fn a_real_header_is_not_flagged() {
    let f = write(b"id,name,joined,balance\n1001,Smith,2019-03-12,45.00\n1002,Jones,2019-03-13,12.50\n");
    let mut source = config(f.path(), 10).build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert!(batch.notes.iter().all(|n| n.code != "header_looks_like_data"));
    let header = source.info().header.unwrap();
    assert_eq!((header.line, header.looks_like_data), (Some(1), None));
}

/// A Mac Roman export whose first non-ASCII byte sits past the first
/// 64 KiB (about byte 86,000), as old Mac-era CRM exports do.
fn late_mac_roman() -> (Vec<u8>, usize) {
    let mut text = String::from("id,name,city\n");
    let mut i = 0;
    while text.len() < 86_000 {
        text.push_str(&format!("{i},Person {i},Springfield\n"));
        i += 1;
    }
    let first_accent = text.len() + format!("{i},").len() + 3;
    for (j, (name, city)) in [("Café Müller", "Zürich"), ("Crème Brûlée", "Besançon"), ("Ñandú Peña", "España")]
        .iter()
        .cycle()
        .take(13)
        .enumerate()
    {
        text.push_str(&format!("{},{name},{city}\n", i + j));
    }
    let (bytes, _, unmappable) = encoding_rs::MACINTOSH.encode(&text);
    assert!(!unmappable);
    (bytes.into_owned(), first_accent)
}

#[tokio::test]
async fn auto_encoding_reads_the_whole_file_before_it_believes_an_ascii_start() {
    let (bytes, first_accent) = late_mac_roman();
    let f = write(&bytes);
    let mut source = config(f.path(), 100_000).build(std::path::Path::new("/")).unwrap();
    let info = source.info();
    assert_eq!(info.encoding.as_deref(), Some("macintosh"));
    let how = info.encoding_confidence.unwrap();
    assert!(how.starts_with("detected (statistical guess from the whole file"), "{how}");
    assert!(how.contains(&format!("first byte that is not UTF-8 is at offset {first_accent}")), "{how}");
    let rows = read_all(&mut source).await;
    let last: Vec<_> = rows.iter().rev().take(13).map(|r| r.1[1].clone().unwrap()).collect();
    assert!(last.iter().all(|n| ["Café Müller", "Crème Brûlée", "Ñandú Peña"].contains(&n.as_str())), "{last:?}");
    assert_eq!(
        rows.iter().rev().take(3).map(|r| r.1[2].clone().unwrap()).collect::<Vec<_>>(),
        ["Zürich", "España", "Besançon"]
    );

    // Declared UTF-8, the same file: the rows that do not decode are
    // rejected, and the reason names the encoding that fits.
    let c = CsvSourceConfig { encoding: Some("utf-8".into()), ..config(f.path(), 100_000) };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    let mut messages = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        messages.extend(batch.malformed.iter().map(|m| m.message.clone()));
    }
    assert_eq!(messages.len(), 13);
    assert_eq!(
        messages[0],
        "field 2 (name) has bytes that are not valid UTF-8 (the whole file reads as macintosh: set encoding = \"macintosh\", or set invalid_bytes = \"replace\" to keep the row)"
    );
}

#[tokio::test]
async fn ascii_and_utf8_are_said_of_the_whole_file() {
    let mut text = String::from("id,name\n");
    for i in 0..8_000 {
        text.push_str(&format!("{i},Person {i}\n"));
    }
    let ascii = write(text.as_bytes());
    let info = config(ascii.path(), 10).build(std::path::Path::new("/")).unwrap().info();
    assert_eq!(info.encoding_confidence.as_deref(), Some("ascii"));
    text.push_str("8000,Zoë\n");
    let utf8 = write(text.as_bytes());
    let info = config(utf8.path(), 10).build(std::path::Path::new("/")).unwrap().info();
    assert_eq!((info.encoding.as_deref(), info.encoding_confidence.as_deref()), (Some("utf-8"), Some("valid_utf8")));
}

#[tokio::test]
async fn a_bcp_dump_with_multi_character_terminators_reads_exactly_and_bad_settings_are_refused() {
    let f = write(b"id+|name+|note&|\r\n1+|Ada+|a, \"quoted\" note&|\r\n2+|Grace+|two\r\nlines&|\r\n3+|Alan+|&|\r\n");
    let bcp = CsvSourceConfig {
        field_terminator: Some("+|".into()),
        record_terminator: Some("&|\r\n".into()),
        ..config(f.path(), 10)
    };
    let mut source = bcp.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["id", "name", "note"]);
    let rows = read_all(&mut source).await;
    let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
    assert_eq!(
        rows,
        [
            (2, some(&["1", "Ada", "a, \"quoted\" note"])),
            (3, some(&["2", "Grace", "two\r\nlines"])),
            (5, some(&["3", "Alan", ""])),
        ]
    );
    let info = source.info();
    assert_eq!((info.delimiter.as_deref(), info.quoting.as_deref()), (Some("+|"), Some("none")));
    assert_eq!(info.row_count, Some(3));

    // The default record terminator is a line break, either kind.
    let f = write(b"1+|a\r\n2+|b\n3+|c");
    let lines = CsvSourceConfig { field_terminator: Some("+|".into()), header: false, ..config(f.path(), 10) };
    let rows = read_all(&mut lines.build(std::path::Path::new("/")).unwrap()).await;
    assert_eq!(
        rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
        [some(&["1", "a"]), some(&["2", "b"]), some(&["3", "c"])]
    );

    for (config, message) in [
        (
            CsvSourceConfig { record_terminator: Some("&|".into()), ..config(f.path(), 10) },
            "terminators: record_terminator needs a field_terminator too",
        ),
        (
            CsvSourceConfig {
                field_terminator: Some("+|".into()),
                delimiter: Some(";".into()),
                ..config(f.path(), 10)
            },
            "terminators: field_terminator replaces delimiter: remove one of them",
        ),
        (
            CsvSourceConfig {
                field_terminator: Some("+|".into()),
                quoting: migrate_csv::Quoting::Rfc4180,
                ..config(f.path(), 10)
            },
            "terminators: a terminator-delimited file has no quoting: remove quoting or set it to \"none\"",
        ),
        (
            CsvSourceConfig { field_terminator: Some("§".into()), ..config(f.path(), 10) },
            "terminators: terminators are one or more ASCII characters",
        ),
    ] {
        assert_eq!(config.build(std::path::Path::new("/")).err().map(|e| e.to_string()).as_deref(), Some(message));
    }
}
