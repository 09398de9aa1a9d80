use serde::{Deserialize, Serialize};

/// What happened to an entity's rows. Kept in one place, by the run loop.
///
/// `read = loaded + rejected + duplicates + filtered` must hold once a run is
/// published; `loaded = inserted + updated + unchanged`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityCounts {
    pub read: u64,
    pub filtered: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub loaded: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl EntityCounts {
    pub fn balanced(&self) -> bool {
        self.read == self.loaded + self.rejected + self.duplicates + self.filtered
            && self.loaded == self.inserted + self.updated + self.unchanged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_requires_every_row_accounted_for() {
        let ok = EntityCounts {
            read: 10,
            rejected: 2,
            duplicates: 1,
            filtered: 1,
            loaded: 6,
            inserted: 4,
            updated: 1,
            unchanged: 1,
        };
        assert!(ok.balanced());
        assert!(!EntityCounts { read: 11, ..ok }.balanced());
        assert!(!EntityCounts { inserted: 5, ..ok }.balanced());
    }
}
