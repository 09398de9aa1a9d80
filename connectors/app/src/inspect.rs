//! `migrate inspect FILE`: what a file is (encoding, dialect, header) and
//! what its columns look like in a sample, so a mapping can be written
//! with evidence instead of guesses.

use std::collections::HashSet;
use std::path::Path;

use migrate_csv::{CsvSourceConfig, SkipRows};
use migrate_engine::Source;
use migrate_engine::transform::date::{OrderEvidence, parse_date};
use migrate_engine::transform::money::{LocaleEvidence, parse_money};
use migrate_engine::transform::{
    BooleanSpec, DateFormat, DateSpec, EmailSpec, MoneySpec, Outcome, normalize_email, parse_boolean,
};
use migrate_mongodb::MongoSourceConfig;
use serde::Serialize;

/// Rows read to describe the columns.
pub const SAMPLE_ROWS: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub file: String,
    pub kind: String,
    pub encoding: Option<String>,
    pub encoding_confidence: Option<String>,
    pub delimiter: Option<String>,
    /// CSV: the quoting style, sniffed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quoting: Option<String>,
    /// Excel: every sheet, and the one described.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sheets: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// XML: element paths that repeat (candidate record paths), with counts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeated_paths: Vec<(String, u64)>,
    /// XML: the fields of the most frequent repeated paths, as a mapping's
    /// `fields` names them (`Name`, `@id`), with counts and an example.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub record_fields: Vec<RecordFields>,
    /// XML: the record path `columns` were read from (the most frequent
    /// repeated path with fields), and its fields as (column, path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
    /// MongoDB: every path of the sampled documents, with its types.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<DocumentPath>,
    /// The line (CSV) or row (Excel) the header is on.
    pub header_line: u64,
    /// Why the header looks like a data record (`header_looks_like_data`:
    /// the file may have no header row; read it with `header = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_looks_like_data: Option<String>,
    pub rows_sampled: u64,
    /// Records of the sample that could not be read (a document that is
    /// not valid extended JSON), with the first one's location and error.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreadable: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_unreadable: Option<String>,
    pub columns: Vec<ColumnProfile>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Inspection {
    /// An inspection of `kind` with nothing found yet.
    fn new(file: String, kind: &str) -> Self {
        Self {
            file,
            kind: kind.to_string(),
            encoding: None,
            encoding_confidence: None,
            delimiter: None,
            quoting: None,
            sheets: Vec::new(),
            sheet: None,
            repeated_paths: Vec::new(),
            record_fields: Vec::new(),
            record: None,
            fields: Vec::new(),
            paths: Vec::new(),
            header_line: 0,
            header_looks_like_data: None,
            rows_sampled: 0,
            unreadable: 0,
            first_unreadable: None,
            columns: Vec::new(),
        }
    }
}

/// Reads the first records of the most frequent repeated path that has
/// fields, one column per field (an attribute by its name, a child element
/// by its own, a child that repeats inside a record as a JSON list), and
/// profiles them as a table's columns: what `init` matches.
async fn profile_xml_records(found: &mut Inspection, path: &Path) -> Result<(), InspectError> {
    let counts: std::collections::HashMap<&str, u64> =
        found.repeated_paths.iter().map(|(p, n)| (p.as_str(), *n)).collect();
    let Some(chosen) = found.record_fields.iter().find(|r| !r.fields.is_empty()) else { return Ok(()) };
    let records = counts.get(chosen.record.as_str()).copied().unwrap_or(0);
    let mut fields: Vec<(String, String)> = Vec::new();
    for f in &chosen.fields {
        let mut name = f.field.trim_start_matches('@').to_string();
        while fields.iter().any(|(n, _)| *n == name) {
            name.push('_');
        }
        let list = !f.field.starts_with('@') && f.count > records;
        fields.push((name, if list { format!("{}[]", f.field) } else { f.field.clone() }));
    }
    let config = migrate_xml::XmlSourceConfig {
        path: path.display().to_string(),
        record: chosen.record.clone(),
        fields: fields.iter().cloned().collect(),
        namespaces: Default::default(),
        max_depth: 256,
        max_field_bytes: 1 << 20,
        batch_size: SAMPLE_ROWS,
        trim: true,
    };
    let mut source = config.build(Path::new(""))?;
    let columns = source.columns().to_vec();
    let batch = source.next_batch().await?;
    found.rows_sampled = batch.as_ref().map_or(0, |b| b.height()) as u64;
    found.columns = profiles(&columns, batch.as_ref());
    found.record = Some(chosen.record.clone());
    found.fields = fields;
    Ok(())
}

