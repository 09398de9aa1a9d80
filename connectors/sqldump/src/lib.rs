//! SQL dump files as a source: the rows of one table's INSERT statements in
//! a `mysqldump`/`mariadb-dump` file or a SQL Server "generate scripts"
//! file, read as a stream, one statement at a time.

mod config;
mod scan;
mod source;

pub use config::{Dialect, SqlDumpSourceConfig};
pub use source::{SqlDumpError, SqlDumpSource};
