//! The migration pipeline: batches, the `Source` and `Sink` contracts, column
//! transforms, row validation, counts and the run report.
//!
//! The engine knows no file format and no database. Connectors turn their
//! system into [`Batch`]es (text columns plus each row's [`SourceLocation`]);
//! a validated mapping becomes [`EntityPlan`]s; [`run`] drives every entity
//! through read → validate/transform → map → stage, then asks the sink to
//! publish, and returns a [`RunReport`] in which every source row is
//! accounted for.

mod batch;
pub mod codes;
mod counts;
pub mod cutover;
mod error;
mod events;
pub mod header;
pub mod incremental;
mod infer;
mod location;
mod map;
pub mod parts;
mod plan;
mod reject;
mod report;
mod run;
mod sink;
mod source;
pub mod tls;
pub mod transform;

pub use batch::{Batch, BatchError, MAX_BATCH_BYTES, MalformedRow, SourceNote, unique_header_names};
pub use counts::EntityCounts;
pub use error::EngineError;
pub use events::{NoEvents, RunEvents};
pub use incremental::{IncrementalConfig, Mark, Window};
pub use infer::{Decision, apply_decisions, infer, load_rates};
pub use location::SourceLocation;
pub use map::{
    FillDown, MapNote, MapOutput, MapRejection, MappedBatch, NOTE_FILLED_DOWN, NULLED_ERROR_CELL, map_batch,
    when_branches,
};
pub use plan::{
    ColumnInput, ColumnPlan, Condition, DEFAULT_MAX_DELETED, Dedupe, EntityPlan, Keep, KeySpec, Link, OnExisting,
    OnInvalid, OnMissing, Orphans, RAW_COLUMN, RejectBudget, RunPlan, Similar, TargetType, TemplatePart, Test,
};
pub use reject::{RejectReason, RejectedRow};
pub use report::{
    ColumnCheck, EntityReport, ExistingSummary, Fingerprint, HeaderInfo, MappingInfo, MissingSummary,
    REPORT_SCHEMA_VERSION, RejectExample, RejectSummary, RunReport, RunStatus, SkippedRows, SourceInfo, SourcePart,
    Warning,
};
pub use run::{OpenSource, RunMode, RunOptions, publish_staged, reconcile, run};
pub use sink::{
    DuplicateRow, MissingCounts, MissingRow, Orphan, PublishedEntity, SimilarPair, Sink, SinkError, StageRejection,
};
pub use source::{AutoWord, SkipRows, Source, SourceError};
pub use transform::Transform;
