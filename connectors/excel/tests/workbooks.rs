//! Real workbooks (fixtures/files, written by make_xlsx.py): typed cells,
//! both date systems, error cells, sheets by name or position.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_engine::{Batch, RejectReason, SkipRows, Source, SourceLocation};
use migrate_excel::{ExcelSourceConfig, SheetRef};

fn fixture(name: &str) -> String {
    format!("{}/../../fixtures/files/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn config(name: &str) -> ExcelSourceConfig {
    ExcelSourceConfig { skip_rows: SkipRows::Count(2), ..ExcelSourceConfig::for_path(fixture(name)) }
}

fn row(batch: &Batch, i: usize) -> Vec<Option<String>> {
    batch.row_values(i)
}

fn some(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

#[tokio::test]
async fn typed_cells_become_exact_text_in_every_format_and_date_system() {
    // The xls and ods files are customers.xlsx converted by LibreOffice,
    // which stores these booleans as numbers with a boolean format.
    for file in ["customers.xlsx", "customers_1904.xlsx", "customers.xls", "customers.ods"] {
        let (yes, no) = if file.ends_with(".ods") { ("1", "0") } else { ("true", "false") };
        let mut source = config(file).build(std::path::Path::new("/")).unwrap();
        assert_eq!(
            source.columns(),
            ["ID", "Name", "Joined", "Last call", "Call time", "Balance", "Active", "Check", "Zip"]
        );
        let batch = source.next_batch().await.unwrap().unwrap();
        assert_eq!(batch.height(), 3, "{file}");
        assert_eq!(
            row(&batch, 0),
            some(&[
                Some("1"),
                Some("Zoë Müller"),
                Some("2018-03-06"),
                Some("2024-01-31 14:05:09"),
                Some("09:30:00"),
                Some("1234.5"),
                Some(yes),
                None,
                Some("00123")
            ]),
            "{file}"
        );
        assert_eq!(
            row(&batch, 1),
            some(&[
                Some("2"),
                Some("Łukasz"),
                Some("1999-12-31"),
                None,
                Some("23:59:59"),
                Some("-0.1"),
                Some(no),
                None,
                Some("01234")
            ]),
            "{file}"
        );
        assert_eq!(row(&batch, 2)[2].as_deref(), Some("2020-02-29"), "a leap day");
        let cells: Vec<String> = batch
            .locations
            .iter()
            .map(|l| match l {
                SourceLocation::Cell { sheet, cell, .. } => format!("{sheet}!{cell}"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(cells, ["Kunden!A4", "Kunden!A5", "Kunden!A6"]);
        let errors: Vec<(usize, &str, &str)> =
            batch.notes.iter().map(|n| (n.row, n.code, n.example.as_str())).collect();
        assert_eq!(errors, vec![(0, "excel_error_nulled", "#DIV/0!"), (1, "excel_error_nulled", "#N/A")]);
        assert!(source.next_batch().await.unwrap().is_none());
        let info = source.info();
        assert_eq!(info.row_count, Some(3));
        assert!(info.sha256.is_some() && info.location.ends_with("!Kunden"));
    }
}

#[tokio::test]
async fn sheets_by_name_or_position_and_a_missing_one_named() {
    for sheet in [SheetRef::Name("Notes".into()), SheetRef::Index(2)] {
        let c = ExcelSourceConfig { sheet: Some(sheet), ..ExcelSourceConfig::for_path(fixture("customers.xlsx")) };
        let source = c.build(std::path::Path::new("/")).unwrap();
        assert_eq!(source.columns(), ["a", "b"]);
    }
    let c = ExcelSourceConfig {
        sheet: Some(SheetRef::Name("Orders".into())),
        ..ExcelSourceConfig::for_path(fixture("customers.xlsx"))
    };
    let err = c.build(std::path::Path::new("/")).err().unwrap().to_string();
    assert!(err.ends_with("no sheet \"Orders\" (it has: Kunden, Notes, Merged)"), "{err}");
}

#[tokio::test]
async fn batches_are_bounded() {
    let c = ExcelSourceConfig { batch_size: 2, ..config("customers.xlsx") };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.next_batch().await.unwrap().unwrap().height(), 2);
    assert_eq!(source.next_batch().await.unwrap().unwrap().height(), 1);
    assert!(source.next_batch().await.unwrap().is_none());
}

/// The progress bar's percentage: rows below the header delivered, of the
/// rows the sheet declares (xlsx) or holds (a format read whole).
#[tokio::test]
async fn the_source_reports_how_many_rows_of_the_sheet_it_has_read() {
    for name in ["customers.xlsx", "customers.xls"] {
        let c = ExcelSourceConfig { batch_size: 1, ..config(name) };
        let mut source = c.build(std::path::Path::new("/")).unwrap();
        let mut seen = Vec::new();
        while source.next_batch().await.unwrap().is_some() {
            seen.push(source.position());
        }
        assert_eq!(seen, [Some((1, 3)), Some((2, 3)), Some((3, 3))], "{name}");
        assert_eq!(source.position(), Some((3, 3)), "{name}");
    }
    // A sheet that does not declare its size: no percentage (a spinner).
    let undeclared = rewritten(|xml| xml.replace("<dimension ref=\"A1:I6\" />", ""), None);
    let c = ExcelSourceConfig {
        skip_rows: SkipRows::Count(2),
        ..ExcelSourceConfig::for_path(undeclared.path().display().to_string())
    };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.next_batch().await.unwrap().unwrap().height(), 3);
    assert_eq!(source.position(), None);
}

/// customers.xlsx with its first sheet rewritten by `edit`, and maybe a
/// part added.
fn rewritten(edit: impl Fn(&str) -> String, extra: Option<(&str, Vec<u8>)>) -> tempfile::NamedTempFile {
    use std::io::Read;
    let base = fixture("customers.xlsx");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&base).unwrap()).unwrap();
    let mut sheet = String::new();
    archive.by_name("xl/worksheets/sheet1.xml").unwrap().read_to_string(&mut sheet).unwrap();
    let mut parts = vec![("xl/worksheets/sheet1.xml", edit(&sheet).into_bytes())];
    parts.extend(extra);
    with_parts(std::path::Path::new(&base), parts)
}

#[tokio::test]
async fn a_sheet_declaring_the_largest_dimension_costs_only_its_cells() {
    let huge = rewritten(
        |xml| {
            assert!(xml.contains("<dimension ref=\"A1:I6\" />"));
            xml.replace("<dimension ref=\"A1:I6\" />", "<dimension ref=\"A1:XFD1048576\" />")
        },
        None,
    );
    let c = ExcelSourceConfig {
        skip_rows: SkipRows::Count(2),
        ..ExcelSourceConfig::for_path(huge.path().display().to_string())
    };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 3);
    assert_eq!(batch.row_values(2)[1].as_deref(), Some("Ada"));
}