/// How many of the most frequent repeated XML paths have their fields
/// listed.
const RECORD_PATHS_DESCRIBED: usize = 10;

/// A candidate XML record path and what its records hold.
#[derive(Debug, Clone, Serialize)]
pub struct RecordFields {
    pub record: String,
    pub fields: Vec<FieldSeen>,
}

/// A child element or attribute of a record path: as `fields` names it,
/// how many times it occurs, and its first non-empty value.
#[derive(Debug, Clone, Serialize)]
pub struct FieldSeen {
    pub field: String,
    pub count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// One path of a document source's sample.
#[derive(Debug, Clone, Serialize)]
pub struct DocumentPath {
    pub path: String,
    /// Documents of the sample that hold it (null included).
    pub documents: u64,
    /// Values by type, most frequent first.
    pub types: Vec<(String, u64)>,
    /// More than one type besides null: the mapping has to choose (coerce
    /// with a transform and reject what does not fit, or keep `.$json`).
    pub mixed: bool,
    /// Reached through an array (address it as `list.0.field`, or unwind).
    pub in_array: bool,
    /// For an array: its elements' types.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub element_types: Vec<(String, u64)>,
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    /// `integer`, `decimal`, `money`, `date (mdy)`, `timestamp (iso)`,
    /// `boolean`, `email`, `text`, `text (leading zeros)`, or `empty`.
    pub guessed_type: String,
    pub null_ratio: f64,
    pub max_length: usize,
    /// Every sampled value present and distinct: a candidate source key.
    pub unique: bool,
    /// Values present, and how many of them are distinct.
    pub present: usize,
    pub distinct: usize,
    pub examples: Vec<String>,
    /// Every distinct value of the sample with its count, most frequent
    /// first, when there are at most `VOCABULARY` of them (a status or type
    /// column's codes); empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<(String, usize)>,
}

/// The most distinct values a column may have for `values` to list them.
pub const VOCABULARY: usize = 30;

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("{0}")]
    Csv(#[from] migrate_csv::CsvError),
    #[error("{0}")]
    Source(#[from] migrate_engine::SourceError),
    #[error("{0}")]
    Excel(#[from] migrate_excel::ExcelError),
    #[error("{0}")]
    Xml(#[from] migrate_xml::XmlError),
    #[error("{file}: {why}")]
    UnknownKind { file: String, why: String },
}

/// What a file holds, as `inspect` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Excel,
    Xml,
    /// A mongoexport file (JSON lines or an array).
    MongoExport,
}

impl FileKind {
    /// `--kind`: the source kinds a mapping names (`mongodb` for an export).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "csv" => Some(Self::Csv),
            "excel" => Some(Self::Excel),
            "xml" => Some(Self::Xml),
            "mongodb" | "json" => Some(Self::MongoExport),
            _ => None,
        }
    }

    /// Sniffed from the file's first bytes, whatever its name: a zip or an
    /// OLE container (or a pre-97 BIFF stream) is a workbook, markup is
    /// XML (an `.rss` feed, an `.xml` dump), a document or array is a
    /// mongoexport file, other text is delimited. `None` for binary data
    /// that is none of these (a database backup).
    pub fn sniff(path: &Path) -> std::io::Result<Option<Self>> {
        let mut head = vec![0u8; 4096];
        let mut file = std::fs::File::open(path)?;
        let n = std::io::Read::read(&mut file, &mut head)?;
        head.truncate(n);
        if head.starts_with(b"PK\x03\x04")
            || head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])
            || matches!(head.get(..2), Some([0x09, 0x00 | 0x02 | 0x04]))
        {
            return Ok(Some(Self::Excel));
        }
        let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
        let controls = head.iter().filter(|b| **b < 0x09 || (0x0E..0x20).contains(*b)).count();
        if !utf16 && controls * 10 > head.len() {
            return Ok(None);
        }
        // The first character of the text, past a BOM and whitespace (in
        // UTF-16 too: its zero bytes are skipped).
        let first = head
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&head)
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace() && *b != 0 && *b != 0xFF && *b != 0xFE);
        let after =
            |c: u8| head.iter().skip_while(|b| **b != c).skip(1).copied().find(|b| !b.is_ascii_whitespace() && *b != 0);
        Ok(Some(match first {
            Some(b'<') => Self::Xml,
            Some(b'{') => Self::MongoExport,
            // An array of documents, not a bracketed header (`[id],[name]`).
            Some(b'[') if matches!(after(b'['), Some(b'{' | b']')) => Self::MongoExport,
            _ => Self::Csv,
        }))
    }

    /// By a name's known extension, else `None`.
    pub fn by_extension(path: &Path) -> Option<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase)?;
        match ext.as_str() {
            "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(Self::Excel),
            "json" | "jsonl" | "ndjson" => Some(Self::MongoExport),
            "xml" => Some(Self::Xml),
            "csv" | "tsv" | "txt" => Some(Self::Csv),
            _ => None,
        }
    }
}

