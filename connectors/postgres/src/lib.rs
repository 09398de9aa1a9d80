//! PostgreSQL: the target. Applies the platform schema, stages mapped
//! batches with COPY into per-run unlogged tables in the `migrate` schema,
//! and publishes them in one transaction under the tenant role and org, so
//! Row-Level Security checks every row that lands.
//!
//! Every identifier that reaches SQL goes through [`quote_ident`]; every
//! value is bound or COPYed.

mod config;
mod copy;
mod error;
mod fingerprint;
mod ledger;
mod locks;
mod marks;
mod publish;
mod quote;
mod reconcile;
mod rollback;
mod schema_apply;
mod sink;
mod staged_dedupe;
mod staged_keys;

pub use config::{ConnectionConfig, TENANT_ROLE};
pub use error::{DbErrorKind, PgError, classify};
pub use fingerprint::{Verified, verify_run};
pub use ledger::{RunRecord, clean_stale_staging, list_runs, show_run};
pub use marks::{MarkRow, list_marks};
pub use quote::{quote_ident, quote_qualified};
pub use rollback::{RollbackError, RolledBack, rollback_run};
pub use schema_apply::{AppliedMigration, SqlMigration, apply_migrations};
pub use sink::PgSink;
