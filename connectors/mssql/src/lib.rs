//! SQL Server source: a table or a query read with tiberius, every value
//! turned into exact text from its wire form here: money through
//! `CAST(… AS decimal(19,4))` (tiberius would give a float), datetime's
//! 1/300 s ticks to the microsecond, datetime2's seven digits to six
//! (truncation counted), datetimeoffset with its offset, GUIDs in their
//! canonical order, varchar decoded by its collation's code page.

mod config;
mod source;
mod values;

pub use config::MssqlSourceConfig;
pub use migrate_engine::parts::PartitionConfig;
pub use source::MssqlSource;

impl MssqlSourceConfig {
    /// The source, not yet connected: `Source::prepare` connects. A
    /// relative `TrustServerCertificateCA` is taken from `base_dir`, the
    /// mapping's folder.
    pub fn build(&self, base_dir: &std::path::Path) -> MssqlSource {
        let mut config = self.clone();
        config.resolve_ca(base_dir);
        MssqlSource::new(config)
    }
}
