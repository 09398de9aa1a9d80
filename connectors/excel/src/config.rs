use std::path::{Path, PathBuf};

use migrate_engine::SkipRows;
use serde::Deserialize;

use crate::error::ExcelError;
use crate::source::ExcelSource;

/// `[sources.NAME]` with `kind = "excel"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcelSourceConfig {
    /// The workbook, relative to the mapping file's folder unless absolute.
    pub path: String,
    /// The sheet: its name, or its 1-based position. Default the first.
    #[serde(default)]
    pub sheet: Option<SheetRef>,
    /// Rows above the header (titles, notes), counted from the top of
    /// `range` when one is given: a number (default 0), or `"auto"`: the
    /// header is the first of the first 30 rows with the most cells.
    #[serde(default)]
    pub skip_rows: SkipRows,
    /// Whether the first row with cells (after `skip_rows`) names the
    /// columns. Default true; `false`: every row is data and the columns
    /// are `column_1`, `column_2`, … (counted from the range's left edge).
    #[serde(default = "default_header")]
    pub header: bool,
    /// Only these cells, e.g. `"A5:H900"`: the header is the range's first
    /// row with cells, columns count from the range's left edge.
    #[serde(default)]
    pub range: Option<String>,
    /// Merged cells: `"empty"` (the default: the value stays in the
    /// top-left cell, as the file has it) or `"fill"` (every cell of the
    /// region takes it). xlsx and xlsm only.
    #[serde(default)]
    pub merged: Merged,
    /// Rows per batch. Default 10 000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// xlsb, xls and ods are read whole: larger files are refused. Default
    /// 100 MiB.
    #[serde(default = "default_max_whole_bytes")]
    pub max_whole_file_bytes: u64,
    /// xlsx, xlsm, xlsb and ods are zip archives: refuse one whose parts
    /// declare more than this once unpacked (a zip bomb, or a
    /// sharedStrings too large to hold). Default 2 GiB.
    #[serde(default = "default_max_unpacked_bytes")]
    pub max_unpacked_bytes: u64,
    /// The most memory the parts of a workbook that are held whole may
    /// take, estimated from their real unpacked size before any is read:
    /// the shared strings of xlsx, xlsm and xlsb, and all of an xls or
    /// ods. Default 1 GiB.
    #[serde(default = "default_max_memory_bytes")]
    pub max_memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Merged {
    #[default]
    Empty,
    Fill,
}

/// A cell range, 0-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRange {
    pub top: u32,
    pub left: u32,
    pub bottom: u32,
    pub right: u32,
}

/// `A5` → (row 4, column 0).
fn cell_ref(text: &str) -> Option<(u32, u32)> {
    let letters: String = text.chars().take_while(char::is_ascii_alphabetic).collect();
    let digits = text.get(letters.len()..)?;
    if letters.is_empty() || letters.len() > 3 || digits.is_empty() {
        return None;
    }
    let col =
        letters.to_ascii_uppercase().bytes().try_fold(0u32, |acc, b| Some(acc * 26 + u32::from(b - b'A') + 1))? - 1;
    let row: u32 = digits.parse().ok()?;
    row.checked_sub(1).map(|r| (r, col))
}

impl CellRange {
    pub fn parse(text: &str) -> Option<Self> {
        let (a, b) = text.split_once(':')?;
        let ((top, left), (bottom, right)) = (cell_ref(a.trim())?, cell_ref(b.trim())?);
        (top <= bottom && left <= right).then_some(Self { top, left, bottom, right })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    Index(usize),
    Name(String),
}

fn default_header() -> bool {
    true
}

fn default_batch_size() -> usize {
    10_000
}

fn default_max_whole_bytes() -> u64 {
    100 << 20
}

fn default_max_unpacked_bytes() -> u64 {
    2 << 30
}

pub(crate) fn default_max_memory_bytes() -> u64 {
    1 << 30
}

impl ExcelSourceConfig {
    pub fn for_path(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            sheet: None,
            skip_rows: SkipRows::Count(0),
            header: true,
            range: None,
            merged: Merged::Empty,
            batch_size: default_batch_size(),
            max_whole_file_bytes: default_max_whole_bytes(),
            max_unpacked_bytes: default_max_unpacked_bytes(),
            max_memory_bytes: default_max_memory_bytes(),
        }
    }

    pub fn resolved_path(&self, base_dir: &Path) -> PathBuf {
        let p = Path::new(&self.path);
        if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
    }

    pub fn build(&self, base_dir: &Path) -> Result<ExcelSource, ExcelError> {
        if self.batch_size == 0 {
            return Err(ExcelError::BatchSize);
        }
        if let Some(r) = &self.range
            && CellRange::parse(r).is_none()
        {
            return Err(ExcelError::Range(r.clone()));
        }
        ExcelSource::open(self, &self.resolved_path(base_dir))
    }
}
