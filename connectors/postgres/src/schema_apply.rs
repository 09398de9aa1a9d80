//! Ordered, append-only, checksummed migrations, applied under an advisory
//! lock so two `schema apply` at once are safe.

use sqlx::{Connection, PgConnection, Row};

use crate::error::{Context, PgError};
use crate::locks::{LOCK, SCHEMA_LOCK, UNLOCK};

/// One migration file.
#[derive(Debug, Clone, Copy)]
pub struct SqlMigration<'a> {
    pub version: i32,
    pub name: &'a str,
    pub sql: &'a str,
    pub checksum: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i32,
    pub name: String,
    /// Applied by this call (false: it was there already).
    pub newly: bool,
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS migrate.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())";

/// Applies what is missing, in order, each in its own transaction.
pub async fn apply_migrations(
    conn: &mut PgConnection,
    migrations: &[SqlMigration<'_>],
) -> Result<Vec<AppliedMigration>, PgError> {
    sqlx::query(LOCK).bind(SCHEMA_LOCK).execute(&mut *conn).await.context("taking the schema lock")?;
    let result = apply_locked(conn, migrations).await;
    let unlocked = sqlx::query(UNLOCK).bind(SCHEMA_LOCK).execute(&mut *conn).await.context("releasing the schema lock");
    let applied = result?;
    unlocked?;
    Ok(applied)
}

async fn apply_locked(
    conn: &mut PgConnection,
    migrations: &[SqlMigration<'_>],
) -> Result<Vec<AppliedMigration>, PgError> {
    sqlx::raw_sql("CREATE SCHEMA IF NOT EXISTS migrate")
        .execute(&mut *conn)
        .await
        .context("creating schema migrate")?;
    sqlx::raw_sql(LEDGER).execute(&mut *conn).await.context("creating the migrations ledger")?;
    let rows = sqlx::query("SELECT version, checksum FROM migrate.schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .context("reading the migrations ledger")?;
    let mut applied_versions = Vec::new();
    for row in rows {
        let version: i32 = row.get(0);
        let checksum: String = row.get(1);
        let Some(m) = migrations.iter().find(|m| m.version == version) else {
            return Err(PgError::UnknownMigration { version });
        };
        if m.checksum != checksum {
            return Err(PgError::ChangedMigration {
                version,
                name: m.name.to_string(),
                applied: checksum,
                current: m.checksum.to_string(),
            });
        }
        applied_versions.push(version);
    }
    let mut out = Vec::new();
    for m in migrations {
        let newly = !applied_versions.contains(&m.version);
        if newly {
            let mut tx = conn.begin().await.context("starting a migration")?;
            sqlx::raw_sql(crate::quote::audited(m.sql.to_string()))
                .execute(&mut *tx)
                .await
                .context(format!("applying migration {:04}_{}", m.version, m.name))?;
            sqlx::query("INSERT INTO migrate.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)")
                .bind(m.version)
                .bind(m.name)
                .bind(m.checksum)
                .execute(&mut *tx)
                .await
                .context("recording a migration")?;
            tx.commit().await.context("committing a migration")?;
        }
        out.push(AppliedMigration { version: m.version, name: m.name.to_string(), newly });
    }
    Ok(out)
}
