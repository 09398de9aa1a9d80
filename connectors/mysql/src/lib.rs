//! MySQL and MariaDB source: a table or a query, streamed over the text
//! protocol so that the server writes every value (DECIMAL, BIGINT
//! UNSIGNED, zero dates, negative TIME) exactly as it holds it; string
//! columns decoded by their own charset (or a per-column override for
//! latin1 columns full of UTF-8 bytes); optionally split into ranges of a
//! column read concurrently.

mod binlog;
mod config;
mod partition;
mod source;
mod values;

pub use binlog::{BINLOG_CURSOR, DELETED};
pub use config::MysqlSourceConfig;
pub use migrate_engine::parts::PartitionConfig;
pub use source::MysqlSource;

impl MysqlSourceConfig {
    /// The source, not yet connected: `Source::prepare` connects.
    /// `ssl_ca` is resolved against `base_dir`, the mapping's folder.
    pub fn build(&self, base_dir: &std::path::Path) -> MysqlSource {
        let mut config = self.clone();
        config.ssl_ca = config.ssl_ca.map(|ca| base_dir.join(ca));
        MysqlSource::new(config)
    }
}
