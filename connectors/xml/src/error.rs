use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    #[error("cannot open {path:?}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    #[error("{file}:{line}: {message}")]
    Read { file: String, line: u64, message: String },
}