#[tokio::test]
async fn a_workbook_that_unpacks_too_large_is_refused_before_reading() {
    let padded = rewritten(|xml| xml.to_string(), Some(("xl/media/padding.bin", vec![0u8; 4 << 20])));
    let c = ExcelSourceConfig {
        max_unpacked_bytes: 1 << 20,
        ..ExcelSourceConfig::for_path(padded.path().display().to_string())
    };
    let err = c.build(std::path::Path::new("/")).err().unwrap().to_string();
    assert!(err.contains("part xl/media/padding.bin unpacks to 4194304 bytes"), "{err}");
    assert!(err.contains("the parts add up to more than max_unpacked_bytes = 1048576"), "{err}");
}

#[tokio::test]
async fn merged_cells_stay_in_their_corner_or_fill_the_region() {
    let sheet = |merged| ExcelSourceConfig {
        sheet: Some(SheetRef::Name("Merged".into())),
        merged,
        ..ExcelSourceConfig::for_path(fixture("customers.xlsx"))
    };
    let mut source = sheet(migrate_excel::Merged::Empty).build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    let city: Vec<Option<String>> = (0..4).map(|r| row(&batch, r)[0].clone()).collect();
    assert_eq!(city, some(&[Some("Berlin"), None, None, Some("Köln")]));
    assert_eq!(row(&batch, 0)[3], None);

    let mut source = sheet(migrate_excel::Merged::Fill).build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    let city: Vec<Option<String>> = (0..4).map(|r| row(&batch, r)[0].clone()).collect();
    assert_eq!(city, some(&[Some("Berlin"), Some("Berlin"), Some("Berlin"), Some("Köln")]));
    assert_eq!(row(&batch, 0), some(&[Some("Berlin"), Some("Ada"), Some("both quarters"), Some("both quarters")]));
    assert_eq!(row(&batch, 1), some(&[Some("Berlin"), Some("Grace"), Some("1"), Some("2")]));
}

