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
    #[error(
        "{file}: reading it would hold about {estimate} bytes in memory ({what}), more than max_memory_bytes = {max}; refusing to read it"
    )]
    Memory { file: String, what: String, estimate: u64, max: u64 },
    #[error(
        "{file}: sheet {sheet:?}, row {row}: {bytes} bytes of text in one row, more than {max}; refusing to read it"
    )]
    RowTooLarge { file: String, sheet: String, row: u32, bytes: usize, max: usize },
    #[error(
        "{file}: sheet {sheet:?}, row {row}: its rows hold more than max_unpacked_bytes = {max} bytes of text (a shared string counted at each use); refusing to read on"
    )]
    TooMuchText { file: String, sheet: String, row: u32, max: u64 },
    #[error("batch_size must be at least 1")]
    BatchSize,
    #[error("range {0:?} is not a cell range like \"A5:H900\"")]
    Range(String),
    #[error("{file}: merged = \"fill\" works for xlsx and xlsm workbooks")]
    MergedFill { file: String },
}
