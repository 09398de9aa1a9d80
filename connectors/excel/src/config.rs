use std::path::{Path, PathBuf};

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
    /// Rows above the header (titles, notes). Default 0.
    #[serde(default)]
    pub skip_rows: usize,
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
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    Index(usize),
    Name(String),
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

impl ExcelSourceConfig {
    pub fn for_path(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            sheet: None,
            skip_rows: 0,
            batch_size: default_batch_size(),
            max_whole_file_bytes: default_max_whole_bytes(),
            max_unpacked_bytes: default_max_unpacked_bytes(),
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
        ExcelSource::open(self, &self.resolved_path(base_dir))
    }
}