/// A one-sheet workbook: `rows` as (cell, text) per row, and merged
/// regions.
fn tiny_xlsx(rows: &[&[(&str, &str)]], merges: &[&str]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let out = tempfile::Builder::new().suffix(".xlsx").tempfile().unwrap();
    let mut zip = zip::ZipWriter::new(std::fs::File::create(out.path()).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let rel = "http://schemas.openxmlformats.org/package/2006/relationships";
    let office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let mut data = String::new();
    for (i, cells) in rows.iter().enumerate() {
        data.push_str(&format!("<row r=\"{}\">", i + 1));
        for (at, text) in *cells {
            data.push_str(&format!("<c r=\"{at}\" t=\"inlineStr\"><is><t>{text}</t></is></c>"));
        }
        data.push_str("</row>");
    }
    let merged: String = merges.iter().map(|m| format!("<mergeCell ref=\"{m}\"/>")).collect();
    let parts = [
        (
            "[Content_Types].xml",
            "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
                 <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
                 <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
                 <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
                 <Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/></Types>"
                .to_string(),
        ),
        (
            "_rels/.rels",
            format!(
                "<Relationships xmlns=\"{rel}\"><Relationship Id=\"rId1\" Type=\"{office}/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                "<workbook xmlns=\"{main}\" xmlns:r=\"{office}\"><sheets><sheet name=\"Sheet1\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                "<Relationships xmlns=\"{rel}\"><Relationship Id=\"rId1\" Type=\"{office}/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>"
            ),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!(
                "<worksheet xmlns=\"{main}\"><sheetData>{data}</sheetData><mergeCells count=\"{}\">{merged}</mergeCells></worksheet>",
                merges.len()
            ),
        ),
    ];
    for (name, body) in parts {
        zip.start_file(name, options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
    out
}

/// `merged = "fill"` gives every row a merged region covers, also rows
/// that hold nothing but the region; a region's copies right of the header
/// are no data, its first cell there is.
#[tokio::test]
async fn merged_fill_gives_every_row_its_regions_cover() {
    let header: &[(&str, &str)] = &[("A1", "Region"), ("B1", "Note"), ("C1", "Also")];
    let book = tiny_xlsx(&[header, &[("A2", "North"), ("B2", "shared")]], &["A2:A4", "B2:D4"]);
    let path = book.path().display().to_string();
    let read = |merged| {
        let path = path.clone();
        async move {
            let c = ExcelSourceConfig { merged, ..ExcelSourceConfig::for_path(path) };
            let mut source = c.build(std::path::Path::new("/")).unwrap();
            let batch = source.next_batch().await.unwrap().unwrap();
            assert!(source.next_batch().await.unwrap().is_none());
            let rows: Vec<Vec<Option<String>>> = (0..batch.height()).map(|r| row(&batch, r)).collect();
            let at: Vec<String> = batch.locations.iter().map(ToString::to_string).collect();
            let malformed: Vec<String> = batch.malformed.iter().map(|m| m.message.clone()).collect();
            (rows, at, malformed)
        }
    };
    let (rows, at, malformed) = read(migrate_excel::Merged::Fill).await;
    let filled = some(&[Some("North"), Some("shared"), Some("shared")]);
    assert_eq!(rows, [filled.clone(), filled.clone(), filled]);
    let sheet = format!("{}:Sheet1!", book.path().display());
    assert_eq!(at, ["A2", "A3", "A4"].map(|c| format!("{sheet}{c}")));
    assert!(malformed.is_empty(), "{malformed:?}");
    let (rows, _, malformed) = read(migrate_excel::Merged::Empty).await;
    assert_eq!(rows, [some(&[Some("North"), Some("shared"), None])]);
    assert!(malformed.is_empty(), "{malformed:?}");

    // A value right of the header is an error at the region's first cell
    // only; the rows only its copies reach are no rows.
    let book = tiny_xlsx(&[header, &[("A2", "South"), ("D2", "stray")]], &["D2:E3"]);
    let c = ExcelSourceConfig {
        merged: migrate_excel::Merged::Fill,
        ..ExcelSourceConfig::for_path(book.path().display().to_string())
    };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 1);
    let malformed: Vec<&str> = batch.malformed.iter().map(|m| m.message.as_str()).collect();
    assert_eq!(malformed, ["cell D2 lies right of the header's last column (C)"]);
}

#[tokio::test]
async fn a_range_takes_only_its_cells_and_locates_rows_in_the_sheet() {
    let c = ExcelSourceConfig { range: Some("B3:C5".into()), ..ExcelSourceConfig::for_path(fixture("customers.xlsx")) };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["Name", "Joined"]);
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 2);
    assert_eq!(row(&batch, 0), some(&[Some("Zoë Müller"), Some("2018-03-06")]));
    let cells: Vec<String> = batch
        .locations
        .iter()
        .map(|l| match l {
            SourceLocation::Cell { cell, .. } => cell.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(cells, ["B4", "B5"]);
    for bad in ["B3", "C5:B3", "3B:C5"] {
        let c = ExcelSourceConfig { range: Some(bad.into()), ..ExcelSourceConfig::for_path(fixture("customers.xlsx")) };
        assert!(c.build(std::path::Path::new("/")).err().unwrap().to_string().contains("is not a cell range"), "{bad}");
    }
}

#[test]
fn merged_fill_is_refused_where_it_cannot_work() {
    let c = ExcelSourceConfig { merged: migrate_excel::Merged::Fill, ..config("customers.ods") };
    assert!(
        c.build(std::path::Path::new("/"))
            .err()
            .unwrap()
            .to_string()
            .contains("merged = \"fill\" works for xlsx and xlsm")
    );
}

#[tokio::test]
async fn serials_around_the_1900_leap_year_bug_and_durations_read_exactly() {
    let c = ExcelSourceConfig::for_path(fixture("serials.xlsx"));
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["Label", "Serial", "Elapsed"]);
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 5);
    // calamine's own date conversion gives 1900-02-28 for both 59 and 60.
    assert_eq!(row(&batch, 0), some(&[Some("first day"), Some("1900-01-01"), Some("36:30:00")]));
    assert_eq!(row(&batch, 1), some(&[Some("day 59"), Some("1900-02-28"), Some("0:01:00")]));
    assert_eq!(row(&batch, 3), some(&[Some("day 61"), Some("1900-03-01"), Some("48:00:00")]));
    assert_eq!(row(&batch, 4), some(&[Some("noon"), Some("2025-10-13 12:00:00"), None]));
    // Serial 60 is the 1900-02-29 that never was: its row is refused,
    // naming the cell, rather than shifted to a neighbouring day.
    assert_eq!(row(&batch, 2), some(&[Some("day 60"), None, None]));
    assert_eq!(batch.malformed.len(), 1);
    let bad = &batch.malformed[0];
    assert_eq!((bad.row, bad.reason), (2, RejectReason::InvalidDate));
    assert_eq!(
        bad.message,
        "cell B4: serial 60 is 1900-02-29, a day that does not exist (Excel counts 1900 as a leap year)"
    );
}

