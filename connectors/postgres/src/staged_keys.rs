//! The source keys a run stages, kept as 64-bit hashes while staging, so
//! that publishing knows without a query when no key was staged twice:
//! distinct hashes are distinct keys. Any repeated hash (a key staged
//! twice, or two keys whose hashes collide) leaves the check to
//! PostgreSQL, which compares the keys themselves, so a collision costs
//! time, never a row.
//!
//! Eight bytes per staged row, up to [`StagedKeys::LIMIT`] rows an entity
//! (16 MiB, 24 MiB while the list last grows); past it the hashes are
//! dropped and PostgreSQL checks, so they never hold more, however large
//! the run. A partition of a split run stages only its own rows, so a
//! process that joined a run never knows all of them and always leaves it
//! to PostgreSQL.

use std::hash::{DefaultHasher, Hash, Hasher};

#[derive(Debug)]
pub(crate) struct StagedKeys {
    /// `None` once the run's keys are not all known here.
    hashes: Option<Vec<u64>>,
}

impl StagedKeys {
    /// The rows an entity's keys are held for.
    pub(crate) const LIMIT: usize = 2 << 20;

    /// `whole`: this process stages every row of the run.
    pub(crate) fn new(whole: bool) -> Self {
        Self { hashes: whole.then(Vec::new) }
    }

    pub(crate) fn add<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        let Some(hashes) = self.hashes.as_mut() else { return };
        for key in keys {
            if hashes.len() == Self::LIMIT {
                self.hashes = None;
                return;
            }
            // SipHash with fixed keys: the same key hashes the same way
            // in every batch.
            let mut hasher = DefaultHasher::new();
            key.hash(&mut hasher);
            hashes.push(hasher.finish());
        }
    }

    /// True when every staged key is known here and no two share a hash,
    /// so no source key was staged twice. Frees the hashes.
    pub(crate) fn all_distinct(&mut self) -> bool {
        let Some(mut hashes) = self.hashes.take() else { return false };
        hashes.sort_unstable();
        !hashes.windows(2).any(|w| w[0] == w[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keys_are_known_distinct() {
        let mut keys = StagedKeys::new(true);
        keys.add(["C1", "C2"]);
        keys.add(["C3", "c1", "C1 "]);
        assert!(keys.all_distinct());
    }

    #[test]
    fn a_key_staged_twice_leaves_the_check_to_postgres() {
        let mut keys = StagedKeys::new(true);
        keys.add(["C1", "C2"]);
        keys.add(["C3", "C1"]);
        assert!(!keys.all_distinct());
    }

    #[test]
    fn an_empty_run_has_no_duplicates() {
        assert!(StagedKeys::new(true).all_distinct());
    }

    #[test]
    fn a_joined_partition_never_knows() {
        let mut keys = StagedKeys::new(false);
        keys.add(["C1"]);
        assert!(!keys.all_distinct());
    }

    #[test]
    fn past_the_limit_postgres_checks() {
        let mut keys = StagedKeys::new(true);
        let many: Vec<String> = (0..=StagedKeys::LIMIT).map(|i| i.to_string()).collect();
        keys.add(many.iter().map(String::as_str));
        assert!(keys.hashes.is_none(), "the hashes are dropped past the limit");
        assert!(!keys.all_distinct());
    }

    #[test]
    fn the_check_is_taken_once() {
        let mut keys = StagedKeys::new(true);
        keys.add(["C1"]);
        assert!(keys.all_distinct());
        assert!(!keys.all_distinct(), "a second check does not claim what it no longer knows");
    }
}
