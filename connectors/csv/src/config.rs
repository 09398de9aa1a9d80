use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CsvError;
use crate::source::CsvSource;

/// `[sources.NAME]` with `kind = "csv"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    /// The file, relative to the mapping file's folder unless absolute.
    pub path: String,
    /// Field delimiter, one character. Default `,`; `"auto"` is the same
    /// until dialect sniffing arrives.
    #[serde(default)]
    pub delimiter: Option<String>,
    /// Text encoding. `utf-8` (with or without BOM) or `auto`, which for now
    /// means UTF-8.
    #[serde(default)]
    pub encoding: Option<String>,
    /// Rows per batch. Default 10 000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Header columns to ignore, as a prefix pattern: `"_*"` skips the
    /// underscore columns of a rejects file fed back in.
    #[serde(default)]
    pub skip_columns: Option<String>,
}

fn default_batch_size() -> usize {
    10_000
}

impl CsvSourceConfig {
    /// The file this config reads, resolved against `base_dir`.
    pub fn resolved_path(&self, base_dir: &Path) -> PathBuf {
        let p = Path::new(&self.path);
        if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
    }

    pub fn delimiter_byte(&self) -> Result<u8, CsvError> {
        match self.delimiter.as_deref() {
            None | Some("auto") => Ok(b','),
            Some("\\t") | Some("tab") => Ok(b'\t'),
            Some(d) if d.len() == 1 && d.is_ascii() => Ok(d.as_bytes()[0]),
            Some(d) => Err(CsvError::Delimiter(d.to_string())),
        }
    }

    /// Checks the options and opens the file. `base_dir` is the mapping
    /// file's folder.
    pub fn build(&self, base_dir: &Path) -> Result<CsvSource, CsvError> {
        if self.batch_size == 0 {
            return Err(CsvError::BatchSize);
        }
        match self.encoding.as_deref() {
            None | Some("auto") | Some("utf-8") | Some("utf8") => {}
            Some(other) => return Err(CsvError::Encoding(other.to_string())),
        }
        if let Some(pattern) = &self.skip_columns
            && !pattern.ends_with('*')
        {
            return Err(CsvError::SkipPattern(pattern.clone()));
        }
        CsvSource::open(self, &self.resolved_path(base_dir), self.delimiter_byte()?)
    }
}