#[tokio::test]
async fn the_header_is_found_below_title_rows_when_asked() {
    let auto: ExcelSourceConfig =
        toml::from_str(&format!("path = {:?}\nskip_rows = \"auto\"\nsheet = \"Kunden\"", fixture("customers.xlsx")))
            .unwrap();
    assert_eq!(auto.skip_rows, SkipRows::Auto(migrate_engine::AutoWord::Auto));
    let mut source = auto.build(std::path::Path::new("/")).unwrap();
    assert_eq!(
        source.columns(),
        ["ID", "Name", "Joined", "Last call", "Call time", "Balance", "Active", "Check", "Zip"]
    );
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 3);
    assert_eq!(batch.row_values(0)[1].as_deref(), Some("Zoë Müller"));
    assert_eq!(
        batch.locations[0],
        SourceLocation::Cell { file: fixture("customers.xlsx").into(), sheet: "Kunden".into(), cell: "A4".into() }
    );
    // The report's decision, with its evidence.
    let decided = [(
        "skip_rows".to_string(),
        "2".to_string(),
        "the header on row 3: the first of the sheet's first rows with the most cells".to_string(),
    )];
    assert_eq!(source.decisions(), decided);
    // A range moves the search inside it: the header is the range's widest row.
    let ranged = ExcelSourceConfig {
        skip_rows: SkipRows::Auto(migrate_engine::AutoWord::Auto),
        range: Some("A1:C9".into()),
        ..ExcelSourceConfig::for_path(fixture("customers.xlsx"))
    };
    let mut source = ranged.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns(), ["ID", "Name", "Joined"]);
    assert_eq!(source.next_batch().await.unwrap().unwrap().height(), 3);
}

