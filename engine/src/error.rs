use crate::batch::BatchError;
use crate::sink::SinkError;
use crate::source::SourceError;

/// Why a run failed as a whole. Bad rows never end up here: they are
/// `RejectedRow`s.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("source {source_name:?}: {error}")]
    Source {
        source_name: String,
        #[source]
        error: SourceError,
    },
    #[error("source {source_name:?} has no column {column:?} (it has: {available})")]
    UnknownSourceColumn { source_name: String, column: String, available: String },
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("batch: {0}")]
    Batch(#[from] BatchError),
    #[error("writing run output: {0}")]
    Output(#[from] std::io::Error),
    #[error("{rejected} of {read} rows rejected, more than max_rejected = {budget}; nothing was published")]
    RejectBudgetExceeded { rejected: u64, read: u64, budget: String },
    #[error("cancelled; nothing was published")]
    Cancelled,
    #[error("{entity}.{column}: {message}")]
    Inference { entity: String, column: String, message: String },
}
