//! The platform schema as ordered, append-only SQL migrations. Applied by
//! `migrate schema apply`; a file changed after it was applied is an error.

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "platform_tables", sql: include_str!("../sql/0001_platform_tables.sql") },
    Migration { version: 2, name: "migrate_ledger", sql: include_str!("../sql/0002_migrate_ledger.sql") },
    Migration { version: 3, name: "roles_and_rls", sql: include_str!("../sql/0003_roles_and_rls.sql") },
    Migration { version: 4, name: "worker_jobs", sql: include_str!("../sql/0004_worker_jobs.sql") },
    Migration { version: 5, name: "partitioned_runs", sql: include_str!("../sql/0005_partitioned_runs.sql") },
    Migration { version: 6, name: "after_images", sql: include_str!("../sql/0006_after_images.sql") },
    Migration { version: 7, name: "fold_and_deletions", sql: include_str!("../sql/0007_fold_and_deletions.sql") },
    Migration { version: 8, name: "ordered_ids", sql: include_str!("../sql/0008_ordered_ids.sql") },
    Migration { version: 9, name: "cheaper_after_images", sql: include_str!("../sql/0009_cheaper_after_images.sql") },
    Migration { version: 10, name: "policy_initplan", sql: include_str!("../sql/0010_policy_initplan.sql") },
    Migration { version: 11, name: "fold_inlined", sql: include_str!("../sql/0011_fold_inlined.sql") },
    Migration { version: 12, name: "packed_after_images", sql: include_str!("../sql/0012_packed_after_images.sql") },
    Migration { version: 13, name: "incremental_marks", sql: include_str!("../sql/0013_incremental_marks.sql") },
    Migration { version: 14, name: "after_images_lz4", sql: include_str!("../sql/0014_after_images_lz4.sql") },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_match_file_names() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        assert_eq!(files.len(), MIGRATIONS.len(), "every sql/ file must be listed in MIGRATIONS");
        for (i, (m, file)) in MIGRATIONS.iter().zip(&files).enumerate() {
            assert_eq!(m.version, i as i32 + 1);
            assert_eq!(file, &format!("{:04}_{}.sql", m.version, m.name));
        }
    }
}
