//! The cutover report: after the last delta, the whole source read again
//! through the mapping and compared with the target, key by key and column
//! by column, for the customer to sign off. Its own `schema_version`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::report::{ColumnCheck, MappingInfo};

pub const CUTOVER_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CutoverReport {
    pub schema_version: u32,
    /// Always `cutover`.
    pub kind: String,
    pub org_id: Uuid,
    pub mapping: MappingInfo,
    /// The last delta, published just before the reconciliation.
    pub final_run_id: Uuid,
    /// The reconciliation's own ledger entry (it publishes nothing).
    pub reconciliation_run_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// Every source caught up and every entity without a difference.
    pub reconciled: bool,
    pub sources: Vec<SourceLag>,
    pub entities: Vec<EntityReconciliation>,
}

/// How far the target is behind a source at cutover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLag {
    pub name: String,
    pub kind: String,
    pub location: String,
    /// An incremental source's cursor column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The mark the last delta stored: changes up to it are applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_mark: Option<String>,
    /// The cursor's greatest value when the reconciliation read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_mark: Option<String>,
    /// Whether the source changed after the last delta: `false` when the
    /// cursor has not moved past the applied mark (a file never changes).
    pub changed_since: bool,
}

/// One entity, source against target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityReconciliation {
    pub entity: String,
    pub source: String,
    /// Rows the source has now, before the mapping's filter.
    pub source_rows: u64,
    pub filtered: u64,
    /// Rows of the source the mapping rejects (listed by the last delta's
    /// report and its rejects file, not here).
    pub rejected: u64,
    /// Distinct keys of the rows that map.
    pub source_keys: u64,
    /// Keys of the source system whose row the target holds.
    pub target_keys: u64,
    /// Keys on both sides with every compared column equal.
    pub matched: u64,
    pub differing: u64,
    pub source_only: u64,
    pub target_only: u64,
    /// Per column, a fingerprint of the source's mapped values and of the
    /// target's, where both sides hold the same values (columns filled by a
    /// default, links and JSON are compared row by row only).
    pub checksums: Vec<ColumnCheck>,
    /// Every difference, by key.
    pub differences: Vec<Difference>,
    pub reconciled: bool,
}

/// A key found on one side only, or with other values on the two sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// The source key (the parts of a composite key joined by `|`).
    pub key: String,
    /// `source_only`, `target_only` or `values`.
    pub kind: String,
    /// The columns that differ (`values`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Per differing column, `[source, target]`.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub values: serde_json::Value,
}

/// What the sink found comparing one entity's staged rows with the target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reconciled {
    pub entity: String,
    pub source_keys: u64,
    pub target_keys: u64,
    pub checksums: Vec<ColumnCheck>,
    pub differences: Vec<Difference>,
}

impl EntityReconciliation {
    pub fn from_parts(entity: &str, source: &str, counts: crate::EntityCounts, found: Reconciled) -> Self {
        let count = |kind: &str| found.differences.iter().filter(|d| d.kind == kind).count() as u64;
        let (differing, source_only, target_only) = (count("values"), count("source_only"), count("target_only"));
        let matched = found.source_keys.saturating_sub(differing + source_only);
        let reconciled = found.differences.is_empty() && found.checksums.iter().all(|c| c.matches);
        Self {
            entity: entity.to_string(),
            source: source.to_string(),
            source_rows: counts.read,
            filtered: counts.filtered,
            rejected: counts.rejected,
            source_keys: found.source_keys,
            target_keys: found.target_keys,
            matched,
            differing,
            source_only,
            target_only,
            checksums: found.checksums,
            differences: found.differences,
            reconciled,
        }
    }
}