pub async fn inspect(path: &Path) -> Result<Inspection, InspectError> {
    inspect_as(path, None).await
}

/// `inspect` of a file as `kind`, else as its extension says (`.csv`,
/// `.xlsx`, `.xml`, `.json` …), else as its content looks (`.rss`, `.dat`,
/// no extension).
pub async fn inspect_as(path: &Path, kind: Option<FileKind>) -> Result<Inspection, InspectError> {
    let file = path.display().to_string();
    let kind = match kind.or_else(|| FileKind::by_extension(path)) {
        Some(k) => k,
        None => match FileKind::sniff(path).map_err(|e| migrate_engine::SourceError::new(format!("{file}: {e}")))? {
            Some(k) => k,
            None => {
                return Err(InspectError::UnknownKind {
                    file,
                    why: "binary data that is no workbook: inspect reads CSV and other delimited text, Excel \
                          workbooks, XML and mongoexport files (say which with --kind)"
                        .into(),
                });
            }
        },
    };
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match kind {
        FileKind::Excel if matches!(ext.as_deref(), Some("xlsx" | "xlsm" | "xlsb" | "xls" | "ods")) => {
            return inspect_excel(path).await;
        }
        FileKind::Excel => {
            return Err(InspectError::UnknownKind {
                file,
                why: "a workbook (zip or OLE container) without a workbook's extension: name it .xlsx, .xlsm, \
                      .xlsb, .xls or .ods, as the format it is in"
                    .into(),
            });
        }
        FileKind::MongoExport => {
            let config = serde_json::json!({ "path": file, "sample": SAMPLE_ROWS, "batch_rows": SAMPLE_ROWS });
            return inspect_documents(file.clone(), config).await;
        }
        FileKind::Xml => {
            let found = migrate_xml::element_paths(path, 1_000_000)?;
            let repeated = found.repeated();
            let record_fields = repeated
                .iter()
                .take(RECORD_PATHS_DESCRIBED)
                .map(|(record, _)| RecordFields {
                    record: record.clone(),
                    fields: found
                        .fields_of(record)
                        .into_iter()
                        .map(|(field, count, example)| FieldSeen { field, count, example })
                        .collect(),
                })
                .collect();
            let mut found = Inspection { repeated_paths: repeated, record_fields, ..Inspection::new(file, "xml") };
            profile_xml_records(&mut found, path).await?;
            return Ok(found);
        }
        FileKind::Csv => {}
    }
    let mut config = CsvSourceConfig::for_path(file.clone());
    config.skip_rows = Some(SkipRows::Count(0));
    config.batch_size = SAMPLE_ROWS;
    // Find a preamble first: the header is the first full, named row.
    let probe = config.build(Path::new(""))?;
    let skip = migrate_csv::sniff_preamble(&probe);
    config.skip_rows = Some(SkipRows::Count(skip));
    let mut source = config.build(Path::new(""))?;
    let columns = source.columns().to_vec();
    let batch = source.next_batch().await?;
    let info = source.info();
    let profiles = profiles(&columns, batch.as_ref());
    let rows = batch.as_ref().map_or(0, |b| b.height());
    let header_line = batch.as_ref().and_then(|b| b.locations.first()).map_or(1, |l| match l {
        migrate_engine::SourceLocation::Line { line, .. } => line.saturating_sub(1).max(1),
        _ => 1,
    });
    Ok(Inspection {
        encoding: info.encoding,
        encoding_confidence: info.encoding_confidence,
        delimiter: info.delimiter,
        quoting: info.quoting,
        header_line,
        header_looks_like_data: info.header.and_then(|h| h.looks_like_data),
        rows_sampled: rows as u64,
        columns: profiles,
        ..Inspection::new(file, "csv")
    })
}

