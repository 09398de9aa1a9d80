//! Advisory lock keys. Session locks live on the run's lock connection, so
//! they vanish with the process: a `running` ledger row whose run lock is
//! free belongs to a run that died.

/// Serializes `schema apply`.
pub(crate) const SCHEMA_LOCK: &str = "migrate:schema";

pub(crate) fn run_lock(run_id: uuid::Uuid) -> String {
    format!("migrate:run:{run_id}")
}

/// One live run per (org, source system, entity).
pub(crate) fn entity_lock(org_id: uuid::Uuid, source_system: &str, entity: &str) -> String {
    format!("migrate:entity:{org_id}:{source_system}:{entity}")
}

/// Lock SQL takes the text key and hashes it in the database, so every
/// process agrees on the number.
pub(crate) const TRY_LOCK: &str = "SELECT pg_try_advisory_lock(hashtextextended($1, 0))";
pub(crate) const LOCK: &str = "SELECT pg_advisory_lock(hashtextextended($1, 0))";
pub(crate) const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtextextended($1, 0))";

/// Publishes of one org take turns: two runs publishing different entities
/// of the same org at once would otherwise contend row by row.
pub(crate) fn publish_lock(org_id: uuid::Uuid) -> String {
    format!("migrate:publish:{org_id}")
}
