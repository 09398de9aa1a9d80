//! MongoDB source: a collection (with a filter and projection, or an
//! aggregation pipeline) read through a cursor, or a mongoexport file a
//! customer sent, in canonical, relaxed or legacy extended JSON. Columns
//! are paths into the documents (`address.city`, `phones.0.number`,
//! `score.$json`); `unwind` turns an array of sub-documents into child
//! rows. A sample of documents names the paths and, per path, the types
//! seen, which `migrate inspect` shows.

mod config;
mod file;
mod path;
mod rows;
mod shape;
mod source;
mod value;

#[cfg(test)]
mod property_tests;

pub use config::MongoSourceConfig;
pub use shape::{PathStats, Shape};
pub use source::MongoSource;
pub use value::{plain_json, text as value_text, type_name};

impl MongoSourceConfig {
    /// The source, not yet connected (or opened): `Source::prepare` does it.
    /// `path` and `tls_ca_file` are resolved against `base_dir`, the
    /// mapping's folder.
    pub fn build(&self, base_dir: &std::path::Path) -> MongoSource {
        let mut config = self.clone();
        config.tls_ca_file = config.tls_ca_file.map(|ca| base_dir.join(ca));
        MongoSource::new(config, self.resolved_path(base_dir))
    }
}
