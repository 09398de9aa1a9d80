//! CSV source: streams a delimited text file as text batches, each row with
//! the line its record starts on (right when quoted fields hold newlines).
//!
//! `[sources.x] kind = "csv"` deserializes into [`CsvSourceConfig`];
//! [`CsvSourceConfig::build`] checks it once (the file opens, the header is
//! sane) and returns a [`CsvSource`].

mod config;
mod error;
mod source;

pub use config::CsvSourceConfig;
pub use error::CsvError;
pub use source::CsvSource;