async fn inspect_excel(path: &Path) -> Result<Inspection, InspectError> {
    let file = path.display().to_string();
    let mut config = migrate_excel::ExcelSourceConfig::for_path(file.clone());
    config.batch_size = SAMPLE_ROWS;
    let header_row = migrate_excel::ExcelSource::guess_header_row(&config, path)?;
    config.skip_rows = SkipRows::Count(header_row);
    let mut source = config.build(Path::new(""))?;
    let columns = source.columns().to_vec();
    let batch = source.next_batch().await?;
    let profiles = profiles(&columns, batch.as_ref());
    Ok(Inspection {
        sheets: source.sheets().to_vec(),
        sheet: Some(source.sheet().to_string()),
        header_line: header_row as u64 + 1,
        header_looks_like_data: source.info().header.and_then(|h| h.looks_like_data),
        rows_sampled: batch.as_ref().map_or(0, |b| b.height()) as u64,
        columns: profiles,
        ..Inspection::new(file, "excel")
    })
}

/// `migrate inspect URL --collection NAME`: a MongoDB collection's paths
/// and types from its first documents.
pub async fn inspect_collection(url: &str, collection: &str) -> Result<Inspection, InspectError> {
    let config = serde_json::json!({ "url": url, "collection": collection, "sample": SAMPLE_ROWS,
        "batch_rows": SAMPLE_ROWS });
    let shown = serde_json::from_value::<MongoSourceConfig>(config.clone()).map(|c| c.shown_url()).unwrap_or_default();
    inspect_documents(format!("{shown} {collection}"), config).await
}