#[tokio::test]
async fn a_truncated_workbook_or_a_cut_sheet_is_a_clear_error_naming_the_file() {
    let whole = std::fs::read(fixture("customers.xlsx")).unwrap();
    for keep in [0, 10, whole.len() / 2, whole.len() - 1] {
        let cut = tempfile::Builder::new().suffix(".xlsx").tempfile().unwrap();
        std::fs::write(cut.path(), &whole[..keep]).unwrap();
        let c = ExcelSourceConfig::for_path(cut.path().display().to_string());
        let result = match c.build(std::path::Path::new("/")) {
            Err(e) => Err(e.to_string()),
            Ok(mut source) => source.next_batch().await.map(|_| ()).map_err(|e| e.to_string()),
        };
        let err = result.expect_err("a cut workbook cannot be read");
        let expected = format!("cannot open \"{}\": not a valid workbook: invalid Zip archive", cut.path().display());
        assert!(err.starts_with(&expected), "{keep} bytes: {err}");
    }
    // A sheet whose XML stops in the middle of a row.
    let cut_sheet = rewritten(
        |xml| {
            let at = xml.find("<row r=\"4\"").unwrap();
            xml[..at + 20].to_string()
        },
        None,
    );
    let c = ExcelSourceConfig::for_path(cut_sheet.path().display().to_string());
    let result = match c.build(std::path::Path::new("/")) {
        Err(e) => Err(e.to_string()),
        Ok(mut source) => {
            let mut all = Ok(());
            loop {
                match source.next_batch().await {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        all = Err(e.to_string());
                        break;
                    }
                }
            }
            all
        }
    };
    let expected = format!(
        "{}: sheet \"Kunden\" cannot be read after row 3: its XML is cut short or malformed (Xml error: ",
        cut_sheet.path().display()
    );
    let err = result.expect_err("a cut sheet cannot be read");
    assert!(err.starts_with(&expected), "{err}");
}

