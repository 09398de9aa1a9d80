use std::path::{Path, PathBuf};

pub use migrate_engine::SkipRows;
use serde::Deserialize;

use crate::error::CsvError;
use crate::source::CsvSource;

/// `[sources.NAME]` with `kind = "csv"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    /// The file, relative to the mapping file's folder unless absolute.
    pub path: String,
    /// Field delimiter: one character, `"tab"`, or `"auto"` (the default:
    /// sniffed from the first 64 KiB among `,` `;` tab `|`).
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Text encoding: `auto` (the default: BOM, else ASCII, else valid
    /// UTF-8, else detected), or a name: `utf-8`, `utf-16le`, `utf-16be`,
    /// `windows-1252`, `latin-1`, `iso-8859-15`, `mac-roman`, `shift_jis`,
    /// `gbk`, `big5`, … A BOM always wins.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Bytes that do not decode: `reject` the row (the default) or
    /// `replace` them with U+FFFD and count it.
    #[serde(default)]
    pub invalid_bytes: InvalidBytes,
    /// Records before the header: a number, or `"auto"` to find the header
    /// after a preamble (title lines, export notes). Default 0.
    #[serde(default)]
    pub skip_rows: Option<SkipRows>,
    /// Whether the first record after `skip_rows` names the columns.
    /// Default true; `false` (a `bcp` dump, an export without column
    /// names): every record is data and the columns are `column_1`,
    /// `column_2`, …
    #[serde(default = "default_header")]
    pub header: bool,
    /// Quoting: `"auto"` (the default: sniffed from the first 64 KiB),
    /// `"rfc4180"` (`""` inside quotes), `"backslash"` (`\"`), or `"none"`
    /// (quotes are text: files with stray quotes).
    #[serde(default)]
    pub quoting: Quoting,
    /// Records with more or fewer fields than the header: `reject` (the
    /// default) or `pad` (missing fields NULL; extra fields still reject).
    #[serde(default)]
    pub ragged: Ragged,
    /// A field longer than this rejects its row. Default 1 MiB.
    #[serde(default = "default_max_field_bytes")]
    pub max_field_bytes: usize,
    /// Rows per batch. Default 10 000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Header columns to ignore, as a prefix pattern: `"_*"` skips the
    /// underscore columns of a rejects file fed back in.
    #[serde(default)]
    pub skip_columns: Option<String>,
    /// A field terminator of one or more characters (`"+|"`, `"|~|"`): the
    /// file is read by terminators, as `bcp -t` writes it, with no quoting.
    #[serde(default)]
    pub field_terminator: Option<String>,
    /// The record terminator that goes with it (`"&|\r\n"`, `bcp -r`);
    /// default a line break (`\n` or `\r\n`).
    #[serde(default)]
    pub record_terminator: Option<String>,
    /// Added to every row's line: a partition of a larger file (its header
    /// and a slice of its records) numbers its lines as the whole file
    /// does. Never read from a mapping.
    #[serde(skip)]
    pub line_offset: i64,
}

/// How a terminator-delimited file splits: the field terminator, and the
/// record terminators (tried in order, the longest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminators {
    pub field: Vec<u8>,
    pub records: Vec<Vec<u8>>,
}

impl Terminators {
    /// The field terminator as the report shows it (`+|`, `\t` for a tab).
    pub fn shown(&self) -> String {
        String::from_utf8_lossy(&self.field).escape_debug().to_string()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidBytes {
    #[default]
    Reject,
    Replace,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quoting {
    #[default]
    Auto,
    Rfc4180,
    Backslash,
    None,
}

impl Quoting {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Rfc4180 => "rfc4180",
            Self::Backslash => "backslash",
            Self::None => "none",
        }
    }

    /// The parser's settings for this style (`Auto` reads as RFC 4180):
    /// whether quotes are special, the escape byte, and whether a doubled
    /// quote stands for one.
    pub fn parser_options(self) -> (bool, Option<u8>, bool) {
        match self {
            Self::Auto | Self::Rfc4180 => (true, None, true),
            Self::Backslash => (true, Some(b'\\'), false),
            Self::None => (false, None, true),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ragged {
    #[default]
    Reject,
    Pad,
}

fn default_header() -> bool {
    true
}

fn default_batch_size() -> usize {
    10_000
}

fn default_max_field_bytes() -> usize {
    1 << 20
}

impl CsvSourceConfig {
    /// A config with every option at its default.
    pub fn for_path(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            delimiter: None,
            encoding: None,
            invalid_bytes: InvalidBytes::default(),
            skip_rows: None,
            header: true,
            quoting: Quoting::default(),
            ragged: Ragged::default(),
            max_field_bytes: default_max_field_bytes(),
            batch_size: default_batch_size(),
            skip_columns: None,
            field_terminator: None,
            record_terminator: None,
            line_offset: 0,
        }
    }

    /// The file this config reads, resolved against `base_dir`.
    pub fn resolved_path(&self, base_dir: &Path) -> PathBuf {
        let p = Path::new(&self.path);
        if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
    }

    /// The declared delimiter; `None` means sniff it.
    pub fn delimiter_byte(&self) -> Result<Option<u8>, CsvError> {
        match self.delimiter.as_deref() {
            None | Some("auto") => Ok(None),
            Some("\\t") | Some("tab") => Ok(Some(b'\t')),
            Some(d) if d.len() == 1 && d.is_ascii() => Ok(d.as_bytes().first().copied()),
            Some(d) => Err(CsvError::Delimiter(d.to_string())),
        }
    }

    /// The terminators of a terminator-delimited file; `None` for a
    /// delimited one.
    pub fn terminators(&self) -> Result<Option<Terminators>, CsvError> {
        let bad = |why: &str| Err(CsvError::Terminator(why.to_string()));
        let field = match (&self.field_terminator, &self.record_terminator) {
            (None, None) => return Ok(None),
            (None, Some(_)) => return bad("record_terminator needs a field_terminator too"),
            (Some(f), _) => f,
        };
        if self.delimiter_byte()?.is_some() {
            return bad("field_terminator replaces delimiter: remove one of them");
        }
        if !matches!(self.quoting, Quoting::Auto | Quoting::None) {
            return bad("a terminator-delimited file has no quoting: remove quoting or set it to \"none\"");
        }
        let records: Vec<Vec<u8>> = match &self.record_terminator {
            Some(r) => vec![r.as_bytes().to_vec()],
            None => vec![b"\r\n".to_vec(), b"\n".to_vec()],
        };
        for t in std::iter::once(field.as_bytes()).chain(records.iter().map(Vec::as_slice)) {
            if t.is_empty() || !t.is_ascii() {
                return bad("terminators are one or more ASCII characters");
            }
        }
        if records.iter().any(|r| r.as_slice() == field.as_bytes()) {
            return bad("the field and record terminators must differ");
        }
        Ok(Some(Terminators { field: field.as_bytes().to_vec(), records }))
    }

    /// Checks the options and opens the file. `base_dir` is the mapping
    /// file's folder.
    pub fn build(&self, base_dir: &Path) -> Result<CsvSource, CsvError> {
        self.terminators()?;
        if self.batch_size == 0 {
            return Err(CsvError::BatchSize);
        }
        if let Some(pattern) = &self.skip_columns
            && !pattern.ends_with('*')
        {
            return Err(CsvError::SkipPattern(pattern.clone()));
        }
        self.delimiter_byte()?;
        CsvSource::open(self, &self.resolved_path(base_dir))
    }
}