/// A document source's sample: every path with its types (for mixed
/// fields), and the paths outside arrays profiled as columns.
async fn inspect_documents(file: String, config: serde_json::Value) -> Result<Inspection, InspectError> {
    let config: MongoSourceConfig =
        serde_json::from_value(config).map_err(|e| migrate_engine::SourceError::new(e.to_string()))?;
    let mut source = config.build(Path::new(""));
    let shape = source.learn().await?.clone();
    // The columns a mapping would start from: every path outside arrays,
    // and the first element's fields of arrays of sub-documents
    // (`phones.0.number`).
    let mut wanted = shape.default_columns(None);
    for (path, stats) in &shape.paths {
        let Some((parent, leaf)) = path.rsplit_once('.') else { continue };
        let parent_is_array = shape.paths.get(parent).is_some_and(|p| p.types.contains_key("array") && !p.in_array);
        if stats.in_array && parent_is_array && !stats.types.contains_key("object") {
            wanted.push(format!("{parent}.0.{leaf}"));
        }
    }
    source.want(wanted);
    source.prepare().await?;
    let columns = source.columns().to_vec();
    let batch = source.next_batch().await?;
    let profiles = profiles(&columns, batch.as_ref());
    let by_count = |m: &std::collections::BTreeMap<String, u64>| {
        let mut v: Vec<(String, u64)> = m.iter().map(|(k, n)| (k.clone(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    };
    let paths = shape
        .paths
        .iter()
        .map(|(path, stats)| DocumentPath {
            path: path.clone(),
            documents: stats.documents,
            types: by_count(&stats.types),
            mixed: stats.mixed(),
            in_array: stats.in_array,
            element_types: by_count(&stats.element_types),
            examples: stats.examples.clone(),
        })
        .collect();
    Ok(Inspection {
        paths,
        rows_sampled: shape.documents,
        unreadable: shape.unreadable,
        first_unreadable: shape.first_unreadable.clone(),
        columns: profiles,
        ..Inspection::new(file, "mongodb")
    })
}

/// Each column of a sampled batch profiled.
fn profiles(columns: &[String], batch: Option<&migrate_engine::Batch>) -> Vec<ColumnProfile> {
    columns
        .iter()
        .map(|name| {
            let values: Vec<Option<String>> = batch
                .and_then(|b| b.text(name).ok())
                .map(|c| c.iter().map(|v| v.map(str::to_string)).collect())
                .unwrap_or_default();
            profile(name, &values)
        })
        .collect()
}

fn profile(name: &str, values: &[Option<String>]) -> ColumnProfile {
    let present: Vec<&str> =
        values.iter().filter_map(|v| v.as_deref().map(str::trim).filter(|v| !v.is_empty())).collect();
    let nulls = values.len() - present.len();
    let distinct: HashSet<&str> = present.iter().copied().collect();
    let mut vocabulary: Vec<(String, usize)> = Vec::new();
    if distinct.len() <= VOCABULARY {
        let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for v in &present {
            *counts.entry(v).or_default() += 1;
        }
        vocabulary = counts.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
        vocabulary.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    let mut examples: Vec<String> = Vec::new();
    for v in &present {
        if examples.len() < 3 && !examples.iter().any(|e| e == v) {
            examples.push(v.to_string());
        }
    }
    ColumnProfile {
        name: name.to_string(),
        guessed_type: guess(&present),
        null_ratio: if values.is_empty() { 0.0 } else { nulls as f64 / values.len() as f64 },
        max_length: present.iter().map(|v| v.chars().count()).max().unwrap_or(0),
        unique: nulls == 0 && !present.is_empty() && distinct.len() == present.len(),
        present: present.len(),
        distinct: distinct.len(),
        examples,
        values: vocabulary,
    }
}

/// How many values `f` accepts.
fn fitting(values: &[&str], f: impl Fn(&str) -> bool) -> usize {
    values.iter().filter(|v| f(v)).count()
}

/// The first type that fits at least 95% of the sampled values, with the
/// number that do not fit when some do not (legacy columns have strays).
fn guess(values: &[&str]) -> String {
    if values.is_empty() {
        return "empty".into();
    }
    let enough = |n: usize| n * 100 >= values.len() * 95;
    let label = |name: String, n: usize| {
        let misfits = values.len() - n;
        match misfits {
            0 => name,
            1 => format!("{name}, 1 value does not fit"),
            _ => format!("{name}, {misfits} values do not fit"),
        }
    };
    let integer = |v: &str| {
        let digits = v.strip_prefix('-').unwrap_or(v);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    };
    let n = fitting(values, integer);
    if enough(n) {
        let zero_padded = values.iter().any(|v| v.len() > 1 && v.starts_with('0'));
        return label(if zero_padded { "text (leading zeros)".into() } else { "integer".into() }, n);
    }
    // Integers count as decimals here: the column has at least one fraction.
    let n = fitting(values, |v| {
        integer(v)
            || v.split_once('.')
                .is_some_and(|(i, f)| integer(i) && !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
    });
    if enough(n) {
        return label("decimal".into(), n);
    }
    let dates =
        |preset: &str| DateSpec { formats: DateFormat::preset(preset).unwrap_or_default(), ..DateSpec::default() };
    let date_fits = |spec: &DateSpec| {
        fitting(values, |v| {
            matches!(parse_date(v, spec), Outcome::Value(_) | Outcome::ValueNoted(..) | Outcome::NullNoted(_))
        })
    };
    let kind = if values.iter().any(|v| v.contains(':')) { "timestamp" } else { "date" };
    let n = date_fits(&dates("iso"));
    if enough(n) {
        return label(format!("{kind} (iso)"), n);
    }
    let n = date_fits(&dates("us")).max(date_fits(&dates("eu")));
    if enough(n) {
        let mut evidence = OrderEvidence::default();
        values.iter().for_each(|v| evidence.observe(v));
        let order = match evidence.decide() {
            Ok(order) => format!("{order:?}").to_lowercase(),
            Err(e) if e.starts_with("inconsistent") => format!(
                "day order inconsistent: {} month-first, {} day-first",
                evidence.month_first, evidence.day_first
            ),
            Err(_) => "day order ambiguous".into(),
        };
        return label(format!("{kind} ({order})"), n);
    }
    let n = fitting(values, |v| matches!(parse_boolean(v, &BooleanSpec::default()), Outcome::Value(_)));
    if enough(n) {
        return label("boolean".into(), n);
    }
    let n = fitting(values, |v| {
        matches!(normalize_email(v, &EmailSpec::default()), Outcome::Value(_) | Outcome::ValueNoted(..))
    });
    if enough(n) {
        return label("email".into(), n);
    }
    let mut locale = LocaleEvidence::default();
    values.iter().for_each(|v| locale.observe(v));
    // A stray value must not hide the locale most values are written in.
    let majority = match (locale.point, locale.comma) {
        (0, 0) => None,
        (p, c) if c > p && locale.spaced * 2 > c => Some(migrate_engine::transform::Locale::Fr),
        (p, c) if c > p => Some(migrate_engine::transform::Locale::De),
        _ if locale.apostrophe > 0 => Some(migrate_engine::transform::Locale::Ch),
        _ => Some(migrate_engine::transform::Locale::En),
    };
    if let Some(l) = locale.decide().ok().or(majority) {
        let spec = MoneySpec { locale: l, default_currency: Some("USD".into()), ..MoneySpec::default() };
        let n = fitting(values, |v| matches!(parse_money(v, &spec), Outcome::Value(_)));
        if enough(n) {
            return label(format!("money ({})", l.name()), n);
        }
    }
    "text".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_are_guessed_from_values() {
        let cases: [(&[&str], &str); 12] = [
            (&["1", "22", "-3"], "integer"),
            (&["00123", "00456"], "text (leading zeros)"),
            (&["1.5", "22.25"], "decimal"),
            (&["2024-01-02", "2023-12-31"], "date (iso)"),
            (&["2024-01-02 10:00", "2023-12-31 23:59"], "timestamp (iso)"),
            (&["03/06/2018", "12/25/2019"], "date (mdy)"),
            (&["03/06/2018", "25/12/2019"], "date (dmy)"),
            (&["03/06/2018", "04/07/2019"], "date (day order ambiguous)"),
            (&["Y", "n", "yes"], "boolean"),
            (&["a@b.io", "C@D.org"], "email"),
            (&["1.234,56 €", "12,00 €"], "money (de)"),
            (&["Ada", "Grace"], "text"),
        ];
        for (values, expected) in cases {
            assert_eq!(guess(values), expected, "{values:?}");
        }
        assert_eq!(guess(&[]), "empty");
        let mostly: Vec<&str> = std::iter::repeat_n("2024-01-02", 40).chain(["not a date"]).collect();
        assert_eq!(guess(&mostly), "date (iso), 1 value does not fit");
        let strays: Vec<&str> = std::iter::repeat_n("17", 97).chain(["n/a", "?", "x"]).collect();
        assert_eq!(guess(&strays), "integer, 3 values do not fit");
    }
}
