use migrate_mappings::MIGRATIONS;
use migrate_postgres::{ConnectionConfig, SqlMigration, apply_migrations};

use crate::{env, exit};

pub async fn apply() -> u8 {
    let config = match ConnectionConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let checksums: Vec<String> = MIGRATIONS.iter().map(|m| m.checksum()).collect();
    let migrations: Vec<SqlMigration> = MIGRATIONS
        .iter()
        .zip(&checksums)
        .map(|(m, c)| SqlMigration { version: m.version, name: m.name, sql: m.sql, checksum: c })
        .collect();
    let result = match config.connect().await {
        Ok(mut conn) => apply_migrations(&mut conn, &migrations).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(applied) => {
            let new: Vec<String> =
                applied.iter().filter(|a| a.newly).map(|a| format!("{:04}_{}", a.version, a.name)).collect();
            if new.is_empty() {
                println!("schema is up to date ({} migrations) on {}", applied.len(), config.display);
            } else {
                println!("applied {} on {}", new.join(", "), config.display);
            }
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
