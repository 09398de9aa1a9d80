//! A file cut into parts at record boundaries reads, part by part, exactly
//! as it reads whole: same rows, same lines, quoted newlines included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Seek, SeekFrom, Write};

use migrate_csv::{CsvSource, CsvSourceConfig};
use migrate_engine::{Source, SourceLocation};

async fn rows(config: &CsvSourceConfig) -> Vec<(u64, Vec<Option<String>>)> {
    let mut source = config.build(std::path::Path::new("/")).unwrap();
    let mut out = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        assert!(batch.malformed.is_empty(), "{:?}", batch.malformed);
        for i in 0..batch.height() {
            let SourceLocation::Line { line, .. } = &batch.locations[i] else { panic!() };
            out.push((*line, batch.row_values(i)));
        }
    }
    out
}

#[tokio::test]
async fn parts_read_back_as_the_whole_file() {
    let mut content = String::from("\u{feff}Export 2024\nid;note;city\n");
    for i in 0..200 {
        match i % 3 {
            0 => content.push_str(&format!("{i};\"two\nlines; {i}\";Köln\r\n")),
            1 => content.push_str(&format!("{i};plain {i};Zürich\n\n")),
            _ => content.push_str(&format!("{i};\"quoted \"\"{i}\"\"\";Łódź\n")),
        }
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    let mut whole = CsvSourceConfig::for_path(file.path().display().to_string());
    whole.skip_rows = Some(serde_auto());
    whole.batch_size = 7;
    let expected = rows(&whole).await;
    assert_eq!(expected.len(), 200);
    assert_eq!(expected[0].1[1].as_deref(), Some("two\nlines; 0"));

    let index = CsvSource::index(&whole, file.path(), 500).unwrap().unwrap();
    assert!(index.parts.len() > 5, "{} parts", index.parts.len());
    assert_eq!(index.size, content.len() as u64);
    assert_eq!(index.parts.iter().map(|p| p.records).sum::<u64>(), 200);
    assert_eq!(index.pinned.delimiter, ";");
    assert_eq!(index.pinned.skip_rows, 1);
    assert_eq!(index.parts.first().unwrap().start, index.data_start);
    assert_eq!(index.parts.last().unwrap().end, index.size);

    let mut got = Vec::new();
    let mut raw = std::fs::File::open(file.path()).unwrap();
    for part in &index.parts {
        // The header bytes, then the part: what a worker downloads.
        let mut bytes = vec![0u8; index.data_start as usize];
        raw.seek(SeekFrom::Start(0)).unwrap();
        raw.read_exact(&mut bytes).unwrap();
        let mut slice = vec![0u8; (part.end - part.start) as usize];
        raw.seek(SeekFrom::Start(part.start)).unwrap();
        raw.read_exact(&mut slice).unwrap();
        bytes.extend(slice);
        let mut piece = tempfile::NamedTempFile::new().unwrap();
        piece.write_all(&bytes).unwrap();
        let mut config = index.pinned.apply(&whole);
        config.path = piece.path().display().to_string();
        config.line_offset = index.line_offset(part);
        let part_rows = rows(&config).await;
        assert_eq!(part_rows.len() as u64, part.records);
        assert_eq!(part_rows.first().map(|r| r.0), Some(part.first_line));
        got.extend(part_rows);
    }
    assert_eq!(got, expected);
}

fn serde_auto() -> migrate_csv::SkipRows {
    #[derive(serde::Deserialize)]
    struct W {
        skip_rows: migrate_csv::SkipRows,
    }
    toml::from_str::<W>("skip_rows = \"auto\"").unwrap().skip_rows
}

#[tokio::test]
async fn multi_byte_legacy_encodings_are_not_cut() {
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,会社\n山田太郎,株式会社テスト\n佐藤花子,東京電力\n");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(&sjis).unwrap();
    let mut config = CsvSourceConfig::for_path(file.path().display().to_string());
    config.encoding = Some("shift_jis".into());
    assert_eq!(CsvSource::index(&config, file.path(), 10).unwrap(), None);
}
