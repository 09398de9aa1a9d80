//! The report model, schema version 1. Extend by adding fields, never by
//! changing one: scripts, the worker and customers read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const REPORT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Interrupted,
    Cancelled,
    RolledBack,
    DryRun,
    /// One partition of a partitioned run, staged and not yet published.
    Staged,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Cancelled => "cancelled",
            RunStatus::RolledBack => "rolled_back",
            RunStatus::DryRun => "dry_run",
            RunStatus::Staged => "staged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub schema_version: u32,
    pub run_id: Uuid,
    pub org_id: Uuid,
    pub mapping: MappingInfo,
    pub status: RunStatus,
    /// Why a run that did not publish stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub sources: Vec<SourceInfo>,
    pub entities: Vec<EntityReport>,
    pub warnings: Vec<Warning>,
    /// Settings the mapping left to the data (`auto`), as decided, with
    /// the evidence.
    #[serde(default)]
    pub decisions: Vec<crate::infer::Decision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MappingInfo {
    pub name: String,
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: String,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// How the encoding was known: `declared`, `bom`, `ascii`,
    /// `valid_utf8`, or `detected` with the detector's evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_confidence: Option<String>,
    /// The field delimiter, declared or sniffed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// The quoting style (`rfc4180`, `backslash`, `none`), declared or
    /// sniffed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoting: Option<String>,
    /// A database read split into ranges: each range and its rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<SourcePart>,
    /// What a read split over several connections guarantees, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    /// How a database source's connection was protected: `plaintext (no
    /// TLS)`, or TLS and what of the server's certificate was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// An incremental source: the window this run read, from mark to mark,
    /// and how it looked for deleted rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<crate::incremental::Window>,
    /// Files (CSV, Excel): the row read as column names, and what lies
    /// above it. `read` counts data records only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderInfo>,
    /// What the source read past without making rows of it (a SQL dump:
    /// the rows of other tables), with counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRows>,
}

/// Records a source passed over, and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRows {
    pub what: String,
    pub rows: u64,
}

/// A file's header as the source read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderInfo {
    /// False with `header = false`: no record was consumed as names.
    pub consumed: bool,
    /// The line (CSV) or sheet row (Excel, 1-based) read as the header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Records (CSV) or rows (Excel) skipped above the header, or above
    /// the first record with `header = false` (`skip_rows`).
    pub skipped_above: u64,
    /// The header's cells as the file has them.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Why the header looks like a data record (`header_looks_like_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looks_like_data: Option<String>,
}

/// One range of a split database read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePart {
    pub range: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityReport {
    pub entity: String,
    pub source: String,
    /// read, filtered, duplicates, rejected, loaded, inserted, updated,
    /// unchanged: flat in the JSON.
    #[serde(flatten)]
    pub counts: crate::counts::EntityCounts,
    /// Counted in PostgreSQL after publishing, under the tenant role, through
    /// the key map for this mapping's source system. `None` when nothing was
    /// published.
    pub target_count: Option<u64>,
    pub org_total: Option<u64>,
    pub balanced: bool,
    /// Rejected rows by reason, with the first few of each; always written
    /// (an empty list when nothing was rejected).
    #[serde(default)]
    pub rejects_by_reason: Vec<RejectSummary>,
    /// Per target column: what this run published, measured in staging,
    /// against what the target holds for the same rows after the publish.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<ColumnCheck>,
    /// Rows of this run that met a row the org already had, and what
    /// `on_existing` did with them. Absent when nothing was published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingSummary>,
    /// Rows an earlier run of this source system loaded that this run's
    /// source no longer has. Absent with `on_missing = "keep"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<MissingSummary>,
    /// Pairs of rows `similar` flagged as likely the same record (listed in
    /// `similar/ENTITY.csv`; nothing was merged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similar_pairs: Option<u64>,
    /// Links this run added to `entity_links` (for link columns with a
    /// `relation`). Absent when the mapping records none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links_created: Option<u64>,
}

/// Rows that met an existing row: `matched = updated + unchanged`, of which
/// `skipped` were left alone by `on_existing = "skip"` and
/// `matched_by_values` were new source keys matched by `match_existing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExistingSummary {
    pub on_existing: String,
    pub matched: u64,
    pub matched_by_values: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

/// Rows gone from the source since an earlier run (`missing/ENTITY.csv`
/// lists them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingSummary {
    pub on_missing: String,
    pub count: u64,
    pub deleted: u64,
    /// Not deleted because other rows still refer to them.
    pub kept_referenced: u64,
}

/// Rejected rows of one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectSummary {
    /// The stable code (`invalid_email`, …).
    pub reason: String,
    pub count: u64,
    pub examples: Vec<RejectExample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectExample {
    pub location: String,
    pub column: Option<String>,
    pub value: Option<String>,
    pub message: String,
}

/// Aggregates of one column over a set of rows, order-independent: equal
/// sets of values give equal fingerprints, and one changed value changes
/// `hash` (and usually more).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub rows: u64,
    pub non_null: u64,
    /// Exact sum, for numeric columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<String>,
    /// For dates, timestamps and numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// The sum of a 64-bit hash of every value's text.
    pub hash: String,
}

/// A column's published values against the target's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnCheck {
    pub column: String,
    /// `numeric`, `temporal`, `json` or `text`: which aggregates apply.
    pub kind: String,
    pub published: Fingerprint,
    pub target: Fingerprint,
    pub matches: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    pub entity: String,
    pub column: Option<String>,
    pub code: String,
    pub count: u64,
    pub examples: Vec<String>,
}

impl RunReport {
    /// True when every entity balances.
    pub fn balanced(&self) -> bool {
        self.entities.iter().all(|e| e.balanced)
    }
}
