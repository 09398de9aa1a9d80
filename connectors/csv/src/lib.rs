//! CSV source: streams a delimited text file in any common encoding as text
//! batches, each row with the line its record starts on (right with
//! embedded newlines and any line endings).
//!
//! `[sources.x] kind = "csv"` deserializes into [`CsvSourceConfig`];
//! [`CsvSourceConfig::build`] detects the encoding and dialect from a
//! sample (unless declared), checks the header and returns a [`CsvSource`].

mod config;
mod dialect;
mod encoding;
mod error;
mod formula;
mod lines;
pub mod records;
mod source;

pub use config::{CsvSourceConfig, InvalidBytes, Quoting, Ragged, SkipRows, Terminators};
pub use dialect::Candidate;
pub use encoding::{Detected, detect, detect_file};
pub use error::CsvError;
pub use formula::{REJECTS_COLUMNS, escape_formula, unescape_formula};
pub use records::{Record, Records};
pub use source::{CsvSource, FileIndex, Part, Pinned, Sniffed, dialect_candidates, sniff, sniff_preamble};
