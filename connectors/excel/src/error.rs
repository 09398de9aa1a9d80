use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExcelError {
    #[error("cannot open {path:?}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{file}: no sheet {wanted} (it has: {available})")]
    NoSheet { file: String, wanted: String, available: String },
    #[error("{file}: sheet {sheet} has no header row after {skipped} skipped rows")]
    NoHeader { file: String, sheet: String, skipped: usize },
    #[error("{file}: {size} bytes; {kind} files are read whole and this one is over max_whole_file_bytes = {max}")]
    TooLarge { file: String, kind: String, size: u64, max: u64 },
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: part {part} unpacks to {size} bytes from {compressed} ({why}); refusing to read it")]
    Unpacked { file: String, part: String, size: u64, compressed: u64, why: String },
    #[error("batch_size must be at least 1")]
    BatchSize,
    #[error("range {0:?} is not a cell range like \"A5:H900\"")]
    Range(String),
    #[error("{file}: merged = \"fill\" works for xlsx and xlsm workbooks")]
    MergedFill { file: String },
}
