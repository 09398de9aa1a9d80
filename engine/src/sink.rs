use std::sync::atomic::AtomicBool;

use async_trait::async_trait;

use crate::events::RunEvents;
use crate::map::MappedBatch;
use crate::plan::{EntityPlan, RunPlan};
use crate::reject::RejectReason;
use crate::report::{RunReport, RunStatus};

/// Where mapped rows go. A run is all or nothing from the tenant's point of
/// view: staged rows are invisible until `publish` commits them together.
///
/// Call order: `begin` once, then `stage` for any number of batches of any
/// entity of the plan (never concurrently on one sink), then exactly one of
/// `publish` or `abandon`, then `finish` after a publish.
///
/// Guarantees a sink gives the engine:
/// - `stage` refuses only rows, never a batch: a batch the target rejects is
///   split until the offending rows are found, and each comes back as a
///   `StageRejection` with the target's own message;
/// - `publish` resolves a source key seen more than once (the last staged
///   survives), is idempotent across runs (a re-run of the same rows
///   changes nothing and counts them `unchanged`), and either publishes
///   everything or nothing;
/// - an error from any method means nothing was published.
#[async_trait]
pub trait Sink: Send {
    /// Records the run, takes its locks and prepares staging.
    async fn begin(&mut self, run_id: uuid::Uuid, plan: &RunPlan) -> Result<(), SinkError>;

    /// Stages a batch. Returns the rows the target refused.
    async fn stage(&mut self, entity: &EntityPlan, batch: &MappedBatch) -> Result<Vec<StageRejection>, SinkError>;

    /// Publishes everything staged in one transaction (or, when `commit` is
    /// false, computes the same counts and rolls back), reporting each
    /// dropped duplicate through `events`. When `cancel` is set by the time
    /// the transaction would commit, it rolls back and returns
    /// `SinkError::Cancelled`.
    async fn publish(
        &mut self,
        commit: bool,
        cancel: &AtomicBool,
        events: &mut dyn RunEvents,
    ) -> Result<Vec<PublishedEntity>, SinkError>;

    /// Ends a run that will not publish: drops staging, records `status`.
    async fn abandon(&mut self, status: RunStatus, reason: &str) -> Result<(), SinkError>;

    /// Stores the final report with the run's ledger entry.
    async fn finish(&mut self, report: &RunReport) -> Result<(), SinkError>;

    /// Records a run whose rows several processes will stage (partitions)
    /// and creates its staging; holds nothing once it returns.
    async fn prepare(&mut self, _run_id: uuid::Uuid, _plan: &RunPlan) -> Result<(), SinkError> {
        Err(SinkError::Unsupported("partitioned runs"))
    }

    /// Joins a prepared run instead of `begin`: to stage one partition, or
    /// to publish or abandon the run once every partition is staged. Rows
    /// already staged with a sequence number in `seqs` are removed first
    /// (a partition that is retried stages its rows again).
    async fn attach(
        &mut self,
        _run_id: uuid::Uuid,
        _plan: &RunPlan,
        _seqs: std::ops::Range<u64>,
    ) -> Result<(), SinkError> {
        Err(SinkError::Unsupported("partitioned runs"))
    }

    /// Leaves an attached run as it is (staged rows stay for the publish).
    async fn detach(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// After `begin`: the mark the last published run of this org and
    /// source system stored for `source` (an incremental source).
    async fn mark(&mut self, _source: &str) -> Result<Option<crate::incremental::Mark>, SinkError> {
        Err(SinkError::Unsupported("incremental sources"))
    }

    /// What the read of `entity`'s incremental source covered: its mark is
    /// stored when the run publishes, and deletes are looked for only as
    /// `window.deletes` says.
    async fn window(
        &mut self,
        _entity: &EntityPlan,
        _source: &str,
        _window: &crate::incremental::Window,
    ) -> Result<(), SinkError> {
        Err(SinkError::Unsupported("incremental sources"))
    }

    /// Compares what was staged (every source read whole) with what the
    /// target holds for this source system, entity by entity; publishes
    /// nothing.
    async fn reconcile(&mut self) -> Result<Vec<crate::cutover::Reconciled>, SinkError> {
        Err(SinkError::Unsupported("reconciliation"))
    }

    /// Source keys of `entity` the source has (a key scan) or has marked
    /// deleted (`deleted`), for finding rows gone from the source.
    async fn seen_keys(&mut self, _entity: &EntityPlan, _keys: &[String], _deleted: bool) -> Result<(), SinkError> {
        Err(SinkError::Unsupported("incremental sources"))
    }
}

/// A row of a staged batch that the target refused.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRejection {
    /// Index of the row in the `MappedBatch`.
    pub row: usize,
    pub column: Option<String>,
    pub reason: RejectReason,
    pub message: String,
}

/// Counts of one entity after publishing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedEntity {
    pub entity: String,
    pub duplicates: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows of the org reached through the key map for this source system.
    pub target_count: u64,
    /// All rows of the org in the entity's table.
    pub org_total: u64,
    /// Each published column, measured in staging and in the target.
    pub fingerprints: Vec<crate::report::ColumnCheck>,
    /// Rows refused because a link names an unknown key (not published).
    pub orphans: Vec<Orphan>,
    /// Rows published without a link whose key is unknown.
    pub unlinked: Vec<Orphan>,
    /// New source keys linked to a row the org already had
    /// (`match_existing`), with the values that matched.
    pub matched: Vec<(String, String)>,
    /// Rows that met a row the org already had and were left as they were
    /// because of `on_existing = "skip"` (counted within `unchanged`).
    pub skipped: u64,
    /// Rows an earlier run loaded whose keys this run did not see (when
    /// `on_missing` is not `keep`).
    pub missing: Option<MissingCounts>,
    /// Pairs of rows flagged by `similar`.
    pub similar_pairs: Option<u64>,
    /// Rows written to `entity_links` for link columns with a `relation`
    /// (links already there are not counted).
    pub links_created: Option<u64>,
}

/// What became of the rows missing from the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MissingCounts {
    pub missing: u64,
    pub deleted: u64,
    /// Missing rows not deleted because other rows still refer to them.
    pub kept_referenced: u64,
}

/// One row an earlier run loaded that this run's source no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRow {
    pub entity: String,
    pub source_key: String,
    pub target_id: uuid::Uuid,
    /// `reported`, `deleted` or `kept_referenced`.
    pub action: &'static str,
}

/// Two rows that look alike (`similar`): flagged, not merged.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarPair {
    pub entity: String,
    pub location: String,
    pub other_location: String,
    pub score: f64,
    pub text: String,
    pub other_text: String,
}

/// A row whose link resolved to nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub location: String,
    pub source_key: String,
    /// The link column (`contact_id`) and the entity it points at.
    pub column: String,
    pub entity: String,
    /// The legacy key it names.
    pub value: String,
}

/// A source row dropped because a later row had the same source key.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateRow {
    pub entity: String,
    pub source_key: String,
    pub location: String,
    pub survivor_location: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("another run holds {what}; wait for it or check `migrate runs list`")]
    Busy { what: String },
    #[error("{context}: {message}")]
    Database { context: String, message: String },
    #[error("writing run output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cancelled before the publish committed")]
    Cancelled,
    #[error("this sink does not support {0}")]
    Unsupported(&'static str),
}