#[tokio::test]
async fn header_false_reads_the_first_row_as_data_and_a_data_row_as_header_is_flagged() {
    // Rows 4 to 6 of the Kunden sheet are data: read from row 4 on.
    let c = ExcelSourceConfig { skip_rows: SkipRows::Count(3), header: false, ..config("customers.xlsx") };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    assert_eq!(source.columns().len(), 9);
    assert_eq!(source.columns().first().map(String::as_str), Some("column_1"));
    assert_eq!(source.columns().last().map(String::as_str), Some("column_9"));
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 3, "row 4 is a row");
    assert_eq!(row(&batch, 0).get(1).cloned().flatten().as_deref(), Some("Zoë Müller"));
    let SourceLocation::Cell { cell, .. } = &batch.locations[0] else { panic!("not a cell") };
    assert_eq!(cell, "A4");
    let header = source.info().header.unwrap();
    assert!(!header.consumed);
    assert_eq!(header.skipped_above, 3);

    // The same rows with the default header = true: row 4 becomes names.
    let c = ExcelSourceConfig { skip_rows: SkipRows::Count(3), ..config("customers.xlsx") };
    let mut source = c.build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(batch.height(), 2);
    let note = batch.notes.iter().find(|n| n.code == "header_looks_like_data").expect("flagged");
    assert!(note.example.contains("set header = false"), "{}", note.example);
    let header = source.info().header.unwrap();
    assert_eq!(header.line, Some(4));
    assert_eq!(header.fields.get(1).map(String::as_str), Some("Zoë Müller"));

    // The real header (row 3) is not flagged.
    let mut source = config("customers.xlsx").build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert!(batch.notes.iter().all(|n| n.code != "header_looks_like_data"));
    assert_eq!(source.info().header.unwrap().line, Some(3));
}

/// A `.xls` from before Excel 97 (a bare BIFF2–4 stream) is named as what
/// it is, with how to convert it.
#[test]
fn an_excel_4_workbook_is_named_with_how_to_convert_it() {
    for (bof, version) in [([0x09u8, 0x00], "2.x"), ([0x09, 0x02], "3.x"), ([0x09, 0x04], "4.x")] {
        let f = tempfile::Builder::new().suffix(".xls").tempfile().unwrap();
        let mut bytes = bof.to_vec();
        bytes.extend([0x06, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0a, 0x00, 0x00, 0x00]);
        std::fs::write(f.path(), bytes).unwrap();
        let err = ExcelSourceConfig::for_path(f.path().display().to_string())
            .build(std::path::Path::new("/"))
            .err()
            .unwrap()
            .to_string();
        let expected = format!(
            "an Excel {version} workbook (BIFF{}), a format older than Excel 97 that is not read: open it in Excel or \
             LibreOffice and save it as .xlsx (or: soffice --headless --convert-to xlsx FILE)",
            &version[..1]
        );
        assert!(err.contains(&expected), "{err}");
    }
}

/// `base` with `parts` added (or put in place of its parts of that name).
fn with_parts(base: &std::path::Path, parts: Vec<(&str, Vec<u8>)>) -> tempfile::NamedTempFile {
    use std::io::{Read, Write};
    let mut archive = zip::ZipArchive::new(std::fs::File::open(base).unwrap()).unwrap();
    let out = tempfile::Builder::new().suffix(".xlsx").tempfile().unwrap();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(out.path()).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).unwrap();
        let name = part.name().unwrap().to_string();
        if parts.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let mut body = Vec::new();
        part.read_to_end(&mut body).unwrap();
        writer.start_file(name, options).unwrap();
        writer.write_all(&body).unwrap();
    }
    for (name, body) in parts {
        writer.start_file(name, options).unwrap();
        writer.write_all(&body).unwrap();
    }
    writer.finish().unwrap();
    out
}

/// A shared-strings part holding `strings`, declaring `unique`.
fn shared_strings(strings: impl Iterator<Item = String>, unique: &str) -> Vec<u8> {
    let mut xml =
        format!("<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" uniqueCount=\"{unique}\">");
    for s in strings {
        xml.push_str(&format!("<si><t>{s}</t></si>"));
    }
    xml.push_str("</sst>");
    xml.into_bytes()
}

/// One sheet: a header `Name` and `rows` rows whose cells (A, B, …) each
/// take shared string 0, `width` of them a row.
fn sheet_of_shared(rows: usize, width: usize) -> Vec<u8> {
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let mut data = String::from("<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>Name</t></is></c></row>");
    for r in 2..rows + 2 {
        data.push_str(&format!("<row r=\"{r}\">"));
        for c in 0..width {
            let col = (b'A' + c as u8 % 26) as char;
            let col = if c >= 26 { format!("A{col}") } else { col.to_string() };
            data.push_str(&format!("<c r=\"{col}{r}\" t=\"s\"><v>0</v></c>"));
        }
        data.push_str("</row>");
    }
    format!("<worksheet xmlns=\"{main}\"><sheetData>{data}</sheetData></worksheet>").into_bytes()
}

