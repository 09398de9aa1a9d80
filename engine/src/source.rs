use async_trait::async_trait;
use serde::Deserialize;

use crate::batch::Batch;
use crate::report::SourceInfo;

/// A legacy system, read as a stream of batches.
///
/// Guarantees a source gives the engine:
/// - every row is delivered exactly once, in source order, each with a
///   `SourceLocation` that a person can find again;
/// - every column is text (or an exact native type): nothing is inferred;
/// - memory is bounded by the batch size, whatever the input size;
/// - a row the source cannot decode is an error naming its location; a
///   source never skips one silently.
#[async_trait]
pub trait Source: Send {
    /// The column names, known once the source is open (a CSV header).
    fn columns(&self) -> &[String];

    /// Every column name the source knows of, for suggestions when a
    /// mapping names one it does not have: the columns, unless the source
    /// offers more than it reads (a document source reads only the paths
    /// the mapping names).
    fn offered_columns(&self) -> Vec<String> {
        self.columns().to_vec()
    }

    /// When the records a source sampled to learn its columns were not all
    /// readable: how many, and the first one's location and error (the
    /// columns only they hold are unknown). `None` otherwise.
    fn sample_problem(&self) -> Option<String> {
        None
    }

    /// The settings the mapping left to the data (`auto`) that opening the
    /// source decided: (setting, decision, evidence), for the report's
    /// `decisions`.
    fn decisions(&self) -> Vec<(String, String, String)> {
        Vec::new()
    }

    /// Connects and learns the columns, for a source behind a network
    /// connection (a database). Called once, right after opening and before
    /// `columns`; files need nothing.
    async fn prepare(&mut self) -> Result<(), SourceError> {
        Ok(())
    }

    /// The next batch, or `None` at the end.
    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError>;

    /// What the report says of the source. Complete (size, checksum) once
    /// the source has been read to the end.
    fn info(&self) -> SourceInfo;

    /// How far the source has read, of how much there is, when it knows:
    /// bytes of a CSV, XML or export file, rows of an Excel sheet. The
    /// progress bar's percentage and ETA (a spinner without it).
    fn position(&self) -> Option<(u64, u64)> {
        None
    }

    /// `incremental = { … }` of a source that can read a delta. (A source
    /// that wraps another must pass this and the three below through.)
    fn incremental(&self) -> Option<&crate::incremental::IncrementalConfig> {
        None
    }

    /// Before `prepare`: the mark the previous published run stored
    /// (`None`: read everything, a full load).
    fn start_from(&mut self, _mark: Option<&crate::incremental::Mark>) {}

    /// After `prepare`, for an incremental source: what this read covers
    /// (`deletes` is left for the engine to settle).
    fn window(&self) -> Option<crate::incremental::Window> {
        None
    }

    /// A source reading only `columns` of every row this source has, for a
    /// scan of its keys (deletes); not yet prepared.
    fn key_scan(&self, _columns: &[String]) -> Option<Box<dyn Source>> {
        None
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl SourceError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), cause: None }
    }

    pub fn with_cause(message: impl Into<String>, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { message: message.into(), cause: Some(Box::new(cause)) }
    }

    /// A connector's own error, its message kept as the message.
    pub fn wrap(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::with_cause(cause.to_string(), cause)
    }
}

/// Rows above a file's header (titles, export notes): a number, or
/// `"auto"` to find the header below them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SkipRows {
    Count(usize),
    Auto(AutoWord),
}

impl Default for SkipRows {
    fn default() -> Self {
        Self::Count(0)
    }
}

/// The word `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoWord {
    Auto,
}
