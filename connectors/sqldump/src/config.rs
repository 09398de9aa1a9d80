use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::source::{SqlDumpError, SqlDumpSource};

/// `[sources.NAME]` with `kind = "sql_dump"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlDumpSourceConfig {
    /// The dump, relative to the mapping file's folder unless absolute.
    pub path: String,
    /// The table whose rows are read: `Customers`, or with its schema
    /// `dbo.Customers` (compared without quotes, case-insensitively).
    pub table: String,
    /// How strings escape: `mysql` (backslash escapes), `tsql` (quotes
    /// doubled only, `N'…'`), or `auto` (the default: `mysql` when
    /// identifiers are in backticks, else `tsql`).
    #[serde(default)]
    pub dialect: Dialect,
    /// The columns when no INSERT names them and the dump has no CREATE
    /// TABLE for the table.
    #[serde(default)]
    pub columns: Vec<String>,
    /// A longer value rejects its row (`field_too_large`). Default 1 MiB.
    #[serde(default = "default_max_field_bytes")]
    pub max_field_bytes: usize,
    /// Rows per batch. Default 10 000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Auto,
    Mysql,
    Tsql,
}

fn default_max_field_bytes() -> usize {
    1 << 20
}

fn default_batch_size() -> usize {
    10_000
}

impl SqlDumpSourceConfig {
    pub fn for_path(path: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            table: table.into(),
            dialect: Dialect::Auto,
            columns: Vec::new(),
            max_field_bytes: default_max_field_bytes(),
            batch_size: default_batch_size(),
        }
    }

    pub fn resolved_path(&self, base_dir: &Path) -> PathBuf {
        let p = Path::new(&self.path);
        if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
    }

    pub fn build(&self, base_dir: &Path) -> Result<SqlDumpSource, SqlDumpError> {
        if self.batch_size == 0 {
            return Err(SqlDumpError::Config("batch_size must be at least 1".into()));
        }
        if self.table.trim().is_empty() {
            return Err(SqlDumpError::Config("table names the table whose rows are read".into()));
        }
        SqlDumpSource::open(self, &self.resolved_path(base_dir))
    }
}
