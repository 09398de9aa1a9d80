use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("cannot open {path:?}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Read { file: String, line: u64, message: String },
    #[error("{file}: the header is empty; the first line must name the columns")]
    NoHeader { file: String },
    #[error("{file}:{line}: header column {index} is empty")]
    EmptyHeader { file: String, line: u64, index: usize },
    #[error("{file}:{line}: header column {name:?} appears twice")]
    DuplicateHeader { file: String, line: u64, name: String },
    #[error("{file}:{line}: not valid UTF-8 in field {field} (set `encoding` to the file's encoding)")]
    NotUtf8 { file: String, line: u64, field: usize },
    #[error("delimiter {0:?} is not one ASCII character (use \",\", \";\", \"|\" or \"tab\")")]
    Delimiter(String),
    #[error(
        "encoding {0:?} is unknown (e.g. \"auto\", \"utf-8\", \"utf-16le\", \"windows-1252\", \"latin-1\", \"mac-roman\", \"shift_jis\")"
    )]
    Encoding(String),
    #[error("terminators: {0}")]
    Terminator(String),
    #[error("batch_size must be at least 1")]
    BatchSize,
    #[error("skip_columns {0:?} must be a prefix pattern ending in `*`, like \"_*\"")]
    SkipPattern(String),
}