#[tokio::test]
async fn shared_strings_that_would_not_fit_in_memory_are_refused_before_any_is_held() {
    let base = tiny_xlsx(&[&[("A1", "Name")], &[("A2", "Ada")]], &[]);
    let strings = shared_strings((0..200_000).map(|i| format!("v{i:06}")), "200000");
    let book = with_parts(base.path(), vec![("xl/sharedStrings.xml", strings)]);
    let path = book.path().display().to_string();
    let small = ExcelSourceConfig { max_memory_bytes: 4 << 20, ..ExcelSourceConfig::for_path(path.clone()) };
    let err = small.build(std::path::Path::new("/")).err().expect("refused").to_string();
    assert!(err.contains("xl/sharedStrings.xml"), "{err}");
    assert!(err.contains("more than max_memory_bytes = 4194304; refusing to read it"), "{err}");
    // Within the default, the same workbook reads.
    let mut source = ExcelSourceConfig::for_path(path).build(std::path::Path::new("/")).unwrap();
    let batch = source.next_batch().await.unwrap().unwrap();
    assert_eq!(row(&batch, 0), some(&[Some("Ada")]));

    // A table that declares a trillion strings (calamine sizes its table
    // by it) is refused however little it holds.
    let declared =
        with_parts(base.path(), vec![("xl/sharedStrings.xml", shared_strings(std::iter::empty(), "1000000000000"))]);
    let err = ExcelSourceConfig::for_path(declared.path().display().to_string())
        .build(std::path::Path::new("/"))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("0 strings, 1000000000000 declared"), "{err}");
}

#[tokio::test]
async fn one_large_shared_string_in_many_cells_keeps_batches_and_rows_bounded() {
    let base = tiny_xlsx(&[&[("A1", "Name")]], &[]);
    let big = "x".repeat(2 << 20);
    let strings = shared_strings(std::iter::once(big.clone()), "1");
    // 100 rows of one 2 MiB cell: batches stop at 8 MiB of text.
    let book = with_parts(
        base.path(),
        vec![("xl/sharedStrings.xml", strings.clone()), ("xl/worksheets/sheet1.xml", sheet_of_shared(100, 1))],
    );
    let mut source =
        ExcelSourceConfig::for_path(book.path().display().to_string()).build(std::path::Path::new("/")).unwrap();
    let mut heights = Vec::new();
    while let Some(batch) = source.next_batch().await.unwrap() {
        assert_eq!(row(&batch, 0)[0].as_deref().map(str::len), Some(2 << 20));
        heights.push(batch.height());
    }
    assert_eq!(heights, vec![4; 25]);

    // The rows' text in all, a shared string counted at each use, is held
    // to max_unpacked_bytes: a small file cannot become gigabytes of rows.
    let config = ExcelSourceConfig {
        max_unpacked_bytes: 20 << 20,
        ..ExcelSourceConfig::for_path(book.path().display().to_string())
    };
    let err = match config.build(std::path::Path::new("/")) {
        Err(e) => e.to_string(),
        Ok(mut source) => loop {
            match source.next_batch().await {
                Err(e) => break e.to_string(),
                Ok(Some(_)) => {}
                Ok(None) => panic!("read to the end"),
            }
        },
    };
    assert!(
        err.contains("sheet \"Sheet1\", row 11: its rows hold more than max_unpacked_bytes = 20971520 bytes of text"),
        "{err}"
    );

    // A row of 10 such cells (20 MiB) is no spreadsheet's: refused, named.
    let wide = with_parts(
        base.path(),
        vec![("xl/sharedStrings.xml", strings), ("xl/worksheets/sheet1.xml", sheet_of_shared(3, 10))],
    );
    let config = ExcelSourceConfig { header: false, ..ExcelSourceConfig::for_path(wide.path().display().to_string()) };
    let err = match config.build(std::path::Path::new("/")) {
        Err(e) => e.to_string(),
        Ok(mut source) => source.next_batch().await.expect_err("refused").to_string(),
    };
    assert!(err.contains("sheet \"Sheet1\", row 2:"), "{err}");
    assert!(err.contains("bytes of text in one row, more than 16777216; refusing to read it"), "{err}");
}

