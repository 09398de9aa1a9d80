//! What customers export: every encoding, delimiter, quoting and line
//! ending the CSV source reads, with the exact values it must produce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use migrate_csv::{CsvSourceConfig, InvalidBytes, Quoting, Ragged, SkipRows};
use migrate_engine::{Batch, RejectReason, Source, SourceLocation};

fn write(content: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content).unwrap();
    f
}

fn open(content: &[u8], tweak: impl FnOnce(&mut CsvSourceConfig)) -> (tempfile::NamedTempFile, migrate_csv::CsvSource) {
    let f = write(content);
    let mut c = CsvSourceConfig::for_path(f.path().display().to_string());
    tweak(&mut c);
    let source = c.build(std::path::Path::new("/")).unwrap();
    (f, source)
}

async fn one_batch(source: &mut migrate_csv::CsvSource) -> Batch {
    source.next_batch().await.unwrap().unwrap()
}

fn column(batch: &Batch, name: &str) -> Vec<Option<String>> {
    batch.text(name).unwrap().iter().map(|v| v.map(str::to_string)).collect()
}

fn lines(batch: &Batch) -> Vec<u64> {
    batch
        .locations
        .iter()
        .map(|l| match l {
            SourceLocation::Line { line, .. } => *line,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some(v.to_string())).collect()
}

#[tokio::test]
async fn legacy_encodings_decode_to_exact_text() {
    let text = "id;name;city\n1;Zoë Müller;Besançon\n2;Łukasz;Kraków\n";
    let cases: Vec<(Vec<u8>, Option<&str>, &str, &str)> = vec![
        (text.replace('Ł', "L").replace('ó', "o").into_bytes(), None, "utf-8", "valid_utf8"),
        ([b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(), None, "utf-8", "bom"),
        (
            [b"\xFF\xFE".as_slice(), &text.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()].concat(),
            None,
            "utf-16le",
            "bom",
        ),
        (
            [b"\xFE\xFF".as_slice(), &text.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<u8>>()].concat(),
            None,
            "utf-16be",
            "bom",
        ),
        (
            text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
            None,
            "utf-16le",
            "detected (NUL bytes in every other position)",
        ),
        (encoding_rs::ISO_8859_2.encode(text).0.into_owned(), Some("iso-8859-2"), "iso-8859-2", "declared"),
    ];
    for (bytes, declared, encoding, how) in cases {
        let (_f, mut source) = open(&bytes, |c| c.encoding = declared.map(str::to_string));
        assert_eq!(source.columns(), ["id", "name", "city"], "{encoding}");
        let batch = one_batch(&mut source).await;
        let expected_names = if encoding == "utf-8" && how == "valid_utf8" {
            ["Zoë Müller", "Lukasz"]
        } else {
            ["Zoë Müller", "Łukasz"]
        };
        assert_eq!(column(&batch, "name"), some(&expected_names), "{encoding}");
        let info = source.info();
        assert_eq!(info.encoding.as_deref(), Some(encoding));
        assert_eq!(info.encoding_confidence.as_deref(), Some(how));
        assert_eq!(info.delimiter.as_deref(), Some(";"));
    }
}

#[tokio::test]
async fn windows_1252_mac_roman_and_shift_jis() {
    let (bytes, _, _) = encoding_rs::WINDOWS_1252
        .encode("Nom,Société,Montant\nDurand,Crédit Agricole,€ 12\nLefèvre,Société Générale,€ 7\n");
    let (_f, mut source) = open(&bytes, |_| {});
    let batch = one_batch(&mut source).await;
    assert_eq!(column(&batch, "Société"), some(&["Crédit Agricole", "Société Générale"]));
    assert_eq!(column(&batch, "Montant"), some(&["€ 12", "€ 7"]));
    assert_eq!(source.info().encoding.as_deref(), Some("windows-1252"));

    let (_f, mut source) = open(b"name\nCaf\x8E\n", |c| c.encoding = Some("mac-roman".into()));
    assert_eq!(column(&one_batch(&mut source).await, "name"), some(&["Café"]));

    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,会社\n山田太郎,株式会社テスト\n佐藤花子,東京電力\n");
    let (_f, mut source) = open(&sjis, |c| c.encoding = Some("shift_jis".into()));
    assert_eq!(column(&one_batch(&mut source).await, "会社"), some(&["株式会社テスト", "東京電力"]));
}

#[tokio::test]
async fn bytes_that_do_not_decode_reject_the_row_or_are_replaced_and_counted() {
    let content = b"id,name\n1,ok\n2,caf\xE9 \xFF\n";
    let (_f, mut source) = open(content, |c| c.encoding = Some("utf-8".into()));
    let batch = one_batch(&mut source).await;
    assert_eq!(batch.malformed.len(), 1);
    assert_eq!(batch.malformed[0].row, 1);
    assert_eq!(batch.malformed[0].reason, RejectReason::InvalidEncoding);
    assert!(
        batch.malformed[0].message.starts_with("field 2 (name) has bytes that are not valid UTF-8"),
        "{}",
        batch.malformed[0].message
    );

    let (_f, mut source) = open(content, |c| {
        c.encoding = Some("utf-8".into());
        c.invalid_bytes = InvalidBytes::Replace;
    });
    let batch = one_batch(&mut source).await;
    assert!(batch.malformed.is_empty());
    assert_eq!(column(&batch, "name")[1].as_deref(), Some("caf\u{fffd} \u{fffd}"));
    assert_eq!(batch.notes.iter().map(|n| (n.row, n.code)).collect::<Vec<_>>(), vec![(1, "invalid_bytes_replaced")]);
}

#[tokio::test]
async fn double_encoded_utf8_is_delivered_as_read_for_the_engine_to_repair() {
    let (_f, mut source) = open("name\nCafÃ©\nCafé\ndonâ€™t\n".as_bytes(), |_| {});
    let batch = one_batch(&mut source).await;
    assert_eq!(column(&batch, "name"), [Some("CafÃ©".into()), Some("Café".into()), Some("donâ€™t".into())]);
    assert!(batch.notes.is_empty());
}

#[tokio::test]
async fn delimiters_and_line_endings() {
    let cases: [(&[u8], &str, Vec<u64>); 5] = [
        (b"a,b\r\n1,2\r\n3,4\r\n", ",", vec![2, 3]),
        (b"a;b\n1;2\n3;4\n", ";", vec![2, 3]),
        (b"a\tb\r1\t2\r3\t4\r", "tab", vec![2, 3]),
        (b"a|b\n1|2\n\n3|4", "|", vec![2, 4]),
        (b"a;b\r1;\"x\ry\"\r3;4\r", ";", vec![2, 4]),
    ];
    for (content, delimiter, expected_lines) in cases {
        let (_f, mut source) = open(content, |_| {});
        assert_eq!(source.columns(), ["a", "b"], "{content:?}");
        let batch = one_batch(&mut source).await;
        assert_eq!(lines(&batch), expected_lines, "{content:?}");
        assert_eq!(source.info().delimiter.as_deref(), Some(delimiter));
    }
}

#[tokio::test]
async fn quoting_styles() {
    let (_f, mut source) = open(b"id,note\n1,\"say \"\"hi\"\"\"\n", |_| {});
    assert_eq!(column(&one_batch(&mut source).await, "note"), some(&["say \"hi\""]));

    let (_f, mut source) = open(b"id,note\n1,\"say \\\"hi\\\"\"\n", |c| c.quoting = Quoting::Backslash);
    assert_eq!(column(&one_batch(&mut source).await, "note"), some(&["say \"hi\""]));

    let (_f, mut source) = open(b"id,note\n1,5\" disk\n2,ok\n", |c| c.quoting = Quoting::None);
    assert_eq!(column(&one_batch(&mut source).await, "note"), some(&["5\" disk", "ok"]));
}

#[tokio::test]
async fn quoting_is_sniffed_when_not_declared_and_reported() {
    let cases: [(&[u8], &str, &[&str]); 3] = [
        (b"id,note\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n", "rfc4180", &["a, b", "say \"hi\""]),
        (b"id,note\n1,\"a, b\"\n2,\"say \\\"hi\\\", ok\"\n", "backslash", &["a, b", "say \"hi\", ok"]),
        // Unclosed quotes opening fields: RFC 4180 would merge lines 2-4.
        (b"id,note\n1,\"Big Joe\n2,plain\n3,\"Bo\n4,end\n", "none", &["\"Big Joe", "plain", "\"Bo", "end"]),
    ];
    for (content, style, notes) in cases {
        let (_f, mut source) = open(content, |_| {});
        let batch = one_batch(&mut source).await;
        assert_eq!(source.info().quoting.as_deref(), Some(style), "{:?}", String::from_utf8_lossy(content));
        assert_eq!(column(&batch, "note"), some(notes));
        assert!(batch.malformed.is_empty());
    }
}

#[tokio::test]
async fn trailing_delimiters_reject_nothing_and_a_header_s_trailing_field_is_a_generated_column() {
    // Only the rows end in a delimiter: no column is added.
    let (_f, mut source) = open(b"id;name\n1;Ada;\n2;Grace;;\n3;Alan\n", |_| {});
    assert_eq!(source.columns(), ["id", "name"]);
    let batch = one_batch(&mut source).await;
    assert_eq!(column(&batch, "name"), some(&["Ada", "Grace", "Alan"]));
    assert!(batch.malformed.is_empty(), "{:?}", batch.malformed);
    assert!(batch.notes.is_empty(), "{:?}", batch.notes);

    // The header ends in a delimiter: the column there is column_3, empty
    // where a row leaves it out or empty, the value where a row fills it.
    let (_f, mut source) = open(b"id;name;\n1;Ada;\n2;Grace;VIP\n3;Alan\n4;Kurt;;\n", |_| {});
    assert_eq!(source.columns(), ["id", "name", "column_3"]);
    let batch = one_batch(&mut source).await;
    assert!(batch.malformed.is_empty(), "{:?}", batch.malformed);
    assert_eq!(column(&batch, "name"), some(&["Ada", "Grace", "Alan", "Kurt"]));
    assert_eq!(column(&batch, "column_3"), vec![Some(String::new()), Some("VIP".into()), None, Some(String::new())]);
    let notes: Vec<(&str, &str, &str)> =
        batch.notes.iter().map(|n| (n.column.as_str(), n.code, n.example.as_str())).collect();
    assert_eq!(
        notes,
        [(
            "column_3",
            "trailing_delimiter",
            "the header ends with 1 empty field(s), kept as column_3 (empty unless a row fills it)"
        )]
    );
    // A non-empty field past the whole header is still an extra field, and
    // a row short of the named columns is still short.
    let (_f, mut source) = open(b"id;name;\n1;Ada;x;y\n2\n", |_| {});
    let batch = one_batch(&mut source).await;
    let messages: Vec<&str> = batch.malformed.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(messages, ["record has 4 fields, the header has 3", "record has 1 fields, the header has 2"]);
}

#[tokio::test]
async fn a_preamble_is_skipped_by_count_or_found() {
    let content = b"Customer export\nGenerated 2024-01-01\n\nid;name\n1;Ada\n2;Grace\n";
    for skip in [SkipRows::Count(2), serde_auto()] {
        let (_f, mut source) = open(content, |c| c.skip_rows = Some(skip));
        assert_eq!(source.columns(), ["id", "name"]);
        let batch = one_batch(&mut source).await;
        assert_eq!(column(&batch, "name"), some(&["Ada", "Grace"]));
        assert_eq!(lines(&batch), vec![5, 6]);
    }
}

fn serde_auto() -> SkipRows {
    #[derive(serde::Deserialize)]
    struct W {
        skip_rows: SkipRows,
    }
    toml::from_str::<W>("skip_rows = \"auto\"").unwrap().skip_rows
}

#[tokio::test]
async fn header_names_are_made_unique_and_reported() {
    let (_f, mut source) = open(b"id,Email,,Email\n1,a,b,c\n", |_| {});
    assert_eq!(source.columns(), ["id", "Email", "column_3", "Email_2"]);
    let batch = one_batch(&mut source).await;
    let notes: Vec<(&str, &str, &str)> =
        batch.notes.iter().map(|n| (n.column.as_str(), n.code, n.example.as_str())).collect();
    assert_eq!(
        notes,
        vec![
            ("column_3", "header_renamed", "column 3 has no name"),
            ("Email_2", "header_renamed", "\"Email\" appears more than once")
        ]
    );
}

#[tokio::test]
async fn ragged_rows_reject_or_pad_and_huge_fields_reject() {
    let content = b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n";
    let (_f, mut source) = open(content, |_| {});
    let batch = one_batch(&mut source).await;
    assert_eq!(batch.malformed.iter().map(|m| m.row).collect::<Vec<_>>(), vec![1, 2]);

    let (_f, mut source) = open(content, |c| c.ragged = Ragged::Pad);
    let batch = one_batch(&mut source).await;
    assert_eq!(batch.malformed.iter().map(|m| m.row).collect::<Vec<_>>(), vec![2], "extra fields still reject");
    assert_eq!(column(&batch, "c")[1], None);

    let (_f, mut source) = open(b"a,b\n1,short\n2,waytoolongvalue\n", |c| c.max_field_bytes = 10);
    let batch = one_batch(&mut source).await;
    assert_eq!(batch.malformed.len(), 1);
    assert_eq!(batch.malformed[0].reason, RejectReason::FieldTooLarge);
    assert_eq!(batch.malformed[0].message, "field 2 is 15 bytes, more than max_field_bytes = 10");
}