#[test]
fn an_xls_or_ods_read_whole_is_priced_before_it_is_read() {
    for (name, part) in
        [("customers.xls", "the workbook is read whole"), ("customers.ods", "bytes unpacked when reading stopped")]
    {
        let c = ExcelSourceConfig { max_memory_bytes: 1000, ..config(name) };
        let err = c.build(std::path::Path::new("/")).err().expect("refused").to_string();
        assert!(err.contains(part), "{name}: {err}");
        assert!(err.contains("more than max_memory_bytes = 1000; refusing to read it"), "{name}: {err}");
        // Within the default it reads.
        assert!(config(name).build(std::path::Path::new("/")).is_ok(), "{name}");
    }
}

#[test]
fn an_ods_of_two_far_apart_cells_is_priced_as_the_grid_it_becomes() {
    let cell = "<table:table-cell office:value-type=\"string\"><text:p>x</text:p></table:table-cell>";
    // A1 and the cell 9,999 rows down and 9,999 columns right: a few
    // hundred bytes that calamine would hold as 100,000,000 cells.
    let content = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content \
         xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
         xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
         xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.3\">\
         <office:body><office:spreadsheet><table:table table:name=\"Sheet1\">\
         <table:table-row>{cell}</table:table-row>\
         <table:table-row table:number-rows-repeated=\"9998\"><table:table-cell/></table:table-row>\
         <table:table-row><table:table-cell table:number-columns-repeated=\"9999\"/>{cell}</table:table-row>\
         </table:table></office:spreadsheet></office:body></office:document-content>"
    );
    let book = with_parts(std::path::Path::new(&fixture("customers.ods")), vec![("content.xml", content.into_bytes())]);
    let path = book.path().with_extension("ods");
    std::fs::copy(book.path(), &path).unwrap();
    let err = ExcelSourceConfig::for_path(path.display().to_string())
        .build(std::path::Path::new("/"))
        .err()
        .expect("refused")
        .to_string();
    let _ = std::fs::remove_file(&path);
    assert!(err.contains("content.xml: "), "{err}");
    assert!(err.contains("sheets spanning 100000000 cells), more than max_memory_bytes = 1073741824"), "{err}");
}

#[test]
fn an_xls_of_far_apart_cells_is_priced_as_the_grids_it_becomes() {
    use std::io::Write;
    // Two worksheets, each a cell at A1 and one at IV65536: a few hundred
    // bytes that calamine would hold, at open, as two grids of 16,777,216.
    let record = |kind: u16, body: &[u8]| {
        let mut r = kind.to_le_bytes().to_vec();
        r.extend_from_slice(&(body.len() as u16).to_le_bytes());
        r.extend_from_slice(body);
        r
    };
    let bof = |dt: u16| record(0x0809, &[&0x0600u16.to_le_bytes()[..], &dt.to_le_bytes(), &[0; 12]].concat());
    let cell = |row: u16, col: u16| {
        record(0x00FD, &[&row.to_le_bytes()[..], &col.to_le_bytes(), &0u16.to_le_bytes(), &0u32.to_le_bytes()].concat())
    };
    let mut stream = [bof(0x0005), record(0x000A, &[])].concat();
    for _ in 0..2 {
        stream.extend([bof(0x0010), cell(0, 0), cell(65535, 255), record(0x000A, &[])].concat());
    }
    let file = tempfile::Builder::new().suffix(".xls").tempfile().unwrap();
    let mut book = cfb::create(file.path()).unwrap();
    book.create_stream("/Workbook").unwrap().write_all(&stream).unwrap();
    book.flush().unwrap();
    drop(book);
    let err = ExcelSourceConfig::for_path(file.path().display().to_string())
        .build(std::path::Path::new("/"))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("sheets spanning 33554432 cells), more than max_memory_bytes = 1073741824"), "{err}");
}
